"""Data-consistency (DC) layers of unrolled networks (review Sec. II, Eqs. 6-9, and Sec. III-A/D).

Each layer enforces agreement of an image with the measured k-space ``y``. The encoding operator ``E = M F C`` is
rebuilt inside ``call`` from the call's inputs (sampling mask or trajectory, sensitivities) by
:func:`tfmri_zoo.physics.operators.make_operator`; it is never passed in as a Python callable, so the layers
serialise.

Common call arguments (2D; ``spatial_rank=3`` adds a depth axis, ``extra`` axes such as time are carried along):
  image          complex ``[B, *extra, H, W]`` — the current estimate (``x`` or the regulariser output ``z``)
  kspace         complex ``[B, C, *extra, H, W]`` — the measured k-space ``y`` (zero where not sampled)
  sampling_mask  float32/bool, broadcastable to ``kspace``, e.g. ``[B, 1, 1, W]`` (named ``sampling_mask`` because
                 Keras reserves a call argument called ``mask`` for its own masking machinery); for non-Cartesian
                 data the sampling dict ``{"trajectory": [B, M, 2], "density": [B, M]}`` of
                 :mod:`tfmri_zoo.physics.operators` (then ``kspace`` is ``[B, C, *extra, M]``; the gradient, proximal
                 and ADMM layers accept it, the k-space replacement layers are Cartesian only)
  sensitivities  complex ``[B, C, *extra, H, W]``, or ``None`` for single-coil data (``C = 1``)

Layers:
  * :class:`KSpaceReplacement`       ``F⁻¹[(1−m)·k + m·y]`` with ``k = F C x`` (hard replacement, noiseless data)
  * :class:`SoftKSpaceReplacement`   ``F⁻¹[(1−m)·k + m·(k + νy)/(1 + ν)]`` (noise-weighted, ν ≥ 0 trainable)
  * :class:`GradientDC`              ``x − λ Eᴴ(Ex − y)`` (Eq. 6, 19; λ ≥ 0 trainable)
  * :class:`ProximalL2DC`            ``(EᴴE + λI)⁻¹(Eᴴy + λz)`` by a fixed number of CG iterations (Eq. 8, 21)
  * :class:`SingleCoilProximalDC`    the same, closed form for one coil: ``F⁻¹[(m·y + λ F z)/(m + λ)]``
  * :class:`ADMMStep`                x-update and dual update of ADMM (Eq. 9)

For multi-coil data the replacement layers go through coil images and combine with ``Cᴴ``; with sensitivities
normalised to ``Σ_c |S_c|² = 1`` a fully sampled noiseless ``y = E x`` is left unchanged by every layer.

Non-negative weights (λ, ν, ρ, η) are stored as real variables ``w`` and used as ``softplus(w)``, so they stay ≥ 0
whatever the optimiser does. Pass ``dtype="float64"`` to a layer to compute in ``complex128`` (gradient checks).
"""
import math

import keras
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.fft import fftnc, ifftnc
from tfmri_zoo.physics.noise import noise_adaptive_weight
from tfmri_zoo.physics.operators import make_operator, operator_kind
from tfmri_zoo.physics.sampling import acceleration_table_lookup, mask_acceleration


def inverse_softplus(value):
    """The raw weight ``w`` with ``softplus(w) = value``: how the DC layers store a trainable ``λ ≥ 0``.

    Args:
      value: Python float > 0 (the initial ``λ``).

    Returns:
      Python float ``w = value + log(1 − exp(−value))``.
    """
    if value <= 0:
        raise ValueError(f"initial value: expected > 0 for a softplus-parameterised weight, got {value}.")
    return value + math.log(-math.expm1(-value))


