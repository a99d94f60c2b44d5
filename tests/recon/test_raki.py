"""RAKI: the untrained network (linear branch set from the GRAPPA fit, non-linear branch at zero) reproduces GRAPPA;
a too-small ACS is refused with the number of lines needed. (BART's phantom at R=3, trained: tests/recon/test_grappa.py.)"""
import numpy as np
import pytest

from tests.recon.test_grappa import equispaced_mask
from tfmri_zoo.recon import grappa, raki


def test_untrained_raki_is_grappa(rng):
    kspace = (rng.standard_normal((1, 3, 24, 24)) + 1j * rng.standard_normal((1, 3, 24, 24))).astype(np.complex64)
    mask = equispaced_mask(24, 2, 10, offset=1)
    expected = grappa(kspace * mask, mask, kernel_size=(5, 4), lam=0.01).kspace.numpy()
    got = raki(kspace * mask, mask, steps=1, learning_rate=1e-12, lam=0.01).kspace.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_small_acs_is_refused_with_the_line_count(rng):
    kspace = (rng.standard_normal((1, 2, 16, 32)) + 0j).astype(np.complex64)
    with pytest.raises(ValueError, match="needs at least 12 ACS lines"):
        raki(kspace, equispaced_mask(32, 3, 10), steps=1)
    with pytest.raises(ValueError, match="steps"):
        raki(kspace, equispaced_mask(32, 3, 12), steps=0)
