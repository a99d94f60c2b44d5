"""k-space noise estimation (``physics.kspace_noise_std``) on numpy-generated noise of known σ, with and without an
image's signal, Cartesian and non-Cartesian."""
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.physics import kspace_noise_std, radial_trajectory


def complex_noise(rng, shape, sigma):
    return (sigma / np.sqrt(2) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))).astype(np.complex64)


def phantom_kspace(size=128, coils=4):
    """Centred orthonormal k-space of a disc-with-inserts image seen by smooth coils (numpy)."""
    grid = np.arange(size) - size // 2
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    image = (yy ** 2 + xx ** 2 < (0.4 * size) ** 2) * 1.0 + ((yy - 10) ** 2 + xx ** 2 < 100) * 0.5
    maps = np.stack([np.exp(-((yy - 40 * np.cos(a)) ** 2 + (xx - 40 * np.sin(a)) ** 2) / 4000.0)
                     for a in np.linspace(0, 2 * np.pi, coils, endpoint=False)])
    coil_images = maps * image
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_images, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


@pytest.mark.parametrize("sigma, with_image", [(0.003, False), (0.1, True), (0.3, True)])
def test_cartesian_estimate_matches_the_true_sigma(rng, sigma, with_image):
    """Under the sharp-edged disc phantom (whose own outer-band level is ≈0.03, the estimator's floor for it) and
    on noise alone; on the brain data the floor is below 0.005 (models/modl/README.md)."""
    clean = np.stack([phantom_kspace(), phantom_kspace()]) * with_image                         # [2, 4, 128, 128]
    kspace = clean + complex_noise(rng, clean.shape, sigma)
    mask = (rng.uniform(size=(2, 1, 1, 128)) < 0.3).astype(np.float32)
    mask[..., 60:68] = 1
    estimate = kspace_noise_std(kspace * mask, mask).numpy()
    assert estimate.shape == (2,)
    np.testing.assert_allclose(estimate, sigma, rtol=0.08)
    np.testing.assert_allclose(kspace_noise_std(kspace, None).numpy(), sigma, rtol=0.08)       # fully sampled


def test_noncartesian_estimate_and_an_empty_band(rng):
    trajectory = np.asarray(radial_trajectory(32, 128), np.float32)[None]                     # [1, M, 2]
    kspace = complex_noise(rng, (1, 4, trajectory.shape[1]), 0.05)
    np.testing.assert_allclose(kspace_noise_std(kspace, {"trajectory": trajectory}).numpy(), 0.05, rtol=0.1)
    centre_only = np.zeros((1, 1, 1, 64), np.float32)
    centre_only[..., 30:34] = 1
    assert kspace_noise_std(complex_noise(rng, (1, 2, 64, 64), 1.0), centre_only, band=0.25).numpy()[0] > 0
    with pytest.raises(ValueError, match="band"):
        kspace_noise_std(kspace, {"trajectory": trajectory}, band=0.0)


def test_noise_adaptive_weight_per_example_in_the_weight_dtype():
    from tfmri_zoo.physics import noise_adaptive_weight

    sigma = np.array([0.0, 0.1, 0.3], np.float32)
    real = noise_adaptive_weight(0.5, 10.0, sigma, 3).numpy()
    assert real.shape == (3, 1, 1) and real.dtype == np.float32
    np.testing.assert_allclose(real[:, 0, 0], 0.5 + 10.0 * sigma.astype(np.float64) ** 2, rtol=1e-6)
    complex_weight = noise_adaptive_weight(tf.constant(0.05 + 0j, tf.complex64), tf.constant(2.0), sigma, 4).numpy()
    assert complex_weight.shape == (3, 1, 1, 1) and complex_weight.dtype == np.complex64
    np.testing.assert_allclose(complex_weight.ravel(), 0.05 + 2.0 * sigma.astype(np.float64) ** 2, rtol=1e-6)
