"""MoDL (Eq. 21): zoo contract, pinned default size, shared weights and the MoDL structure.

Also home of the checks shared by the unrolled models' test files (``check_small_preset``, ``check_model_card``,
``built_default``, ``check_tiny_training``).
"""
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
    model = check_small_preset("modl", MoDL, *problem)
    assert model.iterations == 2


def test_model_card_matches_the_registry():
    check_model_card("modl", DEFAULT_PARAMS)


def test_default_config_size_and_sharing():
    model = built_default("modl")
    assert model.count_params() == DEFAULT_PARAMS
    assert (model.iterations, model.cg_iterations, model.lam) == (10, 10, 0.05)
    # one regulariser and one λ shared by all 10 unrolls
    assert len({id(d) for d in model.denoisers}) == 1
    assert len(model.dc.trainable_variables) == 1
    unshared = MoDL(iterations=3, cg_iterations=2, regularizer={"name": "dncnn", "filters": 4, "layers": 2},
                    share_weights=False)
    assert len({id(d) for d in unshared.denoisers}) == 3


def test_with_identity_regulariser_the_unrolls_equal_dense_proximal_steps():
    """With the CNN's output convolution zeroed, D(x) = x and each unroll is x ← (EᴴE + λI)⁻¹(Eᴴy + λx) from
    x₀ = Eᴴy: compared with numpy's dense solves (EᴴE assembled from numpy's FFT), and the error to the truth drops."""
    from tests.models.test_pnp import dense_gram

    inputs, target = zoo_contract.toy_problem(batch=2, coils=3, height=16, width=16, seed=4)
    model = MoDL(iterations=3, cg_iterations=15, lam=0.05, normalize=False,
                 regularizer={"name": "dncnn", "filters": 4, "layers": 2})
    model(inputs)
    out_layer = (model.denoisers[0] if hasattr(model, "denoisers") else model.denoiser).out
    out_layer.set_weights([np.zeros_like(w) for w in out_layer.get_weights()])
    got = model(inputs).numpy()
    k, mask, sens = inputs["kspace"], inputs["mask"], inputs["sensitivities"].astype(np.complex128)
    gram = dense_gram(sens, mask)
    axes = (-2, -1)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k * mask, axes=axes), norm="ortho"), axes=axes)
    rhs = np.sum(np.conj(sens) * coil_images, axis=1).reshape(2, -1)
    lam = 0.05
    x = rhs.copy()
    for _ in range(3):
        x = np.stack([np.linalg.solve(gram[b] + lam * np.eye(256), rhs[b] + lam * x[b]) for b in range(2)])
    want = x.reshape(got.shape)
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())
    err = np.linalg.norm(got - target) / np.linalg.norm(target)
    err0 = np.linalg.norm(rhs.reshape(got.shape) - target) / np.linalg.norm(target)
    assert err < 0.8 * err0, (err, err0)


def numpy_noise_std(kspace, mask):
    """σ̂ of one example in numpy: median |k| of the measured outer readout band (``|row − H/2| ≥ 0.75·H/2``) over
    sqrt(ln 2) — the Rayleigh median of complex noise. ``kspace`` ``[C, H, W]``, ``mask`` ``[1, 1, W]``."""
    height = kspace.shape[-2]
    rows = np.abs(np.arange(height) - height // 2) >= 0.75 * (height // 2)
    band = np.abs((kspace * mask)[:, rows][..., mask[0, 0] > 0])
    return float(np.median(band) / np.sqrt(np.log(2)))


def noise_adaptive_identity_case(model_class, rng, lam=0.05, noise_lam=4.0, **config):
    """A noise-adaptive model whose CNN (``denoisers[0]`` or ``denoiser``, residual) is the identity, on two examples at noise 0.01
    and 0.3, with what a numpy reference needs.

    Returns ``(model, got, weights, gram, rhs)``: the model, its output ``[2, 16, 16]``, each example's
    ``λ₀ + ν·σ̂²`` (σ̂ recomputed in numpy), the dense ``EᴴE`` ``[2, 256, 256]`` and ``Eᴴy`` ``[2, 256]``.
    """
    from tests.models.test_pnp import dense_gram

    inputs, _ = zoo_contract.toy_problem(batch=2, coils=3, height=16, width=16, seed=4)
    noise = rng.standard_normal(inputs["kspace"].shape) + 1j * rng.standard_normal(inputs["kspace"].shape)
    k = (inputs["kspace"] + np.array([0.01, 0.3])[:, None, None, None] * noise).astype(np.complex64)
    inputs = {**inputs, "kspace": k}
    model = model_class(lam=lam, noise_lam=noise_lam, normalize=False,
                        regularizer={"name": "dncnn", "filters": 4, "layers": 2}, **config)
    model(inputs)
    out_layer = (model.denoisers[0] if hasattr(model, "denoisers") else model.denoiser).out
    out_layer.set_weights([np.zeros_like(w) for w in out_layer.get_weights()])
    mask, sens = inputs["mask"], inputs["sensitivities"].astype(np.complex128)
    weights = [lam + noise_lam * numpy_noise_std(k[b], mask[b]) ** 2 for b in range(2)]
    assert weights[1] > 5 * weights[0]
    axes = (-2, -1)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k * mask, axes=axes), norm="ortho"), axes=axes)
    rhs = np.sum(np.conj(sens) * coil_images, axis=1).reshape(2, -1)
    return model, model(inputs).numpy(), weights, dense_gram(sens, mask), rhs


