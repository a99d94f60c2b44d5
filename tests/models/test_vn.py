"""Variational Network (Eq. 6 + 19): the zoo contract, exact regulariser gradient, filter/λ constraints."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo import models
from tfmri_zoo.layers.rbf import rbf_nodes
from tfmri_zoo.models.vn import VariationalNetwork, ZeroMeanNormBall

DEFAULT_PARAMETERS = 65530  # 10 stages × (24·11·11·2 filter weights + 24·31 RBF weights + 1 λ); in the model card


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem()


@pytest.fixture(scope="module")
def small(problem):
    inputs, _ = problem
    model = models.get("vn", preset="small")
    model(inputs)
    return model


def _assert_constraints_hold(model, tol=1e-5):
    for regularizer in model.regularizers:
        k = regularizer.kernel.numpy()
        assert np.abs(k.mean(axis=(0, 1))).max() < tol  # zero mean per filter and channel
        assert np.sqrt((k ** 2).sum(axis=(0, 1, 2))).max() <= 1 + tol  # ‖k‖₂ ≤ 1
    assert np.all(model.dc_weights.numpy() >= 0)


def test_small_preset_builds_with_paper_structure(small, problem):
    inputs, target = problem
    assert isinstance(small, VariationalNetwork)
    assert len(small.regularizers) == 3 and small.regularizers[0].kernel.shape == (5, 5, 2, 8)
    assert small.regularizers[0].activation.rbf_weights.shape == (8, 31)
    np.testing.assert_allclose(small.dc_weights.numpy(), 1.0)
    _assert_constraints_hold(small)
    out = zoo_contract.check_output(small, inputs, target)
    zero_filled = models.get("vn", preset="small", iterations=0)(inputs).numpy()
    assert np.linalg.norm(out - target) < np.linalg.norm(zero_filled - target)  # stages improve on Eᴴy at init


def test_default_parameter_count():
    model = models.get("vn", preset="default")
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=2, height=16, width=16)
    model(inputs)
    assert model.count_params() == DEFAULT_PARAMETERS
    free = models.get("vn", preset="default", energy_free=True)
    free(inputs)
    assert free.count_params() == DEFAULT_PARAMETERS + 10 * 24 * 11 * 11 * 2


def test_regulariser_is_the_exact_gradient_of_the_energy(small, rng):
    """Kᵀ φ'(K x) equals ∇ₓ Σ_j Φ_j(K_j x) with Φ_j the integral of the RBF expansion (an erf sum)."""
    regularizer = small.regularizers[1]
    weights = rng.standard_normal(regularizer.activation.rbf_weights.shape).astype(np.float32)
    regularizer.activation.rbf_weights.assign(weights)
    mu, sigma = rbf_nodes(31, 1.0)
    x = tf.constant(rng.standard_normal((2, 16, 16, 2)).astype(np.float32) * 0.3)

    def energy(x_channels):
        z = tf.nn.conv2d(x_channels, regularizer.kernel, 1, "SAME")[..., None]
        phi = np.sqrt(np.pi / 2) * sigma * tf.math.erf((z - mu.astype(np.float32)) / (np.sqrt(2) * sigma))
        return tf.reduce_sum(phi * weights)

    with tf.GradientTape() as tape:
        tape.watch(x)
        e = energy(x)
    expected = tape.gradient(e, x).numpy()
    got = regularizer(tf.complex(x[..., 0], x[..., 1])).numpy()
    got = np.stack([got.real, got.imag], -1)
    np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_constraint_is_a_projection(rng):
    w = tf.constant(rng.standard_normal((5, 5, 2, 6)).astype(np.float32) * 3)
    p = ZeroMeanNormBall(1.0)(w).numpy()
    assert np.abs(p.mean(axis=(0, 1))).max() < 1e-6
    np.testing.assert_allclose(np.sqrt((p ** 2).sum(axis=(0, 1, 2))), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ZeroMeanNormBall(1.0)(p).numpy(), p, atol=1e-6)  # idempotent
    inside = p * 0.5
    np.testing.assert_allclose(ZeroMeanNormBall(1.0)(inside).numpy(), inside, atol=1e-6)  # feasible points stay


def test_optimizer_step_applies_filter_and_lambda_constraints(problem):
    inputs, _ = problem
    model = models.get("vn", preset="small")
    model(inputs)
    variables = model.trainable_variables
    optimizer = keras.optimizers.SGD(learning_rate=10.0)
    optimizer.apply([tf.ones_like(v) for v in variables], variables)  # a huge step: kernels off the ball, w_λ → −9
    _assert_constraints_hold(model)
    lam = model.dc_weights.numpy()
    assert np.all(lam >= 0) and np.all(lam < 1e-3)  # λ = softplus(w) stays non-negative


