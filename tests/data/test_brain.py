"""The realistic brain data generator: anatomy and contrast, disjoint slab splits, k-space physics against numpy,
ESPIRiT maps against the simulation's true maps, the fastMRI schema through the pipeline, clear errors."""
import numpy as np
import pytest

from tfmri_zoo.data import brain, brain_anatomy


@pytest.fixture(scope="module")
def volume():
    return brain.brain_volume(7, "train", num_slices=2, shape=(64, 48), coils=6, noise_level=0.01, contrast="t1w",
                              orientation="axial")


def test_splits_are_disjoint_slabs_with_a_gap():
    for orientation in brain_anatomy.ORIENTATIONS:
        parts = {split: set(brain.split_slices(split, orientation).tolist()) for split in brain.SPLITS}
        assert all(parts.values())
        assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"]
        assert not parts["val"] & parts["test"]
        train = np.array(sorted(parts["train"]))
        for split in ("val", "test"):
            for index in parts[split]:
                assert np.min(np.abs(train - index)) >= 3          # ≥ 2 slices between a held-out and a train slice


def test_contrasts_order_tissues_as_mri_does():
    means = {}
    for contrast in ("t1w", "t2w"):
        v = brain.brain_volume(3, "test", num_slices=1, shape=(96, 96), coils=4, noise_level=0.0, contrast=contrast,
                               orientation="axial")
        image, labels = np.abs(v["image"][0]), v["labels"][0]
        means[contrast] = {name: image[labels == value].mean() for name, value in brain_anatomy.LABELS.items()
                           if name in ("csf", "gm", "wm")}
    assert means["t1w"]["wm"] > means["t1w"]["gm"] > means["t1w"]["csf"]
    assert means["t2w"]["csf"] > means["t2w"]["gm"] > means["t2w"]["wm"]


def test_kspace_is_the_centred_fft_of_coil_images_plus_noise(volume):
    k, image, maps = volume["kspace"], volume["image"], volume["sensitivities_true"]
    assert k.shape == (2, 6, 64, 48) and k.dtype == np.complex64 and volume["labels"].shape == (2, 64, 48)
    coil_images = maps * image[:, None]
    expected = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_images, axes=(-2, -1)), norm="ortho"),
                               axes=(-2, -1))
    residual = k - expected
    sigma = 0.01 * np.mean(np.abs(image[0][np.abs(image[0]) > 0.05 * np.abs(image[0]).max()]))
    assert 0.5 * sigma < np.std(residual) < 2.0 * sigma      # only the (correlated) coil noise remains
    np.testing.assert_allclose(np.sum(np.abs(maps) ** 2, axis=1), 1.0, atol=1e-4)


def test_espirit_maps_are_estimated_not_copied_but_agree_with_the_truth(volume):
    est, true, image = volume["sensitivities"], volume["sensitivities_true"], volume["image"]
    assert not np.allclose(est, true)
    support = np.abs(image) > 0.2 * np.abs(image).max(axis=(-2, -1), keepdims=True)
    inner = np.abs(np.sum(np.conj(est) * true, axis=1))
    norms = np.linalg.norm(est, axis=1) * np.linalg.norm(true, axis=1)
    agreement = inner[support] / np.maximum(norms[support], 1e-12)
    assert np.median(agreement) > 0.98 and np.mean(agreement > 0.9) > 0.95


def test_same_seed_same_subject_other_seed_other_subject():
    a = brain.brain_volume(11, "val", num_slices=1, shape=(48, 48), coils=4)
    b = brain.brain_volume(11, "val", num_slices=1, shape=(48, 48), coils=4)
    c = brain.brain_volume(12, "val", num_slices=1, shape=(48, 48), coils=4)
    np.testing.assert_array_equal(a["kspace"], b["kspace"])
    assert not np.allclose(np.abs(a["image"]), np.abs(c["image"]))


