"""Complex convolutions against an explicit numpy complex correlation (Eq. 26), the transpose as the adjoint, the
split spatio-temporal convolutions and the real 2-channel mode."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.layers.complex_conv import (ComplexConv1D, ComplexConv2D, ComplexConv2DTranspose, ComplexConv2Dt,
                                           ComplexConv3D, ComplexConv3DTranspose, ComplexConv3Dt,
                                           matched_intermediate_filters)


def numpy_correlation(x, kernel, strides, dilation):
    """'valid' complex cross-correlation: y[b, n, f] = sum_{k, c} K[k, c, f] x[b, s·n + d·k, c] (no flip/conj)."""
    rank = x.ndim - 2
    ksize = kernel.shape[:rank]
    out = [(x.shape[1 + a] - dilation[a] * (ksize[a] - 1) - 1) // strides[a] + 1 for a in range(rank)]
    y = np.zeros((x.shape[0], *out, kernel.shape[-1]), np.complex128)
    for offset in itertools.product(*[range(k) for k in ksize]):
        window = tuple(slice(dilation[a] * offset[a], dilation[a] * offset[a] + strides[a] * (out[a] - 1) + 1,
                             strides[a]) for a in range(rank))
        y += np.einsum("...c,cf->...f", x[(slice(None),) + window], kernel[offset])
    return y


def complex_kernel(layer):
    k = layer.kernel.numpy().astype(np.float64)
    return k[..., 0] + 1j * k[..., 1]


def complex_bias(layer):
    b = layer.bias.numpy().astype(np.float64)
    return b[:, 0] + 1j * b[:, 1]


@pytest.mark.parametrize("cls, shape, kernel, strides, dilation, padding", [
    (ComplexConv1D, (2, 11, 3), 3, 1, 2, "valid"),
    (ComplexConv2D, (2, 9, 8, 3), (3, 2), 1, 1, "same"),
    (ComplexConv2D, (2, 9, 8, 3), 3, (2, 1), 1, "valid"),
    (ComplexConv3D, (1, 5, 6, 7, 2), 3, 1, 1, "same"),
])
def test_conv_equals_numpy_complex_correlation(rng, cls, shape, kernel, strides, dilation, padding):
    layer = cls(4, kernel, strides=strides, dilation_rate=dilation, padding=padding,
                bias_initializer="random_normal")
    x = crandn(rng, *shape)
    y = layer(x).numpy()
    assert y.dtype == np.complex64
    rank = len(shape) - 2
    xs = x.astype(np.complex128)
    if padding == "same":  # stride 1 here: pad (k-1)//2 before, k//2 after, as TF does
        ks = layer.kernel_size
        xs = np.pad(xs, [(0, 0)] + [((k - 1) // 2, k // 2) for k in ks] + [(0, 0)])
    expected = numpy_correlation(xs, complex_kernel(layer), layer.strides, layer.dilation_rate) + complex_bias(layer)
    assert y.shape == expected.shape
    assert np.max(np.abs(y - expected)) <= 1e-5 * max(1.0, np.max(np.abs(expected)))


@pytest.mark.parametrize("conv_cls, transpose_cls, x_shape, kernel, strides", [
    (ComplexConv2D, ComplexConv2DTranspose, (2, 8, 8, 3), 3, 2),
    (ComplexConv2D, ComplexConv2DTranspose, (1, 7, 6, 2), (3, 2), 1),
    (ComplexConv3D, ComplexConv3DTranspose, (1, 4, 6, 6, 2), (1, 3, 3), (1, 2, 2)),
])
def test_transpose_is_adjoint(rng, conv_cls, transpose_cls, x_shape, kernel, strides):
    """<K x, y> = <x, Kᴴ y> for the transpose layer sharing the kernel of the convolution."""
    conv = conv_cls(4, kernel, strides=strides, use_bias=False)
    x = crandn(rng, *x_shape).astype(np.complex128)
    kx = conv(x.astype(np.complex64)).numpy().astype(np.complex128)
    adjoint = transpose_cls(x_shape[-1], kernel, strides=strides, use_bias=False)
    adjoint.build(kx.shape)
    adjoint.kernel.assign(conv.kernel)
    y = crandn(rng, *kx.shape)
    khy = adjoint(y).numpy().astype(np.complex128)
    assert khy.shape == x.shape
    lhs, rhs = np.vdot(y, kx), np.vdot(khy, x)
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)


@pytest.mark.parametrize("cls, shape", [(ComplexConv2Dt, (2, 5, 6, 7, 2)), (ComplexConv3Dt, (1, 4, 3, 5, 6, 2))])
def test_split_spatiotemporal_conv_equals_frame_then_time_correlation(rng, cls, shape):
    layer = cls(3, kernel_size=3, temporal_kernel_size=3, intermediate_filters=4, padding="valid")
    x = crandn(rng, *shape)
    y = layer(x).numpy()
    spatial_rank = len(shape) - 3
    frames = x.reshape((-1,) + shape[2:]).astype(np.complex128)
    s = numpy_correlation(frames, complex_kernel(layer.spatial), (1,) * spatial_rank, (1,) * spatial_rank)
    s = (s + complex_bias(layer.spatial)).reshape(shape[:2] + s.shape[1:])
    s = np.moveaxis(s, 1, -2).reshape((-1, shape[1], s.shape[-1]))          # [B·voxels, T, M]
    t = numpy_correlation(s, complex_kernel(layer.temporal), (1,), (1,)) + complex_bias(layer.temporal)
    expected = np.moveaxis(t.reshape((shape[0],) + y.shape[2:-1] + t.shape[1:]), -2, 1)
    assert y.shape == expected.shape
    assert np.max(np.abs(y - expected)) <= 1e-5 * max(1.0, np.max(np.abs(expected)))


def test_matched_intermediate_filters_matches_full_kernel_parameters():
    """M from the R(2+1)D rule keeps the split kernel's weight count within one M-step of the full kernel's."""
    for c, f, ks, kt in [(2, 16, (3, 3), 3), (16, 32, (3, 3), 3), (8, 8, (3, 3, 3), 5)]:
        m = matched_intermediate_filters(c, f, ks, kt)
        full = kt * np.prod(ks) * c * f
        split = lambda mm: np.prod(ks) * c * mm + kt * mm * f  # noqa: E731
        assert split(m) <= full < split(m + 1)
    layer = ComplexConv2Dt(16, intermediate_filters="match")
    layer.build((None, 4, 8, 8, 2))
    assert layer.resolved_intermediate_filters == matched_intermediate_filters(2, 16, (3, 3), 3)


def test_real_2ch_mode_reproduces_complex_conv_with_block_kernel(rng):
    """The real 2-channel layer with kernel [[Kr, Ki], [-Ki, Kr]] is the complex layer on the [Re, Im] view."""
    complex_layer = ComplexConv2D(3, 3, bias_initializer="random_normal")
    x = crandn(rng, 2, 6, 6, 2)
    expected = complex_layer(x).numpy()
    real_layer = ComplexConv2D(3, 3, complex_network=False)
    xr = np.concatenate([x.real, x.imag], axis=-1)
    real_layer.build(xr.shape)
    assert real_layer.kernel.shape == (3, 3, 4, 6)
    real_layer.kernel.assign(complex_layer._real_kernel())
    b = complex_layer.bias.numpy()
    real_layer.bias.assign(np.concatenate([b[:, 0], b[:, 1]]))
    y = real_layer(xr).numpy()
    np.testing.assert_allclose(y[..., :3] + 1j * y[..., 3:], expected, atol=1e-5)


def test_bad_inputs_raise_named_errors():
    with pytest.raises(TypeError, match="inputs"):
        ComplexConv2D(2, 3)(tf.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="inputs"):
        ComplexConv2D(2, 3)(tf.zeros((1, 4, 2), tf.complex64))
    with pytest.raises(ValueError, match="padding"):
        ComplexConv2D(2, 3, padding="causal")