class DataConsistency(keras.layers.Layer):
    """Base: complex dtype handling, operator construction and non-negative trainable scalars.

    Args:
      spatial_rank: number of trailing FFT axes, 2 or 3.
      **kwargs: Keras layer arguments (``dtype="float64"`` computes in complex128).
    """

    def __init__(self, spatial_rank=2, **kwargs):
        super().__init__(**kwargs)
        if spatial_rank not in (2, 3):
            raise ValueError(f"spatial_rank: expected 2 or 3, got {spatial_rank!r}.")
        self.spatial_rank = int(spatial_rank)

    @property
    def complex_dtype(self):
        """``complex128`` when the layer computes in float64, else ``complex64``."""
        return tf.complex128 if tf.as_dtype(self.compute_dtype) == tf.float64 else tf.complex64

    def add_nonnegative(self, name, initial, trainable=True):
        """A real scalar variable ``w`` initialised so that ``softplus(w) = initial``."""
        return self.add_weight(name=name, shape=(), initializer=keras.initializers.Constant(inverse_softplus(initial)),
                               trainable=trainable)

    def nonnegative(self, variable):
        """``softplus(variable)`` as a complex scalar of the compute dtype."""
        value = tf.math.softplus(tf.cast(variable, self.complex_dtype.real_dtype))
        return tf.complex(value, tf.zeros_like(value))

    def operator(self, sampling_mask, sensitivities):
        """``E`` for this call: ``M F C`` for a mask (``None`` gives the unmasked ``F C``), ``A C`` (NUFFT) for a
        non-Cartesian sampling dict."""
        return make_operator(sampling_mask, sensitivities, spatial_rank=self.spatial_rank, dtype=self.complex_dtype)

    def as_image(self, image, name="image"):
        """Validates and casts a complex image argument."""
        image = validation.as_complex(image, name, self.complex_dtype)
        if image.shape.rank is not None and image.shape.rank < self.spatial_rank + 1:
            raise ValueError(f"{name}: expected rank >= {self.spatial_rank + 1} [batch, *extra, *spatial], "
                             f"got shape {image.shape}.")
        return image

    def as_kspace(self, kspace, sampling_mask=None):
        """Validates and casts the measured k-space (``[B, C, *extra, M]`` for a non-Cartesian sampling dict)."""
        kspace = validation.as_complex(kspace, "kspace", self.complex_dtype)
        cartesian = operator_kind(sampling_mask) == "cartesian"
        rank = self.spatial_rank + 2 if cartesian else 3
        if kspace.shape.rank is not None and kspace.shape.rank < rank:
            layout = "[batch, coils, *extra, *spatial]" if cartesian else "[batch, coils, *extra, M]"
            raise ValueError(f"kspace: expected rank >= {rank} {layout}, got shape {kspace.shape}.")
        return kspace

    def get_config(self):
        return {**super().get_config(), "spatial_rank": self.spatial_rank}


