"""Input checks shared by the whole package: every public function validates with these, so that bad input raises
an error that names the argument and what was expected.

Two kinds of checks:

* **Static** checks (dtype, rank, static shapes, Python numbers) run while a function is called or traced and raise
  ``TypeError``/``ValueError`` at once.
* **Value** checks (NaN/Inf, an all-zero mask, shapes only known at run time) hold in every execution mode. In eager
  mode they raise :class:`InvalidInputError` (a ``ValueError`` *and* a ``tf.errors.InvalidArgumentError``); inside a
  ``tf.function``, a ``.keras``-loaded model or an exported SavedModel signature they are ``tf.debugging`` asserts in
  the graph, so the call fails with ``tf.errors.InvalidArgumentError`` whose message names the argument (what a
  TF-Serving client receives). Catch ``tf.errors.InvalidArgumentError`` to handle both modes alike.

Value checks are device reductions: the tensor is never copied to the host (eager mode reads back one boolean).
XLA ignores ``Assert`` ops, so a ``jit_compile=True`` function must check its inputs outside the compiled part (the
serving module does; see :mod:`tfmri_zoo.export.serving`).
"""
import numbers

import numpy as np
import tensorflow as tf


class InvalidInputError(tf.errors.InvalidArgumentError, ValueError):
    """Bad input values found in eager mode: a ``ValueError`` for Python callers and the same
    ``tf.errors.InvalidArgumentError`` type that graph-mode asserts raise."""

    def __init__(self, message, *more):
        # One argument from this module; (node_def, op, message, error_code) when Keras re-raises with context.
        super().__init__(None, None, message) if not more else super().__init__(message, *more)

    def __reduce__(self):
        return type(self), (self.message,)


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


def check_broadcastable(x, target_shape, name, target_name):
    """Raises ``ValueError`` if the static shape of ``x`` cannot broadcast to ``target_shape``."""
    try:
        tf.broadcast_static_shape(x.shape, tf.TensorShape(target_shape))
    except ValueError:
        raise ValueError(f"{name}: shape {x.shape} does not broadcast to {target_name} shape "
                         f"{tf.TensorShape(target_shape)}.") from None


# -- value checks that hold in every mode ---------------------------------------------------------------------------
def require(ok, message, data=()):
    """A value check in every mode. Eager: raises :class:`InvalidInputError` with ``message`` unless the scalar bool
    ``ok`` is true, returns ``None``. Graph: returns an ``Assert`` op (stateful, so ``tf.function`` runs it; use it as
    a control dependency where the order matters) that fails with ``InvalidArgumentError`` (``message`` and ``data``).
    """
    if tf.executing_eagerly():
        if not bool(ok):
            raise InvalidInputError(message)
        return None
    return tf.debugging.Assert(ok, [message, *data], name="input_check")


def _all_finite(x):
    if x.dtype.is_complex:
        return tf.logical_and(tf.reduce_all(tf.math.is_finite(tf.math.real(x))),
                              tf.reduce_all(tf.math.is_finite(tf.math.imag(x))))
    if x.dtype.is_floating:
        return tf.reduce_all(tf.math.is_finite(x))
    return tf.constant(True)


def _with_checks(x, checks):
    checks = [c for c in checks if c is not None]
    if not checks:
        return x
    with tf.control_dependencies(checks):
        return tf.identity(x)


def check_finite(x, name):
    """Checks that ``x`` (real or complex, any shape) holds no NaN or Inf, in every mode (see the module docstring).

    Returns:
      ``x`` as a tensor (in graph mode an identity that depends on the check).

    Raises:
      InvalidInputError: in eager mode; ``tf.errors.InvalidArgumentError`` when the graph runs.
    """
    x = tf.convert_to_tensor(x)
    check = require(_all_finite(x), f"{name}: holds NaN or Inf values.")
    return _with_checks(x, [check])


def check_trajectory(trajectory, name="trajectory"):
    """Checks a k-space trajectory in radians: finite and within ``[-π, π]`` (up to float32 rounding), in every mode.

    Returns:
      ``trajectory`` as a tensor (in graph mode an identity that depends on the checks).

    Raises:
      InvalidInputError: in eager mode; ``tf.errors.InvalidArgumentError`` when the graph runs.
    """
    trajectory = tf.convert_to_tensor(trajectory)
    finite = require(_all_finite(trajectory), f"{name}: holds NaN or Inf values.")
    limit = tf.constant(3.1415927 * (1 + 1e-6), trajectory.dtype)
    inside = require(tf.reduce_all(tf.abs(trajectory) <= limit),
                     f"{name}: values outside [-π, π): expected radians per pixel (k·2π/N for k-space index k); "
                     "cycles per pixel must be multiplied by 2π.")
    return _with_checks(trajectory, [finite, inside])


