"""The learned image as ℓ1-wavelet prior (training.prior_l1): the compiled, λ-rescaled solve is
``recon.l1_wavelet`` with the prior, and the validation choice of (λ, μ) keeps a good prior and drops a wrong one."""
import math

import numpy as np
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo import recon
from tfmri_zoo.training.prior_l1 import choose_prior_l1, prior_l1_solver, with_prior


def noisy_problem(seed=0, noise=0.03):
    inputs, target = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32, acceleration=4, seed=seed)
    rng = np.random.default_rng(seed + 100)
    shape = inputs["kspace"].shape
    inputs["kspace"] = ((inputs["kspace"] + noise * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)))
                        * inputs["mask"]).astype(np.complex64)
    return inputs, target


def test_the_solve_is_l1_wavelet_with_the_prior_for_every_lam_and_weight():
    inputs, target = noisy_problem()
    inputs["kspace"] = inputs["kspace"] * np.float32(37.0)    # not unit scale: λ is absolute, in data units
    prior = (37.0 * np.roll(target, 3, axis=-1)).astype(np.complex64)
    solve = prior_l1_solver(max_iter=40)
    for lam, weight in ((0.0, 0.3), (0.01, 0.3), (0.2, 3.0), (0.01, 0.0)):
        expected = tf.function(lambda k, m, s: recon.l1_wavelet(k, m, s, lam=lam, max_iter=40, prior=prior,
                                                                prior_weight=weight))(
            inputs["kspace"], inputs["mask"], inputs["sensitivities"]).numpy()
        got = solve({**inputs, "prior": prior}, lam, weight)
        assert np.linalg.norm(got - expected) <= 1e-4 * np.linalg.norm(expected), (lam, weight)
    np.testing.assert_array_equal(solve({**inputs, "prior": prior}, 0.01, math.inf), prior)


def test_the_validation_choice_keeps_a_good_prior_and_drops_a_wrong_one():
    inputs, target = noisy_problem()
    batches = [(inputs, target, ["a", "b"])]
    solve = prior_l1_solver(max_iter=40)
    rng = np.random.default_rng(5)
    close = target + 0.01 * (rng.standard_normal(target.shape) + 1j * rng.standard_normal(target.shape))
    wrong = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32, acceleration=4, seed=7)[1]
    weights = (0.0, 0.03, 3.0, math.inf)                 # a short grid of μ: 0, small, large, ∞
    good = choose_prior_l1(solve, with_prior(batches, lambda x: close.astype(np.complex64)), [1e-3, 1e-2], weights)
    bad = choose_prior_l1(solve, with_prior(batches, lambda x: wrong), [1e-3, 1e-2], weights)
    assert good["weight"] >= 3.0, good                   # a nearly exact image: kept (μ large or ∞)
    assert bad["weight"] <= 0.03, bad                    # another object: the ℓ1-wavelet and the data win
    for chosen in (good, bad):                           # the pair is at least as good as either part alone
        best = chosen["scores"][chosen["weight"]]["psnr"]
        assert best >= chosen["scores"][0.0]["psnr"] and best >= chosen["scores"][math.inf]["psnr"]
    assert bad["scores"][0.0]["psnr"] > bad["scores"][math.inf]["psnr"] + 3.0


def test_the_choice_keeps_the_pair_closest_to_the_network_among_those_the_validation_cannot_tell_apart():
    target = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)[1]
    noise = np.random.default_rng(1).standard_normal(target.shape).astype(np.float32)
    scale = {0.0: 1.0, 0.1: 1.005, 3.0: 1.03, math.inf: 1.5}      # error × 1.005: −0.04 dB; × 1.03: −0.26 dB

    def solve(inputs, lam, weight):      # a stand-in whose error depends on μ only
        return target + 0.05 * scale[weight] * noise

    batches = [({"prior": target}, target, ["a", "b"])]
    chosen = choose_prior_l1(solve, batches, [1e-3], tuple(scale))
    assert chosen["weight"] == 0.1                          # within 0.1 dB of the best (μ = 0), the largest μ
    assert choose_prior_l1(solve, batches, [1e-3], tuple(scale), tolerance=0)["weight"] == 0.0
    assert choose_prior_l1(solve, batches, [1e-3], tuple(scale), tolerance=0.5)["weight"] == 3.0


def test_relative_lam_is_what_a_model_with_the_step_computes_and_the_table_is_made_from_the_choices():
    from tfmri_zoo import models
    from tfmri_zoo.training.prior_l1 import prior_l1_table

    inputs, target = noisy_problem()
    inputs["kspace"] = inputs["kspace"] * np.float32(37.0)    # λ relative to max|Eᴴy|: the data's scale drops out
    model = models.get("unet", preset="small", kspace_replacement=False, initial="sense")
    plain = model(inputs).numpy()
    choices = {4: {"lam": 0.004, "weight": 0.3}, 8: {"lam": 0.01, "weight": math.inf}}
    table = prior_l1_table(choices)
    assert table == {"accelerations": [4.0, 8.0], "lam": [0.004, None], "weight": [0.3, None]}
    model.set_prior_l1(prior_l1_table({3: choices[4]}))       # the toy masks' acceleration is near 3
    got = model(inputs).numpy()
    expected = prior_l1_solver(max_iter=100, relative=True)({**inputs, "prior": plain}, 0.004, 0.3)
    assert np.linalg.norm(got - expected) <= 1e-4 * np.linalg.norm(expected)
    assert np.linalg.norm(got - plain) > 1e-2 * np.linalg.norm(plain)
