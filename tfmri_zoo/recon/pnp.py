"""Plug-and-play priors and regularisation by denoising (review Sec. III-B).

Plug-and-play (PnP) replaces the proximal step of a classical algorithm by a denoiser ``D`` (any callable or Keras
model, complex ``[B, H, W]`` → complex ``[B, H, W]``; e.g. :class:`tfmri_zoo.models.denoiser.Denoiser` trained on
noisy/clean pairs):

* :func:`pnp_admm` — ADMM, Eq. 9 with (9b) replaced by ``D``, scaled dual ``u``, penalty ``ρ``:
    ``x = (EᴴE + ρI)⁻¹(Eᴴy + ρ(z − u))`` (CG, warm-started),  ``z = D(x + u)``,  ``u = u + x − z``.
  With ``D = prox_{g/ρ}`` this is ADMM for ``½‖Ex − y‖² + g(x)``: e.g. ``D(v) = ρv/(ρ + γ)`` gives CG-SENSE with
  Tikhonov weight ``γ`` and ``D = I`` the least-squares (``λ = 0``) CG-SENSE fixed point.
* :func:`pnp_proximal_gradient` — Eq. 7 with (7a) replaced by ``D``: ``x = D(z − α Eᴴ(Ez − y))``, ``z = x`` (ISTA
  form) or FISTA's momentum ``z = x + ((t_k − 1)/t_{k+1})(x − x_prev)``. With ``D`` the soft-threshold of the
  coefficients in an orthogonal wavelet basis at ``αλ`` it is ISTA/FISTA for ℓ1-wavelet (Eq. 4).

Regularisation by denoising (RED, Romano, Elad & Milanfar 2017) uses ``D`` in the regulariser
``(ν/2) xᴴ(x − D(x))``, whose gradient is ``ν(x − D(x))`` for a locally homogeneous denoiser with a symmetric
Jacobian; the solution satisfies Eq. 13, ``0 = Eᴴ(Ex − y) + ν(x − D(x))``. :func:`red` solves it by

* ``"fixed_point"``: ``x = (EᴴE + νI)⁻¹(Eᴴy + ν D(x_prev))`` (CG, warm-started), or
* ``"gradient"``:   ``x = x − μ(Eᴴ(Ex − y) + ν(x − D(x)))``, ``μ = 1/(L + ν)``, ``L = ‖EᴴE‖``;

:func:`red_residual` measures how far an image is from satisfying Eq. 13.

Data scale: with ``normalize=True`` (default) each example's k-space is divided by ``s = max|Eᴴy|`` before the
iterations and the image multiplied back, so a denoiser trained on images of maximum magnitude about 1 sees that
range; ``ρ``, ``ν`` are then independent of the data scale. Pass ``normalize=False`` to run the iterations on the raw
data (e.g. a denoiser whose threshold is in data units). The update functions (:func:`admm_update`,
:func:`red_fixed_point_update`) are shared with the ``pnp`` zoo model (:mod:`tfmri_zoo.models.pnp`).
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.recon import problem


def denoise(denoiser, image):
    """Applies ``denoiser`` to a complex ``[B, H, W]`` image and returns the result in the image's dtype."""
    out = tf.convert_to_tensor(denoiser(image))
    if not out.dtype.is_complex:
        raise TypeError(f"denoiser: expected a complex image back, got {out.dtype.name}.")
    if out.shape.rank is not None and image.shape.rank is not None and out.shape.rank != image.shape.rank:
        raise ValueError(f"denoiser: returned shape {out.shape} for an input of shape {image.shape}.")
    return tf.cast(out, image.dtype)


def admm_update(operator, rhs, x, z, u, denoiser, rho, cg_iterations):
    """One PnP-ADMM iteration (see the module docstring).

    Args:
      operator: the encoding operator (``normal``: image → image).
      rhs: complex ``[B, H, W]`` ``Eᴴy``.
      x, z, u: complex ``[B, H, W]`` current data-consistent image, denoised image and scaled dual.
      denoiser: callable complex ``[B, H, W]`` → complex ``[B, H, W]``.
      rho: penalty ``ρ > 0``: a float, a scalar tensor or a per-example real tensor ``[B, 1, 1]``.
      cg_iterations: CG iterations of the x-update (warm-started at the previous ``x``).

    Returns:
      ``(x, z, u)``.
    """
    rho = tf.cast(rho, rhs.dtype)
    x = conjugate_gradient(lambda v: operator.normal(v) + rho * v, rhs + rho * (z - u), x0=x,
                           max_iter=cg_iterations)
    z = denoise(denoiser, x + u)
    return x, z, u + x - z


