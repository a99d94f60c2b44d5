"""Image-domain U-Net (Sec. III-A): zoo contract, pinned default size, k-space replacement and the complex option."""

import numpy as np
import pytest

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card, check_small_preset, check_tiny_training
from tfmri_zoo import models
from tfmri_zoo.models.unet import UNetRecon

DEFAULT_PARAMS = 7759842  # printed in models/unet/README.md


def _fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    model = check_small_preset("unet", UNetRecon, *problem)
    assert not model.complex_network


def test_complex_unet_option(problem):
    # complex convolutions: output, .keras and SavedModel round trips, scale equivariance
    inputs, target = problem
    model = models.get("unet", preset="small", complex_network=True)
    zoo_contract.check_output(model, inputs, target)
    zoo_contract.check_keras_round_trip(model, inputs)
    zoo_contract.check_saved_model_round_trip(model, inputs)
    zoo_contract.check_scale_equivariance(model, inputs)
    assert type(model.network).__name__ == "ComplexUNetRegularizer"


def test_model_card_matches_the_registry():
    check_model_card("unet", DEFAULT_PARAMS)


def test_default_config_size():
    model = built_default("unet")
    assert model.count_params() == DEFAULT_PARAMS
    assert (model.filters, model.depth, model.norm) == (32, 4, "instance")


def test_kspace_replacement_restores_the_measured_samples():
    # single coil: the output's k-space equals y on the sampled lines exactly, with or without training
    inputs, _ = zoo_contract.toy_problem(batch=2, coils=1, height=32, width=32)
    single = {"kspace": inputs["kspace"], "mask": inputs["mask"]}
    on = models.get("unet", preset="small")(single).numpy()
    mask = inputs["mask"][:, 0]
    np.testing.assert_allclose(mask * _fft2c(on), inputs["kspace"][:, 0], atol=1e-5)
    off = models.get("unet", preset="small", kspace_replacement=False)(single).numpy()
    assert np.abs(mask * _fft2c(off) - inputs["kspace"][:, 0]).max() > 1e-3


def test_tiny_supervised_run_lowers_the_loss(problem):
    check_tiny_training("unet", *problem, steps=30, learning_rate=1e-2)
