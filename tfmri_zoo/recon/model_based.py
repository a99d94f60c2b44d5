"""Parametric mapping (review Eq. 11) and model-based reconstruction (Eq. 12) by damped Gauss-Newton.

Both minimise ``½‖y − E M(ϑ)‖²`` over pixelwise parameters ``ϑ = (ρ, R)`` (see
:mod:`tfmri_zoo.physics.signal_models` for the packing ``[B, 2, H, W]``):

* Eq. 11, :func:`fit_parametric`: ``E = I``, ``y`` = reconstructed image series ``[B, T, H, W]`` (e.g. zero-filled or
  SENSE echo images);
* Eq. 12, :func:`model_based_reconstruction`: ``E = M F C`` on multi-echo k-space ``[B, C, T, H, W]``, so the maps are
  estimated directly from undersampled data without reconstructing the echo images first.

Gauss-Newton step ``k`` linearises ``E M`` at ``ϑ_k`` (Jacobian ``J = E J_M``) and solves the damped normal equations
``(JᵀJ + λ_k I) δ = Jᵀ(y − E M(ϑ_k))`` with the package's one CG, in Jacobi-scaled variables ``δ = D w`` where
``D = diag(J_Mᵀ J_M)^{-1/2}`` per pixel, so the step does not depend on the units of ``ρ`` and ``R`` (ms or s) and
``λ_k`` is relative (the scaled diagonal is about the sampled fraction of k-space). ``λ_k = max(λ₀ q^k, λ_min)``
(Levenberg-Marquardt-style damping that decreases as the iterate approaches the solution); the rate is projected
onto ``[rate_min, rate_max]`` after each step.
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.physics.signal_models import (IdentityOperator, NonlinearOperator, SignalModel, check_params,
                                             pack_params)
from tfmri_zoo.recon.problem import check_iterations


def initial_params(series, signal_model, rate=None):
    """A starting point: a rate (constant by default) and the least-squares ``ρ`` for it (variable projection).

    Args:
      series: complex ``[B, T, H, W]`` image series.
      signal_model: a :class:`~tfmri_zoo.physics.signal_models.SignalModel`.
      rate: the starting rate: a constant (default ``1 / mean(times)``) or a real map ``[B, H, W]``.

    Returns:
      packed complex ``[B, 2, H, W]``: ``ρ = Σ_t g_t x_t / Σ_t g_t²`` and the rate.
    """
    series = validation.as_complex(series, "series")
    real = series.dtype.real_dtype
    if rate is None:
        rate = 1.0 / float(np.mean(signal_model.times))
    rate = tf.cast(tf.convert_to_tensor(rate), real)
    if rate.shape.rank == 0:
        rate = tf.fill(tf.shape(series[:, 0]), rate)
    g = signal_model.basis(rate)
    rho = tf.reduce_sum(tf.cast(g, series.dtype) * series, axis=1) / tf.cast(
        tf.maximum(tf.reduce_sum(g * g, axis=1), 1e-12), series.dtype)
    return pack_params(rho, rate)


def log_linear_rate(magnitude, times):
    """The rate of ``|x_t| ≈ ρ e^{−tR}`` per pixel by weighted least squares on ``log|x_t|`` (weights ``|x_t|²``,
    which down-weights the noisy late echoes), clipped to ``[0, 1/min(t)]``: a closed-form T2 start.

    Args:
      magnitude: real ``[B, T, H, W]`` series magnitudes.
      times: the ``T`` echo times.

    Returns:
      real ``[B, H, W]`` rate (inverse unit of ``times``).
    """
    magnitude = tf.convert_to_tensor(magnitude)
    t = tf.constant(np.asarray(times, np.float64).reshape(1, -1, 1, 1), magnitude.dtype)
    w = tf.square(magnitude) + 1e-12
    log = tf.math.log(magnitude + 1e-12 * tf.reduce_max(magnitude))
    mean_t = tf.reduce_sum(w * t, axis=1, keepdims=True) / tf.reduce_sum(w, axis=1, keepdims=True)
    mean_log = tf.reduce_sum(w * log, axis=1, keepdims=True) / tf.reduce_sum(w, axis=1, keepdims=True)
    slope = (tf.reduce_sum(w * (t - mean_t) * (log - mean_log), axis=1)
             / tf.maximum(tf.reduce_sum(w * tf.square(t - mean_t), axis=1), 1e-12))
    return tf.clip_by_value(-slope, 0.0, 1.0 / float(np.min(times)))


def _check_damping(damping, damping_decay, min_damping):
    for name, value, low, high in (("damping", damping, 0.0, None), ("damping_decay", damping_decay, 0.0, 1.0),
                                   ("min_damping", min_damping, 0.0, None)):
        if validation.as_float(value, name) < low or (high is not None and value > high):
            raise ValueError(f"{name}: expected a number in [{low}, {high if high is not None else 'inf'}], "
                             f"got {value!r}.")


def gauss_newton(nonlinear_operator, data, init, *, max_iter=10, cg_iterations=10, damping=0.1, damping_decay=0.3,
                 min_damping=1e-5, rate_min=0.0, rate_max=None):
    """Damped Gauss-Newton for ``min_ϑ ½‖y − E M(ϑ)‖²`` (CG on the Jacobi-scaled normal equations).

    Args:
      nonlinear_operator: a :class:`~tfmri_zoo.physics.signal_models.NonlinearOperator`.
      data: complex ``y`` in the operator's output layout (k-space ``[B, C, T, H, W]`` or series ``[B, T, H, W]``).
      init: packed complex ``[B, 2, H, W]`` starting parameters.
      max_iter: Gauss-Newton iterations.
      cg_iterations: CG iterations per linearised problem.
      damping: initial relative damping ``λ₀`` ≥ 0.
      damping_decay: factor ``q`` in ``[0, 1]`` applied to ``λ`` after every iteration.
      min_damping: floor ``λ_min`` ≥ 0.
      rate_min, rate_max: bounds on the rate after each step (``rate_max=None``: no upper bound).

    Returns:
      packed complex ``[B, 2, H, W]`` parameters.
    """
    if not isinstance(nonlinear_operator, NonlinearOperator):
        raise TypeError(f"nonlinear_operator: expected a NonlinearOperator, got {type(nonlinear_operator).__name__}.")
    check_iterations(max_iter, None)
    check_iterations(cg_iterations, None)
    _check_damping(damping, damping_decay, min_damping)
    data = validation.as_complex(data, "data")
    params = check_params(init, "init", data.dtype)
    validation.check_finite(params, "init")
    model = nonlinear_operator.signal_model
    real = data.dtype.real_dtype
    lam = float(damping)
    for _ in range(max_iter):
        residual = data - nonlinear_operator.forward(params)
        n_rho, n_rate = model.column_norms(params)
        floor = lambda n: 1e-6 * tf.reduce_max(n, axis=[1, 2], keepdims=True) + 1e-30  # noqa: E731
        scale = tf.stack([tf.math.rsqrt(n_rho + floor(n_rho)), tf.math.rsqrt(n_rate + floor(n_rate))], axis=1)
        scale = tf.complex(scale, tf.zeros_like(scale))
        current, damping_now = params, tf.constant(lam, data.dtype)

        def normal(w, current=current, scale=scale, damping_now=damping_now):
            return scale * nonlinear_operator.vjp(current, nonlinear_operator.jvp(current, scale * w)) \
                + damping_now * w

        rhs = scale * nonlinear_operator.vjp(current, residual)
        step = scale * conjugate_gradient(normal, rhs, max_iter=cg_iterations)
        params = params + step
        rate = tf.math.real(params[:, 1])
        rate = tf.maximum(rate, tf.constant(rate_min, real))
        if rate_max is not None:
            rate = tf.minimum(rate, tf.constant(rate_max, real))
        params = tf.stack([params[:, 0], tf.complex(rate, tf.zeros_like(rate))], axis=1)
        lam = max(lam * damping_decay, min_damping)
    return params


def _check_model(signal_model):
    if not isinstance(signal_model, SignalModel):
        raise TypeError(f"signal_model: expected a SignalModel (e.g. MultiEchoT2), got {type(signal_model).__name__}.")


def fit_parametric(series, signal_model, *, init=None, max_iter=15, cg_iterations=10, **kwargs):
    """Pixelwise parametric fitting (Eq. 11): ``min_ϑ ½‖x − M(ϑ)‖²`` on an image series.

    Args:
      series: complex ``[B, T, H, W]`` images at the model's ``T`` times.
      signal_model: a :class:`~tfmri_zoo.physics.signal_models.SignalModel` with ``T`` times.
      init: packed complex ``[B, 2, H, W]`` start, default :func:`initial_params`.
      max_iter, cg_iterations, **kwargs: as :func:`gauss_newton`.

    Returns:
      packed complex ``[B, 2, H, W]`` (``ρ``, rate); ``rate_to_time`` gives ``T1``/``T2``.
    """
    _check_model(signal_model)
    series = validation.as_complex(series, "series")
    if series.shape.rank != 4 or series.shape[1] != signal_model.num_times:
        raise ValueError(f"series: expected complex [B, T={signal_model.num_times}, H, W], got shape {series.shape}.")
    validation.check_finite(series, "series")
    if init is None:
        init = initial_params(series, signal_model)
    return gauss_newton(NonlinearOperator(signal_model, IdentityOperator()), series, init, max_iter=max_iter,
                        cg_iterations=cg_iterations, **kwargs)


def model_based_reconstruction(kspace, mask, sensitivities, signal_model, *, init=None, max_iter=15,
                               cg_iterations=10, **kwargs):
    """Model-based reconstruction (Eq. 12): parameter maps directly from multi-echo multi-coil k-space.

    Args:
      kspace: complex ``[B, C, T, H, W]`` (zero where not sampled).
      mask: float32/bool broadcastable to ``kspace``, e.g. ``[B, 1, T, 1, W]`` (different lines per echo help), or
        ``None`` for fully sampled data.
      sensitivities: complex ``[B, C, 1, H, W]`` (or ``[B, C, T, H, W]``) coil maps, or ``None`` for one coil.
      signal_model: a :class:`~tfmri_zoo.physics.signal_models.SignalModel` with ``T`` times.
      init: packed complex ``[B, 2, H, W]`` start; default :func:`initial_params` of the zero-filled series
        ``Eᴴy`` divided by the sampled fraction of each time point.
      max_iter, cg_iterations, **kwargs: as :func:`gauss_newton`.

    Returns:
      packed complex ``[B, 2, H, W]`` (``ρ``, rate).
    """
    _check_model(signal_model)
    kspace = validation.as_complex(kspace, "kspace")
    validation.check_rank(kspace, "kspace", 5, "[batch, coils, times, height, width]")
    if kspace.shape[2] != signal_model.num_times:
        raise ValueError(f"kspace: axis 2 has {kspace.shape[2]} time points but the signal model has "
                         f"{signal_model.num_times}.")
    validation.check_finite(kspace, "kspace")
    if sensitivities is not None:
        sensitivities = validation.as_complex(sensitivities, "sensitivities", kspace.dtype)
        validation.check_rank(sensitivities, "sensitivities", 5, "[batch, coils, 1 or times, height, width]")
    operator = SenseOperator(sensitivities, mask, spatial_rank=2, dtype=kspace.dtype)
    if operator.mask is not None:
        validation.check_broadcastable(operator.mask, kspace.shape, "mask", "kspace")
    if init is None:
        series = operator.adjoint(kspace)
        if operator.mask is not None:
            full = tf.broadcast_to(tf.math.real(operator.mask), tf.shape(kspace))[:, 0]
            fraction = tf.reduce_mean(full, axis=[2, 3])                      # [B, T]
            series = series / tf.cast(tf.maximum(fraction, 1e-6)[:, :, None, None], series.dtype)
        init = initial_params(series, signal_model)
    return gauss_newton(NonlinearOperator(signal_model, operator), kspace, init, max_iter=max_iter,
                        cg_iterations=cg_iterations, **kwargs)
