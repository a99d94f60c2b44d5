"""Coil tools: RSS vs numpy, ESPIRiT vs `bart ecalib`, Walsh vs known maps, SVD coil compression, bad input."""
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn, requires_bart
from tfmri_zoo.data.cfl import bart_to_zoo, read_cfl
from tfmri_zoo.physics.coils import coil_compress, espirit, estimate_sensitivities, rss, walsh
from tfmri_zoo.physics.fft import fft2c, ifft2c


def _normalised_inner(maps, reference):
    """Per-pixel |<s, s_ref>| / (|s| |s_ref|) over the coil axis 0 of [C, H, W] arrays."""
    inner = np.abs(np.sum(maps * np.conj(reference), axis=0))
    norms = np.linalg.norm(maps, axis=0) * np.linalg.norm(reference, axis=0)
    return inner / np.maximum(norms, 1e-12)


def _synthetic(num_coils=4, size=32):
    """Smooth true maps (unit norm per pixel) [C, H, W], an elliptical object [H, W] and its mask."""
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    maps = []
    for c in range(num_coils):
        angle = 2 * np.pi * c / num_coils
        cy, cx = 1.2 * np.sin(angle), 1.2 * np.cos(angle)
        magnitude = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 1.5)
        phase = np.exp(1j * (0.8 * c + 1.5 * (x * np.cos(angle) - y * np.sin(angle))))
        maps.append(magnitude * phase)
    maps = np.stack(maps)
    maps /= np.linalg.norm(maps, axis=0, keepdims=True)
    inside = (y / 0.75) ** 2 + (x / 0.6) ** 2 < 1.0
    image = inside * (1.0 + 0.5 * np.cos(3 * x) * np.sin(2 * y)) * np.exp(0.7j * y)
    return maps.astype(np.complex64), image.astype(np.complex64), inside