def test_noise_adaptive_unrolls_use_lam_plus_nu_sigma_squared_per_example(rng):
    """``noise_lam=ν``: each example's unrolls are the dense proximal steps with ``λ = λ₀ + ν·σ̂²``, ``σ̂`` recomputed
    here in numpy (median |k| of the measured outer readout band / sqrt(ln 2)); a noisier example gets a larger λ."""
    model, got, lams, gram, rhs = noise_adaptive_identity_case(MoDL, rng, iterations=2, cg_iterations=20)
    x = rhs.copy()
    for _ in range(2):
        x = np.stack([np.linalg.solve(gram[b] + lams[b] * np.eye(256), rhs[b] + lams[b] * x[b]) for b in range(2)])
    want = x.reshape(got.shape)
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())
    again = MoDL.from_config(model.get_config())
    assert again.noise_lam == 4.0 and again.dc.noise_lam_init == 4.0


def test_swapped_regularizers_are_the_ones_the_unrolls_apply():
    """For each regulariser the model's output equals the unrolls written with numpy's dense solves
    ``x ← (EᴴE + λI)⁻¹(Eᴴy + λ D(x))``, D being that regulariser called on its own."""
    from tests.models.test_pnp import dense_gram

    inputs, _ = zoo_contract.toy_problem(batch=1, coils=3, height=16, width=16, seed=5)
    k, mask, sens = inputs["kspace"], inputs["mask"], inputs["sensitivities"].astype(np.complex128)
    gram = dense_gram(sens, mask)[0]
    axes = (-2, -1)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k * mask, axes=axes), norm="ortho"), axes=axes)
    rhs = np.sum(np.conj(sens) * coil_images, axis=1)
    for spec, cls in (({"name": "unet", "filters": 4, "depth": 2}, "UNet"),
                      ({"name": "resnet", "filters": 4, "blocks": 1}, "ResNet"),
                      ({"name": "downup", "filters": 4, "convs": 1}, "DownUpNet")):
        keras.utils.set_random_seed(1)
        model = MoDL(iterations=2, cg_iterations=30, lam=0.05, normalize=False, regularizer=spec)
        got = model(inputs).numpy()
        denoiser = model.denoisers[0]
        assert type(denoiser).__name__ == cls
        x = rhs.copy()
        for _ in range(2):
            z = denoiser(x.astype(np.complex64)).numpy().astype(np.complex128)
            x = np.linalg.solve(gram + 0.05 * np.eye(256), (rhs + 0.05 * z).reshape(-1)).reshape(x.shape)
        np.testing.assert_allclose(got, x, atol=2e-4 * np.abs(x).max(), err_msg=cls)
        assert np.abs(got - rhs).max() > 1e-3 * np.abs(x).max()  # the regulariser did something


def test_tiny_supervised_run_lowers_the_loss(problem):
    check_tiny_training("modl", *problem, steps=12, learning_rate=5e-3)


def test_bad_arguments_are_named(problem):
    inputs, _ = problem
    with pytest.raises(ValueError, match="regularizer"):
        MoDL(regularizer="no-such-net")
    with pytest.raises(TypeError, match="kspace"):
        models.get("modl")({**inputs, "kspace": np.abs(inputs["kspace"])})


# -- checks shared by the test files of the unrolled models (imported by test_proxgrad, test_admmnet, ...) ----------
def check_small_preset(name, cls, inputs, target):
    """Registry build with preset small, output shape/dtype, .keras and SavedModel round trips, scale equivariance."""
    return zoo_contract.check_registry_model(name, cls, inputs, target)


def check_model_card(name, parameters):
    """``models/<name>/config.yaml`` equals the registry presets; the card prints the pinned parameter count."""
    card = pathlib.Path(__file__).parents[2] / "models" / name
    config = yaml.safe_load((card / "config.yaml").read_text())
    assert config["config"] == models.presets(name)["default"]
    assert config["small"] == models.presets(name)["small"]
    assert config["parameters"] == parameters
    assert f"{parameters:,}" in (card / "README.md").read_text()


def built_default(name):
    """The default-preset model, built by one call on a tiny single-coil problem (1 × 16×16, no sensitivities)."""
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=1, height=16, width=16)
    model = models.get(name, preset="default")
    model({"kspace": inputs["kspace"], "mask": inputs["mask"]})
    return model


def check_tiny_training(name, inputs, target, steps, learning_rate):
    """Overfits the small preset on the toy batch; the loss must drop ≥ 5×. Prints first → last."""
    keras.utils.set_random_seed(1)
    first, last = zoo_contract.check_training_lowers_loss(models.get(name, preset="small"), inputs, target,
                                                          steps=steps, factor=5.0, learning_rate=learning_rate)
    print(f"{name} small: loss {first:.4g} -> {last:.4g}")
    return first, last


def test_recompute_option_gives_the_same_output_and_gradients():
    import tensorflow as tf

    inputs, target = zoo_contract.toy_problem(batch=1, coils=2, height=16, width=16)
    plain = models.get("modl", preset="small")
    plain(inputs)
    memory = models.get("modl", preset="small", recompute=True)
    memory(inputs)
    memory.set_weights(plain.get_weights())
    grads = []
    for model in (plain, memory):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.abs(model(inputs, training=False) - target) ** 2)
        grads.append([g.numpy() for g in tape.gradient(loss, model.trainable_weights)])
    np.testing.assert_allclose(memory(inputs).numpy(), plain(inputs).numpy(), atol=1e-5)
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5 * np.abs(a).max())
    assert models.get("modl", preset="small", recompute=True).get_config()["recompute"] is True
