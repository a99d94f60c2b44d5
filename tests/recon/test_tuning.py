"""λ selection (``recon.select_lam``): the grid's best, and extension past an end of the grid, against the analytic
optimum of Tikhonov shrinkage ``x̂ = y / (1 + λ)`` (``λ* = ‖y‖² / Re⟨y, x⟩ − 1``)."""
import numpy as np
import pytest

from tfmri_zoo.recon import select_lam


def shrinkage_problem(rng, noise):
    x = np.zeros((2, 24, 24), np.complex64)
    x[:, 6:18, 6:18] = 1.0
    y = x + noise * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)).astype(np.complex64)
    batches = [({"y": y}, x, ["a", "a"])]
    optimum = float(np.vdot(y, y).real / np.vdot(x, y).real - 1.0)
    return (lambda inputs, lam: inputs["y"] / (1.0 + lam)), batches, optimum


@pytest.mark.parametrize("noise", [0.6, 0.01])          # optimum above the grid and below it
def test_extends_past_the_end_of_the_grid_to_the_optimum(rng, noise):
    reconstruct, batches, optimum = shrinkage_problem(rng, noise)
    grid = [0.01, 0.03, 0.1] if noise > 0.1 else [0.03, 0.1, 0.3]
    fixed, _ = select_lam(reconstruct, batches, grid, extend=0)
    assert fixed == (max(grid) if noise > 0.1 else min(grid))
    best, scores = select_lam(reconstruct, batches, grid)
    assert best not in grid and abs(np.log(best / optimum)) < np.log(3.4)      # within one step of the optimum
    assert scores[best]["psnr"] > scores[fixed]["psnr"] + 0.5
    assert set(grid) <= set(scores)


def test_an_interior_best_is_not_extended_and_zero_is_kept(rng):
    reconstruct, batches, optimum = shrinkage_problem(rng, 0.3)
    grid = [0.0, optimum / 3, optimum, optimum * 3]
    best, scores = select_lam(reconstruct, batches, grid)
    assert best == optimum and sorted(scores) == sorted(grid)
    with pytest.raises(ValueError, match="grid"):
        select_lam(reconstruct, batches, [])
    with pytest.raises(ValueError, match="metric"):
        select_lam(reconstruct, batches, grid, metric="mae")


def test_a_single_value_grid_is_a_fixed_lam(rng):
    reconstruct, batches, optimum = shrinkage_problem(rng, 0.6)
    best, scores = select_lam(reconstruct, batches, [optimum / 30])          # far from the optimum: still kept
    assert best == optimum / 30 and list(scores) == [optimum / 30]
