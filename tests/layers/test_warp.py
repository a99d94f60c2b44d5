"""Bilinear backward warp, its exact adjoint, scaling and squaring, and the Keras layer."""
import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from tests.conftest import crandn
from tfmri_zoo.layers.warp import Warp, scaling_and_squaring, warp, warp_adjoint


def numpy_warp(image, field):
    """Peer: scipy bilinear interpolation (order 1, zeros outside) of ``image [H, W]`` at ``p + field [2, H, W]``."""
    coords = np.mgrid[:image.shape[0], :image.shape[1]].astype(np.float64) + field
    sample = lambda part: ndimage.map_coordinates(part, coords, order=1, mode="constant", cval=0.0)  # noqa: E731
    return sample(image.real) + 1j * sample(image.imag)


def _smooth_image(size=24):
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    return (np.exp(-4 * (yy ** 2 + xx ** 2)) * np.exp(1j * (xx + 0.5 * yy))).astype(np.complex64), yy, xx


def test_adjoint_identity_complex_2d_and_2dt(rng):
    for shape in ((2, 24, 24), (2, 3, 20, 24)):
        x, y = crandn(rng, *shape), crandn(rng, *shape)
        u = (3 * rng.standard_normal((*shape, 2))).astype(np.float32)  # large, many samples fall outside
        lhs = np.vdot(y, warp(x, u).numpy())
        rhs = np.vdot(warp_adjoint(y, u).numpy(), x)
        assert abs(lhs - rhs) / abs(lhs) <= 1e-5, (lhs, rhs)


def test_adjoint_identity_float64_is_exact_to_rounding(rng):
    x, y = crandn(rng, 2, 16, 16).astype(np.complex128), crandn(rng, 2, 16, 16).astype(np.complex128)
    u = 2.5 * rng.standard_normal((2, 16, 16, 2))
    lhs, rhs = np.vdot(y, warp(x, u).numpy()), np.vdot(warp_adjoint(y, u).numpy(), x)
    assert abs(lhs - rhs) / abs(lhs) < 1e-12


def test_matches_scipy_and_reproduces_a_moved_frame():
    image, yy, xx = _smooth_image()
    field = np.stack([0.7 + 1.5 * yy, -1.2 * xx + 0.4 * yy]).astype(np.float32)  # [2, H, W] as cine_series
    expected = numpy_warp(image, field)
    got = warp(image[None], np.moveaxis(field, 0, -1)[None]).numpy()[0]
    interior = (slice(4, -4), slice(4, -4))  # scipy's "constant" mode treats the last partial cell differently
    np.testing.assert_allclose(got[interior], expected[interior], atol=1e-5)
    # a pure integer translation moves the content exactly
    shifted = warp(image[None], np.broadcast_to(np.float32([2, -3]), (1, 24, 24, 2))).numpy()[0]
    np.testing.assert_allclose(shifted[4:-4, 4:-4], image[6:-2, 1:-7], atol=1e-6)


def test_gradients_flow_to_image_and_field(rng):
    image, _, _ = _smooth_image(16)
    u = tf.Variable(0.3 * rng.standard_normal((1, 16, 16, 2)).astype(np.float32))
    x = tf.Variable(image[None])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(warp(x, u)) ** 2)
    gx, gu = tape.gradient(loss, [x, u])
    assert np.abs(gx.numpy()).max() > 0 and np.abs(gu.numpy()).max() > 0
    # finite difference of the field gradient in float64 at one pixel
    u64 = tf.cast(u, tf.float64)
    x64 = tf.cast(x, tf.complex128)
    with tf.GradientTape() as tape:
        tape.watch(u64)
        loss = tf.reduce_sum(tf.abs(warp(x64, u64)) ** 2)
    g = tape.gradient(loss, u64).numpy()[0, 7, 9, 0]
    eps = 1e-6
    delta = np.zeros((1, 16, 16, 2))
    delta[0, 7, 9, 0] = eps
    fd = (tf.reduce_sum(tf.abs(warp(x64, u64 + delta)) ** 2) - tf.reduce_sum(tf.abs(warp(x64, u64 - delta)) ** 2))
    fd = fd.numpy() / (2 * eps)
    assert abs(g - fd) <= 1e-3 * max(abs(fd), 1e-8), (g, fd)


def test_scaling_and_squaring_integrates_velocity():
    # a constant velocity integrates to the same translation; a small smooth field to a nearly invertible map
    v = np.broadcast_to(np.float32([1.5, -0.5]), (1, 24, 24, 2))
    np.testing.assert_allclose(scaling_and_squaring(v, steps=5).numpy()[:, 6:-6, 6:-6], v[:, 6:-6, 6:-6],
                               atol=1e-5)
    _, yy, xx = _smooth_image(32)
    v = np.stack([2 * np.sin(np.pi * xx), 2 * np.cos(np.pi * yy)], -1)[None].astype(np.float32)
    forward = scaling_and_squaring(v, steps=6)
    backward = scaling_and_squaring(-v, steps=6)
    # φ_v ∘ φ_{−v} ≈ identity: u_f(p) + u_b(p + u_f(p)) ≈ 0 in the interior
    composed = forward + tf.stack([warp(backward[..., i], forward) for i in range(2)], -1)
    assert np.abs(composed.numpy()[:, 6:-6, 6:-6]).max() < 0.15
    with pytest.raises(ValueError, match="steps"):
        scaling_and_squaring(v, steps=-1)


def test_layer_round_trip_and_bad_input(rng):
    x = crandn(rng, 2, 3, 16, 16)
    u = rng.standard_normal((2, 3, 16, 16, 2)).astype(np.float32)
    inp_x = keras.Input((3, 16, 16), dtype="complex64")
    inp_u = keras.Input((3, 16, 16, 2))
    model = keras.Model([inp_x, inp_u], Warp(adjoint=True)(inp_x, inp_u))
    expected = warp_adjoint(x, u).numpy()
    np.testing.assert_allclose(model([x, u]).numpy(), expected, atol=1e-6)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "warp.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded([x, u]).numpy(), expected, atol=1e-6)
    assert loaded.layers[-1].get_config()["adjoint"] is True
    # the diffeomorphic layer integrates its second input first
    velocity = 0.5 * u
    np.testing.assert_allclose(Warp(diffeomorphic=True, steps=4)(x, velocity).numpy(),
                               warp(x, scaling_and_squaring(velocity, steps=4)).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="displacement"):
        warp(x, u[..., :1])
    with pytest.raises(ValueError, match="rank"):
        warp(x[:, 0], u)
