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


def dense_gram(sens, mask):
    """EᴴE as dense matrices ``[B, N, N]`` (N = H·W), assembled column by column with numpy's FFT."""
    b, c, h, w = sens.shape
    axes = (-2, -1)
    basis = np.eye(h * w).reshape(h * w, h, w)
    grams = []
    for i in range(b):
        coils = basis[:, None] * sens[i][None]
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coils, axes=axes), norm="ortho"), axes=axes) * mask[i]
        back = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), norm="ortho"), axes=axes)
        grams.append(np.sum(np.conj(sens[i])[None] * back, axis=1).reshape(h * w, h * w).T)
    return np.stack(grams)


def test_model_equals_pnp_admm_and_red_written_with_dense_solves():
    """Both iterations of the module docstring in numpy, with exact dense solves of (EᴴE + ρI) and the model's
    denoiser as a black box: PnP-ADMM ``x = (EᴴE+ρI)⁻¹(Eᴴy + ρ(z−u)), z = D(x+u), u += x−z`` and RED
    ``x = (EᴴE+νI)⁻¹(Eᴴy + νD(x))``, from ``x = z = Eᴴy, u = 0``."""
    inputs, _ = zoo_contract.toy_problem(batch=2, coils=3, height=16, width=16, seed=2)
    k, mask = inputs["kspace"], inputs["mask"]
    sens = inputs["sensitivities"].astype(np.complex128)
    gram = dense_gram(sens, mask)
    b, _, h, w = k.shape
    axes = (-2, -1)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k * mask, axes=axes), norm="ortho"), axes=axes)
    rhs = np.sum(np.conj(sens) * coil_images, axis=1).reshape(b, -1)                 # Eᴴy
    penalty = 0.5
    solve = [np.linalg.inv(gram[i] + penalty * np.eye(h * w)) for i in range(b)]

    def dc(v):   # (EᴴE + ρI)⁻¹ v per example
        return np.stack([solve[i] @ v[i] for i in range(b)])

    keras.utils.set_random_seed(5)
    for method in ("admm", "red"):
        model = PnP(iterations=3, method=method, lam=penalty, cg_iterations=12, normalize=False,
                    denoiser={"network": {"name": "dncnn", "filters": 4, "layers": 3}})
        got = model(inputs).numpy()

        def denoise(v):
            return model.denoiser(tf.constant(v.reshape(b, h, w).astype(np.complex64))).numpy().reshape(b, -1)

        x = rhs.copy()
        if method == "admm":
            z, u = rhs.copy(), np.zeros_like(rhs)
            for _ in range(3):
                x = dc(rhs + penalty * (z - u))
                z = denoise(x + u)
                u = u + x - z
        else:
            for _ in range(3):
                x = dc(rhs + penalty * denoise(x))
        want = x.reshape(b, h, w)
        assert np.linalg.norm(denoise(want) - want.reshape(b, -1)) > 1e-3 * np.linalg.norm(want)  # D acts
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max(), err_msg=method)


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
    model = PnP(iterations=3, lam=0.5, cg_iterations=3, denoiser={"network": denoiser.network_spec})
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
    with pytest.raises(ValueError, match="lam"):
        PnP(lam=0.0)
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


@pytest.mark.parametrize("method", ["admm", "red"])
def test_noise_adaptive_penalty_uses_lam_plus_nu_sigma_squared_per_example(rng, method):
    """``noise_lam=ν``: with an identity denoiser, one iteration from ``x₀ = z₀ = Eᴴy`` (ADMM's ``u₀ = 0``, RED's
    ``D(x₀) = x₀``) is the dense solve ``(EᴴE + ρI)⁻¹(Eᴴy + ρEᴴy)`` with ``ρ = ρ₀ + ν·σ̂²`` per example, σ̂ recomputed
    in numpy; the noisier example gets the larger ρ."""
    from tests.models.test_modl import numpy_noise_std

    inputs, _ = zoo_contract.toy_problem(batch=2, coils=3, height=16, width=16, seed=4)
    noise = rng.standard_normal(inputs["kspace"].shape) + 1j * rng.standard_normal(inputs["kspace"].shape)
    k = (inputs["kspace"] + np.array([0.01, 0.3])[:, None, None, None] * noise).astype(np.complex64)
    inputs = {**inputs, "kspace": k}
    model = PnP(iterations=1, method=method, lam=0.05, noise_lam=4.0, cg_iterations=40, normalize=False,
                denoiser={"network": {"name": "dncnn", "filters": 4, "layers": 2, "batch_norm": False}})
    model(inputs)
    for variable in model.denoiser.weights:
        variable.assign(tf.zeros_like(variable))                  # residual network: D(x) = x
    got = model(inputs).numpy()
    mask, sens = inputs["mask"], inputs["sensitivities"].astype(np.complex128)
    rhos = [0.05 + 4.0 * numpy_noise_std(k[b], mask[b]) ** 2 for b in range(2)]
    assert rhos[1] > 5 * rhos[0]
    axes = (-2, -1)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k * mask, axes=axes), norm="ortho"), axes=axes)
    rhs = np.sum(np.conj(sens) * coil_images, axis=1).reshape(2, -1)
    gram = dense_gram(sens, mask)
    want = np.stack([np.linalg.solve(gram[b] + rhos[b] * np.eye(256), rhs[b] + rhos[b] * rhs[b]) for b in range(2)])
    np.testing.assert_allclose(got, want.reshape(got.shape), atol=2e-4 * np.abs(want).max())
    assert PnP.from_config(model.get_config()).noise_lam == 4.0
