"""Orthogonal Daubechies wavelets in TF against PyWavelets (mode="periodization") and their algebra."""
import numpy as np
import pytest
import pywt
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.recon import wavelets


@pytest.mark.parametrize("name", wavelets.WAVELETS)
def test_filters_match_pywt_and_are_orthogonal(name):
    dec_lo, dec_hi = wavelets.daubechies_filters(name)
    reference = pywt.Wavelet(name)
    np.testing.assert_allclose(dec_lo, reference.dec_lo, atol=1e-12)
    np.testing.assert_allclose(dec_hi, reference.dec_hi, atol=1e-12)
    # Orthogonality of the even shifts: Σ h[n] h[n + 2k] = δ_k, and low ⟂ high at every even shift.
    n = dec_lo.size
    for k in range(0, n, 2):
        assert np.dot(dec_lo[:n - k], dec_lo[k:]) == pytest.approx(float(k == 0), abs=1e-12)
        assert np.dot(dec_hi[:n - k], dec_hi[k:]) == pytest.approx(float(k == 0), abs=1e-12)
        assert np.dot(dec_lo[:n - k], dec_hi[k:]) == pytest.approx(0.0, abs=1e-12)
        assert np.dot(dec_hi[:n - k], dec_lo[k:]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", wavelets.WAVELETS)
def test_wavedec2_matches_pywt_periodization(rng, name):
    x = crandn(rng, 2, 32, 64, dtype=np.complex128)
    for levels in range(1, wavelets.max_levels((32, 64), name) + 1):
        ours = wavelets.wavedec2(tf.constant(x), name, levels).numpy()
        coeffs = pywt.wavedec2(x, name, mode="periodization", level=levels, axes=(-2, -1))
        reference, _ = pywt.coeffs_to_array(coeffs, axes=(-2, -1))
        np.testing.assert_allclose(ours, reference, atol=1e-12)


@pytest.mark.parametrize("name", ["db1", "db4"])
def test_inverse_is_exact_and_equals_adjoint(rng, name):
    x = crandn(rng, 3, 32, 32, dtype=np.complex128)
    c = crandn(rng, 3, 32, 32, dtype=np.complex128)
    levels = wavelets.max_levels((32, 32), name)
    forward = wavelets.wavedec2(tf.constant(x), name, levels).numpy()
    np.testing.assert_allclose(wavelets.waverec2(tf.constant(forward), name, levels).numpy(), x, atol=1e-12)
    adjoint_c = wavelets.waverec2(tf.constant(c), name, levels).numpy()
    assert np.vdot(forward, c) == pytest.approx(np.vdot(x, adjoint_c), rel=1e-12)
    assert np.linalg.norm(forward) == pytest.approx(np.linalg.norm(x), rel=1e-12)   # Parseval


def test_single_level_float32_and_real_input(rng):
    x = rng.standard_normal((16, 16)).astype(np.float32)
    ours = wavelets.dwt2(tf.constant(x), "db2").numpy()
    a, (h, v, d) = pywt.dwt2(x.astype(np.float64), "db2", mode="periodization")
    np.testing.assert_allclose(ours, np.block([[a, v], [h, d]]), atol=1e-5)
    np.testing.assert_allclose(wavelets.idwt2(tf.constant(ours), "db2").numpy(), x, atol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="wavelet"):
        wavelets.wavedec2(tf.zeros([8, 8]), "db9")
    with pytest.raises(ValueError, match="levels"):
        wavelets.wavedec2(tf.zeros([16, 16]), "db4", levels=3)      # 16 → 8 is the last level for an 8-tap filter
    with pytest.raises(ValueError, match="x"):
        wavelets.wavedec2(tf.zeros([16]), "db1")


def test_coarse_levels_match_bart_level_counts():
    # Level counts of BART's Daubechies-2 transform, read from `bart wavelet -D 3` applied to a constant image
    # (coarse coefficients = 2^levels) at these sizes: decomposition stops before a band shorter than 16.
    bart_levels = {32: 2, 48: 2, 64: 3, 80: 3, 96: 3, 128: 4, 144: 4, 160: 4, 256: 5}
    assert {n: wavelets.coarse_levels((n, n), "db2") for n in bart_levels} == bart_levels
    assert wavelets.coarse_levels((640, 368), "db2") == 4          # 368 = 16 · 23: periodic levels end at 4
    assert wavelets.coarse_levels((16, 16), "db4") == 1
    with pytest.raises(ValueError, match="min_coarse"):
        wavelets.coarse_levels((64, 64), "db2", min_coarse=0)