class _Replacement(DataConsistency):
    """``x → Cᴴ F⁻¹[k + m·w·(y − k)]`` with ``k = F C x`` and a weight ``w ∈ [0, 1]`` given by subclasses."""

    def replacement_weight(self):
        raise NotImplementedError

    def call(self, image, kspace, sampling_mask, sensitivities=None):
        if operator_kind(sampling_mask) != "cartesian":
            raise ValueError(f"sampling_mask: {type(self).__name__} replaces Cartesian k-space samples; for "
                             "non-Cartesian data use GradientDC or ProximalL2DC.")
        image, kspace = self.as_image(image), self.as_kspace(kspace)
        full = self.operator(None, sensitivities)
        mask = validation.as_mask(sampling_mask, "sampling_mask", self.complex_dtype)
        validation.check_broadcastable(mask, kspace.shape, "sampling_mask", "kspace")
        k = full.forward(image)
        return full.adjoint(k + mask * self.replacement_weight() * (kspace - k))


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class KSpaceReplacement(_Replacement):
    """Hard data consistency: sampled k-space locations of ``F C x`` are replaced by ``y`` (Sec. III-A).

    Call args: ``image, kspace, sampling_mask, sensitivities=None`` (see module docstring).

    Returns:
      complex ``[B, *extra, H, W]``.
    """

    def replacement_weight(self):
        return tf.ones((), self.complex_dtype)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SoftKSpaceReplacement(_Replacement):
    """Noise-weighted replacement ``(1−m)·k + m·(k + νy)/(1 + ν)`` with trainable ``ν ≥ 0``.

    Args:
      noise_weight: initial ``ν`` (> 0); large ``ν`` approaches hard replacement (noiseless data).
      trainable_weight: whether ``ν`` is trained.

    Call args: ``image, kspace, sampling_mask, sensitivities=None``. Returns complex ``[B, *extra, H, W]``.
    """

    def __init__(self, noise_weight=1.0, trainable_weight=True, **kwargs):
        super().__init__(**kwargs)
        self.noise_weight = float(noise_weight)
        self.trainable_weight = bool(trainable_weight)
        self.nu = self.add_nonnegative("nu", self.noise_weight, self.trainable_weight)

    def replacement_weight(self):
        nu = self.nonnegative(self.nu)
        return nu / (1 + nu)

    def get_config(self):
        return {**super().get_config(), "noise_weight": self.noise_weight,
                "trainable_weight": self.trainable_weight}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class GradientDC(DataConsistency):
    """Gradient step on the data term, ``x − λ Eᴴ(Ex − y)`` (Eq. 6, 19), with trainable ``λ ≥ 0``.

    Args:
      lam: initial ``λ`` (> 0), trainable and ≥ 0.
      trainable_lam: whether ``λ`` is trained.

    Call args: ``image, kspace, sampling_mask, sensitivities=None``. Returns complex ``[B, *extra, H, W]``.
    """

    def __init__(self, lam=1.0, trainable_lam=True, **kwargs):
        super().__init__(**kwargs)
        self.lam_init = float(lam)
        self.trainable_lam = bool(trainable_lam)
        self.lam = self.add_nonnegative("lam", self.lam_init, self.trainable_lam)

    def call(self, image, kspace, sampling_mask, sensitivities=None):
        image, kspace = self.as_image(image), self.as_kspace(kspace, sampling_mask)
        op = self.operator(sampling_mask, sensitivities)
        return image - self.nonnegative(self.lam) * op.adjoint(op.forward(image) - kspace)

    def get_config(self):
        return {**super().get_config(), "lam": self.lam_init, "trainable_lam": self.trainable_lam}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ProximalL2DC(DataConsistency):
    """Proximal ℓ2 step ``argmin_x ‖Ex − y‖² + λ‖x − z‖² = (EᴴE + λI)⁻¹(Eᴴy + λz)`` (Eq. 8, MoDL Eq. 21).

    Solved by exactly ``cg_iterations`` conjugate-gradient iterations started at ``z`` (the package's one CG,
    :func:`tfmri_zoo.physics.cg.conjugate_gradient`); gradients flow through the unrolled iterations.

    Noise-adaptive (``noise_lam`` not ``None``): ``λ = λ₀ + ν·σ̂²`` per example, with ``σ̂`` the k-space noise level
    of the call (``noise_std``, e.g. :func:`tfmri_zoo.physics.kspace_noise_std`) and ``ν ≥ 0`` trainable. This is the
    MAP weighting of ``‖Ex − y‖²/σ² + ‖x − z‖²/τ²`` (``λ = σ²/τ²``): the noisier the data, the more the step trusts
    ``z``; for clean data it keeps ``λ₀``.

    Args:
      lam: initial ``λ`` (> 0), trainable and ≥ 0 (``λ₀`` when noise-adaptive).
      cg_iterations: number of CG iterations.
      trainable_lam: whether ``λ`` (and ``ν``) are trained.
      noise_lam: ``None`` (a fixed λ) or the initial ``ν`` (> 0) of the noise-adaptive weight.
      calibration: ``None``, or a table of weights per acceleration chosen on validation slices
        (:func:`tfmri_zoo.training.calibration.set_calibration`): ``{"accelerations": [R₁ < … < R_K], "lam": [λ₀ per
        R], "noise_lam": [ν per R] or None}`` (``noise_lam`` exactly when the step is noise-adaptive). Each example's
        ``λ₀`` (and ``ν``) is then read at its mask's acceleration ``R = 1/(sampled fraction)``
        (:func:`tfmri_zoo.physics.mask_acceleration`; power law between entries, the end values beyond them) instead
        of the trained ``λ₀, ν``; Cartesian masks only. One model so serves every acceleration with its own weight.

    Call args: ``image`` (= ``z``; ``None`` for the Tikhonov CG-SENSE solution ``(EᴴE + λI)⁻¹Eᴴy``),
    ``kspace, sampling_mask, sensitivities=None``, ``noise_std`` (float32 ``[B]``; required when noise-adaptive,
    ignored otherwise).
    Returns complex ``[B, *extra, H, W]``.
    """

    def __init__(self, lam=0.05, cg_iterations=10, trainable_lam=True, noise_lam=None, calibration=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cg_iterations, int) or cg_iterations < 1:
            raise ValueError(f"cg_iterations: expected a positive int, got {cg_iterations!r}.")
        self.lam_init = float(lam)
        self.cg_iterations = cg_iterations
        self.trainable_lam = bool(trainable_lam)
        self.lam = self.add_nonnegative("lam", self.lam_init, self.trainable_lam)
        self.noise_lam_init = None if noise_lam is None else float(noise_lam)
        if self.noise_lam_init is not None:
            if self.noise_lam_init <= 0:
                raise ValueError(f"noise_lam: expected None or a positive number, got {noise_lam!r}.")
            self.noise_lam = self.add_nonnegative("noise_lam", self.noise_lam_init, self.trainable_lam)
        self.calibration = None
        self.set_calibration(calibration)

    def set_calibration(self, calibration):
        """Validates and sets the ``calibration`` table (see the class docstring; ``None`` removes it). A model
        traced before keeps its old weights in that trace: rebuild or reload it (the table is in the config).

        Raises:
          ValueError: not such a table (increasing positive accelerations, positive weights of the same length,
            ``noise_lam`` given exactly when the step is noise-adaptive).
        """
        if calibration is None:
            self.calibration = None
            return
        expected = ('{"accelerations": [R1 < R2 < ...], "lam": [positive, one per R], "noise_lam": '
                    + ('[positive, one per R]}' if self.noise_lam_init is not None else 'None}'))
        if not isinstance(calibration, dict) or set(calibration) != {"accelerations", "lam", "noise_lam"}:
            raise ValueError(f"calibration: expected {expected}, got {calibration!r}.")

        def floats(key):
            values = calibration[key]
            ok = (isinstance(values, (list, tuple)) and len(values) > 0 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
                for v in values))
            return [float(v) for v in values] if ok else None

        table = {"accelerations": floats("accelerations"), "lam": floats("lam"),
                 "noise_lam": None if calibration["noise_lam"] is None else floats("noise_lam")}
        count = len(table["accelerations"] or [])
        if (not count or table["accelerations"] != sorted(set(table["accelerations"]))
                or len(table["lam"] or []) != count
                or (table["noise_lam"] is None) != (self.noise_lam_init is None)
                or (table["noise_lam"] is not None and len(table["noise_lam"]) != count)):
            raise ValueError(f"calibration: expected {expected}, got {calibration!r}.")
        self.calibration = table

    def solve(self, z, kspace, op, lam):
        """``(EᴴE + lam·I)⁻¹(Eᴴy + lam·z)`` for the operator ``op`` (the protocol of
        :mod:`tfmri_zoo.physics.operators`), CG started at ``z``; ``lam`` a complex scalar or ``[B, 1, ..., 1]``.
        ``z=None``: no prior point, the Tikhonov solution ``(EᴴE + lam·I)⁻¹Eᴴy`` (CG-SENSE) started at zero."""
        rhs = op.adjoint(kspace) if z is None else op.adjoint(kspace) + lam * z
        return conjugate_gradient(lambda v: op.normal(v) + lam * v, rhs, x0=z, max_iter=self.cg_iterations)

    def weight(self, noise_std, rank, sampling_mask=None):
        """The λ of this call: the complex scalar ``λ₀``, or ``λ₀ + ν·σ̂²`` as complex ``[B, 1, ..., 1]`` (``rank``);
        with a ``calibration`` table, ``λ₀`` and ``ν`` per example at ``sampling_mask``'s acceleration."""
        if self.noise_lam_init is not None and noise_std is None:
            raise ValueError(f"noise_std: {self.name} is noise-adaptive (noise_lam set) and needs the k-space noise "
                             "level float32 [B] of the call (tfmri_zoo.physics.kspace_noise_std).")
        if self.calibration is None:
            lam = self.nonnegative(self.lam)
            nu = None if self.noise_lam_init is None else tf.math.real(self.nonnegative(self.noise_lam))
        else:
            lam, nu = self.calibrated_weights(sampling_mask, rank)
        return lam if nu is None else noise_adaptive_weight(lam, nu, noise_std, rank)

    def calibrated_weights(self, sampling_mask, rank):
        """``(λ₀, ν)`` of the ``calibration`` table at each example's mask acceleration: complex and real
        ``[B, 1, ..., 1]`` (``rank`` axes; ``ν`` ``None`` for a fixed-λ step)."""
        if sampling_mask is None or operator_kind(sampling_mask) != "cartesian":
            raise ValueError(f"sampling_mask: {self.name} has a calibration table keyed by the acceleration of a "
                             f"Cartesian mask; got {'no mask' if sampling_mask is None else 'non-Cartesian sampling'} "
                             "(remove the table: set_calibration(None)).")
        real = self.complex_dtype.real_dtype
        acceleration = mask_acceleration(sampling_mask)
        shape = [-1] + [1] * (int(rank) - 1)
        table = self.calibration
        lookup = lambda values: tf.reshape(tf.cast(acceleration_table_lookup(  # noqa: E731
            acceleration, table["accelerations"], values), real), shape)
        lam = lookup(table["lam"])
        return (tf.complex(lam, tf.zeros_like(lam)),
                None if table["noise_lam"] is None else lookup(table["noise_lam"]))

    def call(self, image, kspace, sampling_mask, sensitivities=None, noise_std=None):
        kspace = self.as_kspace(kspace, sampling_mask)
        if image is None:   # CG-SENSE: the image rank is k-space's minus the coil axis (Cartesian) or M → spatial axes
            z, rank = None, kspace.shape.rank - 1 + (
                0 if operator_kind(sampling_mask) == "cartesian" else self.spatial_rank - 1)
        else:
            z = self.as_image(image)
            rank = z.shape.rank
        return self.solve(z, kspace, self.operator(sampling_mask, sensitivities),
                          self.weight(noise_std, rank, sampling_mask))

    def get_config(self):
        return {**super().get_config(), "lam": self.lam_init, "cg_iterations": self.cg_iterations,
                "trainable_lam": self.trainable_lam, "noise_lam": self.noise_lam_init,
                "calibration": self.calibration}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SingleCoilProximalDC(DataConsistency):
    """Closed-form proximal ℓ2 step for single-coil Cartesian data: ``F⁻¹[(m·y + λ F z)/(m + λ)]``.

    Args:
      lam: initial ``λ`` (> 0), trainable and ≥ 0.
      trainable_lam: whether ``λ`` is trained.

    Call args:
      image: complex ``[B, *extra, H, W]`` (``z``).
      kspace: complex ``[B, 1, *extra, H, W]``.
      sampling_mask: float32/bool broadcastable to ``kspace``.

    Returns complex ``[B, *extra, H, W]``.
    """

    def __init__(self, lam=0.05, trainable_lam=True, **kwargs):
        super().__init__(**kwargs)
        self.lam_init = float(lam)
        self.trainable_lam = bool(trainable_lam)
        self.lam = self.add_nonnegative("lam", self.lam_init, self.trainable_lam)

    def call(self, image, kspace, sampling_mask):
        z, kspace = self.as_image(image), self.as_kspace(kspace)
        if kspace.shape[1] is not None and kspace.shape[1] != 1:
            raise ValueError(f"kspace: single-coil layer expects 1 coil on axis 1, got shape {kspace.shape}.")
        mask = validation.as_mask(sampling_mask, "sampling_mask", self.complex_dtype)
        validation.check_broadcastable(mask, kspace.shape, "sampling_mask", "kspace")
        axes = tuple(range(-self.spatial_rank, 0))
        lam = self.nonnegative(self.lam)
        k = (mask * kspace + lam * tf.expand_dims(fftnc(z, axes), 1)) / (mask + lam)
        return ifftnc(k[:, 0], axes)

    def get_config(self):
        return {**super().get_config(), "lam": self.lam_init, "trainable_lam": self.trainable_lam}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ADMMStep(ProximalL2DC):
    """ADMM data step (Eq. 9, scaled form) for ``min ½‖Ex − y‖² + R(z)`` s.t. ``x = z``.

    Given the regulariser's output ``z`` and the scaled dual ``u``:
      ``x = (EᴴE + ρI)⁻¹(Eᴴy + ρ(z − u))`` (CG, as :class:`ProximalL2DC`) and ``u ← u + η(x − z)``.
    ``ρ ≥ 0`` (``lam``) and the dual step ``η ≥ 0`` are trainable. The regulariser step ``z = D(x + u)`` lies
    outside this layer. Noise-adaptive (``noise_lam`` set): ``ρ = ρ₀ + ν·σ̂²`` per example, as in
    :class:`ProximalL2DC`.

    Args:
      lam: initial penalty ``ρ`` (``ρ₀`` when noise-adaptive).
      dual_step: initial ``η`` (1 is plain ADMM).
      cg_iterations: CG iterations of the x-update.
      dual_update: ``False`` for a final stage whose dual is not used: returns ``u`` unchanged and has no ``η``.
      noise_lam: ``None`` (a fixed ρ) or the initial ``ν`` (> 0) of the noise-adaptive penalty.

    Call args: ``z, u`` complex ``[B, *extra, H, W]``, then ``kspace, sampling_mask, sensitivities=None``,
    ``noise_std`` (float32 ``[B]``; required when noise-adaptive, ignored otherwise).

    Returns:
      ``(x, u)`` complex ``[B, *extra, H, W]`` each.
    """

    def __init__(self, lam=0.05, dual_step=1.0, cg_iterations=10, dual_update=True, noise_lam=None, **kwargs):
        super().__init__(lam=lam, cg_iterations=cg_iterations, noise_lam=noise_lam, **kwargs)
        self.dual_step, self.dual_update = float(dual_step), bool(dual_update)
        self.eta = self.add_nonnegative("eta", self.dual_step) if self.dual_update else None

    def call(self, z, u, kspace, sampling_mask, sensitivities=None, noise_std=None):
        z, u, kspace = self.as_image(z, "z"), self.as_image(u, "u"), self.as_kspace(kspace, sampling_mask)
        rho = self.weight(noise_std, z.shape.rank, sampling_mask)
        x = self.solve(z - u, kspace, self.operator(sampling_mask, sensitivities), rho)
        return x, (u + self.nonnegative(self.eta) * (x - z) if self.dual_update else u)

    def get_config(self):
        return {**super().get_config(), "dual_step": self.dual_step, "dual_update": self.dual_update}
