"""Small complex-number helpers shared by the complex Keras layers.

The layers keep their trainable weights as real variables (dtype of the layer: ``float32`` or ``float64``) and work
on complex tensors of the matching precision (``complex64`` or ``complex128``).  The helpers below convert between
the complex representation ``[..., F]`` and the *real 2-channel* representation ``[..., 2F]`` (real parts of the
``F`` features first, then their imaginary parts), and compute magnitude and phase with gradients that stay finite
at ``z = 0``.
"""
import tensorflow as tf

from tfmri_zoo.validation import as_complex


def complex_dtype_of(real_dtype):
    """Returns ``complex64`` for ``float32`` (and ``float16``/``bfloat16``) and ``complex128`` for ``float64``."""
    return tf.complex128 if tf.as_dtype(real_dtype) == tf.float64 else tf.complex64


def layer_complex_dtype(layer):
    """The complex compute dtype of a Keras ``layer`` (from its real ``compute_dtype``)."""
    return complex_dtype_of(layer.compute_dtype)


def to_layer_complex(layer, x, name="inputs"):
    """Validates that ``x`` is complex and casts it to the complex compute dtype of ``layer``.

    Args:
        layer: the Keras layer whose precision is used.
        x: complex tensor of any shape.
        name: argument name used in the error message.

    Raises:
        TypeError: if ``x`` is real.
    """
    return as_complex(x, name, dtype=layer_complex_dtype(layer))


def complex_to_channels(z, axis=-1):
    """``complex [..., F]`` -> ``real [..., 2F]``: real parts, then imaginary parts, concatenated on ``axis``."""
    return tf.concat([tf.math.real(z), tf.math.imag(z)], axis=axis)


def channels_to_complex(x, axis=-1):
    """``real [..., 2F]`` -> ``complex [..., F]``; inverse of :func:`complex_to_channels`.

    Raises:
        ValueError: if the size of ``axis`` is not even.
    """
    size = x.shape[axis]
    if size is not None and size % 2:
        raise ValueError(f"inputs: expected an even number of real channels (real then imaginary parts) on axis "
                         f"{axis}, got shape {x.shape}.")
    re, im = tf.split(x, 2, axis=axis)
    return tf.complex(re, im)


def safe_abs(z):
    """``|z|`` with a zero (not NaN) gradient at ``z = 0``. ``z``: complex tensor; returns the real dtype."""
    re, im = tf.math.real(z), tf.math.imag(z)
    sq = re * re + im * im
    nonzero = sq > 0
    return tf.where(nonzero, tf.sqrt(tf.where(nonzero, sq, tf.ones_like(sq))), tf.zeros_like(sq))


def safe_phase(z):
    """``z / |z|`` (unit phasor, complex) and ``1`` where ``z = 0``; gradients stay finite."""
    mag = safe_abs(z)
    nonzero = mag > 0
    inv = tf.where(nonzero, 1.0 / tf.where(nonzero, mag, tf.ones_like(mag)), tf.zeros_like(mag))
    unit = z * tf.cast(inv, z.dtype)
    return tf.where(nonzero, unit, tf.ones_like(unit))


def safe_angle(z):
    """``∠z`` in ``(-π, π]`` with finite gradient at ``z = 0`` (returns 0 there). Real dtype."""
    re, im = tf.math.real(z), tf.math.imag(z)
    nonzero = (re * re + im * im) > 0
    return tf.where(nonzero, tf.math.atan2(tf.where(nonzero, im, tf.zeros_like(im)),
                                           tf.where(nonzero, re, tf.ones_like(re))), tf.zeros_like(re))
