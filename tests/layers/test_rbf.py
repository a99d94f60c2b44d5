"""RBFActivation: linear initialisation, exact gradients (finite differences, float64), serialisation, bad input."""
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.layers.rbf import RBFActivation, linear_rbf_weights, rbf_nodes


def _numpy_rbf(z, weights, num_nodes=31, value_range=1.0):
    mu, sigma = rbf_nodes(num_nodes, value_range)
    return np.sum(weights * np.exp(-(z[..., None] - mu) ** 2 / (2 * sigma ** 2)), axis=-1)


def test_nodes_and_width_follow_the_paper():
    mu, sigma = rbf_nodes(31, 1.0)
    assert mu.shape == (31,) and mu[0] == -1.0 and mu[-1] == 1.0
    np.testing.assert_allclose(sigma, 2.0 / 30)


def test_initialisation_is_linear():
    layer = RBFActivation(num_nodes=31, value_range=1.0, init_scale=0.5)
    mu, _ = rbf_nodes(31, 1.0)
    x = np.tile(mu[:, None], (1, 3)).astype(np.float32)  # 3 channels, every node
    np.testing.assert_allclose(layer(x).numpy(), 0.5 * x, atol=1e-5)
    # between the nodes the expansion stays close to the line (interpolation ripple grows towards the ends)
    z = np.linspace(-0.5, 0.5, 301).astype(np.float32)[:, None].repeat(3, 1)
    np.testing.assert_allclose(layer(z).numpy(), 0.5 * z, atol=0.5 * 1e-3)
    z = np.linspace(-0.9, 0.9, 301).astype(np.float32)[:, None].repeat(3, 1)
    np.testing.assert_allclose(layer(z).numpy(), 0.5 * z, atol=0.5 * 0.02)
    # and it matches a direct numpy evaluation with the closed-form weights
    w = linear_rbf_weights(31, 1.0, 0.5)
    np.testing.assert_allclose(layer(z).numpy(), _numpy_rbf(z, w), atol=1e-5)


def test_channels_have_independent_functions(rng):
    layer = RBFActivation(num_nodes=7, value_range=2.0)
    layer.build((None, 2))
    w = rng.standard_normal((2, 7))
    layer.rbf_weights.assign(w.astype(np.float32))
    z = rng.uniform(-2.5, 2.5, (5, 4, 2)).astype(np.float32)
    got = layer(z).numpy()
    for c in range(2):
        np.testing.assert_allclose(got[..., c], _numpy_rbf(z[..., c], w[c], 7, 2.0), rtol=1e-5, atol=1e-5)


def test_gradients_match_finite_differences_float64(rng):
    layer = RBFActivation(num_nodes=31, dtype="float64")
    layer.build((None, 3))
    layer.rbf_weights.assign(rng.standard_normal((3, 31)))
    x = tf.constant(rng.uniform(-1.2, 1.2, (4, 3)))
    c = tf.constant(rng.standard_normal((4, 3)))

    def loss(x_value):
        return tf.reduce_sum(tf.sin(layer(x_value)) * c)

    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss(x)
    grad_x, grad_w = tape.gradient(value, [x, layer.rbf_weights.value])
    eps = 1e-6
    fd_x = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        d = np.zeros(x.shape)
        d[idx] = eps
        fd_x[idx] = (loss(x + d) - loss(x - d)).numpy() / (2 * eps)
    np.testing.assert_allclose(grad_x.numpy(), fd_x, rtol=1e-3, atol=1e-7 * np.abs(fd_x).max())
    w0 = layer.rbf_weights.numpy()
    fd_w = np.zeros(w0.shape)
    for idx in [(0, 0), (1, 15), (2, 30), (0, 20), (2, 7)]:
        d = np.zeros(w0.shape)
        d[idx] = eps
        layer.rbf_weights.assign(w0 + d)
        plus = loss(x).numpy()
        layer.rbf_weights.assign(w0 - d)
        minus = loss(x).numpy()
        fd_w[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grad_w.numpy()[idx], fd_w[idx], rtol=1e-3, atol=1e-9)
    layer.rbf_weights.assign(w0)


def test_serialises_in_a_keras_file(rng):
    layer = RBFActivation(num_nodes=11, value_range=0.5, init_scale=2.0)
    assert RBFActivation.from_config(layer.get_config()).get_config() == layer.get_config()
    model = keras.Sequential([keras.Input((6, 3)), layer])
    layer.rbf_weights.assign(rng.standard_normal((3, 11)).astype(np.float32))
    x = rng.uniform(-1, 1, (2, 6, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rbf.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[-1], RBFActivation)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="inputs"):
        RBFActivation()(tf.complex(tf.ones((2, 3)), tf.ones((2, 3))))
    with pytest.raises(ValueError, match="num_nodes"):
        RBFActivation(num_nodes=1)
    with pytest.raises(ValueError, match="value_range"):
        RBFActivation(value_range=0.0)
