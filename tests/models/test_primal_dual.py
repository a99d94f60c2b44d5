"""Learned primal-dual: zoo contract, pinned default size, operator placement and swappable blocks."""

import numpy as np
import pytest

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card, check_small_preset, check_tiny_training
from tfmri_zoo import models
from tfmri_zoo.models.primal_dual import PrimalDual

DEFAULT_PARAMS = 319560  # printed in models/primal_dual/README.md


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    model = check_small_preset("primal_dual", PrimalDual, *problem)


def test_model_card_matches_the_registry():
    check_model_card("primal_dual", DEFAULT_PARAMS)


def test_default_config_size():
    model = built_default("primal_dual")
    assert model.count_params() == DEFAULT_PARAMS
    # Adler & Öktem: 10 iterations, 3 conv layers of 32 channels, PReLU, 5 memory channels
    block = model.primal_blocks[0]
    assert (block.filters, block.num_layers, block.activation, block.out_channels) == (32, 3, "prelu", 10)
    assert model.dual_blocks[0].out_channels == 10 and len(model.dual_blocks) == 10


def test_zero_blocks_return_the_zero_filled_image(problem):
    # with all block outputs zero the memories never change: the output is f₀ = Eᴴy, so E and Eᴴ sit in the loop
    inputs, _ = problem
    model = PrimalDual(iterations=2, n_primal=2, n_dual=1, normalize=False,
                       regularizer={"name": "dncnn", "filters": 4, "layers": 2, "batch_norm": False})
    model(inputs)
    for block in model.primal_blocks + model.dual_blocks:
        block.out.set_weights([np.zeros_like(w) for w in block.out.get_weights()])
    zero_filled = model.operator(inputs["mask"], inputs["sensitivities"]).adjoint(inputs["kspace"]).numpy()
    np.testing.assert_allclose(model(inputs).numpy(), zero_filled, atol=1e-6)


def test_swapped_block_network(problem):
    inputs, target = problem
    model = PrimalDual(iterations=1, n_primal=2, n_dual=2, regularizer={"name": "unet", "filters": 4, "depth": 1})
    zoo_contract.check_output(model, inputs, target)
    assert type(model.primal_blocks[0]).__name__ == "UNet"
    with pytest.raises(ValueError, match="regularizer"):
        PrimalDual(iterations=1, regularizer={"name": "complex_unet"})
    with pytest.raises(ValueError, match="n_primal"):
        PrimalDual(n_primal=1)


def test_tiny_supervised_run_lowers_the_loss(problem):
    check_tiny_training("primal_dual", *problem, steps=12, learning_rate=5e-3)
