"""The classical baselines of every comparison (training.comparison.classical_methods) are the recon solvers
themselves: ℓ1-wavelet through one XLA-compiled λ = 1 solve rescaled by λ (1-homogeneity) equals
``recon.l1_wavelet`` called with λ in plain graph mode, for every λ of a grid; CG-SENSE equals ``recon.sense``."""
import numpy as np
import pytest

from tests.models import zoo_contract
from tfmri_zoo import recon
from tfmri_zoo.training.comparison import classical_methods, margins


def test_classical_methods_equal_the_solvers_for_every_lam():
    inputs, _ = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32, acceleration=4)
    inputs["kspace"] = inputs["kspace"] * np.float32(37.0)   # not unit scale: λ is absolute, in data units
    methods = classical_methods(iterations={"l1_wavelet": 40, "sense": 10})
    for lam in (0.0, 0.01, 0.2):
        expected = recon.l1_wavelet(inputs["kspace"], inputs["mask"], inputs["sensitivities"], lam=lam,
                                    max_iter=40).numpy()
        got = methods["l1_wavelet"](inputs, lam)
        assert np.linalg.norm(got - expected) <= 1e-4 * np.linalg.norm(expected), lam
    expected = recon.sense(inputs["kspace"], inputs["mask"], inputs["sensitivities"], lam=0.01, max_iter=10).numpy()
    np.testing.assert_allclose(methods["sense"](inputs, 0.01), expected, atol=1e-5 * np.abs(expected).max())


def test_margins_count_the_slices_below_each_baseline_not_only_the_mean():
    # mean above CG-SENSE (+1 dB), one slice of three below it: the floor is broken on that slice
    table = {"R=8": {"sense": {"psnr": 30.0, "ssim": 0.80, "slice_psnr": [28.0, 30.0, 32.0]},
                     "l1_wavelet": {"psnr": 30.5, "ssim": 0.82, "slice_psnr": [29.0, 30.0, 32.5]},
                     "net": {"psnr": 31.0, "ssim": 0.85, "slice_psnr": [27.5, 32.0, 33.5]}}}
    got = margins(table, "net")["R=8"]
    assert got["sense"] == {"psnr": 1.0, "ssim": pytest.approx(0.05), "worst_slice_psnr": -0.5, "slices_below": 1,
                            "slices": 3}
    assert got["l1_wavelet"]["slices_below"] == 1 and got["l1_wavelet"]["worst_slice_psnr"] == -1.5
