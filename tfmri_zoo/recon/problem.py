"""Shared set-up of the classical solvers: input checks, the encoding operator, data scaling, power iteration.

Scale handling (used by every iterative solver of :mod:`tfmri_zoo.recon`):

* ``lam`` is **absolute**, in the units of the data, as in BART ``pics -w 1`` (no data rescaling): the solvers
  minimise ``½‖y − E x‖² + lam · R(x)`` exactly as written, with ``R(x) = ½‖x‖²`` for ``sense`` and
  ``gradient_descent`` (normal matrix ``EᴴE + lam·I``, as BART ``-l2 -r lam``), ``‖Ψx‖₁`` for ``l1_wavelet`` and
  ``TV(x)`` for ``tv``.
* Internally each batch element's k-space is divided by ``s = max|Eᴴy|`` (1 when the data are zero) and the
  solution multiplied back. A regulariser that is homogeneous of degree 1 (ℓ1-wavelet, TV) then gets the weight
  ``lam / s``; one of degree 2 (Tikhonov ``lam‖x‖²``) keeps ``lam``. The minimiser and, in exact arithmetic, every
  iterate are unchanged, but float32 stays well inside its range for data scaled by 1e-6 or 1e6 and zero data give
  zeros rather than 0/0.
* Step sizes: ``1/L`` with ``L = ‖EᴴE‖`` from a power iteration by default. When the maps are normalised so that
  ``Σ_c |S_c|² ≤ 1`` at every pixel and the mask is binary, ``‖E‖ ≤ 1`` (``F`` is unitary, ``M`` a projection), so
  ``step_size=1`` is safe and skips the power iteration.
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.operators import make_operator as make_sampling_operator
from tfmri_zoo.physics.sense import SenseOperator

_LAYOUT = "[batch, coils, height, width]"


def make_operator(kspace, mask, sensitivities):
    """Validates the inputs of a 2D solver and builds its encoding operator.

    Args:
      kspace: complex ``[B, C, H, W]`` measured (zero-filled) k-space.
      mask: float32/bool sampling mask broadcastable to ``[B, C, H, W]`` (e.g. ``[B, 1, 1, W]``), or ``None`` for
        fully sampled data; or a non-Cartesian sampling dict ``{"trajectory": [B, M, 2], "density": [B, M]}``
        (:mod:`tfmri_zoo.physics.operators`; then ``kspace`` is ``[B, C, M]`` and the maps are required).
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` for single-coil data (``C`` must be 1).

    Returns:
      ``(operator, kspace)``: a :class:`SenseOperator` (or ``NonCartesianSenseOperator``) in k-space's dtype and the
      k-space as a complex tensor.
    """
    if isinstance(mask, dict):
        return noncartesian_operator(kspace, mask, sensitivities)
    kspace = validation.as_complex(kspace, "kspace")
    validation.check_rank(kspace, "kspace", 4, _LAYOUT)
    kspace = validation.check_finite(kspace, "kspace")
    if sensitivities is not None:
        sensitivities = validation.as_complex(sensitivities, "sensitivities", kspace.dtype)
        validation.check_rank(sensitivities, "sensitivities", 4, _LAYOUT)
        sensitivities = validation.check_finite(sensitivities, "sensitivities")
        sensitivities = validation.check_shapes_compatible(sensitivities, kspace, "sensitivities", "kspace",
                                                           equal_axes=(1, 2, 3))
    if mask is not None:
        mask = tf.convert_to_tensor(mask)
        if mask.dtype.is_complex:
            raise TypeError(f"mask: expected a float32 or bool mask, got {mask.dtype.name}.")
        if mask.dtype == tf.bool:
            mask = tf.cast(mask, tf.float32)
        validation.check_rank(mask, "mask", 4, _LAYOUT + " (broadcastable)")
        mask = validation.check_mask(mask, "mask")
        mask = validation.check_shapes_compatible(mask, kspace, "mask", "kspace")
    operator = SenseOperator(sensitivities, mask, spatial_rank=2, dtype=kspace.dtype)
    return operator, kspace


def noncartesian_operator(kspace, sampling, sensitivities):
    """:func:`make_operator` for a non-Cartesian sampling dict: ``kspace`` ``[B, C, M]``, maps ``[B, C, H, W]``."""
    kspace = validation.as_complex(kspace, "kspace")
    validation.check_rank(kspace, "kspace", 3, "[batch, coils, samples]")
    kspace = validation.check_finite(kspace, "kspace")
    if sensitivities is None:
        raise ValueError("sensitivities: required for non-Cartesian data (they give the image size).")
    sensitivities = validation.as_complex(sensitivities, "sensitivities", kspace.dtype)
    validation.check_rank(sensitivities, "sensitivities", 4, _LAYOUT)
    sensitivities = validation.check_finite(sensitivities, "sensitivities")
    sampling = {key: validation.check_finite(tf.cast(value, kspace.dtype.real_dtype), key)
                for key, value in sampling.items() if value is not None}
    return make_sampling_operator(sampling, sensitivities, spatial_rank=2, dtype=kspace.dtype), kspace


def check_lam(lam):
    """Returns ``lam`` as a Python float after checking it is a finite non-negative number; accepts numbers as
    users pass them (``0.01``, ``np.float32(0.01)``, a 0-d array or eager tensor)."""
    return validation.as_float(lam, "lam", minimum=0.0)


def check_iterations(max_iter, tol):
    """Checks ``max_iter`` (int ≥ 0, numpy integers accepted) and ``tol`` (``None`` or a positive number, numpy
    scalars accepted); returns them as ``(int, float or None)``."""
    return (validation.as_int(max_iter, "max_iter", minimum=0),
            validation.as_float(tol, "tol", minimum=0.0, exclusive=True, allow_none=True))


def prepare(kspace, mask, sensitivities, lam, max_iter, tol):
    """The common start of every iterative solver: checks the arguments, builds ``E`` and the scaled ``Eᴴy``.

    Returns:
      ``(operator, kspace, lam, rhs, scale)``: ``rhs = Eᴴy / s`` complex ``[B, H, W]`` and ``scale = s`` real
      ``[B]`` (see the module docstring); multiply the solution by ``s``.
    """
    lam = check_lam(lam)
    max_iter, tol = check_iterations(max_iter, tol)
    operator, kspace = make_operator(kspace, mask, sensitivities)
    rhs = operator.adjoint(kspace)
    scale = data_scale(rhs)
    return operator, kspace, lam, rhs / per_batch(scale, rhs), scale


def iterate(update, x, state, max_iter, tol):
    """Runs ``x, state = update(x, state)`` in a ``tf.while_loop``: exactly ``max_iter`` times when ``tol`` is None,
    else until ``‖x_{k+1} − x_k‖ ≤ tol·‖x_{k+1}‖`` for every batch element (or ``max_iter``). Returns the final ``x``.

    Args:
      update: callable ``(x, state) → (x, state)``; ``state`` is any nest of tensors with fixed shapes.
      x: complex ``[B, H, W]`` initial image.
      state: the initial nest of auxiliary tensors.
      max_iter: int.
      tol: ``None`` or a positive float.
    """
    def body(i, x, state, done):
        x_new, state = update(x, state)
        if tol is not None:
            done = tf.reduce_all(norm(x_new - x) <= tol * norm(x_new))
        return i + 1, x_new, state, done

    def cond(i, x, state, done):
        return tf.logical_and(i < max_iter, tf.logical_not(done))

    return tf.while_loop(cond, body, (tf.constant(0), x, state, tf.constant(False)))[1]


def per_batch(values, like):
    """Reshapes a real ``[B]`` vector to broadcast against ``like`` ``[B, ...]`` and casts it to its dtype."""
    return tf.cast(tf.reshape(values, [-1] + [1] * (like.shape.rank - 1)), like.dtype)


def data_scale(image):
    """Per-batch scale ``s = max|image|`` (real ``[B]``), replaced by 1 where the image is zero."""
    axes = list(range(1, image.shape.rank))
    scale = tf.reduce_max(tf.abs(image), axis=axes)
    return tf.where(scale > 0, scale, tf.ones_like(scale))


def norm(x):
    """Per-batch Euclidean norm over all but axis 0 → real ``[B]``."""
    axes = list(range(1, x.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.math.real(x * tf.math.conj(x)), axis=axes))


def max_eigenvalue(normal, like, num_iter=20):
    """Largest eigenvalue of the Hermitian PSD ``normal`` (``EᴴE``) per batch element, by power iteration.

    Args:
      normal: callable image → image, e.g. ``SenseOperator.normal``.
      like: complex ``[B, H, W]`` tensor giving the shape and dtype of the images.
      num_iter: number of power iterations (fixed; graph- and XLA-friendly, deterministic start vector).

    Returns:
      real ``[B]`` estimate ``L ≈ ‖EᴴE‖`` (0 for a zero operator). Power iteration approaches ``L`` from below.
    """
    real = like.dtype.real_dtype
    shape = tf.shape(like)
    x = tf.complex(tf.random.stateless_normal(shape, seed=[17, 4], dtype=real),
                   tf.random.stateless_normal(shape, seed=[29, 8], dtype=real))
    x = x / per_batch(norm(x), x)
    tiny = tf.constant(1e-30, real)

    def body(i, x, value):
        y = normal(x)
        value = norm(y)
        return i + 1, y / per_batch(tf.maximum(value, tiny), y), value

    _, _, value = tf.while_loop(lambda i, x, v: i < num_iter, body,
                                (tf.constant(0), x, tf.zeros([shape[0]], real)))
    return value


def step_from(step_size, normal, like, extra=0.0, power_iterations=20):
    """Gradient step ``1 / (L + extra)`` per batch element (real ``[B]``), ``L`` by power iteration, or the user's
    ``step_size`` (a positive number, e.g. 1 when ``Σ|S|² ≤ 1`` and the mask is binary, so that ``‖E‖ ≤ 1``).
    ``extra``: a number ≥ 0 or a real tensor broadcastable to ``[B]`` (e.g. a prior weight per example)."""
    real = like.dtype.real_dtype
    step_size = validation.as_float(step_size, "step_size", minimum=0.0, exclusive=True, allow_none=True)
    extra = tf.cast(extra, real) if tf.is_tensor(extra) else tf.constant(validation.as_float(extra, "extra", 0.0), real)
    if step_size is not None:
        return tf.fill([tf.shape(like)[0]], tf.constant(step_size, real))
    lipschitz = max_eigenvalue(normal, like, power_iterations) + extra
    return 1.0 / tf.maximum(lipschitz, tf.constant(1e-12, real))
