"""The real-EPI generalisation domain (``tfmri_zoo.data.epi_scan``), checked against nibabel and numpy directly."""
import os

import numpy as np
import pytest

from tfmri_zoo.data import epi_scan


def raw_scan():
    import nibabel

    path = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "example4d.nii.gz")
    return np.asarray(nibabel.load(path).dataobj, np.float64)                     # [x 128, y 96, z 24, t 2]


def test_slices_are_nibabels_first_volume_anterior_up():
    raw = raw_scan()[..., 0]
    volume = epi_scan.load_epi_volume()
    assert volume.shape == (24, 96, 128) and volume.dtype == np.float32
    for z, y, x in ((10, 0, 5), (13, 40, 64), (19, 95, 127)):
        np.testing.assert_allclose(volume[z, y, x], raw[x, 95 - y, z] / raw.max(), rtol=1e-6)


def test_volume_is_the_scan_seen_by_the_coils_plus_noise_of_the_stated_level():
    volume = epi_scan.epi_volume("test", file_index=1, coils=4, noise_level=0.05, seed=3)
    kspace, maps, image = volume["kspace"], volume["sensitivities_true"], volume["image"]
    assert kspace.shape == maps.shape == volume["sensitivities"].shape == (2, 4, 96, 128)
    assert list(volume["epi_slice"]) == [10, 11]
    scan = epi_scan.load_epi_volume()[[10, 11]]
    np.testing.assert_allclose(np.abs(image), scan, atol=1e-6)                     # only a phase is added
    # numpy's orthonormal centred FFT of the coil images; what is left is the added noise
    coil_images = maps * image[:, None]
    expected = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_images, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    noise = kspace - expected
    for s in range(2):
        head = scan[s] > 0.1 * scan[s].max()
        sigma = 0.05 * scan[s][head].mean()
        covariance = np.cov(noise[s].reshape(4, -1))
        assert np.sqrt(np.mean(np.real(np.diag(covariance)))) == pytest.approx(
            sigma * np.sqrt(np.mean(np.diag(np.real(_coil_covariance(4, 3))))), rel=0.05)
    # ESPIRiT maps: unit norm over coils inside the head, zero far outside it
    norm = np.sqrt(np.sum(np.abs(volume["sensitivities"]) ** 2, axis=1))
    assert np.median(norm[scan > 0.2]) == pytest.approx(1.0, abs=0.05)
    assert norm[:, :4, :4].max() == 0.0


def _coil_covariance(coils, seed):
    """The covariance ``epi_volume`` draws for ``seed`` (the array is drawn first, then the covariance)."""
    from tfmri_zoo.data.synthetic_coils import loop_coils, noise_covariance

    rng = np.random.default_rng(seed)
    loop_coils(coils, rng, ring_radius=rng.uniform(1.15, 1.8), loop_radius=rng.uniform(0.3, 0.7))
    return noise_covariance(coils, rng)


def test_files_feed_the_pipeline_with_a_noise_free_target(tmp_path):
    from tfmri_zoo.training.comparison import evaluation_batches

    files = epi_scan.epi_dataset(str(tmp_path), test_files=1, coils=4)
    assert [os.path.basename(p) for p in files["val"] + files["test"]] == ["epi_val_0.h5", "epi_test_0.h5"]
    assert not [f for f in os.listdir(tmp_path / "test") if f.startswith(".tmp")]
    (inputs, target, names), = evaluation_batches(files["val"], 4, reference="noise_free")
    assert inputs["kspace"].shape == (2, 4, 96, 128) and target.shape == (2, 96, 128)
    import h5py

    with h5py.File(files["val"][0], "r") as f:
        espirit, true_maps = f["sensitivities"][()], f["sensitivities_true"][()]
    scan = epi_scan.load_epi_volume()[[3, 5]]
    # the target is the scan seen by the true maps, combined with the ESPIRiT maps, scaled per slice
    expected = scan * np.abs(np.sum(np.conj(espirit) * true_maps, axis=1))
    for s in range(2):
        inside = scan[s] > 0.3
        ratio = np.abs(target[s])[inside] / expected[s][inside]
        assert np.std(ratio) / np.mean(ratio) < 1e-3


def test_bad_arguments_and_a_missing_nibabel_are_named(block_import):
    with pytest.raises(ValueError, match="split"):
        epi_scan.epi_volume("train")
    with pytest.raises(ValueError, match="file_index"):
        epi_scan.epi_volume("val", file_index=1)
    epi_scan.load_epi_volume.cache_clear()
    block_import("nibabel")
    try:
        with pytest.raises(ImportError, match="pip install nibabel"):
            epi_scan.load_epi_volume()
    finally:
        epi_scan.load_epi_volume.cache_clear()
