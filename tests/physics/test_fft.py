import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.physics import fft2c, fftnc, ifft2c, ifftnc


def numpy_fftnc(x, axes):
    n = np.prod([x.shape[a] for a in axes])
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes), axes=axes) / np.sqrt(n)


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 4, 7, 9), (3, 16, 10)])
def test_fft2c_equals_numpy_formula(rng, shape):
    x = crandn(rng, *shape, dtype=np.complex128)
    np.testing.assert_allclose(fft2c(tf.constant(x)).numpy(), numpy_fftnc(x, (-2, -1)), atol=1e-12)
    y = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(x, axes=(-2, -1)), axes=(-2, -1)), axes=(-2, -1))
    np.testing.assert_allclose(ifft2c(tf.constant(x)).numpy(), y * np.sqrt(np.prod(shape[-2:])), atol=1e-12)


def test_fft3d_and_1d_equal_numpy_and_invert(rng):
    x = crandn(rng, 2, 5, 6, 7)
    for axes in [(-3, -2, -1), (-1,)]:
        np.testing.assert_allclose(fftnc(x, axes).numpy(), numpy_fftnc(x.astype(np.complex128), axes), atol=1e-5)
        np.testing.assert_allclose(ifftnc(fftnc(x, axes), axes).numpy(), x, atol=1e-5)


def test_fft_is_orthonormal(rng):
    x = crandn(rng, 2, 32, 30)
    np.testing.assert_allclose(np.linalg.norm(fft2c(x).numpy()), np.linalg.norm(x), rtol=1e-5)


def test_fft_under_xla(rng):
    x = tf.constant(crandn(rng, 2, 16, 16))
    f = tf.function(lambda v: ifft2c(fft2c(v) * 2.0), jit_compile=True)
    np.testing.assert_allclose(f(x).numpy(), 2 * x.numpy(), atol=1e-5)


def test_fft_rejects_real_and_bad_axes():
    with pytest.raises(TypeError, match="x"):
        fft2c(tf.zeros([4, 4]))
    with pytest.raises(ValueError, match="axes"):
        fftnc(tf.zeros([4, 4, 4], tf.complex64), axes=(0, 1))
