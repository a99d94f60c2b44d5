"""Centred, orthonormal FFTs — the one FFT helper of the code base.

``fftnc(x, axes) = fftshift(fftn(ifftshift(x, axes), axes), axes) / sqrt(prod(shape[axes]))``, the convention of
fastMRI (``fastmri.fft2c``) and tensorflow-mri. ``ifftnc`` is its exact inverse and adjoint. All functions take and
return ``complex64``/``complex128`` tensors of any rank, work in graph mode and under ``tf.function(jit_compile=True)``.
"""
import tensorflow as tf

_FFT = {1: (tf.signal.fft, tf.signal.ifft), 2: (tf.signal.fft2d, tf.signal.ifft2d), 3: (tf.signal.fft3d, tf.signal.ifft3d)}


def _normalise_axes(x, axes):
    rank = x.shape.rank
    if rank is None:
        raise ValueError("x: the rank must be known statically to take a centred FFT.")
    axes = sorted({a % rank for a in axes})
    if not 1 <= len(axes) <= 3:
        raise ValueError(f"axes: expected 1 to 3 distinct axes, got {axes}.")
    if axes != list(range(rank - len(axes), rank)):
        raise ValueError(f"axes: must be the trailing axes of x (rank {rank}), got {axes}.")
    return axes


def _check_complex(x, name):
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_complex:
        raise TypeError(f"{name}: expected a complex64 or complex128 tensor, got {x.dtype.name}.")
    return x


def _centred(x, axes, inverse):
    x = _check_complex(x, "x")
    axes = _normalise_axes(x, axes)
    transform = _FFT[len(axes)][1 if inverse else 0]
    shape = tf.shape(x)
    n = tf.cast(tf.reduce_prod(tf.gather(shape, axes)), x.dtype.real_dtype)
    x = tf.signal.ifftshift(x, axes=axes)
    x = transform(x)
    x = tf.signal.fftshift(x, axes=axes)
    # forward: fft / sqrt(N); inverse: ifft (which already divides by N) * sqrt(N).
    root_n = tf.cast(tf.sqrt(n), x.dtype)
    return x * root_n if inverse else x / root_n


def fftnc(x, axes=(-2, -1)):
    """Centred orthonormal FFT over trailing ``axes`` (1 to 3 of them).

    Args:
      x: complex tensor ``[..., *spatial]``.
      axes: the trailing axes to transform, e.g. ``(-2, -1)`` for 2D or ``(-3, -2, -1)`` for 3D.

    Returns:
      complex tensor of the same shape and dtype.
    """
    return _centred(x, axes, inverse=False)


def ifftnc(x, axes=(-2, -1)):
    """Centred orthonormal inverse FFT over trailing ``axes``; the adjoint and inverse of :func:`fftnc`."""
    return _centred(x, axes, inverse=True)


def fft2c(x):
    """Centred orthonormal 2D FFT over the last two axes. ``x``: complex ``[..., H, W]``."""
    return fftnc(x, axes=(-2, -1))


def ifft2c(x):
    """Centred orthonormal 2D inverse FFT over the last two axes. ``x``: complex ``[..., H, W]``."""
    return ifftnc(x, axes=(-2, -1))
