"""Signal models (Eq. 10): analytic Jacobians vs finite differences, jvp/vjp adjointness, E(ϑ) = E·M(ϑ), errors."""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.physics.signal_models import (InversionRecovery, MultiEchoT2, NonlinearOperator, pack_params,
                                             rate_to_time, unpack_params)

MODELS = {"t2": (MultiEchoT2, [10.0, 25.0, 50.0, 80.0], (1 / 120, 1 / 30)),
          "ir": (InversionRecovery, [50.0, 300.0, 900.0, 2500.0], (1 / 2000, 1 / 300))}


def random_params(rng, model_key, shape=(2, 6, 5)):
    rates = MODELS[model_key][2]
    rho = crandn(rng, *shape, dtype=np.complex128)
    rate = rng.uniform(*rates, size=shape)
    return pack_params(tf.constant(rho), tf.constant(rate))


@pytest.mark.parametrize("key", sorted(MODELS))
def test_signal_equation(rng, key):
    cls, times, _ = MODELS[key]
    params = random_params(rng, key)
    rho, rate = (v.numpy() for v in unpack_params(params))
    t = np.asarray(times)[None, :, None, None]
    decay = np.exp(-t * rate[:, None])
    expected = rho[:, None] * (decay if key == "t2" else 1 - 2 * decay)
    np.testing.assert_allclose(cls(times).signal(params).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_analytic_jacobian_matches_finite_differences(rng, key):
    cls, times, _ = MODELS[key]
    model = cls(times)
    params = random_params(rng, key)
    d_rho, d_rate = (v.numpy() for v in model.jacobian(params))
    rho, rate = unpack_params(params)
    # ∂/∂Re ρ (complex-linear: the derivative is g), ∂/∂Im ρ (= i g), ∂/∂R — central differences in float64
    for direction, analytic in ((("rho", 1.0), d_rho), (("rho", 1j), 1j * d_rho), (("rate", 1.0), d_rate)):
        name, unit = direction
        h = 1e-6 if name == "rho" else 1e-6 * float(tf.reduce_mean(rate))
        if name == "rho":
            plus, minus = pack_params(rho + unit * h, rate), pack_params(rho - unit * h, rate)
        else:
            plus, minus = pack_params(rho, rate + h), pack_params(rho, rate - h)
        numeric = (model.signal(plus).numpy() - model.signal(minus).numpy()) / (2 * h)
        rel = np.linalg.norm(numeric - analytic) / np.linalg.norm(analytic)
        assert rel <= 1e-5, (key, direction, rel)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_jvp_and_vjp_are_adjoint_through_the_encoding_operator(rng, key):
    cls, times, _ = MODELS[key]
    b, c, h, w = 2, 3, 6, 5
    maps = crandn(rng, b, c, 1, h, w, dtype=np.complex128)
    mask = (rng.uniform(size=(b, 1, len(times), 1, w)) < 0.6).astype(np.float32)
    op = NonlinearOperator(cls(times), SenseOperator(maps, mask, dtype=tf.complex128))
    params = random_params(rng, key, (b, h, w))
    u = tf.constant(crandn(rng, b, 2, h, w, dtype=np.complex128))
    u = tf.stack([u[:, 0], tf.cast(tf.math.real(u[:, 1]), u.dtype)], axis=1)   # the rate tangent is real
    v = tf.constant(crandn(rng, b, c, len(times), h, w, dtype=np.complex128))
    lhs = np.real(np.vdot(op.jvp(params, u).numpy(), v.numpy()))
    vjp = op.vjp(params, v).numpy()
    rhs = np.real(np.vdot(u.numpy(), vjp))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs), (lhs, rhs)
    assert np.all(vjp[:, 1].imag == 0)
    # the linearisation predicts the forward operator's change
    eps = 1e-6
    diff = (op.forward(params + eps * u) - op.forward(params - eps * u)).numpy() / (2 * eps)
    np.testing.assert_allclose(diff, op.jvp(params, u).numpy(), rtol=1e-5, atol=1e-8 * np.abs(diff).max())


def test_rate_to_time_and_bad_input_named(rng):
    np.testing.assert_allclose(rate_to_time(tf.constant([0.02, 0.0, -1.0])).numpy(), [50.0, 0.0, 0.0])
    np.testing.assert_allclose(rate_to_time(tf.constant([0.02, 0.01]), support=[False, True]).numpy(), [0.0, 100.0])
    with pytest.raises(ValueError, match="echo_times"):
        MultiEchoT2([10.0])
    with pytest.raises(ValueError, match="inversion_times"):
        InversionRecovery([100.0, -5.0])
    model = MultiEchoT2([10.0, 20.0])
    with pytest.raises(ValueError, match="params"):
        model.signal(tf.zeros([1, 3, 4, 4], tf.complex64))
    with pytest.raises(TypeError, match="params"):
        model.signal(tf.zeros([1, 2, 4, 4]))
    with pytest.raises(TypeError, match="rate"):
        pack_params(tf.zeros([1, 4, 4], tf.complex64), tf.zeros([1, 4, 4], tf.complex64))
    with pytest.raises(TypeError, match="signal_model"):
        NonlinearOperator("t2", SenseOperator())