def test_dataset_is_fastmri_schema_read_by_the_pipeline(tmp_path):
    from tfmri_zoo.data.pipeline import make_dataset
    from tfmri_zoo.physics.sampling import RandomMaskFunc

    splits = brain.brain_dataset(str(tmp_path), splits={"train": 1, "test": 1}, num_slices=2, shape=(48, 64),
                                 coils=4)
    assert set(splits) == {"train", "test"} and all(len(v) == 1 for v in splits.values())
    batches = list(make_dataset(splits["test"], mask_func=RandomMaskFunc([0.08], [4]), batch_size=2, validation=True,
                                sensitivities="stored"))
    inputs, target = batches[0]
    assert inputs["kspace"].shape == (2, 4, 48, 64) and inputs["sensitivities"].shape == (2, 4, 48, 64)
    assert target.shape == (2, 48, 64) and float(np.abs(target.numpy()).max()) > 0.1


def test_bad_arguments_and_a_missing_package_are_named(block_import):
    with pytest.raises(ValueError, match="shape"):
        brain.brain_volume(0, shape=(16, 16))
    with pytest.raises(ValueError, match="split"):
        brain.split_slices("training", "axial")
    with pytest.raises(ValueError, match="orientation"):
        brain.brain_volume(0, orientation="oblique", shape=(48, 48))
    brain_anatomy.load_atlas.cache_clear()
    block_import("nilearn")
    try:
        with pytest.raises(ImportError, match="pip install nilearn"):
            brain_anatomy.load_atlas()
    finally:
        brain_anatomy.load_atlas.cache_clear()


def test_noise_range_bounds_the_drawn_noise_level():
    """``noise_range`` (the config's ``data.noise_range``): the drawn level lies in it; a bad range is named."""
    import pytest

    for seed in (1, 2):
        v = brain.brain_volume(seed, "train", num_slices=1, shape=(48, 48), coils=4, noise_range=(0.1, 0.2))
        assert 0.1 <= v["attrs"]["noise_level"] <= 0.2
    with pytest.raises(ValueError, match="noise_range"):
        brain.brain_volume(1, "train", num_slices=1, shape=(48, 48), coils=4, noise_range=(0.2, 0.1))


def test_noise_free_reference_is_the_same_combination_of_the_clean_coil_images(tmp_path):
    """``reference="noise_free"``: numpy SENSE combination of S_true·image with the stored (ESPIRiT) maps, divided by
    the same scale as the measured target (max RSS of the zero-filled noisy k-space); the measured target differs
    from it by the noise only."""
    import h5py

    from tfmri_zoo.data.pipeline import make_dataset

    path = brain.brain_dataset(str(tmp_path), splits={"test": 1}, num_slices=1, shape=(40, 48), coils=4,
                               noise_level=0.3)["test"][0]
    with h5py.File(path, "r") as f:
        kspace, maps = f["kspace"][0], f["sensitivities"][0]
        clean = f["sensitivities_true"][0] * f["image"][0][None]
    ifft = lambda k: np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"),  # noqa: E731
                                     axes=(-2, -1))
    scale = np.sqrt((np.abs(ifft(kspace)) ** 2).sum(0)).max()
    combine = lambda x: (np.conj(maps) * x).sum(0) / np.maximum((np.abs(maps) ** 2).sum(0), 1e-30)  # noqa: E731
    support = (np.abs(maps) ** 2).sum(0) > 0
    targets = {}
    for reference in ("measured", "noise_free"):
        _, target = next(iter(make_dataset([path], sensitivities="stored", reference=reference)))
        targets[reference] = target.numpy()[0]
    expected = {"measured": combine(ifft(kspace)) / scale, "noise_free": combine(clean) / scale}
    for reference, value in expected.items():
        np.testing.assert_allclose(targets[reference][support], value[support], atol=2e-5 * np.abs(value).max())
    noise = np.abs(targets["measured"] - targets["noise_free"])[support]
    assert noise.mean() > 0.01 * np.abs(targets["noise_free"]).max()     # noise level 0.3: clearly different
    with pytest.raises(ValueError, match="reference"):
        make_dataset([path], reference="clean")