def red_fixed_point_update(operator, rhs, x, denoiser, nu, cg_iterations):
    """One RED fixed-point iteration ``x = (EᴴE + νI)⁻¹(Eᴴy + ν D(x))`` (CG warm-started at ``x``).

    Args: as :func:`admm_update`; ``nu`` the RED weight ``ν > 0``. Returns complex ``[B, H, W]``.
    """
    nu = tf.cast(nu, rhs.dtype)
    return conjugate_gradient(lambda v: operator.normal(v) + nu * v, rhs + nu * denoise(denoiser, x), x0=x,
                              max_iter=cg_iterations)


def _check_positive(value, name):
    return validation.as_float(value, name, minimum=0.0, exclusive=True)


def _check_denoiser(denoiser):
    if not callable(denoiser):
        raise TypeError(f"denoiser: expected a callable image → image (e.g. a Keras model), got "
                        f"{type(denoiser).__name__}.")


def _prepare(kspace, mask, sensitivities, denoiser, max_iter, tol, normalize):
    """Checks the arguments; returns ``(operator, kspace, rhs, scale)`` with ``rhs = Eᴴy / s``."""
    _check_denoiser(denoiser)
    problem.check_iterations(max_iter, tol)
    operator, kspace = problem.make_operator(kspace, mask, sensitivities)
    rhs = operator.adjoint(kspace)
    if normalize:
        scale = problem.data_scale(rhs)
    else:
        scale = tf.ones([tf.shape(rhs)[0]], rhs.dtype.real_dtype)
    return operator, kspace / problem.per_batch(scale, kspace), rhs / problem.per_batch(scale, rhs), scale


@tf.autograph.experimental.do_not_convert
def pnp_admm(kspace, mask=None, sensitivities=None, *, denoiser, rho=1.0, max_iter=30, cg_iterations=5, tol=None,
             normalize=True):
    """Plug-and-play ADMM for 2D multi-coil Cartesian data.

    Args:
      kspace: complex ``[B, C, H, W]`` k-space.
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      denoiser: callable complex ``[B, H, W]`` → complex ``[B, H, W]`` (plain function or Keras model).
      rho: ADMM penalty ``ρ > 0``.
      max_iter: ADMM iterations (exactly this many when ``tol`` is None).
      cg_iterations: CG iterations per x-update.
      tol: ``None`` or the relative change of ``x`` below which all batch elements stop.
      normalize: run on k-space divided by ``max|Eᴴy|`` (see the module docstring).

    Returns:
      complex ``[B, H, W]`` data-consistent image ``x`` in k-space's dtype.
    """
    rho = _check_positive(rho, "rho")
    problem.check_iterations(cg_iterations, None)
    operator, _, rhs, scale = _prepare(kspace, mask, sensitivities, denoiser, max_iter, tol, normalize)

    def update(x, state):
        z, u = state
        x, z, u = admm_update(operator, rhs, x, z, u, denoiser, rho, cg_iterations)
        return x, (z, u)

    image = problem.iterate(update, rhs, (rhs, tf.zeros_like(rhs)), max_iter, tol)
    return image * problem.per_batch(scale, image)


