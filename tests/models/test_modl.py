"""MoDL (Eq. 21): zoo contract, pinned default size, shared weights and the MoDL structure."""
import pathlib

import keras
import numpy as np
import pytest
import yaml

from tests.models import zoo_contract
from tfmri_zoo import models
from tfmri_zoo.models.modl import MoDL

DEFAULT_PARAMS = 114179  # printed in models/modl/README.md


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    inputs, target = problem
    keras.utils.set_random_seed(0)
    model = models.get("modl", preset="small")
    assert isinstance(model, MoDL) and model.iterations == 2
    zoo_contract.check_output(model, inputs, target)
    loaded = zoo_contract.check_keras_round_trip(model, inputs)
    assert loaded.get_config() == model.get_config()
    zoo_contract.check_saved_model_round_trip(model, inputs)
    zoo_contract.check_scale_equivariance(model, inputs)


def test_model_card_matches_the_registry():
    card = pathlib.Path(__file__).parents[2] / "models" / "modl"
    config = yaml.safe_load((card / "config.yaml").read_text())
    assert config["config"] == models.presets("modl")["default"]
    assert config["small"] == models.presets("modl")["small"]
    assert config["parameters"] == DEFAULT_PARAMS
    assert f"{DEFAULT_PARAMS:,}" in (card / "README.md").read_text()


def test_default_config_size_and_sharing():
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=1, height=16, width=16)
    model = models.get("modl", preset="default")
    model({"kspace": inputs["kspace"], "mask": inputs["mask"]})  # single-coil: no sensitivities
    assert model.count_params() == DEFAULT_PARAMS
    assert (model.iterations, model.cg_iterations, model.lam) == (10, 10, 0.05)
    # one regulariser and one λ shared by all 10 unrolls
    assert len({id(d) for d in model.denoisers}) == 1
    assert len(model.dc.trainable_variables) == 1
    unshared = MoDL(iterations=3, cg_iterations=2, regularizer={"name": "dncnn", "filters": 4, "layers": 2},
                    share_weights=False)
    assert len({id(d) for d in unshared.denoisers}) == 3


def test_with_identity_regulariser_start_it_is_cg_sense_like(problem):
    # with the CNN's output layer zeroed D(x) = x, so each unroll is a prox step towards the data: the error drops
    inputs, target = problem
    model = MoDL(iterations=3, cg_iterations=5, regularizer={"name": "dncnn", "filters": 4, "layers": 2})
    model(inputs)
    out_layer = model.denoisers[0].out
    out_layer.set_weights([np.zeros_like(w) for w in out_layer.get_weights()])
    zero_filled = model.operator(inputs["mask"], inputs["sensitivities"]).adjoint(
        inputs["kspace"]).numpy()
    err = np.linalg.norm(model(inputs).numpy() - target) / np.linalg.norm(target)
    err0 = np.linalg.norm(zero_filled - target) / np.linalg.norm(target)
    assert err < 0.8 * err0, (err, err0)


def test_swapped_regularizers_build_and_run(problem):
    inputs, target = problem
    for spec in ({"name": "unet", "filters": 4, "depth": 2}, {"name": "resnet", "filters": 4, "blocks": 1},
                 {"name": "downup", "filters": 4, "convs": 1}):
        model = MoDL(iterations=2, cg_iterations=2, regularizer=spec)
        zoo_contract.check_output(model, inputs, target)
        assert type(model.denoisers[0]).__name__.lower() == spec["name"].replace("downup", "downupnet")


def test_tiny_supervised_run_lowers_the_loss(problem):
    inputs, target = problem
    keras.utils.set_random_seed(1)
    first, last = zoo_contract.check_training_lowers_loss(models.get("modl", preset="small"), inputs, target,
                                                          steps=25, factor=5.0, learning_rate=3e-3)
    print(f"modl small: loss {first:.4g} -> {last:.4g}")


def test_bad_arguments_are_named(problem):
    inputs, _ = problem
    with pytest.raises(ValueError, match="regularizer"):
        MoDL(regularizer="no-such-net")
    with pytest.raises(TypeError, match="kspace"):
        models.get("modl")({**inputs, "kspace": np.abs(inputs["kspace"])})