def _bart(*args, cwd):
    subprocess.run(["bart", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def bart_phantom(tmp_path_factory):
    """`bart phantom -k -s 8 -x 64` k-space and `bart ecalib -m1` maps/eigenvalues, in zoo layout."""
    cwd = tmp_path_factory.mktemp("bart_coils")
    _bart("phantom", "-k", "-s", "8", "-x", "64", "ksp", cwd=cwd)
    _bart("ecalib", "-m1", "-k", "6", "-r", "24", "-t", "0.02", "-c", "0.95", "ksp", "sens", "ev", cwd=cwd)
    kspace = bart_to_zoo(read_cfl(cwd / "ksp"))[None]  # [1, 8, 64, 64]; zoo H = BART x, W = BART y
    maps = bart_to_zoo(read_cfl(cwd / "sens"))  # [8, 64, 64]
    eigenvalues = np.abs(read_cfl(cwd / "ev")).reshape(64, 64)
    return kspace, maps, eigenvalues


def test_rss_equals_numpy(rng):
    x = crandn(rng, 2, 4, 8, 6)
    np.testing.assert_allclose(rss(x).numpy(), np.sqrt(np.sum(np.abs(x) ** 2, axis=1)), rtol=1e-6)
    np.testing.assert_allclose(rss(x, axis=-1).numpy(), np.sqrt(np.sum(np.abs(x) ** 2, axis=-1)), rtol=1e-6)
    assert rss(x).dtype == tf.float32


@requires_bart
def test_espirit_agrees_with_bart_ecalib(bart_phantom):
    kspace, bart_maps, bart_eigenvalues = bart_phantom
    maps, eigenvalues = espirit(kspace, calib_size=24, kernel_size=6, threshold=0.02, crop=0.95,
                                return_eigenvalues=True)
    maps, eigenvalues = maps.numpy()[0], eigenvalues.numpy()[0]
    assert maps.shape == (8, 64, 64) and maps.dtype == np.complex64
    image_rss = rss(ifft2c(tf.constant(kspace))).numpy()[0]
    inside = (np.linalg.norm(bart_maps, axis=0) > 0) & (image_rss > 0.1 * image_rss.max())
    assert inside.sum() > 1000
    agreement = _normalised_inner(maps, bart_maps)[inside]
    assert agreement.min() >= 0.95, (agreement.min(), np.median(agreement))
    # Same crop mask and eigenvalue maps (BART's -t compares squared singular values, -c crops eigenvalues).
    np.testing.assert_array_equal(np.linalg.norm(maps, axis=0) > 0, np.linalg.norm(bart_maps, axis=0) > 0)
    np.testing.assert_allclose(eigenvalues, bart_eigenvalues, atol=1e-2)
    # Phase convention matches BART's default up to one global phase.
    global_phase = np.exp(1j * np.angle(np.sum(maps * np.conj(bart_maps))))
    assert np.max(np.abs(maps - global_phase * bart_maps)) < 1e-2


@requires_bart
def test_espirit_uses_only_the_calibration_region(bart_phantom):
    kspace = bart_phantom[0]
    undersampled = kspace.copy()
    lines = np.ones(64, bool)
    lines[::2] = False
    lines[32 - 12:32 + 12] = True  # keep the 24 ACS lines
    undersampled[..., ~lines] = 0
    np.testing.assert_allclose(espirit(undersampled).numpy(), espirit(kspace).numpy(), atol=1e-5)


def test_espirit_recovers_smooth_maps_in_graph_mode():
    true_maps, image, inside = _synthetic()
    kspace = fft2c(tf.constant((true_maps * image)[None]))
    eager = espirit(kspace, calib_size=16, kernel_size=5, threshold=0.001, crop=0.9).numpy()
    graph = tf.function(lambda k: espirit(k, calib_size=16, kernel_size=5, threshold=0.001, crop=0.9))(kspace).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-5)
    agreement = _normalised_inner(eager[0], true_maps)[inside]
    assert agreement.min() > 0.995, agreement.min()  # noiseless: keep BART's default -t 0.001
    two = espirit(kspace, calib_size=16, kernel_size=5, num_maps=2)
    assert two.shape == (1, 2, 4, 32, 32)


def test_walsh_recovers_smooth_maps():
    true_maps, image, inside = _synthetic()
    coil_images = (true_maps * image)[None]
    maps = walsh(coil_images, window=5).numpy()[0]
    np.testing.assert_allclose(np.linalg.norm(maps, axis=0), 1.0, atol=1e-4)
    agreement = _normalised_inner(maps, true_maps)[inside]
    assert agreement.min() > 0.99, agreement.min()
    from_kspace = estimate_sensitivities(fft2c(tf.constant(coil_images)), method="walsh", calib_size=16)
    assert np.median(_normalised_inner(from_kspace.numpy()[0], true_maps)[inside]) > 0.99


def test_coil_compression_keeps_subspace_energy_and_is_lossless_at_full_rank(rng):
    virtual = crandn(rng, 2, 3, 16, 16)
    mixing = crandn(rng, 2, 6, 3)
    kspace = np.einsum("bcv,bvhw->bchw", mixing, virtual) + 1e-3 * crandn(rng, 2, 6, 16, 16)
    compressed, matrix = coil_compress(kspace, 3)
    np.testing.assert_allclose(coil_compress(kspace, 3, calib_size=8)[1].numpy().shape, (2, 3, 6))
    assert compressed.shape == (2, 3, 16, 16) and matrix.shape == (2, 3, 6)
    rows = matrix.numpy()
    np.testing.assert_allclose(rows @ np.conj(np.swapaxes(rows, 1, 2)), np.broadcast_to(np.eye(3), (2, 3, 3)),
                               atol=1e-5)
    # Kept energy equals the sum of the 3 largest eigenvalues of the coil covariance, per batch item.
    samples = kspace.reshape(2, 6, -1).astype(np.complex128)
    top = np.sort(np.linalg.eigvalsh(samples @ np.conj(np.swapaxes(samples, 1, 2))), axis=-1)[:, ::-1][:, :3]
    energy = np.sum(np.abs(compressed.numpy()) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(energy, top.sum(-1), rtol=1e-4)
    assert np.all(energy > 0.999 * np.sum(np.abs(kspace) ** 2, axis=(1, 2, 3)))
    full, full_matrix = coil_compress(kspace, 6)
    restored = np.einsum("bvc,bvhw->bchw", np.conj(full_matrix.numpy()), full.numpy())
    np.testing.assert_allclose(restored, kspace, atol=1e-4)


def test_bad_input_raises(rng):
    kspace = crandn(rng, 1, 4, 32, 32)
    with pytest.raises(TypeError, match="kspace"):
        espirit(np.abs(kspace))
    with pytest.raises(ValueError, match="kspace"):
        espirit(kspace[0])
    with pytest.raises(ValueError, match="calib_size"):
        espirit(kspace, calib_size=40)
    with pytest.raises(ValueError, match="kernel_size"):
        espirit(kspace, calib_size=8, kernel_size=10)
    with pytest.raises(ValueError, match="num_maps"):
        espirit(kspace, num_maps=5)
    bad = kspace.copy()
    bad[0, 1, 3, 3] = np.nan
    with pytest.raises(ValueError, match="kspace"):
        espirit(bad)
    with pytest.raises(TypeError, match="coil_images"):
        rss(np.abs(kspace))
    with pytest.raises(ValueError, match="coil_images"):
        walsh(kspace[0])
    with pytest.raises(ValueError, match="window"):
        walsh(kspace, window=4)
    with pytest.raises(ValueError, match="num_virtual_coils"):
        coil_compress(kspace, 5)
    with pytest.raises(ValueError, match="method"):
        estimate_sensitivities(kspace, method="unknown")
