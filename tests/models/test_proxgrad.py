"""Proximal-gradient unroll (Eq. 22): zoo contract, pinned default size, per-unroll CNNs and step sizes."""

import numpy as np
import pytest

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card, check_small_preset, check_tiny_training
from tfmri_zoo import models
from tfmri_zoo.models.proxgrad import ProxGrad

DEFAULT_PARAMS = 1141790  # printed in models/proxgrad/README.md


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    model = check_small_preset("proxgrad", ProxGrad, *problem)
    assert model.iterations == 2


def test_model_card_matches_the_registry():
    check_model_card("proxgrad", DEFAULT_PARAMS)


def test_default_config_size():
    model = built_default("proxgrad")
    assert model.count_params() == DEFAULT_PARAMS
    assert len({id(d) for d in model.denoisers}) == 10 and len(model.steps) == 10


def test_each_unroll_is_cnn_then_gradient_step(problem):
    # with the CNNs' output convs zeroed, z = x and each unroll is x + η Eᴴ(y − Ex) (Landweber with η = 1)
    inputs, _ = problem
    model = ProxGrad(iterations=2, lam=1.0, regularizer={"name": "dncnn", "filters": 4, "layers": 2},
                     normalize=False)
    model(inputs)
    for denoiser in model.denoisers:
        denoiser.out.set_weights([np.zeros_like(w) for w in denoiser.out.get_weights()])
    op = model.make_operator(inputs["mask"], inputs["sensitivities"])
    x = op.adjoint(inputs["kspace"])
    for _ in range(2):
        x = x + op.adjoint(inputs["kspace"] - op.forward(x))
    np.testing.assert_allclose(model(inputs).numpy(), x.numpy(), atol=1e-5)


def test_tiny_supervised_run_lowers_the_loss(problem):
    check_tiny_training("proxgrad", *problem, steps=12, learning_rate=5e-3)


def test_bad_arguments_are_named(problem):
    inputs, _ = problem
    with pytest.raises(TypeError, match="regularizer"):
        ProxGrad(regularizer=3)
    with pytest.raises(ValueError, match="sensitivities"):
        models.get("proxgrad")({"kspace": inputs["kspace"], "mask": inputs["mask"]})
