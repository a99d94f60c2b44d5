"""ℓ1-wavelet compressed sensing (Eq. 4 of the review) by FISTA, the accelerated proximal gradient of Eq. 7, with
translation-invariant (cycle-spinning) wavelet regularisation as in BART ``pics -l1``.

Minimises ``½‖y − E x‖² + λ‖Ψ x‖₁`` with ``Ψ`` an orthogonal periodic Daubechies wavelet transform
(:mod:`tfmri_zoo.recon.wavelets`). As ``Ψ`` is orthogonal, ``prox_{αλ‖Ψ·‖₁}(v) = Ψᴴ soft(Ψ v, αλ)`` exactly, with
complex soft-thresholding ``soft(c, τ) = c · max(|c| − τ, 0) / |c|``. ``λ`` is absolute (see
:mod:`tfmri_zoo.recon.problem` for the internal rescaling).

Defaults follow BART ``pics -l1`` (v0.8; its wavelet transform probed with ``bart wavelet`` and ``bart threshold
-W``): Daubechies-2 (4 taps), levels down to a coarsest band of 8–15 pixels per side
(:func:`~tfmri_zoo.recon.wavelets.coarse_levels`), the coarsest band thresholded too. BART's transform is a
boundary-extended Parseval frame rather than our periodic orthogonal basis; with cycle spinning both reach the same
quality (above). Leaving the coarse band unthresholded (``threshold_coarse=False``) makes no difference at 4
levels but cost ~0.4 dB at 3 levels and R = 8 (80² Shepp-Logan) in that comparison.

FISTA (Beck & Teboulle 2009): ``x_{k+1} = P_k(z_k − α Eᴴ(E z_k − y))``, ``t_{k+1} = (1 + √(1 + 4t_k²))/2``,
``z_{k+1} = x_{k+1} + ((t_k − 1)/t_{k+1})(x_{k+1} − x_k)``, step ``α = 1/L``, ``L = ‖EᴴE‖`` by power iteration, or a
given ``step_size`` (e.g. 1, or BART's default 0.95, when the maps satisfy ``Σ|S|² ≤ 1`` and the mask is binary so
that ``‖E‖ ≤ 1``).

Cycle spinning (``cycle_spinning=True``, the default): a decimated wavelet transform is not shift invariant, so the
fixed-grid prox leaves blocky artefacts aligned with the dyadic grid. Iteration ``k`` uses
``P_k(v) = T_{−s_k} prox(T_{s_k} v)``, ``T_s`` the circular shift by ``s_k = (s_h, s_w)`` drawn uniformly from
``[0, 2^levels)²`` (shifts by multiples of ``2^levels`` only permute the coefficients of a periodic transform and
change nothing). Over the iterations this regularises with the average of the shifted wavelet norms, a translation
invariant prior (Coifman & Donoho 1995; Figueiredo & Nowak 2003), at the cost of two rolls per iteration. The shifts
come from a stateless generator keyed by ``(seed, k)``: results are reproducible, identical in eager, graph and XLA
modes, and shared by every batch element (so batch elements stay independent of each other). Measured against BART
``pics -l1`` (which draws a random shift every iteration) on ``bart phantom`` data, each at its best λ and 100
iterations: 0.0–0.4 dB above BART at 144² (R = 4 and 8), within −0.15 … +0.3 dB at 80²; ~5 dB below without it
(see benchmarks/classical.py and tests/recon/test_l1_bart.py). With cycle spinning the iterates are those of a
stochastic method: ``tol`` still stops the loop, but the relative update levels off near the size of the
shift-to-shift variation rather than going to zero.

Support: pixels where every coil map is zero (outside the ESPIRiT support) lie in the null space of ``E``; the data
say nothing there and the wavelet prior alone would fill them with values spread from the object's edges, which
grow with the iterations (measured on radial brain data at 128²: SSIM 0.91 → 0.88 from 60 to 200 iterations, while
the SENSE target is 0 there). The iterate is therefore kept at 0 outside the support (a projection after each prox;
SSIM 0.996, +2 dB on that slice). CG-SENSE is 0 there by construction; BART ``pics`` does not project.

Prior image (``prior``, ``prior_weight`` μ > 0): minimises ``½‖y − E x‖² + ½μ‖x − x_p‖² + λ‖Ψ x‖₁``, a
prior-image ("PICCS"-like) compressed sensing in which ``x_p`` is, e.g., a learned model's reconstruction. Both parts
are limits of it: μ = 0 is the ℓ1-wavelet objective above, λ = 0 the Tikhonov data-consistency step
``(EᴴE + μI)⁻¹(Eᴴy + μ x_p)`` toward ``x_p``, μ → ∞ the prior itself. The gradient gains ``μ(x − x_p)`` and ``L``
gains μ. FISTA starts at ``x_p`` (instead of 0): for μ > 0 the objective is strongly convex and its minimiser does not
depend on the start; at μ = 0 with a finite ``max_iter`` the start still shapes the image. With λ and μ chosen on
validation data (:func:`tfmri_zoo.training.prior_l1.choose_prior_l1`), a learned image that is unsure on an object
unlike its training data (piecewise-constant phantoms, empty background) gives way to the sparsity prior.

Speed: ``EᴴE`` is the operator's ``normal`` (:class:`~tfmri_zoo.physics.sense.SenseOperator`): no ``fftshift``
copies of the coil images, and a 1D FFT pair along ``W`` when the mask is constant along ``H`` (Cartesian lines).
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.recon import problem
from tfmri_zoo.recon.wavelets import coarse_levels, wavedec2, waverec2


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


def coarse_mask(shape, levels):
    """Where the wavelet threshold applies: float32 ``[H, W]``, 0 on the coarsest approximation block (the top-left
    ``[H >> levels, W >> levels]`` of the decomposition layout), 1 elsewhere.

    Args:
      shape: ``(H, W)`` Python ints.
      levels: number of decomposition levels.
    """
    h, w = shape
    keep = tf.ones([h >> levels, w >> levels])
    return 1.0 - tf.pad(keep, [[0, h - (h >> levels)], [0, w - (w >> levels)]])


def random_shifts(seed, iteration, period):
    """The cycle-spinning shift of one iteration: int32 ``[2]`` (height, width), uniform in ``[0, period)``.

    Args:
      seed: Python int.
      iteration: int32 scalar tensor (the iteration index ``k``).
      period: Python int, ``2**levels``.
    """
    key = tf.stack([tf.constant(seed, tf.int32), tf.cast(iteration, tf.int32)])
    return tf.random.stateless_uniform([2], seed=key, minval=0, maxval=period, dtype=tf.int32)


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def l1_wavelet(kspace, mask=None, sensitivities=None, *, lam, max_iter=50, wavelet="db2", levels=None, tol=None,
               step_size=None, threshold_coarse=True, power_iterations=20, cycle_spinning=True, seed=0, prior=None,
               prior_weight=0.0):
    """ℓ1-wavelet reconstruction of 2D multi-coil Cartesian data by FISTA.

    Args:
      kspace: complex ``[B, C, H, W]`` k-space (static ``H``, ``W``).
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      lam: ℓ1 weight λ ≥ 0 (absolute, in data units; the same value as BART ``pics -l1 -r λ -w 1``).
      max_iter: FISTA iterations (exactly this many when ``tol`` is None).
      wavelet: "db1" … "db4" (default "db2", the 4-tap Daubechies wavelet BART uses).
      levels: decomposition levels (default: :func:`~tfmri_zoo.recon.wavelets.coarse_levels`, BART's choice: the
        coarsest band keeps at least 8 pixels per side, e.g. 3 levels at 80², 4 at 144², 5 at 256²).
      tol: ``None`` or the relative update ``‖x_{k+1} − x_k‖ / ‖x_{k+1}‖`` below which all batch elements stop.
      step_size: ``None`` for ``1/L`` by power iteration, or a positive number.
      threshold_coarse: also threshold the coarsest approximation band (Eq. 4 read literally, and BART's choice);
        ``False`` leaves it unregularised.
      power_iterations: power iterations for ``L``.
      cycle_spinning: translation-invariant regularisation by a new random circular shift of the wavelet grid at
        every iteration (see the module docstring); ``False`` for the plain fixed-grid ℓ1-wavelet prox.
      seed: int seed of the shifts (results are deterministic for a given seed).
      prior: ``None`` or a complex ``[B, H, W]`` prior image ``x_p`` in the returned image's units (e.g. a learned
        model's output for the same k-space); see the module docstring.
      prior_weight: μ ≥ 0, the weight of ``½μ‖x − x_p‖²`` (dimensionless: relative to ``EᴴE``, whose largest
        eigenvalue is 1 for normalised maps and a binary mask); needs ``prior`` when positive. With a ``prior``, also
        a float32 tensor ``[B]`` of one μ per example (taken as it is, e.g. from a model's table:
        :class:`tfmri_zoo.layers.PriorL1Step`).

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.

    Raises:
      ValueError: a negative ``lam``, bad ``max_iter``/``tol``/``step_size``, an unknown ``wavelet``, ``levels``
        too many for the image size, a ``cycle_spinning`` that is not a bool, a negative ``prior_weight``, a
        positive one without ``prior``, or a ``prior`` whose shape is not ``[B, H, W]`` of the k-space.
      TypeError: a real ``prior``.
    """
    if not isinstance(cycle_spinning, bool):
        raise ValueError(f"cycle_spinning: expected True or False, got {cycle_spinning!r}.")
    seed = validation.as_int(seed, "seed", minimum=0)
    if tf.is_tensor(prior_weight) and prior is not None:        # per example, e.g. from a model's table
        prior_weight = tf.reshape(tf.cast(prior_weight, tf.float32), [-1])
    else:
        prior_weight = validation.as_float(prior_weight, "prior_weight", minimum=0.0)
        if prior_weight > 0 and prior is None:
            raise ValueError(f"prior: a prior_weight of {prior_weight:g} needs a prior image (complex [B, H, W]).")
    operator, kspace, lam, rhs, scale = problem.prepare(kspace, mask, sensitivities, lam, max_iter, tol)
    shape = tuple(rhs.shape[-2:])
    if None in shape:
        raise ValueError(f"kspace: height and width must be static, got shape {kspace.shape}.")
    if levels is None:
        levels = coarse_levels(shape, wavelet)
    wavedec2(tf.zeros([1, *shape]), wavelet, levels)          # validates wavelet/levels before tracing the loop
    real = rhs.dtype.real_dtype
    normal = operator.normal
    if prior is not None:
        prior = validation.as_complex(prior, "prior", rhs.dtype)
        prior = validation.check_shapes_compatible(prior, rhs, "prior", "the image Eᴴy", equal_axes=(0, 1, 2))
        prior = prior / problem.per_batch(scale, rhs)
    prior_weight = tf.cast(prior_weight, real) * tf.ones_like(scale)        # μ per example, real [B]
    mu = problem.per_batch(prior_weight, rhs)
    step = problem.step_from(step_size, normal, rhs, prior_weight, power_iterations)
    # ℓ1 is 1-homogeneous: on data divided by s the weight is λ/s; the threshold is α·λ/s per batch element.
    threshold = tf.reshape(step * lam / scale, [-1, 1, 1])
    if not threshold_coarse:
        threshold = threshold * tf.cast(coarse_mask(shape, levels), real)
    step = problem.per_batch(step, rhs)

    def prox(v, iteration):
        if not cycle_spinning:
            return waverec2(soft_threshold(wavedec2(v, wavelet, levels), threshold), wavelet, levels)
        shift = random_shifts(seed, iteration, 1 << levels)     # the wavelet grid sees v rolled by the shift
        v = tf.roll(v, shift, axis=[-2, -1])
        v = waverec2(soft_threshold(wavedec2(v, wavelet, levels), threshold), wavelet, levels)
        return tf.roll(v, -shift, axis=[-2, -1])

    support = operator.support()            # x = 0 where the maps are 0 (E's null space), see SenseOperator.support
    support = None if support is None else tf.cast(support, rhs.dtype)

    def gradient(z):
        residual = normal(z) - rhs
        return residual if prior is None else residual + mu * (z - prior)

    def update(x, state):
        z, t, iteration = state
        x_new = prox(z - step * gradient(z), iteration)
        if support is not None:
            x_new = x_new * support
        t_new = (1.0 + tf.sqrt(1.0 + 4.0 * t * t)) / 2.0
        return x_new, (x_new + tf.cast((t - 1.0) / t_new, x.dtype) * (x_new - x), t_new, iteration + 1)

    start = tf.zeros_like(rhs) if prior is None else prior * (1 if support is None else support)
    state = (start, tf.constant(1.0, real), tf.constant(0, tf.int32))
    image = problem.iterate(update, start, state, max_iter, tol)
    return image * problem.per_batch(scale, image)
