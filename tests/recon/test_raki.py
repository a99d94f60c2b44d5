"""RAKI: the untrained network (linear branch set from the GRAPPA fit, non-linear branch at zero) reproduces GRAPPA;
trained on the ACS it keeps the acquired samples and gains ≥ 8 dB over zero-filled on BART's phantom at R=3;
a too-small ACS is refused with the number of lines needed."""
import shutil

import numpy as np
import pytest

from tests.recon.test_grappa import equispaced_mask, rss_of
from tfmri_zoo.metrics import psnr
from tfmri_zoo.recon import grappa, raki


def test_untrained_raki_is_grappa(rng):
    kspace = (rng.standard_normal((1, 3, 24, 24)) + 1j * rng.standard_normal((1, 3, 24, 24))).astype(np.complex64)
    mask = equispaced_mask(24, 2, 10, offset=1)
    expected = grappa(kspace * mask, mask, kernel_size=(5, 4), lam=0.01).kspace.numpy()
    got = raki(kspace * mask, mask, steps=1, learning_rate=1e-12, lam=0.01).kspace.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.skipif(shutil.which("bart") is None, reason="BART is not installed (apt-get install bart)")
def test_bart_phantom_r3_gains_8_db_and_keeps_acquired_samples():
    from tfmri_zoo.data.bart_phantom import bart_phantom_slice

    kspace, _ = bart_phantom_slice("tubes", size=128, coils=8, seed=0)
    mask = equispaced_mask(128, 3, 24)
    under = kspace[None] * mask
    truth = rss_of(kspace[None])
    result = raki(under, mask, steps=60)
    sampled = mask[0, 0, 0] > 0
    np.testing.assert_array_equal(result.kspace.numpy()[..., sampled], under[..., sampled])
    gain = psnr(truth, result.image.numpy()) - psnr(truth, rss_of(under))
    print(f"RAKI R=3 tubes: {psnr(truth, result.image.numpy()):.2f} dB, zero-filled {psnr(truth, rss_of(under)):.2f}")
    assert gain >= 8.0, gain


def test_small_acs_is_refused_with_the_line_count(rng):
    kspace = (rng.standard_normal((1, 2, 16, 32)) + 0j).astype(np.complex64)
    with pytest.raises(ValueError, match="needs at least 12 ACS lines"):
        raki(kspace, equispaced_mask(32, 3, 10), steps=1)
    with pytest.raises(ValueError, match="steps"):
        raki(kspace, equispaced_mask(32, 3, 12), steps=0)
