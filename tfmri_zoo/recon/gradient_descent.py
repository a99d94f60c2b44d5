"""Gradient descent (Eq. 6 of the review) on ``½‖y − E x‖² + (λ/2)‖x‖²``: ``x ← x − α (Eᴴ(E x − y) + λ x)``."""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.recon import problem


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def gradient_descent(kspace, mask=None, sensitivities=None, *, lam=0.0, max_iter=50, tol=None, step_size=None,
                     power_iterations=20):
    """Landweber / Tikhonov gradient descent from ``x = 0``.

    Args:
      kspace: complex ``[B, C, H, W]`` k-space.
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      lam: Tikhonov weight λ ≥ 0 (absolute, as in :func:`tfmri_zoo.recon.sense`).
      max_iter: iterations (exactly this many when ``tol`` is None).
      tol: ``None`` or the relative update ``‖x_{k+1} − x_k‖ / ‖x_{k+1}‖`` below which all batch elements stop.
      step_size: ``None`` for ``1/(L + λ)`` with ``L = ‖EᴴE‖`` from ``power_iterations`` power iterations, or a
        positive number (``1/(1 + λ)`` is safe when ``Σ|S|² ≤ 1`` and the mask is binary).
      power_iterations: power iterations for ``L``.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    max_iter, tol = problem.check_iterations(max_iter, tol)
    power_iterations = validation.as_int(power_iterations, "power_iterations", minimum=1)
    operator, _, lam, rhs, scale = problem.prepare(kspace, mask, sensitivities, lam, max_iter, tol)
    step = problem.per_batch(problem.step_from(step_size, operator.normal, rhs, lam, power_iterations), rhs)

    def update(x, state):
        return x - step * (operator.normal(x) - rhs + lam * x), state

    image = problem.iterate(update, tf.zeros_like(rhs), (), max_iter, tol)
    return image * problem.per_batch(scale, image)
