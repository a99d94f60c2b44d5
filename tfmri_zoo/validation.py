"""Input checks shared by the whole package: every public function validates with these, so that bad input raises
a ``TypeError``/``ValueError`` that names the argument and what was expected.

Value checks (NaN/Inf) run only on eager tensors: inside a graph they would cost a host sync per call.
"""
import numpy as np
import tensorflow as tf


def as_complex(x, name, dtype=None):
    """Converts ``x`` to a complex tensor; a real tensor is a ``TypeError`` naming ``name``."""
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_complex:
        raise TypeError(f"{name}: expected a complex64/complex128 tensor, got {x.dtype.name}. "
                        f"Convert real/imag pairs with tf.complex(re, im).")
    if dtype is not None and x.dtype != dtype:
        x = tf.cast(x, dtype)
    return x


def as_mask(mask, name, dtype):
    """Converts a float or bool mask to the complex ``dtype`` used to multiply k-space."""
    mask = tf.convert_to_tensor(mask)
    if mask.dtype.is_complex:
        raise TypeError(f"{name}: expected a float32 or bool mask, got {mask.dtype.name}.")
    if mask.dtype == tf.bool:
        mask = tf.cast(mask, tf.float32)
    if not (mask.dtype.is_floating or mask.dtype.is_integer):
        raise TypeError(f"{name}: expected a float32 or bool mask, got {mask.dtype.name}.")
    return tf.cast(tf.cast(mask, dtype.real_dtype), dtype)


def check_rank(x, name, ranks, layout):
    """Raises ``ValueError`` unless ``x`` has one of ``ranks`` (statically known rank)."""
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if x.shape.rank is None or x.shape.rank not in ranks:
        raise ValueError(f"{name}: expected rank {' or '.join(map(str, ranks))} with layout {layout}, "
                         f"got shape {x.shape}.")


def check_finite(x, name):
    """Raises ``ValueError`` if an eager ``x`` holds NaN or Inf (no-op in graph mode)."""
    if tf.executing_eagerly() and hasattr(x, "numpy"):
        values = x.numpy()
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: holds NaN or Inf values.")


def check_broadcastable(x, target_shape, name, target_name):
    """Raises ``ValueError`` if the static shape of ``x`` cannot broadcast to ``target_shape``."""
    try:
        tf.broadcast_static_shape(x.shape, tf.TensorShape(target_shape))
    except ValueError:
        raise ValueError(f"{name}: shape {x.shape} does not broadcast to {target_name} shape "
                         f"{tf.TensorShape(target_shape)}.") from None