def check_mask(mask, name="mask"):
    """Checks a sampling mask ``[B, ...]`` (float or bool): finite values and at least one sampled entry per example
    (an all-zero mask measures nothing, and its reconstruction would be zeros or NaNs). Every mode.

    Returns:
      ``mask`` as a tensor (in graph mode an identity that depends on the checks).
    """
    mask = tf.convert_to_tensor(mask)
    finite = require(_all_finite(mask), f"{name}: holds NaN or Inf values.")
    axes = list(range(1, mask.shape.rank)) if mask.shape.rank and mask.shape.rank > 1 else None
    sampled = tf.reduce_any(tf.not_equal(mask, tf.zeros([], mask.dtype)), axis=axes)
    nonzero = require(tf.reduce_all(sampled), f"{name}: all zero (nothing sampled) for at least one example.")
    return _with_checks(mask, [finite, nonzero])


def check_shapes_compatible(x, target, name, target_name, equal_axes=()):
    """Checks that ``x`` broadcasts to ``target`` (same rank; every axis of ``x`` equals ``target``'s or is 1) and
    that the ``equal_axes`` are equal, in every mode: statically where the shapes are known, else in the graph.

    Args:
      x, target: tensors of the same static rank.
      name, target_name: the argument names used in the message.
      equal_axes: axes that must match exactly (e.g. the coil axis 1).

    Returns:
      ``x`` (in graph mode an identity that depends on the run-time check when one is needed).
    """
    if x.shape.rank is not None and target.shape.rank is not None and x.shape.rank != target.shape.rank:
        raise ValueError(f"{name}: rank {x.shape.rank} (shape {x.shape}) differs from {target_name} rank "
                         f"{target.shape.rank} (shape {target.shape}).")
    static_x, static_t = x.shape.as_list(), target.shape.as_list()
    unknown = False
    for axis, (a, b) in enumerate(zip(static_x, static_t)):
        if a is None or b is None:
            unknown = True
            continue
        exact = axis in equal_axes or axis - len(static_x) in equal_axes
        if a != b and (exact or a != 1):
            raise ValueError(f"{name}: shape {x.shape} is incompatible with {target_name} shape {target.shape} "
                             f"(axis {axis}: {a} vs {b}" + ("; must be equal)." if exact else "; must be equal or 1)."))
    if not unknown:
        return x
    sx, st = tf.shape(x), tf.shape(target)
    rank = len(static_x)
    exact = tf.constant([axis in equal_axes or axis - rank in equal_axes for axis in range(rank)])
    ok = tf.reduce_all(tf.equal(sx, st) | (tf.equal(sx, 1) & tf.logical_not(exact)))
    message = (f"{name}: shape does not match {target_name} shape (each axis equal or 1"
               + (f", axes {tuple(equal_axes)} equal" if equal_axes else "") + f"); {name} and {target_name} shapes:")
    return _with_checks(x, [require(ok, message, [sx, st])])


# -- Python numbers, as users pass them -----------------------------------------------------------------------------
def _scalar_value(value, name, kind):
    """``value`` as a Python/numpy real scalar; ``TypeError`` naming ``name`` otherwise."""
    if tf.is_tensor(value):
        try:
            value = value.numpy()
        except (AttributeError, NotImplementedError, TypeError, ValueError):
            raise TypeError(f"{name}: expected {kind}, got a symbolic tensor (pass a Python or numpy number).") \
                from None
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise TypeError(f"{name}: expected {kind}, got an array of shape {value.shape}.")
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected {kind}, got the bool {value!r}.")
    if not isinstance(value, numbers.Real):  # int, float, numpy integers and floats; not complex, str, None
        raise TypeError(f"{name}: expected {kind}, got {value!r} ({type(value).__name__}).")
    return value


def as_float(value, name, minimum=None, exclusive=False, allow_none=False):
    """A real number as users pass it (``int``, ``float``, numpy scalar, 0-d array or eager 0-d tensor) → ``float``.

    Args:
      value: the argument.
      name: its name, for the message.
      minimum: lower bound, or ``None``.
      exclusive: the bound itself is excluded (``value > minimum``).
      allow_none: ``None`` is returned as is.

    Raises:
      TypeError: not a real scalar (bool, complex, a non-scalar array, a symbolic tensor).
      ValueError: NaN, infinite, or below the bound.
    """
    if value is None and allow_none:
        return None
    number = float(_scalar_value(value, name, "a real number"))
    if not np.isfinite(number):
        raise ValueError(f"{name}: expected a finite number, got {value!r}.")
    if minimum is not None and (number <= minimum if exclusive else number < minimum):
        raise ValueError(f"{name}: expected a number {'>' if exclusive else '>='} {minimum}, got {value!r}.")
    return number


def as_int(value, name, minimum=None, allow_none=False):
    """An integer as users pass it (``int``, numpy integer, 0-d integer array or eager tensor) → ``int``; a float is
    a ``TypeError`` (even ``3.0``: an iteration count is never fractional)."""
    if value is None and allow_none:
        return None
    number = _scalar_value(value, name, "an int")
    if not isinstance(number, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__}).")
    number = int(number)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}.")
    return number
