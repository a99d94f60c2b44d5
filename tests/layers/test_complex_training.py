"""Training with complex tensors under model.fit: a loss that sees the imaginary part, gradients reaching every
trainable layer, and a tiny complex U-Net that overfits one example."""
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo import layers as L
from tfmri_zoo.training.losses import ComplexMSE


def test_loss_sees_the_imaginary_part(rng):
    """Identity model vs conjugated target: ComplexMSE reports E|x - conj x|^2 = 4 E[Im^2]; Keras' 'mse' reports 0."""
    x = crandn(rng, 4, 8, 8, 1)
    inputs = keras.Input((8, 8, 1), dtype="complex64")
    model = keras.Model(inputs, inputs)
    model.compile(loss=ComplexMSE())
    loss = model.evaluate(x, np.conj(x), verbose=0)
    assert loss == pytest.approx(np.mean(np.abs(x - np.conj(x)) ** 2), rel=1e-5)
    assert loss > 1.0
    model.compile(loss="mse")
    assert model.evaluate(x, np.conj(x), verbose=0) == 0.0  # the pitfall this loss avoids


def test_fit_back_propagates_without_a_complex_to_float_cast(rng):
    """The loss is reduced in its complex dtype; a real value cast to complex there would back-propagate through a
    complex→float cast, which TensorFlow reports as "discard the imaginary part" at every new trace of ``fit``."""
    x = crandn(rng, 2, 8, 8, 1)
    inputs = keras.Input((8, 8, 1), dtype="complex64")
    model = keras.Model(inputs, L.ComplexConv2D(1, 3)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss=ComplexMSE())
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    try:
        model.fit(x, 1j * x, epochs=1, verbose=0)
    finally:
        logger.removeHandler(handler)
    assert not [r for r in records if "imaginary part" in r.getMessage()]


def _chain(inputs, complex_network=True):
    """One model using every trainable complex layer type (stateless layers are covered by the FD tests)."""
    if not complex_network:
        x = L.ComplexToChannels()(inputs)
        x = L.ComplexConv2D(4, 3, complex_network=False)(x)
        x = L.ComplexConv2DTranspose(1, 3, complex_network=False)(x)
        return L.ChannelsToComplex()(x)
    x = L.ComplexConv2D(4, 3)(inputs)
    x = L.ComplexBatchNormalization()(x)
    x = L.ModReLU()(x)
    x = L.ComplexDropout(0.1, seed=0)(x)
    x = L.ComplexMaxPooling2D(2)(x)
    x = L.ComplexInstanceNormalization()(x)
    x = L.Cardioid(trainable_offset=True)(x)
    x = L.ComplexConv2DTranspose(4, 2, strides=2)(x)
    x = L.ComplexLayerNormalization()(x)
    t = keras.ops.expand_dims(x, 1)                                   # [B, 1, H, W, F] as a 1-frame 2D+t tensor
    t = L.ComplexConv2Dt(4, temporal_kernel_size=1, intermediate_activation="crelu")(t)  # its temporal part is a
    x = keras.ops.squeeze(t, 1)                                                         # ComplexConv1D
    return L.ComplexConv2D(1, 1)(keras.ops.concatenate([x, inputs], axis=-1))  # linear path: learns the rotation


@pytest.mark.parametrize("complex_network", [True, False], ids=["complex", "real_2ch"])
def test_every_trainable_layer_learns_under_fit(rng, complex_network):
    x = crandn(rng, 8, 8, 8, 1)
    target = (0.6 - 0.8j) * x  # a phase rotation: only learnable from the imaginary part of the error
    inputs = keras.Input((8, 8, 1), dtype="complex64")
    model = keras.Model(inputs, _chain(inputs, complex_network))
    model.compile(optimizer=keras.optimizers.Adam(2e-2), loss=ComplexMSE(), jit_compile=False)
    before = [w.numpy() for w in model.trainable_weights]
    loss = ComplexMSE()
    initial = float(loss(target, model(x)))  # eager forward passes: only the train step is traced
    data = tf.data.Dataset.from_tensor_slices((x, target)).batch(4).repeat()
    model.fit(data, steps_per_epoch=100, epochs=1, shuffle=False, verbose=0)
    final = float(loss(target, model(x)))
    assert final < 0.2 * initial, (initial, final)
    for w, w0 in zip(model.trainable_weights, before):
        assert np.any(w.numpy() != w0), w.path


def test_tiny_complex_unet_overfits_one_example(rng):
    keras.utils.set_random_seed(0)
    yy, xx = np.mgrid[:16, :16] / 16.0
    target = (np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) * 8) * np.exp(2j * np.pi * xx)).astype(np.complex64)
    target = target[None, :, :, None]
    noisy = target + 0.3 * crandn(rng, 1, 16, 16, 1)
    inputs = keras.Input((16, 16, 1), dtype="complex64")
    model = keras.Model(inputs, L.ComplexUNet(4, 2, convs=1)(inputs))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=ComplexMSE(), jit_compile=False)
    loss = ComplexMSE()
    initial = float(loss(target, model(noisy)))
    data = tf.data.Dataset.from_tensors((noisy, target)).repeat()
    model.fit(data, steps_per_epoch=200, epochs=1, shuffle=False, verbose=0)
    final = float(loss(target, model(noisy)))
    print(f"U-Net overfit: loss {initial:.4g} -> {final:.4g} ({initial / final:.0f}x)")
    assert final <= initial / 10, (initial, final)
