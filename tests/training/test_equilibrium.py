"""Deep equilibrium: Anderson finds the fixed point; the implicit gradient equals back-propagation through a fully
converged unrolled iteration; the DEQ model runs and its gradients reach every weight."""
import numpy as np
import tensorflow as tf

from tests.models.zoo_contract import toy_problem
from tfmri_zoo.training.equilibrium import DeepEquilibriumRecon, anderson, fixed_point


def test_anderson_solves_a_linear_fixed_point():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 20, 20))
    a = 0.9 * a / np.linalg.norm(a, 2, axis=(1, 2), keepdims=True)
    b = rng.normal(size=(3, 20))
    expected = np.linalg.solve(np.eye(20) - a, b[..., None])[..., 0]
    x, residual = anderson(lambda x: tf.einsum("bij,bj->bi", a, x) + b, tf.zeros((3, 20), tf.float64),
                           max_iter=60, tol=1e-12)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-8, atol=1e-8)


def test_implicit_gradient_matches_unrolled_backprop_complex():
    rng = np.random.default_rng(1)
    w = tf.Variable(0.4 * rng.normal(size=(16, 16)) / 4.0)
    b = tf.Variable(rng.normal(size=(16,)))
    data = tf.constant(rng.normal(size=(2, 8)) + 1j * rng.normal(size=(2, 8)))

    def f(x):  # complex [2, 8] → complex, contractive
        v = tf.concat([tf.math.real(x), tf.math.imag(x)], 1)
        out = 0.5 * tf.tanh(tf.matmul(v, w) + b)
        return tf.complex(out[:, :8], out[:, 8:]) + 0.3 * data

    def loss_of(x):
        return tf.reduce_sum(tf.abs(x - 1.0) ** 2)

    with tf.GradientTape() as tape:
        tape.watch(data)
        x = tf.zeros((2, 8), tf.complex128)
        for _ in range(200):
            x = f(x)
        unrolled = tape.gradient(loss_of(x), [w, b, data])
    with tf.GradientTape() as tape:
        tape.watch(data)
        x_star = fixed_point(f, tf.zeros((2, 8), tf.complex128), 60, 60, tol=1e-12)
        implicit = tape.gradient(loss_of(x_star), [w, b, data])
    np.testing.assert_allclose(x_star.numpy(), x.numpy(), atol=1e-10)
    for got, want in zip(implicit, unrolled):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-9)


def test_deq_model_runs_and_has_gradients():
    inputs, target = toy_problem(batch=1)
    model = DeepEquilibriumRecon(regularizer={"name": "dncnn", "filters": 4, "layers": 2}, cg_iterations=3,
                                 forward_iterations=6, backward_iterations=6)
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        loss = tf.reduce_mean(tf.abs(out - target) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    assert out.shape == (1, 32, 32) and np.all(np.isfinite(out.numpy()))
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 0
    again = DeepEquilibriumRecon.from_config(model.get_config())
    assert again.get_config() == model.get_config()
