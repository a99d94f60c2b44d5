"""ℓ1-wavelet compressed sensing (Eq. 4 of the review) by FISTA, the accelerated proximal gradient of Eq. 7.

Minimises ``½‖y − E x‖² + λ‖Ψ x‖₁`` with ``Ψ`` an orthogonal periodic Daubechies wavelet transform
(:mod:`tfmri_zoo.recon.wavelets`). As ``Ψ`` is orthogonal, ``prox_{αλ‖Ψ·‖₁}(v) = Ψᴴ soft(Ψ v, αλ)`` exactly, with
complex soft-thresholding ``soft(c, τ) = c · max(|c| − τ, 0) / |c|``. By default the coarsest approximation band is
not thresholded (``threshold_coarse=False``), the usual choice in MRI: it holds the image's low-resolution content,
which is not sparse. ``λ`` is absolute (see :mod:`tfmri_zoo.recon.problem` for the internal rescaling).

FISTA (Beck & Teboulle 2009): ``x_{k+1} = prox(z_k − α Eᴴ(E z_k − y))``, ``t_{k+1} = (1 + √(1 + 4t_k²))/2``,
``z_{k+1} = x_{k+1} + ((t_k − 1)/t_{k+1})(x_{k+1} − x_k)``, step ``α = 1/L``, ``L = ‖EᴴE‖`` by power iteration, or a
given ``step_size`` (e.g. 1, or BART's default 0.95, when the maps satisfy ``Σ|S|² ≤ 1`` and the mask is binary so
that ``‖E‖ ≤ 1``).
"""
import tensorflow as tf

from tfmri_zoo.recon import problem
from tfmri_zoo.recon.wavelets import max_levels, wavedec2, waverec2


def soft_threshold(x, threshold):
    """Complex soft-thresholding ``x · max(|x| − τ, 0)/|x|`` (0 where ``x = 0``).

    Args:
      x: complex tensor.
      threshold: real tensor broadcastable to ``x`` (≥ 0).

    Returns:
      complex tensor of ``x``'s shape and dtype.
    """
    magnitude = tf.abs(x)
    shrunk = tf.maximum(magnitude - threshold, 0.0)
    ratio = shrunk / tf.where(magnitude > 0, magnitude, tf.ones_like(magnitude))
    return x * tf.cast(ratio, x.dtype)


def _coarse_mask(shape, levels):
    """Real ``[H, W]`` array: 0 on the coarsest approximation block, 1 elsewhere."""
    h, w = shape
    keep = tf.ones([h >> levels, w >> levels])
    return 1.0 - tf.pad(keep, [[0, h - (h >> levels)], [0, w - (w >> levels)]])


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def l1_wavelet(kspace, mask=None, sensitivities=None, *, lam, max_iter=50, wavelet="db4", levels=None, tol=None,
               step_size=None, threshold_coarse=False, power_iterations=20):
    """ℓ1-wavelet reconstruction of 2D multi-coil Cartesian data by FISTA.

    Args:
      kspace: complex ``[B, C, H, W]`` k-space (static ``H``, ``W``).
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      lam: ℓ1 weight λ ≥ 0 (absolute, in data units).
      max_iter: FISTA iterations (exactly this many when ``tol`` is None).
      wavelet: "db1" … "db4".
      levels: decomposition levels (default: as many as the image size allows, at most 4).
      tol: ``None`` or the relative update ``‖x_{k+1} − x_k‖ / ‖x_{k+1}‖`` below which all batch elements stop.
      step_size: ``None`` for ``1/L`` by power iteration, or a positive number.
      threshold_coarse: also threshold the coarsest approximation band (Eq. 4 read literally).
      power_iterations: power iterations for ``L``.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    operator, kspace, lam, rhs, scale = problem.prepare(kspace, mask, sensitivities, lam, max_iter, tol)
    shape = tuple(rhs.shape[-2:])
    if None in shape:
        raise ValueError(f"kspace: height and width must be static, got shape {kspace.shape}.")
    if levels is None:
        levels = min(4, max_levels(shape, wavelet))
    wavedec2(tf.zeros([1, *shape]), wavelet, levels)          # validates wavelet/levels before tracing the loop
    real = rhs.dtype.real_dtype
    step = problem.step_from(step_size, operator.normal, rhs, 0.0, power_iterations)
    # ℓ1 is 1-homogeneous: on data divided by s the weight is λ/s; the threshold is α·λ/s per batch element.
    threshold = tf.reshape(step * lam / scale, [-1, 1, 1])
    if not threshold_coarse:
        threshold = threshold * tf.cast(_coarse_mask(shape, levels), real)
    step = problem.per_batch(step, rhs)

    def prox(v):
        return waverec2(soft_threshold(wavedec2(v, wavelet, levels), threshold), wavelet, levels)

    def update(x, state):
        z, t = state
        x_new = prox(z - step * (operator.normal(z) - rhs))
        t_new = (1.0 + tf.sqrt(1.0 + 4.0 * t * t)) / 2.0
        return x_new, (x_new + tf.cast((t - 1.0) / t_new, x.dtype) * (x_new - x), t_new)

    zeros = tf.zeros_like(rhs)
    image = problem.iterate(update, zeros, (zeros, tf.constant(1.0, real)), max_iter, tol)
    return image * problem.per_batch(scale, image)
