"""The ``pnp`` zoo model (PnP-ADMM / RED around a CNN denoiser) and the ``Denoiser`` it wraps: zoo contract, model
card, end-to-end training through the iterations, denoiser training on noisy/clean pairs, errors."""
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card, check_small_preset, check_tiny_training
from tfmri_zoo import models
from tfmri_zoo.models.denoiser import Denoiser, make_denoiser, noisy_pairs
from tfmri_zoo.models.pnp import PnP
from tfmri_zoo.recon.pnp import pnp_admm

DEFAULT_PARAMS = 560_386  # printed in models/pnp/README.md


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    model = check_small_preset("pnp", PnP, *problem)
    assert (model.iterations, model.method) == (3, "admm")


def test_model_card_matches_the_registry():
    check_model_card("pnp", DEFAULT_PARAMS)


def test_default_config_size():
    model = built_default("pnp")
    assert model.count_params() == DEFAULT_PARAMS
    assert model.denoiser.network.num_layers == 17


def test_end_to_end_training_through_the_iterations_lowers_the_loss(problem):
    # trained end-to-end: the loss is the image MSE after the 3 PnP-ADMM iterations, gradients flow through CG
    check_tiny_training("pnp", *problem, steps=40, learning_rate=5e-3)


def test_model_equals_the_pnp_solver_with_the_same_denoiser(problem):
    inputs, _ = problem
    for method in ("admm", "red"):
        model = PnP(iterations=3, method=method, penalty=0.5, cg_iterations=3)
        got = model(inputs).numpy()
        if method == "admm":
            expected = pnp_admm(inputs["kspace"], inputs["mask"], inputs["sensitivities"], denoiser=model.denoiser,
                                rho=0.5, max_iter=3, cg_iterations=3).numpy()
            np.testing.assert_allclose(got, expected, atol=1e-5 * np.abs(expected).max())
        assert np.all(np.isfinite(got))


def test_denoiser_trained_on_noisy_pairs_beats_its_input_and_plugs_into_pnp(problem):
    inputs, target = problem
    keras.utils.set_random_seed(2)
    clean = zoo_contract.toy_problem(batch=8, coils=1, height=32, width=32, seed=3)[1]
    noisy, clean = noisy_pairs(clean, sigmas=[0.05, 0.1, 0.2], seed=0)
    assert noisy.shape == clean.shape == (24, 32, 32)
    measured = np.std((noisy - clean)[8:16]) / np.abs(clean[8:16]).max(axis=(1, 2)).mean()
    assert abs(measured - 0.1) < 0.01
    denoiser = make_denoiser("small")
    denoiser.compile(optimizer=keras.optimizers.Adam(5e-3), loss=zoo_contract.ComplexMSE())
    denoiser.fit(noisy, clean, batch_size=8, epochs=25, verbose=0)
    test_noisy, test_clean = noisy_pairs(zoo_contract.toy_problem(batch=4, coils=1, seed=9)[1], [0.1], seed=1)
    before = np.mean(np.abs(test_noisy - test_clean) ** 2)
    after = np.mean(np.abs(denoiser(test_noisy).numpy() - test_clean) ** 2)
    print(f"denoiser on held-out σ=0.1: MSE {before:.3g} (noisy input) -> {after:.3g}")
    assert after < 0.6 * before
    with tempfile.TemporaryDirectory() as d:               # .keras round trip of the standalone denoiser
        path = os.path.join(d, "denoiser.keras")
        denoiser.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded(test_noisy).numpy(), denoiser(test_noisy).numpy(), atol=1e-5)
    model = PnP(iterations=3, penalty=0.5, cg_iterations=3, denoiser={"network": denoiser.network_spec})
    model.set_denoiser_weights(denoiser)
    np.testing.assert_allclose(model.denoiser(test_noisy).numpy(), denoiser(test_noisy).numpy(), atol=1e-6)
    assert np.all(np.isfinite(model(inputs).numpy()))


def test_denoiser_is_scale_equivariant():
    image = zoo_contract.toy_problem(batch=2, coils=1, seed=4)[1]
    denoiser = make_denoiser("small")
    a, b = denoiser(image).numpy(), denoiser(image * 1e3).numpy()
    np.testing.assert_allclose(b, 1e3 * a, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_bad_arguments_are_named(problem):
    inputs, _ = problem
    with pytest.raises(ValueError, match="method"):
        PnP(method="hqs")
    with pytest.raises(ValueError, match="penalty"):
        PnP(penalty=0.0)
    with pytest.raises(TypeError, match="denoiser"):
        PnP(denoiser="dncnn")
    with pytest.raises(TypeError, match="kspace"):
        models.get("pnp")({**inputs, "kspace": np.abs(inputs["kspace"])})
    with pytest.raises(ValueError, match="sigmas"):
        noisy_pairs(np.ones((1, 4, 4), np.complex64), sigmas=[-0.1])
    with pytest.raises(TypeError, match="images"):
        noisy_pairs(np.ones((1, 4, 4)), sigmas=[0.1])
    with pytest.raises(ValueError, match="image"):
        Denoiser()(tf.zeros([1, 1, 4, 4], tf.complex64))
    with pytest.raises(ValueError, match="preset"):
        make_denoiser("huge")
