"""Centred, orthonormal FFTs — the one FFT helper of the code base.

``fftnc(x, axes) = fftshift(fftn(ifftshift(x, axes), axes), axes) / sqrt(prod(shape[axes]))``, the convention of
fastMRI (``fastmri.fft2c``) and tensorflow-mri. ``ifftnc`` is its exact inverse and adjoint. All functions take and
return ``complex64``/``complex128`` tensors of any rank, work in graph mode and under ``tf.function(jit_compile=True)``.

Roll-free centring. The shifts are not computed with ``tf.roll`` (two full copies per transform) but folded into two
elementwise phase ramps. With ``s = N // 2`` per axis (numpy's ``fftshift`` rolls by ``s``, ``ifftshift`` by ``-s``),

    fftnc(x)[k]  = e^{-2πi s²/N} · e^{2πi s k/N} · Σ_n x[n] e^{2πi s n/N} e^{-2πi k n/N} / √N
                 = post[k] · fft(pre ⊙ x)[k],     pre[n] = e^{2πi s n/N},   post = e^{-2πi s²/N} · pre / √N
    ifftnc(X)    = (N · conj(post)) ⊙ ifft(conj(pre) ⊙ X)

exact for every size, even or odd; for even N, ``pre`` is the (−1)ⁿ checkerboard. :func:`centring_ramps` returns the
two ramps, so an operator can fold ``pre`` into its coil maps once (``SenseOperator``): then Eᴴ E needs no ramp at all
(``|post|² = 1/N`` cancels ``ifft``'s ``N``).
"""
import math

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


def _axis_ramp(n, dtype):
    """``(pre, phase)`` of one axis of size ``n`` (int32 scalar tensor): ``pre[i] = e^{2πi s i/n}``, ``phase =
    e^{-2πi s²/n}``, ``s = n // 2``. Exponents are reduced modulo ``n`` in integers, then evaluated in float64, so the
    even-size checkerboard is ±1 to 1e-16."""
    n = tf.cast(n, tf.int64)
    s = n // 2
    turns = tf.math.floormod(s * tf.range(n, dtype=tf.int64), n)
    angle = (2.0 * math.pi) * tf.cast(turns, tf.float64) / tf.cast(n, tf.float64)
    phase_angle = -(2.0 * math.pi) * tf.cast(tf.math.floormod(s * s, n), tf.float64) / tf.cast(n, tf.float64)
    pre = tf.cast(tf.complex(tf.cos(angle), tf.sin(angle)), dtype)
    phase = tf.complex(tf.cos(phase_angle), tf.sin(phase_angle))
    return pre, phase


def centring_ramps(spatial_shape, dtype=tf.complex64):
    """The phase ramps that turn a plain FFT into the centred orthonormal one.

    Args:
      spatial_shape: the sizes of the transformed (trailing) axes: a 1-D int tensor or a list of 1 to 3 ints.
      dtype: complex dtype of the ramps.

    Returns:
      ``(pre, post)``: complex tensors of shape ``spatial_shape`` with ``fftnc(x) = post ⊙ fft(pre ⊙ x)`` and
      ``ifftnc(X) = (N·conj(post)) ⊙ ifft(conj(pre) ⊙ X)``, N = the number of transformed elements.
    """
    spatial_shape = tf.convert_to_tensor(spatial_shape, tf.int32)
    rank = spatial_shape.shape[0]
    if rank not in (1, 2, 3):
        raise ValueError(f"spatial_shape: expected 1 to 3 sizes, got shape {spatial_shape.shape}.")
    pre = tf.ones((), tf.complex128)
    phase = tf.ones((), tf.complex128)
    for axis in range(rank):
        ramp, axis_phase = _axis_ramp(spatial_shape[axis], tf.complex128)
        pre = tf.expand_dims(pre, -1) * ramp
        phase = phase * axis_phase
    n = tf.cast(tf.reduce_prod(spatial_shape), tf.float64)
    post = pre * (phase / tf.cast(tf.sqrt(n), tf.complex128))
    return tf.cast(pre, dtype), tf.cast(post, dtype)


def dft(x, rank, inverse=False):
    """The plain (uncentred, unnormalised) ``tf.signal`` FFT, or its inverse, over the last ``rank`` axes of ``x``."""
    return _FFT[rank][1 if inverse else 0](x)


def _centred(x, axes, inverse):
    x = _check_complex(x, "x")
    axes = _normalise_axes(x, axes)
    pre, post = centring_ramps(tf.shape(x)[-len(axes):], x.dtype)
    if inverse:
        n = tf.cast(tf.reduce_prod(tf.shape(x)[-len(axes):]), x.dtype)
        return (n * tf.math.conj(post)) * dft(tf.math.conj(pre) * x, len(axes), inverse=True)
    return post * dft(pre * x, len(axes))


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
