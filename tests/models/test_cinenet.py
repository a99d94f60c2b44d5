"""CINENet: zoo contract on 2D+t, pinned default size, split spatio-temporal U-Nets, tiny training run."""
import keras
import numpy as np
import pytest

from tests.models import zoo_contract
from tfmri_zoo import models
from tfmri_zoo.layers.complex_conv import ComplexConv2Dt
from tfmri_zoo.models.cinenet import CINENet

DEFAULT_PARAMS = 1578095  # printed in models/cinenet/README.md


def dynamic_problem():
    """The tiny 2D+t problem of the dynamic models' tests: 2 × 4 frames × 16×16, 4 coils, R = 4 lines + 6 ACS."""
    return zoo_contract.toy_problem(batch=2, coils=4, height=16, width=16, frames=4, acceleration=4)


def check_dynamic_zoo_contract(name, cls, inputs, target, **config):
    """Registry build, output shape/dtype, .keras and SavedModel round trips, scale equivariance; returns the model."""
    keras.utils.set_random_seed(0)
    model = models.get(name, preset="small", **config)
    assert isinstance(model, cls) and model.kspace_rank == 5
    zoo_contract.check_output(model, inputs, target)
    loaded = zoo_contract.check_keras_round_trip(model, inputs)
    assert loaded.get_config() == model.get_config()
    zoo_contract.check_saved_model_round_trip(model, inputs)
    zoo_contract.check_scale_equivariance(model, inputs)
    return model


@pytest.fixture(scope="module")
def problem():
    return dynamic_problem()


def test_small_preset_meets_the_zoo_contract(problem):
    inputs, target = problem
    model = check_dynamic_zoo_contract("cinenet", CINENet, inputs, target)
    # a full-resolution [B, 1, T, H, W] mask is accepted as well
    full_mask = np.broadcast_to(inputs["mask"], (2, 1, 4, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(model({**inputs, "mask": full_mask}).numpy(), model(inputs).numpy(), atol=1e-5)


def test_default_size_split_convolutions_and_variants(problem):
    inputs, target = problem
    model = models.get("cinenet", preset="default")
    # the K = 5 cascades have identical, unshared U-Nets; build one (building all five costs ~15 s of tracing)
    assert len({id(u) for u in model.unets}) == 5 and len({repr({k: v for k, v in u.get_config().items() if k != "name"}) for u in model.unets}) == 1
    model.unets[0].build((None, 4, 16, 16, 1))
    unet_params = sum(int(np.prod(w.shape)) for w in model.unets[0].weights)
    dc_params = sum(int(np.prod(w.shape)) for dc in model.dcs for w in dc.weights)
    assert model.cascades * unet_params + dc_params == DEFAULT_PARAMS, (unet_params, dc_params)
    assert (model.cascades, model.dc, model.normalization) == (5, "proximal", "instance")
    convs = [layer for layer in model.unets[0]._flatten_layers() if isinstance(layer, ComplexConv2Dt)]
    assert len(convs) == 2 * (2 * 2 + 1)  # convs_per_level × (encoder levels + decoder levels)
    # the real 2-channel variant and the CG data consistency build and run on the same inputs
    real = CINENet(cascades=1, filters=4, depth=1, convs_per_level=1, normalization=None, complex_network=False,
                   dc="proximal", cg_iterations=2)
    zoo_contract.check_output(real, inputs, target)
    assert not real.unets[0].complex_mode
    with pytest.raises(ValueError, match="dc"):
        CINENet(dc="replace")
    with pytest.raises(ValueError, match="kspace"):
        models.get("cinenet")({**inputs, "kspace": inputs["kspace"][:, :, 0]})


def test_tiny_2dt_training_run_lowers_the_loss_5x(problem):
    inputs, target = problem
    keras.utils.set_random_seed(1)
    one = {key: value[:1] for key, value in inputs.items()}
    first, last = zoo_contract.check_training_lowers_loss(models.get("cinenet", preset="small"), one, target[:1],
                                                          steps=40, factor=5.0, learning_rate=1e-2)
    print(f"cinenet small: loss {first:.4g} -> {last:.4g}")
