"""Total-variation reconstruction (Eq. 5 with ``R = λ TV``) by the primal-dual algorithm of Chambolle & Pock (2011).

Minimises ``½‖y − E x‖² + λ TV(x)``, isotropic TV ``TV(x) = Σ_pixels √(|∂_h x|² + |∂_w x|²)`` with periodic forward
differences. Written as ``min_x F(K x)`` with ``K = [E; ∇]`` and ``F(u, g) = ½‖u − y‖² + λ‖g‖_{2,1}``, both proximal
maps of ``F*`` are closed form, so every iteration is explicit (no inner solver; fixed cost, XLA-friendly):

  ``p ← (p + σ(E x̄ − y)) / (1 + σ)``,  ``q ← proj_{|q|≤λ}(q + σ∇x̄)``,
  ``x⁺ ← x − τ(Eᴴp + ∇ᴴq)``,  ``x̄ ← 2x⁺ − x``,

with ``τ = σ = 0.99/‖K‖``, ``‖K‖² ≤ ‖EᴴE‖ + 8`` (``‖∇‖² ≤ 8`` in 2D). ``λ`` is absolute (see
:mod:`tfmri_zoo.recon.problem`).
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.recon import problem


def finite_differences(x):
    """Periodic forward differences of ``x`` ``[B, H, W]`` → ``[B, 2, H, W]`` (along height, then width)."""
    return tf.stack([tf.roll(x, -1, axis=-2) - x, tf.roll(x, -1, axis=-1) - x], axis=1)


def finite_differences_adjoint(g):
    """Adjoint of :func:`finite_differences` (minus the divergence): ``[B, 2, H, W]`` → ``[B, H, W]``."""
    return (tf.roll(g[:, 0], 1, axis=-2) - g[:, 0]) + (tf.roll(g[:, 1], 1, axis=-1) - g[:, 1])


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def tv(kspace, mask=None, sensitivities=None, *, lam, max_iter=100, tol=None, step_size=None, power_iterations=20):
    """Isotropic-TV reconstruction of 2D multi-coil Cartesian data by Chambolle-Pock primal-dual iterations.

    Args:
      kspace: complex ``[B, C, H, W]`` k-space.
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      lam: TV weight λ ≥ 0 (absolute, in data units).
      max_iter: iterations (exactly this many when ``tol`` is None).
      tol: ``None`` or the relative update ``‖x_{k+1} − x_k‖ / ‖x_{k+1}‖`` below which all batch elements stop.
      step_size: ``None`` for ``τ = σ = 0.99/√(L + 8)`` with ``L = ‖EᴴE‖`` by power iteration, or a positive number
        used for both ``τ`` and ``σ`` (must satisfy ``τσ(L + 8) ≤ 1``).
      power_iterations: power iterations for ``L``.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    max_iter, tol = problem.check_iterations(max_iter, tol)
    power_iterations = validation.as_int(power_iterations, "power_iterations", minimum=1)
    operator, kspace, lam, rhs, scale = problem.prepare(kspace, mask, sensitivities, lam, max_iter, tol)
    real = rhs.dtype.real_dtype
    data = operator.apply_mask(kspace) / problem.per_batch(scale, kspace)
    if step_size is None:
        lipschitz = problem.max_eigenvalue(operator.normal, rhs, power_iterations)
        step = 0.99 / tf.sqrt(lipschitz + 8.0)
    else:
        step = problem.step_from(step_size, operator.normal, rhs)
    weight = tf.reshape(lam / scale, [-1, 1, 1, 1])       # TV is 1-homogeneous: λ/s on data divided by s
    sigma = problem.per_batch(step, data)
    tau = problem.per_batch(step, rhs)
    tiny = tf.constant(1e-30, real)
    support = operator.support()      # x = 0 where the maps are 0 (E's null space): the primal prox is the projection
    support = None if support is None else tf.cast(support, rhs.dtype)

    def update(x, state):
        x_bar, p, q = state
        p = (p + sigma * (operator.forward(x_bar) - data)) / (1.0 + sigma)
        q = q + sigma * finite_differences(x_bar)
        magnitude = tf.sqrt(tf.reduce_sum(tf.math.real(q * tf.math.conj(q)), axis=1, keepdims=True))
        q = q * tf.cast(tf.minimum(1.0, weight / tf.maximum(magnitude, tiny)), q.dtype)
        x_new = x - tau * (operator.adjoint(p) + finite_differences_adjoint(q))
        if support is not None:
            x_new = x_new * support
        return x_new, (2.0 * x_new - x, p, q)

    x = tf.zeros_like(rhs)
    state = (x, tf.zeros_like(data), tf.zeros_like(finite_differences(x)))
    image = problem.iterate(update, x, state, max_iter, tol)
    return image * problem.per_batch(scale, image)
