"""ComplexUNet conv="3dt" ([B, T, D, H, W, F], split 3D-spatial + temporal convolutions, per-frame pooling)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.layers.complex_conv import ComplexConv3Dt
from tfmri_zoo.layers.complex_unet import ComplexUNet, FrameWise
from tfmri_zoo.layers.complex_pooling import ComplexMaxPooling3D


def _crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.mark.parametrize("complex_network", [True, False])
def test_3dt_unet_shape_dtype_and_split_convolutions(complex_network):
    rng = np.random.default_rng(0)
    x = _crandn(rng, 2, 2, 4, 8, 8, 1)
    unet = ComplexUNet(filters=4, depth=2, convs=1, conv="3dt", complex_network=complex_network, out_features=1,
                       residual=True)
    y = unet(x)
    assert y.dtype == tf.complex64 and tuple(y.shape) == x.shape and np.all(np.isfinite(y.numpy()))
    convs = [layer for layer in unet._flatten_layers() if isinstance(layer, ComplexConv3Dt)]
    assert len(convs) == 2 * 2 + 1  # encoder levels + decoder levels, one conv each
    # per-frame processing of D, H, W: the pooling / up-sampling / head wrappers
    assert sum(isinstance(layer, FrameWise) for layer in unet._flatten_layers()) == 2 + 2 + 1
    with pytest.raises(ValueError, match="divisible"):
        ComplexUNet(filters=2, depth=2, conv="3dt")(_crandn(rng, 1, 2, 2, 8, 8, 1))   # D = 2 < 2**depth
    with pytest.raises(ValueError, match="rank 6"):
        ComplexUNet(filters=2, depth=1, conv="3dt")(_crandn(rng, 1, 2, 8, 8, 1))


def test_3dt_with_one_slice_equals_2dt():
    """With D = 1 and zero 'same' padding, a 3x3x3 spatial kernel acts through its central depth slice only: the
    depth-0 3dt U-Net equals the 2dt U-Net whose 3x3 kernels are those central slices (all other weights shared)."""
    rng = np.random.default_rng(1)
    x = _crandn(rng, 2, 3, 1, 8, 8, 2)
    config = dict(filters=4, depth=0, convs=2, activation="cardioid", out_features=2)
    u3 = ComplexUNet(conv="3dt", **config)
    u2 = ComplexUNet(conv="2dt", **config)
    y3 = u3(x).numpy()
    u2.build((None, 3, 8, 8, 2))
    assert len(u2.weights) == len(u3.weights)
    for w2, w3 in zip(u2.weights, u3.weights):
        value = w3.numpy()
        if w3.shape != w2.shape:           # spatial kernels (3, 3, 3, C, F, 2) -> central slice (3, 3, C, F, 2)
            value = value[1]
        w2.assign(value)
    y2 = u2(x[:, :, 0]).numpy()
    np.testing.assert_allclose(y3[:, :, 0], y2, atol=1e-5 * np.abs(y2).max())


def test_framewise_pooling_and_upsampling_per_frame():
    """FrameWise(pooling) = numpy max-magnitude over 2x2x2 blocks of each frame; FrameWise(transpose conv) of a
    tensor equals the layer applied to every frame separately."""
    rng = np.random.default_rng(2)
    x = _crandn(rng, 2, 3, 4, 4, 6, 2)
    pooled = FrameWise(ComplexMaxPooling3D(2))(x).numpy()
    blocks = x.reshape(2, 3, 2, 2, 2, 2, 3, 2, 2).transpose(0, 1, 2, 4, 6, 8, 3, 5, 7).reshape(2, 3, 2, 2, 3, 2, 8)
    expected = np.take_along_axis(blocks, np.argmax(np.abs(blocks), axis=-1)[..., None], axis=-1)[..., 0]
    np.testing.assert_array_equal(pooled, expected)
    unet = ComplexUNet(filters=2, depth=1, convs=1, conv="3dt")
    unet.build((None, 3, 4, 4, 6, 2))
    up = unet.ups[0]
    small = _crandn(rng, 2, 3, 2, 2, 3, 4)
    got = up(small).numpy()
    assert got.shape == (2, 3, 4, 4, 6, 2)
    for t in range(3):
        np.testing.assert_allclose(got[:, t], up.layer(small[:, t]).numpy(), atol=1e-6)
    assert keras.layers.deserialize(keras.layers.serialize(up)).layer.get_config()["strides"] == (2, 2, 2)
