"""Dipole inversion: Tikhonov CG equals its Fourier closed form, TKD equals the thresholded division done in numpy,
and both recover a smooth susceptibility phantom from its noise-free field better than the field itself."""
import numpy as np
import pytest

from tfmri_zoo.physics.dipole import dipole_kernel
from tfmri_zoo.recon.qsm import qsm_tikhonov, qsm_tkd


def phantom(shape=(16, 16, 16)):
    """Smooth spheres of ±0.1 ppm (a 3D susceptibility map) and its field by numpy FFT convolution."""
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    chi = np.zeros(shape)
    for centre, value in (((0.3, 0.0, -0.2), 0.1), ((-0.3, 0.2, 0.3), -0.08), ((0.0, -0.4, 0.0), 0.05)):
        r2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
        chi += value * np.exp(-r2 / 0.05)
    field = np.fft.ifftn(np.fft.ifftshift(dipole_kernel(shape)) * np.fft.fftn(chi)).real
    return chi[None].astype(np.float32), field[None].astype(np.float32)


def nrmse(x, ref):
    return np.linalg.norm(x - ref) / np.linalg.norm(ref)


def test_tikhonov_cg_equals_the_closed_form():
    chi, field = phantom()
    kernel = np.fft.ifftshift(dipole_kernel(chi.shape[1:]))
    closed = np.fft.ifftn(kernel / (kernel ** 2 + 0.05) * np.fft.fftn(field[0])).real
    got = qsm_tikhonov(field, lam=0.05, max_iter=100).numpy()[0]
    assert nrmse(got, closed) < 1e-3


def test_tkd_equals_the_thresholded_division():
    chi, field = phantom()
    kernel = dipole_kernel(chi.shape[1:])
    inverse = np.where(np.abs(kernel) > 0.2, 1 / np.where(kernel == 0, 1, kernel), np.sign(kernel + 1e-30) / 0.2)
    inverse[8, 8, 8] = 0
    expected = np.fft.ifftn(np.fft.ifftshift(inverse) * np.fft.fftn(field[0])).real
    np.testing.assert_allclose(qsm_tkd(field, threshold=0.2).numpy()[0], expected, atol=1e-6)


def test_both_recover_the_phantom():
    chi, field = phantom()
    for result in (qsm_tkd(field).numpy(), qsm_tikhonov(field, lam=1e-3, max_iter=100).numpy()):
        assert nrmse(result, chi) < 0.5 * nrmse(field, chi), nrmse(result, chi)


def test_bad_input():
    with pytest.raises(ValueError, match="field"):
        qsm_tkd(np.zeros((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="lam"):
        qsm_tikhonov(np.zeros((1, 4, 4, 4), np.float32), lam=0.0)
