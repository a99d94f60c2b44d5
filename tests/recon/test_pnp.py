"""Plug-and-play ADMM / proximal gradient and RED (review Sec. III-B, Eq. 13) with known denoisers, where each reduces
to its classical counterpart: ``D = prox`` of a Tikhonov term → CG-SENSE, wavelet soft-threshold → ℓ1-wavelet FISTA,
and RED's fixed point satisfies Eq. 13."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.zoo_contract import toy_problem
from tfmri_zoo.physics.fft import fft2c, ifft2c
from tfmri_zoo.recon import l1_wavelet, sense, soft_threshold, wavedec2, waverec2
from tfmri_zoo.recon.l1_wavelet import coarse_mask
from tfmri_zoo.recon.pnp import pnp_admm, pnp_proximal_gradient, red, red_residual


@pytest.fixture(scope="module")
def data():
    inputs, target = toy_problem(batch=2, coils=4, height=32, width=32, acceleration=3)
    return inputs["kspace"], inputs["mask"], inputs["sensitivities"], target


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def test_admm_with_tikhonov_prox_denoiser_is_cg_sense(data):
    kspace, mask, maps, _ = data
    rho, gamma = 0.5, 0.05
    shrink = lambda v: v * (rho / (rho + gamma))          # noqa: E731  prox of (γ/2)‖z‖² with penalty ρ
    got = pnp_admm(kspace, mask, maps, denoiser=shrink, rho=rho, max_iter=60, cg_iterations=4)
    expected = sense(kspace, mask, maps, lam=gamma, max_iter=100, tol=1e-7)
    err = rel(got, expected)
    print(f"PnP-ADMM(shrink) vs CG-SENSE(λ=γ): relative difference {err:.2e}")
    assert err <= 1e-3


def test_admm_with_identity_denoiser_is_least_squares_sense():
    # D = I: u stays 0 and x ← (EᴴE + ρI)⁻¹(Eᴴy + ρx), the proximal-point iteration for the λ = 0 CG-SENSE problem
    # (R = 2 here: at R = 3 the λ = 0 problem is too ill-conditioned for float32 CG-SENSE itself to converge)
    inputs, _ = toy_problem(batch=2, coils=4, height=32, width=32, acceleration=2)
    kspace, mask, maps = inputs["kspace"], inputs["mask"], inputs["sensitivities"]
    got = pnp_admm(kspace, mask, maps, denoiser=lambda v: v, rho=0.1, max_iter=20, cg_iterations=4)
    expected = sense(kspace, mask, maps, lam=0.0, max_iter=100, tol=1e-7)
    err = rel(got, expected)
    print(f"PnP-ADMM(identity) vs CG-SENSE(λ=0): relative difference {err:.2e}")
    assert err <= 1e-4


def test_proximal_gradient_with_wavelet_soft_threshold_is_fista_l1_wavelet(data):
    kspace, mask, maps, _ = data
    lam, levels = 0.02, 2
    keep = tf.cast(coarse_mask((32, 32), levels), tf.float32)

    def wavelet_shrink(v):                              # prox of α λ ‖Ψ v‖₁ (coarse band kept) with α = 1
        return waverec2(soft_threshold(wavedec2(v, "db4", levels), lam * keep), "db4", levels)

    for accelerated, iterations in ((True, 15), (False, 60)):
        got = pnp_proximal_gradient(kspace, mask, maps, denoiser=wavelet_shrink, step_size=1.0, max_iter=iterations,
                                    accelerated=accelerated, normalize=False)
        expected = l1_wavelet(kspace, mask, maps, lam=lam, levels=levels, step_size=1.0,
                              max_iter=15 if accelerated else 60, wavelet="db4", threshold_coarse=False,
                              cycle_spinning=False)
        err = rel(got, expected)
        print(f"PnP-{'FISTA' if accelerated else 'ISTA'}(wavelet soft-threshold) vs l1_wavelet: {err:.2e}")
        assert err <= (1e-5 if accelerated else 1e-2), (accelerated, err)


def gaussian_smoother(width=4.0):
    """A symmetric linear denoiser with eigenvalues in (0, 1]: Gaussian low-pass in k-space."""
    k = np.fft.fftshift(np.fft.fftfreq(32)) * 32
    gain = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * width ** 2)).astype(np.complex64)
    return lambda v: ifft2c(fft2c(v) * tf.cast(gain, v.dtype))


def test_red_fixed_point_satisfies_eq13_and_gradient_method_agrees(data):
    kspace, mask, maps, target = data
    smooth, nu = gaussian_smoother(), 0.2
    x_fp = red(kspace, mask, maps, denoiser=smooth, nu=nu, method="fixed_point", max_iter=100, cg_iterations=5,
               tol=1e-7)
    start = red_residual(sense(kspace, mask, maps, lam=0.0, max_iter=0), kspace, mask, maps, denoiser=smooth, nu=nu)
    residual = red_residual(x_fp, kspace, mask, maps, denoiser=smooth, nu=nu).numpy()
    x_gd = red(kspace, mask, maps, denoiser=smooth, nu=nu, method="gradient", max_iter=60)
    err = rel(x_gd, x_fp)
    print(f"RED: Eq. 13 residual {start.numpy().max():.2e} (x = 0) -> {residual.max():.2e}; gradient vs fixed "
          f"point {err:.2e}")
    assert residual.max() <= 1e-4
    assert err <= 1e-2


def test_normalisation_makes_pnp_scale_equivariant(data):
    kspace, mask, maps, _ = data
    soft = lambda v: soft_threshold(v, 0.05)             # noqa: E731  not scale-equivariant on its own
    a = pnp_admm(kspace, mask, maps, denoiser=soft, rho=0.5, max_iter=5, cg_iterations=3)
    b = pnp_admm(kspace * 1e3, mask, maps, denoiser=soft, rho=0.5, max_iter=5, cg_iterations=3)
    assert rel(b, 1e3 * a.numpy()) <= 1e-4


def test_bad_arguments_are_named(data):
    kspace, mask, maps, _ = data
    with pytest.raises(TypeError, match="denoiser"):
        pnp_admm(kspace, mask, maps, denoiser="dncnn")
    with pytest.raises(ValueError, match="rho"):
        pnp_admm(kspace, mask, maps, denoiser=lambda v: v, rho=0.0)
    with pytest.raises(ValueError, match="nu"):
        red(kspace, mask, maps, denoiser=lambda v: v, nu=-1.0)
    with pytest.raises(ValueError, match="method"):
        red(kspace, mask, maps, denoiser=lambda v: v, method="newton")
    with pytest.raises(TypeError, match="denoiser"):
        pnp_proximal_gradient(kspace, mask, maps, denoiser=lambda v: tf.abs(v), max_iter=1)
    with pytest.raises(TypeError, match="kspace"):
        pnp_admm(np.abs(kspace), mask, maps, denoiser=lambda v: v)
