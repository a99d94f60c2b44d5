"""CG-SENSE (Eq. 3 of the review): ``x = (EᴴE + λI)⁻¹ Eᴴy`` by the package's one conjugate gradient.

This minimises ``½‖y − E x‖² + (λ/2)‖x‖²`` (Tikhonov, ``λ ≥ 0``), the problem of BART ``pics -l2 -r λ -w 1``.
"""
import tensorflow as tf

from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.recon import problem


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def sense(kspace, mask=None, sensitivities=None, *, lam=0.0, max_iter=50, tol=None):
    """CG-SENSE reconstruction of 2D multi-coil Cartesian data.

    Args:
      kspace: complex ``[B, C, H, W]`` k-space.
      mask: float32/bool mask broadcastable to ``[B, C, H, W]`` (e.g. ``[B, 1, 1, W]``), or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      lam: Tikhonov weight λ (absolute; the normal matrix is ``EᴴE + λI``).
      max_iter: CG iterations (exactly this many when ``tol`` is None: a fixed graph for unrolling).
      tol: ``None`` or the relative residual ``‖r‖/‖Eᴴy‖`` at which a batch element stops.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    # λ‖x‖² is 2-homogeneous: λ is unchanged by the internal data scaling.
    max_iter, tol = problem.check_iterations(max_iter, tol)
    operator, _, lam, rhs, scale = problem.prepare(kspace, mask, sensitivities, lam, max_iter, tol)

    def normal(x):
        return operator.normal(x) + lam * x if lam else operator.normal(x)

    image = conjugate_gradient(normal, rhs, max_iter=max_iter, tol=tol)
    return image * problem.per_batch(scale, image)
