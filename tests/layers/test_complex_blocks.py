"""Semantics of the complex activations, pooling, up-sampling, dropout, conversions and initialisers against their
defining formulas in numpy."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.layers import complex_activations as A
from tfmri_zoo.layers import complex_misc as M
from tfmri_zoo.layers import complex_pooling as P
from tfmri_zoo.layers.complex_init import ComplexGlorot, ComplexHe, complex_fans


@pytest.mark.parametrize("layer, formula", [
    (A.CReLU(), lambda z, p: np.maximum(z.real, 0) + 1j * np.maximum(z.imag, 0)),
    (A.ComplexSeparable("tanh"), lambda z, p: np.tanh(z.real) + 1j * np.tanh(z.imag)),
    (A.ModReLU(parameter_initializer=keras.initializers.Constant(-0.8)),
     lambda z, p: np.maximum(0, np.abs(z) + p) * z / np.abs(z)),
    (A.Cardioid(trainable_offset=True, parameter_initializer=keras.initializers.Constant(0.6)),
     lambda z, p: 0.5 * (1 + np.cos(np.angle(z) + p)) * z),
    (A.SigLog(c=2.0, r=0.5), lambda z, p: z / (2.0 + 0.5 * np.abs(z))),
    (A.ComplexSigmoid(), lambda z, p: 1 / (1 + np.exp(-z))),
    (A.ZReLU(), lambda z, p: np.where((z.real > 0) & (z.imag > 0), z, 0)),
], ids=["crelu", "tanh", "modrelu", "cardioid", "siglog", "sigmoid", "zrelu"])
def test_activation_matches_formula(rng, layer, formula):
    z = crandn(rng, 3, 5, 4)
    y = layer(z).numpy()
    params = layer.trainable_weights[0].numpy() if layer.trainable_weights else None
    np.testing.assert_allclose(y, formula(z.astype(np.complex128), params), atol=1e-5)


@pytest.mark.parametrize("layer", [A.ModReLU(), A.Cardioid(trainable_offset=True), A.SigLog(),
                                   M.ComplexToChannels("magnitude_phase"), P.ComplexMaxPooling1D(2)],
                         ids=["modrelu", "cardioid", "siglog", "magnitude_phase", "maxpool"])
def test_values_and_gradients_are_finite_at_zero(layer):
    """|z| and z/|z| are not differentiable at 0; the layers must still return finite values and gradients."""
    z = tf.zeros((1, 2, 3), tf.complex64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = layer(z)
        loss = tf.reduce_sum(tf.abs(y) ** 2) + tf.reduce_sum(tf.math.real(y))
    grads = tape.gradient(loss, [z] + layer.trainable_weights)
    assert np.all(np.isfinite(y.numpy()))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_get_complex_activation():
    assert A.get_complex_activation("separable_elu").activation is keras.activations.elu
    with pytest.raises(ValueError, match="activation"):
        A.get_complex_activation("nope")


def numpy_max_magnitude_pool_2d(z, p):
    b, h, w, f = z.shape
    blocks = z[:, :h // p * p, :w // p * p].reshape(b, h // p, p, w // p, p, f).transpose(0, 1, 3, 5, 2, 4)
    blocks = blocks.reshape(b, h // p, w // p, f, p * p)
    index = np.argmax(np.abs(blocks), axis=-1)
    return np.take_along_axis(blocks, index[..., None], axis=-1)[..., 0]


def test_max_pooling_selects_the_largest_magnitude(rng):
    z = crandn(rng, 2, 7, 6, 3)
    np.testing.assert_array_equal(P.ComplexMaxPooling2D(2)(z).numpy(), numpy_max_magnitude_pool_2d(z, 2))
    # 2D+t: every frame pooled on its own
    zt = crandn(rng, 2, 3, 4, 4, 2)
    yt = P.ComplexMaxPooling2Dt(2)(zt).numpy()
    assert yt.shape == (2, 3, 2, 2, 2)
    for t in range(3):
        np.testing.assert_array_equal(yt[:, t], numpy_max_magnitude_pool_2d(zt[:, t], 2))
    # the winner is the max-magnitude element, not the max real part
    z1 = np.array([[[3.0 + 0j], [-0.5 + 4j]]], np.complex64)
    assert P.ComplexMaxPooling1D(2)(z1).numpy()[0, 0, 0] == -0.5 + 4j


@pytest.mark.parametrize("padding, strides", [("valid", None), ("same", 2), ("same", 1)])
def test_average_pooling_matches_keras_on_real_and_imag(rng, padding, strides):
    z = crandn(rng, 2, 5, 6, 2)
    y = P.ComplexAveragePooling2D(3 if strides == 1 else 2, strides=strides, padding=padding)(z).numpy()
    ref = lambda v: keras.ops.average_pool(v, 3 if strides == 1 else 2, strides, padding).numpy()  # noqa: E731
    np.testing.assert_allclose(y, ref(z.real) + 1j * ref(z.imag), atol=1e-6)


def test_upsampling_repeats_spatial_axes(rng):
    z = crandn(rng, 1, 2, 3, 3, 2)
    y = P.ComplexUpSampling2Dt(2)(z).numpy()
    np.testing.assert_array_equal(y, z.repeat(2, axis=2).repeat(2, axis=3))


def test_dropout_shares_one_mask_and_rescales(rng):
    z = (np.ones((4, 64, 64, 2)) * (1 + 2j)).astype(np.complex64)
    layer = M.ComplexDropout(0.25, seed=0)
    y = layer(z, training=True).numpy()
    kept = y != 0
    np.testing.assert_array_equal(y.real != 0, y.imag != 0)        # one mask for both parts
    np.testing.assert_allclose(y[kept], (1 + 2j) / 0.75, rtol=1e-6)  # scale 1/(1-rate)
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_array_equal(layer(z, training=False).numpy(), z)
    spatial = M.ComplexDropout(0.5, noise_shape=(4, 1, 1, 2), seed=1)(z, training=True).numpy()
    assert np.all((spatial == 0).all(axis=(1, 2)) | (spatial != 0).all(axis=(1, 2)))


@pytest.mark.parametrize("mode", ["real_imag", "magnitude_phase"])
def test_conversions_round_trip(rng, mode):
    z = crandn(rng, 2, 4, 3)
    x = M.ComplexToChannels(mode)(z).numpy()
    assert x.shape == (2, 4, 6) and x.dtype == np.float32
    first, second = (z.real, z.imag) if mode == "real_imag" else (np.abs(z), np.angle(z))
    np.testing.assert_allclose(x, np.concatenate([first, second], axis=-1), atol=1e-6)
    np.testing.assert_allclose(M.ChannelsToComplex(mode)(x).numpy(), z, atol=1e-5)
    with pytest.raises(ValueError, match="even"):
        M.ChannelsToComplex(mode)(np.zeros((1, 3), np.float32))
    with pytest.raises(TypeError, match="inputs"):
        M.ChannelsToComplex(mode)(z)


@pytest.mark.parametrize("init_cls", [ComplexGlorot, ComplexHe])
@pytest.mark.parametrize("distribution", ["normal", "uniform", "rayleigh"])
def test_initialisers_use_complex_fans(init_cls, distribution):
    shape = (3, 3, 16, 32, 2)
    fan_in, fan_out = complex_fans(shape)
    assert (fan_in, fan_out) == (9 * 16, 9 * 32)
    w = np.asarray(init_cls(distribution, seed=1)(shape))
    variance = np.mean(w[..., 0] ** 2 + w[..., 1] ** 2)  # E|W|^2
    target = 2 / (fan_in + fan_out) if init_cls is ComplexGlorot else 2 / fan_in
    assert abs(variance / target - 1) < 0.05
    assert abs(np.mean(w[..., 0] ** 2) / np.mean(w[..., 1] ** 2) - 1) < 0.1  # isotropic in the complex plane


def test_unet_options_and_bad_inputs(rng):
    from tfmri_zoo.layers.complex_unet import ComplexUNet
    net = ComplexUNet(2, 1, activation=A.Cardioid(trainable_offset=True), out_features=3)
    y = net(crandn(rng, 1, 8, 8, 2))
    assert y.shape == (1, 8, 8, 3) and y.dtype == np.complex64
    # a fresh activation per use: (depth + 1 + depth) levels x 2 convs
    assert sum(isinstance(layer, A.Cardioid) for layer in net._flatten_layers()) == 6
    clone = ComplexUNet.from_config(net.get_config())
    clone.build((1, 8, 8, 2))
    assert clone.count_params() == net.count_params()
    with pytest.raises(ValueError, match="divisible"):
        ComplexUNet(2, 2)(crandn(rng, 1, 6, 8, 1))
    with pytest.raises(ValueError, match="conv"):
        ComplexUNet(conv="4d")
    with pytest.raises(ValueError, match="residual"):
        ComplexUNet(2, 1, residual=True, out_features=2)(crandn(rng, 1, 4, 4, 1))