def test_keras_and_saved_model_round_trips_and_scale_equivariance(small, problem):
    inputs, _ = problem
    zoo_contract.check_keras_round_trip(small, inputs)
    zoo_contract.check_saved_model_round_trip(small, inputs)
    zoo_contract.check_scale_equivariance(small, inputs)


def test_training_lowers_loss_and_keeps_constraints(problem):
    inputs, target = problem
    model = models.get("vn", preset="small")
    model(inputs)
    initial = [s.kernel.numpy() for s in model.regularizers]
    first, last = zoo_contract.check_training_lowers_loss(model, inputs, target, steps=60, learning_rate=1e-2)
    print(f"vn small tiny run: loss {first:.3e} -> {last:.3e}")
    _assert_constraints_hold(model)
    moved = max(np.abs(s.kernel.numpy() - k0).max() for s, k0 in zip(model.regularizers, initial))
    assert moved > 1e-2  # the filters did train, and stayed feasible


def test_energy_free_variant_uses_its_own_second_filters(problem):
    """Eq. 20: with kernel_out tied to kernel the energy-free model is the energy-based one (same weights); with its
    own kernel_out it is not."""
    inputs, target = problem
    free = models.get("vn", preset="small", energy_free=True)
    tied = models.get("vn", preset="small")
    free(inputs), tied(inputs)
    assert free.regularizers[0].kernel_out.shape == free.regularizers[0].kernel.shape
    assert VariationalNetwork.from_config(free.get_config()).get_config()["energy_free"] is True
    for f, t in zip(free.regularizers, tied.regularizers):
        t.kernel.assign(f.kernel)
        t.activation.set_weights(f.activation.get_weights())
    for f, t in zip(free.data_consistency, tied.data_consistency):
        t.set_weights(f.get_weights())
    untied = free(inputs).numpy()
    for f in free.regularizers:
        f.kernel_out.assign(f.kernel)
    np.testing.assert_allclose(free(inputs).numpy(), tied(inputs).numpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(untied - tied(inputs).numpy()).max() > 1e-3 * np.abs(untied).max()


def test_single_coil_without_sensitivities(problem):
    """Single coil, no maps: with the activations zeroed (R = 0) each stage is x ← x − λ_t Eᴴ(Ex − y) with E = M F,
    compared with the same steps in numpy; with the trained-style regulariser on, the output differs."""
    inputs, target = problem
    single = {"kspace": inputs["kspace"][:, :1], "mask": inputs["mask"]}
    model = models.get("vn", preset="small")
    out = model(single).numpy()
    assert out.shape == target.shape and out.dtype == np.complex64
    for regularizer in model.regularizers:
        regularizer.activation.set_weights([np.zeros_like(w) for w in regularizer.activation.get_weights()])
    got = model(single).numpy()
    axes = (-2, -1)
    fft = lambda x: np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), norm="ortho"), axes=axes)  # noqa: E731
    ifft = lambda k: np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), norm="ortho"), axes=axes)  # noqa: E731
    y, mask = single["kspace"][:, 0].astype(np.complex128), single["mask"][:, 0]
    x = ifft(mask * y)
    for lam in model.dc_weights.numpy():
        x = x - lam * ifft(mask * (fft(x) - y))
    np.testing.assert_allclose(got, x, atol=1e-5 * np.abs(x).max())
    assert np.abs(out - got).max() > 1e-4 * np.abs(x).max()


def test_bad_inputs_name_the_argument(small, problem):
    inputs, _ = problem
    with pytest.raises(TypeError, match="kspace"):
        small({**inputs, "kspace": np.abs(inputs["kspace"])})
    with pytest.raises(ValueError, match="mask"):
        small({**inputs, "mask": inputs["mask"][:, :, :, :5]})
    with pytest.raises(ValueError, match="sensitivities"):
        small({"kspace": inputs["kspace"], "mask": inputs["mask"]})


def test_regularizer_argument_swaps_in_a_cnn(problem):
    inputs, target = problem
    model = models.get("vn", preset="small", regularizer={"name": "dncnn", "filters": 8, "layers": 3})
    zoo_contract.check_output(model, inputs, target)
    assert model.regularizers[0].residual is False and model.regularizers[0] is not model.regularizers[1]
    assert VariationalNetwork.from_config(model.get_config()).regularizer["name"] == "dncnn"
    with pytest.raises(ValueError, match="regularizer"):
        models.get("vn", preset="small", regularizer="complex_unet")
