"""ADMM-Net (Eq. 9 unrolled): zoo contract, pinned default size, and the ADMM update order."""

import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card, check_small_preset, check_tiny_training
from tfmri_zoo import models
from tfmri_zoo.models.admmnet import ADMMNet

DEFAULT_PARAMS = 1141799  # printed in models/admmnet/README.md


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    model = check_small_preset("admmnet", ADMMNet, *problem)
    assert model.iterations == 2


def test_model_card_matches_the_registry():
    check_model_card("admmnet", DEFAULT_PARAMS)


def test_default_config_size():
    model = built_default("admmnet")
    assert model.count_params() == DEFAULT_PARAMS
    # ρ and η per stage, except the last stage which has no (unused) dual update
    assert [len(s.trainable_variables) for s in model.steps] == [2] * 9 + [1]


def test_stages_follow_admm(problem):
    # reference loop written from Eq. 9 with the model's own CNNs and prox solver
    inputs, _ = problem
    model = ADMMNet(iterations=3, cg_iterations=3, lam=0.2, dual_step=0.7,
                    regularizer={"name": "dncnn", "filters": 4, "layers": 2, "batch_norm": False}, normalize=False)
    out = model(inputs).numpy()
    k, m, s = (tf.constant(inputs[key]) for key in ("kspace", "mask", "sensitivities"))
    x = model.make_operator(m, s).adjoint(k)
    u = tf.zeros_like(x)
    for i, (cnn, step) in enumerate(zip(model.denoisers, model.steps)):
        z = cnn(x + u)
        x = step.solve(z - u, k, model.make_operator(m, s), tf.complex(tf.math.softplus(step.lam), 0.0))
        if i < 2:
            u = u + 0.7 * (x - z)
    np.testing.assert_allclose(out, x.numpy(), atol=1e-5 * np.abs(out).max())


def test_tiny_supervised_run_lowers_the_loss(problem):
    check_tiny_training("admmnet", *problem, steps=12, learning_rate=5e-3)


def test_bad_arguments_are_named(problem):
    inputs, _ = problem
    with pytest.raises(ValueError, match="cg_iterations"):
        ADMMNet(cg_iterations=0)
    with pytest.raises(ValueError, match="mask"):
        models.get("admmnet")({**inputs, "mask": inputs["mask"][..., :7]})


def test_noise_adaptive_x_update_uses_rho_plus_nu_sigma_squared_per_example(rng):
    """``noise_lam=ν``: a one-stage ADMM-Net whose CNN is the identity is the dense x-update with
    ``ρ = ρ₀ + ν·σ̂²`` per example (σ̂ recomputed in numpy); a noisier example gets a larger ρ."""
    from tests.models.test_modl import noise_adaptive_identity_case

    model, got, rhos, gram, rhs = noise_adaptive_identity_case(ADMMNet, rng, iterations=1, cg_iterations=30)
    # x₀ = Eᴴy, u₀ = 0, z = D(x₀) = x₀: x = (EᴴE + ρI)⁻¹(Eᴴy + ρ·x₀)
    want = np.stack([np.linalg.solve(gram[b] + rhos[b] * np.eye(256), rhs[b] + rhos[b] * rhs[b]) for b in range(2)])
    np.testing.assert_allclose(got, want.reshape(got.shape), atol=2e-4 * np.abs(want).max())
    again = ADMMNet.from_config(model.get_config())
    assert again.noise_lam == 4.0 and again.steps[0].noise_lam_init == 4.0