@tf.autograph.experimental.do_not_convert
def pnp_proximal_gradient(kspace, mask=None, sensitivities=None, *, denoiser, step_size=None, max_iter=50,
                          accelerated=False, tol=None, normalize=True, power_iterations=20):
    """Plug-and-play proximal gradient (ISTA form, or FISTA with ``accelerated=True``) from ``x = 0``.

    Args:
      kspace, mask, sensitivities, tol, normalize: as :func:`pnp_admm`.
      denoiser: callable complex ``[B, H, W]`` → complex ``[B, H, W]`` replacing the proximal step (7a).
      step_size: ``None`` for ``1/L`` (``L = ‖EᴴE‖`` by power iteration) or a positive number.
      max_iter: iterations.
      accelerated: FISTA momentum.
      power_iterations: power iterations for ``L``.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    operator, _, rhs, scale = _prepare(kspace, mask, sensitivities, denoiser, max_iter, tol, normalize)
    step = problem.per_batch(problem.step_from(step_size, operator.normal, rhs, 0.0, power_iterations), rhs)
    real = rhs.dtype.real_dtype

    def update(x, state):
        z, t = state
        x_new = denoise(denoiser, z - step * (operator.normal(z) - rhs))
        if not accelerated:
            return x_new, (x_new, t)
        t_new = (1.0 + tf.sqrt(1.0 + 4.0 * t * t)) / 2.0
        return x_new, (x_new + tf.cast((t - 1.0) / t_new, x.dtype) * (x_new - x), t_new)

    zeros = tf.zeros_like(rhs)
    image = problem.iterate(update, zeros, (zeros, tf.constant(1.0, real)), max_iter, tol)
    return image * problem.per_batch(scale, image)


@tf.autograph.experimental.do_not_convert
def red(kspace, mask=None, sensitivities=None, *, denoiser, nu=1.0, method="fixed_point", max_iter=50,
        cg_iterations=5, step_size=None, tol=None, normalize=True, power_iterations=20):
    """Regularisation by denoising: solves Eq. 13 ``Eᴴ(Ex − y) + ν(x − D(x)) = 0`` from ``x = Eᴴy``.

    Args:
      kspace, mask, sensitivities, tol, normalize: as :func:`pnp_admm`.
      denoiser: callable complex ``[B, H, W]`` → complex ``[B, H, W]``.
      nu: RED weight ``ν > 0``.
      method: ``"fixed_point"`` (CG on ``(EᴴE + νI)x = Eᴴy + νD(x_prev)``) or ``"gradient"``.
      max_iter: outer iterations.
      cg_iterations: CG iterations per fixed-point step.
      step_size: gradient method only: ``None`` for ``1/(L + ν)`` or a positive number.
      power_iterations: power iterations for ``L``.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    nu = _check_positive(nu, "nu")
    if method not in ("fixed_point", "gradient"):
        raise ValueError(f"method: expected 'fixed_point' or 'gradient', got {method!r}.")
    problem.check_iterations(cg_iterations, None)
    operator, _, rhs, scale = _prepare(kspace, mask, sensitivities, denoiser, max_iter, tol, normalize)
    if method == "gradient":
        step = problem.per_batch(problem.step_from(step_size, operator.normal, rhs, nu, power_iterations), rhs)

        def update(x, state):
            return x - step * (operator.normal(x) - rhs + nu * (x - denoise(denoiser, x))), state
    else:
        def update(x, state):
            return red_fixed_point_update(operator, rhs, x, denoiser, nu, cg_iterations), state

    image = problem.iterate(update, rhs, (), max_iter, tol)
    return image * problem.per_batch(scale, image)


def red_residual(image, kspace, mask=None, sensitivities=None, *, denoiser, nu=1.0, normalize=True):
    """Relative residual of Eq. 13, ``‖Eᴴ(Ex − y) + ν(x − D(x))‖ / ‖Eᴴy‖`` per example (real ``[B]``).

    Args:
      image: complex ``[B, H, W]`` candidate ``x`` (in data units).
      kspace, mask, sensitivities, normalize: as :func:`red` (use the same ``normalize`` as the solve: the denoiser
        is evaluated on ``x / s``).
      denoiser, nu: as :func:`red`.
    """
    nu = _check_positive(nu, "nu")
    operator, kspace, rhs, scale = _prepare(kspace, mask, sensitivities, denoiser, 0, None, normalize)
    image = validation.as_complex(image, "image", rhs.dtype)
    if image.shape.rank != 3:
        raise ValueError(f"image: expected complex [B, H, W], got shape {image.shape}.")
    x = image / problem.per_batch(scale, image)
    residual = operator.normal(x) - rhs + nu * (x - denoise(denoiser, x))
    return problem.norm(residual) / tf.maximum(problem.norm(rhs), tf.constant(1e-30, rhs.dtype.real_dtype))
