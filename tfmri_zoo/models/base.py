"""``ReconModel``: the base class of every zoo model.

Every zoo model is called as ``model({"kspace": k, "mask": m, "sensitivities": s})`` and returns the complex image.

  kspace         complex64 ``[B, C, *extra, H, W]`` (``extra`` = () for 2D models, (T,) for 2D+t)
  mask           float32/bool, broadcastable to kspace, e.g. ``[B, 1, 1, W]`` (2D) or ``[B, 1, T, 1, W]`` (2D+t)
  sensitivities  complex64, kspace's layout (``extra`` axes may be 1); absent or ``None`` for single-coil data
  → image        complex64 ``[B, *extra, H, W]``

A model built with ``operator="nufft"`` (where its method allows it: the class attribute ``operators``) takes
non-Cartesian data instead, reconstructed through the NUFFT (:mod:`tfmri_zoo.physics.operators`):

  kspace         complex64 ``[B, C, M]``                M samples (e.g. golden-angle radial spokes × readout)
  trajectory     float32 ``[B, M, 2]``                  radians, ``[-π, π)`` per axis
  density        float32 ``[B, M]``, optional            density compensation weights
  sensitivities  complex64 ``[B, C, H, W]``, required    their static H, W give the image size

Scale normalisation lives inside the model: the k-space is divided by ``scale = max |Eᴴ y|`` per example before
``reconstruct`` and the image multiplied back after it, so ``f(c·y) = c·f(y)`` for any ``c > 0`` and raw scanner data
of any scale can be sent (the Keras model, its ``.keras`` file and its SavedModel behave the same). Subclasses
implement ``reconstruct(kspace, mask, sensitivities, training, noise_std)`` on normalised data and list their constructor
arguments in ``get_config``. Argument names follow the conventions table of docs/design.md (``iterations``, ``lam``,
``complex_network``, ``normalize``, ``extra_dims``/``spatial_rank``).
"""
import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.layers.prior_l1 import PriorL1Step
from tfmri_zoo.layers.recompute import unroll
from tfmri_zoo.physics.noise import kspace_noise_std
from tfmri_zoo.physics.operators import OPERATOR_KINDS, make_operator, plan_sampling
from tfmri_zoo.physics.sense import coil_support
from tfmri_zoo.recon.problem import data_scale

#: Inputs that are real (float32) tensors; every other input is complex64.
REAL_INPUTS = ("mask", "trajectory", "density")

#: The images a model can start its reconstruction from (``ReconModel(initial=...)``).
INITIAL_IMAGES = ("adjoint", "sense")

#: ``ReconModel.layouts`` of a 2D model (k-space ``[B, C, H, W]``) and of a 2D+t model (``[B, C, T, H, W]``).
LAYOUT_2D = {"extra_dims": (0,), "spatial_rank": (2,)}
LAYOUT_2DT = {"extra_dims": (1,), "spatial_rank": (2,)}


class ReconModel(keras.Model):
    """Base class: input parsing/validation, per-example scale normalisation, operator construction.

    Args:
      normalize: divide k-space by ``max |Eᴴy|`` per example (and multiply the output back). Keep ``True`` except for
        data that is already normalised.
      extra_dims: number of axes between the coil axis and the spatial axes (0 for 2D, 1 for 2D+t); ``None``: the
        model's first supported value.
      spatial_rank: number of spatial (FFT) axes, 2 or 3; ``None``: the model's first supported value.
      operator: the encoding, ``"cartesian"`` (mask inputs) or ``"nufft"`` (trajectory inputs, module docstring);
        a subclass lists the kinds its method allows in the class attribute ``operators``.
      recompute: memory-efficient training of an unrolled model — keep only each cascade's input and recompute the
        cascade in the backward pass (same values and gradients; peak memory nearly independent of ``iterations``,
        ``benchmarks/memory.py``). A subclass with ``unrolled = True`` writes its loop as steps and calls
        :meth:`unroll`; others refuse ``recompute=True``.
      initial: the image the network starts from (:meth:`initial_image`): ``"adjoint"`` — the zero-filled ``Eᴴy``
        (the papers' choice) — or ``"sense"`` — the Tikhonov CG-SENSE solution ``(EᴴE + λI)⁻¹Eᴴy`` (Eq. 3), so that
        the network refines the best linear reconstruction instead of undoing aliasing that the coils can already
        remove. A subclass lists the values it supports in the class attribute ``initials``.
      initial_lam: λ₀ of the CG-SENSE start, trainable and ≥ 0 (on the normalised data; λ is 2-homogeneous, so the
        same value holds at any data scale).
      initial_noise_lam: ``None`` (a fixed λ₀) or the initial ν of a noise-adaptive start ``λ = λ₀ + ν·σ̂²`` with
        ``σ̂`` the call's k-space noise level (:func:`tfmri_zoo.physics.kspace_noise_std`), trainable.
      initial_iterations: CG iterations of the CG-SENSE start (differentiated through, so λ₀ and ν are learned).
      final_dc: end with a noise-adaptive proximal data-consistency step on the network's image ``z``,
        ``x = (EᴴE + λI)⁻¹(Eᴴy + λz)`` with ``λ = λ₀ + ν·σ̂²`` (Eq. 8; MAP weighting of ``‖Ex − y‖²/σ² + ‖x − z‖²/τ²``):
        where the data are clean and well conditioned they win over the network's prior, and the noisier the
        call's data, the more the network's image is trusted. Models that support ``initial="sense"`` support it.
      final_lam: λ₀ of the final step, trainable and ≥ 0 (on the normalised data).
      final_noise_lam: ν of the final step (``None``: a fixed λ₀), trainable and ≥ 0. The defaults (λ₀ = 0.01,
        ν = 100) are the best pair of a sweep on validation brains for the shipped VN, U-Net and VarNet
        (``benchmarks/final_dc.py``).
      final_iterations: CG iterations of the final step (started at ``z``).
      final_calibration: ``None``, or the final step's table of ``(λ₀, ν)`` per mask acceleration chosen on
        validation slices (:class:`~tfmri_zoo.layers.data_consistency.ProximalL2DC`'s ``calibration``; set by
        :func:`tfmri_zoo.training.calibration.set_calibration`); needs ``final_dc``.
      prior_l1: ``None``, or a table of ``(λ, μ)`` per acceleration for a last step that takes the model's image
        (after ``final_dc``) as the prior of the ℓ1-wavelet reconstruction, ``½‖y − Ex‖² + ½μ‖x − z‖² + λ‖Ψx‖₁``
        (:class:`~tfmri_zoo.layers.PriorL1Step`; λ on the normalised data), chosen on validation slices by
        :func:`tfmri_zoo.training.calibrate_prior_l1`, set by :meth:`set_prior_l1`. Where the learned image is
        unsure (objects unlike its training data) the sparsity prior and the data take over; μ = ∞ keeps it. 2D
        Cartesian models that support ``final_dc``.
      prior_l1_iterations: FISTA iterations of that step.
      zero_outside_support: return 0 where every coil map is 0 (:func:`tfmri_zoo.physics.coil_support`): there the
        image lies in the null space of ``E`` and only the network's prior would speak — CG-SENSE and the
        ℓ1-wavelet return 0 there too, and so does the SENSE-combined reference. Measured on held-out brains with
        ESPIRiT maps (crop 0.8), shipped weights, R=4: SSIM +0.05 for VN, +0.005 for DEQ, +0.002 for MoDL, PSNR
        +0.01–0.1 dB (README, "Outside the coil support"). ``False`` keeps what the network returns there (for
        targets that are not 0 outside the maps, e.g. root-sum-of-squares images with background noise). Models
        that return an image honour it (``recon_seg``: its image); ``parameter_mapping`` returns parameter maps and
        ignores it.

    Every model either honours ``extra_dims``/``spatial_rank`` or refuses them: a subclass lists the values it
    supports in the class attribute ``layouts`` (``{"extra_dims": (0,), "spatial_rank": (2,)}`` for a 2D model), and
    any other value raises a ``ValueError`` naming the argument. ``layouts = None`` (the base class) accepts any
    ``extra_dims >= 0`` and ``spatial_rank`` 2 or 3, for generic subclasses whose ``reconstruct`` handles them.

    Raises:
      ValueError: ``extra_dims``, ``spatial_rank``, ``operator``, ``initial``, ``final_dc`` or ``prior_l1`` outside
        what the model supports (or a malformed ``prior_l1`` table), or ``recompute=True`` for a model without
        unrolled cascades.
    """

    #: ``{"extra_dims": (...), "spatial_rank": (...)}``: the layouts a subclass supports; ``None`` for any.
    layouts = None
    #: The encodings (``tfmri_zoo.physics.operators.OPERATOR_KINDS``) a subclass's method allows.
    operators = ("cartesian",)
    #: Why a Cartesian-only subclass is (shown when ``operator="nufft"`` is refused).
    cartesian_only_reason = "its method has not been written for non-Cartesian data"
    #: ``True`` for a model whose ``reconstruct`` runs its cascades through :meth:`unroll` (``recompute`` allowed).
    unrolled = False
    #: The ``initial`` images (:data:`INITIAL_IMAGES`) a subclass starts from through :meth:`initial_image`.
    initials = ("adjoint",)

    def __init__(self, normalize=True, extra_dims=None, spatial_rank=None, operator="cartesian", recompute=False,
                 initial="adjoint", initial_lam=0.01, initial_noise_lam=10.0, initial_iterations=10, final_dc=False,
                 final_lam=0.01, final_noise_lam=100.0, final_iterations=10, final_calibration=None,
                 prior_l1=None, prior_l1_iterations=100, zero_outside_support=True, **kwargs):
        super().__init__(**kwargs)
        self.normalize = bool(normalize)
        if recompute and not self.unrolled:
            raise ValueError(f"recompute: {type(self).__name__} has no unrolled cascades to recompute; use "
                             f"recompute=False.")
        self.recompute = bool(recompute)
        self.extra_dims = self._layout_value("extra_dims", extra_dims, range(0, 8))
        self.spatial_rank = self._layout_value("spatial_rank", spatial_rank, (2, 3))
        if operator not in OPERATOR_KINDS:
            raise ValueError(f"operator: expected one of {OPERATOR_KINDS}, got {operator!r}.")
        if operator not in self.operators:
            raise ValueError(f"operator: {type(self).__name__} supports {self.operators}, got {operator!r} "
                             f"({self.cartesian_only_reason}).")
        self.operator = operator
        if initial not in INITIAL_IMAGES or initial not in self.initials:
            raise ValueError(f"initial: {type(self).__name__} supports {self.initials}, got {initial!r}.")
        if final_dc and "sense" not in self.initials:
            raise ValueError(f"final_dc: {type(self).__name__} does not return the image of its encoding operator "
                             "(models that support initial='sense' do); use final_dc=False.")
        self.initial, self.initial_lam = initial, float(initial_lam)
        self.initial_noise_lam = None if initial_noise_lam is None else float(initial_noise_lam)
        self.initial_iterations = _positive_int(initial_iterations, "initial_iterations")
        self.initial_sense = (ProximalL2DC(lam=self.initial_lam, cg_iterations=self.initial_iterations,
                                           noise_lam=self.initial_noise_lam, spatial_rank=self.spatial_rank,
                                           name="initial_sense") if initial == "sense" else None)
        self.final_dc, self.final_lam = bool(final_dc), float(final_lam)
        self.final_noise_lam = None if final_noise_lam is None else float(final_noise_lam)
        self.final_iterations = _positive_int(final_iterations, "final_iterations")
        if final_calibration is not None and not self.final_dc:
            raise ValueError("final_calibration: a table for the final data-consistency step needs final_dc=True.")
        self.final_proximal = (ProximalL2DC(lam=self.final_lam, cg_iterations=self.final_iterations,
                                            noise_lam=self.final_noise_lam, calibration=final_calibration,
                                            spatial_rank=self.spatial_rank, name="final_dc") if self.final_dc else None)
        self.prior_l1_iterations = _positive_int(prior_l1_iterations, "prior_l1_iterations")
        self.prior_l1_step = PriorL1Step(None, self.prior_l1_iterations, name="prior_l1")
        self.set_prior_l1(prior_l1)
        self.zero_outside_support = bool(zero_outside_support)

    def set_prior_l1(self, table):
        """Sets (``None``: removes) the ``prior_l1`` table of the model's last step (see the class docstring). A model
        traced before keeps its old table in that trace (e.g. ``predict``'s: reset here); the config carries it.

        Raises:
          ValueError: a model that is not 2D Cartesian with ``initial="sense"`` support, or a malformed table.
        """
        if table is not None and ("sense" not in self.initials or self.operator != "cartesian"
                                  or (self.extra_dims, self.spatial_rank) != (0, 2)):
            raise ValueError(f"prior_l1: {type(self).__name__} (extra_dims={self.extra_dims}, spatial_rank="
                             f"{self.spatial_rank}, operator={self.operator!r}) has no prior-image ℓ1 step; it needs a "
                             "2D Cartesian model that returns the image of its encoding operator.")
        self.prior_l1_step.iterations = self.prior_l1_iterations
        self.prior_l1_step.set_table(table)
        for name in ("predict_function", "test_function", "train_function"):   # drop traces made with the old table
            if getattr(self, name, None) is not None:
                setattr(self, name, None)

    @classmethod
    def _layout_value(cls, key, value, generic):
        """``value`` of layout argument ``key`` checked against ``cls.layouts`` (``generic`` when ``None``)."""
        supported = tuple(generic if cls.layouts is None else cls.layouts[key])
        if value is None:
            return supported[0]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) not in supported:
            what = (f"{cls.__name__} supports {key} in {supported}" if cls.layouts is not None
                    else f"expected an int in {supported}")
            raise ValueError(f"{key}: {what}, got {value!r}.")
        return int(value)

    @property
    def kspace_rank(self):
        """Rank of the k-space input: ``[B, C, *extra, *spatial]``, or ``[B, C, *extra, M]`` for ``"nufft"``."""
        return 2 + self.extra_dims + (1 if self.operator == "nufft" else self.spatial_rank)

    def unroll(self, steps, state, *args):
        """``state ← step(state, *args)`` for each of ``steps`` (one per cascade), each recomputed in the backward
        pass when ``recompute`` is on (:func:`tfmri_zoo.layers.recompute.unroll`).

        ``state`` is a tensor (the image ``[B, *extra, H, W]``) or a nest (e.g. ADMM's ``(x, u)``). Every tensor a
        step needs a gradient for — k-space, mask or sampling dict, maps (estimated maps too), motion fields — is
        passed in ``args``, not bound by closure; Keras layers' variables are found automatically.
        """
        return unroll(steps, state, *args, recompute_steps=self.recompute)

    def make_operator(self, sampling, sensitivities, dtype=tf.complex64):
        """The encoding operator of this call: ``M F C`` for a mask, ``A C`` (NUFFT) for a sampling dict
        ``{"trajectory", "density"}`` (:func:`tfmri_zoo.physics.operators.make_operator`)."""
        return make_operator(sampling, sensitivities, spatial_rank=self.spatial_rank, dtype=dtype)

    def uses_noise_level(self):
        """Whether a call needs σ̂ (:meth:`noise_level`): a noise-adaptive CG-SENSE start or final step, or the
        model's own noise-adaptive weights (a ``noise_lam`` attribute that is not ``None``)."""
        return ((self.initial_sense is not None and self.initial_noise_lam is not None)
                or (self.final_proximal is not None and self.final_noise_lam is not None)
                or getattr(self, "noise_lam", None) is not None)

    def noise_level(self, kspace, mask, noise_std=None):
        """σ̂, the call's k-space noise level float32 ``[B]`` (:func:`tfmri_zoo.physics.kspace_noise_std`), held
        constant for the gradient; ``noise_std`` — σ̂ already estimated for this call — is returned as it is.
        :meth:`call` estimates it once (when :meth:`uses_noise_level`) and hands it to ``reconstruct`` and
        :meth:`final_image`."""
        if noise_std is not None:
            return noise_std
        return tf.stop_gradient(kspace_noise_std(kspace, mask))

    def initial_image(self, kspace, mask, sensitivities, noise_std=None):
        """The image the reconstruction starts from (``initial``), complex ``[B, *extra, *spatial]``: ``Eᴴy``, or the
        CG-SENSE solution ``(EᴴE + λI)⁻¹Eᴴy`` (CG started at zero) with ``λ = λ₀ (+ ν·σ̂²)``; ``noise_std``: σ̂ when
        the caller has it already (:meth:`noise_level`), else it is computed here when needed."""
        if self.initial_sense is None:
            return self.make_operator(mask, sensitivities).adjoint(kspace)
        noise_std = None if self.initial_noise_lam is None else self.noise_level(kspace, mask, noise_std)
        return self.initial_sense(None, kspace, mask, sensitivities, noise_std=noise_std)

    def final_image(self, image, kspace, mask, sensitivities, noise_std=None):
        """The model's output from the network's image ``[B, *extra, *spatial]``: the image itself, or (``final_dc``)
        the proximal step ``(EᴴE + λI)⁻¹(Eᴴy + λ·image)`` with ``λ = λ₀ (+ ν·σ̂²)``; then (``prior_l1``) the
        prior-image ℓ1-wavelet step; ``noise_std``: σ̂ when the caller has it, else it is computed here when needed."""
        if self.final_proximal is not None:
            noise_std = None if self.final_noise_lam is None else self.noise_level(kspace, mask, noise_std)
            image = self.final_proximal(image, kspace, mask, sensitivities, noise_std=noise_std)
        if self.prior_l1_step.table is not None:
            image = self.prior_l1_step(image, kspace, mask, sensitivities)
        return image

    def parse_inputs(self, inputs):
        """Validates the input dict; returns ``(kspace, mask, sensitivities)`` with sensitivities possibly None.

        Static checks (dtype, rank, static shapes) raise ``TypeError``/``ValueError`` at once. Value checks hold in
        every mode (eager, ``tf.function``, ``.keras``-loaded, SavedModel signatures): NaN/Inf in ``kspace``,
        ``sensitivities`` or ``mask``, a mask that is all zero for an example, and shapes only known at run time
        raise ``tf.errors.InvalidArgumentError`` naming the argument (in eager mode
        :class:`tfmri_zoo.validation.InvalidInputError`, which is also a ``ValueError``). They are device reductions:
        nothing is copied to the host.
        """
        if not isinstance(inputs, dict):
            raise TypeError("inputs: expected a dict with keys 'kspace', 'mask' and optionally 'sensitivities', "
                            f"got {type(inputs).__name__}.")
        if self.operator == "nufft":
            return self.parse_noncartesian_inputs(inputs)
        for key in ("kspace", "mask"):
            if key not in inputs:
                raise ValueError(f"inputs: missing key '{key}' (expected 'kspace', 'mask', 'sensitivities').")
        layout = "[B, C, " + "T, " * self.extra_dims + ("D, " if self.spatial_rank == 3 else "") + "H, W]"
        kspace = validation.as_complex(inputs["kspace"], "kspace")
        validation.check_rank(kspace, "kspace", self.kspace_rank, layout)
        mask = tf.convert_to_tensor(inputs["mask"])
        if mask.dtype.is_complex:
            raise TypeError(f"mask: expected float32 or bool, got {mask.dtype.name}.")
        mask = tf.cast(mask, tf.float32)
        validation.check_rank(mask, "mask", self.kspace_rank, layout + " (broadcastable)")
        validation.check_broadcastable(mask, kspace.shape, "mask", "kspace")
        sensitivities = inputs.get("sensitivities")
        if sensitivities is not None:
            sensitivities = validation.as_complex(sensitivities, "sensitivities")
            validation.check_rank(sensitivities, "sensitivities", self.kspace_rank, layout)
            kc, sc = kspace.shape[1], sensitivities.shape[1]
            if kc is not None and sc is not None and kc != sc:
                raise ValueError(f"sensitivities: {sc} coils on axis 1, but kspace has {kc}.")
            spatial = tuple(range(-self.spatial_rank, 0))
            sensitivities = validation.check_shapes_compatible(sensitivities, kspace, "sensitivities", "kspace",
                                                               equal_axes=(1,) + spatial)
            sensitivities = validation.check_finite(sensitivities, "sensitivities")
        elif kspace.shape[1] is not None and kspace.shape[1] != 1:
            raise ValueError(f"sensitivities: required for multi-coil kspace ({kspace.shape[1]} coils); "
                             "omit only for single-coil data [B, 1, ...].")
        mask = validation.check_shapes_compatible(mask, kspace, "mask", "kspace")
        mask = validation.check_mask(mask, "mask")
        kspace = validation.check_finite(kspace, "kspace")
        return kspace, mask, sensitivities

    def parse_noncartesian_inputs(self, inputs):
        """:meth:`parse_inputs` of an ``operator="nufft"`` model: returns ``(kspace, sampling, sensitivities)`` with
        ``sampling = {"trajectory": float32 [B, M, ndim], "density": float32 [B, M]}`` (density only if given); a
        model with extra axes (2D+t) takes one trajectory per frame, ``[B, T, M, ndim]`` and ``[B, T, M]``. The
        NUFFT plan of the trajectory is added to ``sampling`` once (:func:`tfmri_zoo.physics.operators.plan_sampling`)."""
        for key in ("kspace", "trajectory", "sensitivities"):
            if inputs.get(key) is None:
                raise ValueError(f"inputs: missing key '{key}' (a non-Cartesian model takes 'kspace' [B, C, M], "
                                 "'trajectory' [B, M, 2], 'sensitivities' [B, C, H, W] and optionally 'density' "
                                 "[B, M]).")
        unknown = set(inputs) - {"kspace", "trajectory", "density", "sensitivities"}
        if unknown:
            raise ValueError(f"inputs: unexpected keys {sorted(unknown)} for a non-Cartesian model.")
        extra = "T, " * self.extra_dims
        kspace = validation.as_complex(inputs["kspace"], "kspace")
        validation.check_rank(kspace, "kspace", self.kspace_rank, f"[B, C, {extra}M]")
        sampling = {}
        for key, rank, layout in (("trajectory", 3 + self.extra_dims, f"[B, {extra}M, {self.spatial_rank}] in radians"),
                                  ("density", 2 + self.extra_dims, f"[B, {extra}M]")):
            value = inputs.get(key)
            if value is None:
                continue
            value = tf.convert_to_tensor(value)
            if value.dtype.is_complex or not value.dtype.is_floating:
                raise TypeError(f"{key}: expected float32 {layout}, got {value.dtype.name}.")
            value = tf.cast(value, tf.float32)
            validation.check_rank(value, key, rank, layout)
            if key == "trajectory" and value.shape[-1] != self.spatial_rank:
                raise ValueError(f"trajectory: expected {self.spatial_rank} coordinates on the last axis "
                                 f"({layout}), got shape {value.shape}.")
            axis = rank - 2 if key == "trajectory" else rank - 1
            samples = value.shape[axis]
            if samples is not None and kspace.shape[-1] is not None and samples != kspace.shape[-1]:
                raise ValueError(f"{key}: {samples} samples on axis {axis}, but kspace has {kspace.shape[-1]} on its "
                                 "last axis.")
            for k in range(self.extra_dims):
                frames, kframes = value.shape[1 + k], kspace.shape[2 + k]
                if frames is not None and kframes is not None and frames != kframes:
                    raise ValueError(f"{key}: {frames} frames on axis {1 + k}, but kspace has {kframes} on axis "
                                     f"{2 + k} (one trajectory per frame).")
            sampling[key] = (validation.check_trajectory(value) if key == "trajectory"
                             else validation.check_finite(value, key))
        sensitivities = validation.as_complex(inputs["sensitivities"], "sensitivities")
        spatial = "D, H, W" if self.spatial_rank == 3 else "H, W"
        validation.check_rank(sensitivities, "sensitivities", 2 + self.extra_dims + self.spatial_rank,
                              f"[B, C, {extra}{spatial}]")
        if any(d is None for d in sensitivities.shape[-self.spatial_rank:]):
            raise ValueError(f"sensitivities: the image size must be static for the NUFFT, got shape "
                             f"{sensitivities.shape}.")
        kc, sc = kspace.shape[1], sensitivities.shape[1]
        if kc is not None and sc is not None and kc != sc:
            raise ValueError(f"sensitivities: {sc} coils on axis 1, but kspace has {kc}.")
        sensitivities = validation.check_finite(sensitivities, "sensitivities")
        # one NUFFT plan per call, shared by every operator the model builds from this dict (physics.plan_sampling)
        sampling = plan_sampling(sampling, sensitivities.shape[-self.spatial_rank:])
        return validation.check_finite(kspace, "kspace"), sampling, sensitivities

    def input_scale(self, kspace, mask, sensitivities):
        """Per-example scale ``max |Eᴴy|`` as complex64 ``[B, 1, ..., 1]`` (image rank), 1 where it is zero."""
        image = self.make_operator(mask, sensitivities).adjoint(kspace)
        scale = tf.reshape(data_scale(image), [-1] + [1] * (image.shape.rank - 1))
        return tf.cast(tf.stop_gradient(scale), kspace.dtype)

    def call(self, inputs, training=None):
        return self.final_stage(self.network_stage(inputs, training=training))

    def network_stage(self, inputs, training=None):
        """What a call computes before its final step, as a dict: ``image`` — the network's image, complex
        ``[B, *extra, *spatial]`` on the normalised data —, the normalised ``kspace``, ``mask``, ``sensitivities``
        (or ``None``), the call's σ̂ ``noise_std`` (float32 ``[B]``, or ``None`` unless :meth:`uses_noise_level`) and
        the input ``scale`` (or ``None`` without ``normalize``). :meth:`final_stage` finishes the call; a tool that
        varies only the final step (``benchmarks/dc_sweep.py``) runs the network once."""
        kspace, mask, sensitivities = self.parse_inputs(inputs)
        scale = None
        if self.normalize:
            scale = self.input_scale(kspace, mask, sensitivities)
            kspace = kspace / tf.reshape(scale, [-1] + [1] * (kspace.shape.rank - 1))
        noise_std = self.noise_level(kspace, mask) if self.uses_noise_level() else None      # once per call
        image = self.reconstruct(kspace, mask, sensitivities, training=training, noise_std=noise_std)
        return {"image": image, "kspace": kspace, "mask": mask, "sensitivities": sensitivities,
                "noise_std": noise_std, "scale": scale}

    def final_stage(self, stage):
        """The model's output from :meth:`network_stage`'s dict: the final step (:meth:`final_image`), the input
        scale restored, zero outside the maps' support; complex ``[B, *extra, *spatial]``."""
        image = self.final_image(stage["image"], stage["kspace"], stage["mask"], stage["sensitivities"],
                                 noise_std=stage["noise_std"])
        scale = stage["scale"]
        return self.restrict_to_support(image if scale is None else image * scale, stage["sensitivities"])

    def restrict_to_support(self, image, sensitivities):
        """``image · 1[Σ|S|² > 0]`` (``zero_outside_support``; unchanged without maps), complex ``[B, *extra,
        *spatial]``; the maps' extra axes may be 1 and broadcast."""
        if not self.zero_outside_support or sensitivities is None:
            return image
        return image * coil_support(sensitivities, image.dtype)

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        """Subclasses: normalised k-space → complex image ``[B, *extra, *spatial]``. ``noise_std``: the call's σ̂,
        float32 ``[B]`` when :meth:`uses_noise_level` (else ``None``), for :meth:`initial_image` and the model's own
        noise-adaptive weights (``self.noise_level(kspace, mask, noise_std)`` returns it, or estimates it when a
        caller of ``reconstruct`` gave none)."""
        raise NotImplementedError(f"{type(self).__name__} must implement reconstruct().")

    # -- building and saving --------------------------------------------------------------------------------------
    # Sub-layers create their variables on the first call. To reload a saved model, the shapes of that first call are
    # stored in the build config, and ``build_from_config`` calls the model once on zeros of those shapes.
    def __call__(self, inputs, *args, **kwargs):
        if getattr(self, "_example_shapes", None) is None and isinstance(inputs, dict):
            self._example_shapes = {key: [None if d is None else int(d) for d in tf.TensorShape(value.shape)]
                                    for key, value in inputs.items() if value is not None}
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape=None):
        self.built = True

    def input_signature(self, dynamic_batch=True):
        """``{key: tf.TensorSpec}`` of the first call's inputs (complex64 k-space/sensitivities, float32 mask)."""
        shapes = getattr(self, "_example_shapes", None)
        if shapes is None:
            return None
        return {key: tf.TensorSpec([None if (i == 0 and dynamic_batch) else d for i, d in enumerate(shape)],
                                   tf.float32 if key in REAL_INPUTS else tf.complex64, name=key)
                for key, shape in shapes.items()}

    @property
    def _default_save_signature(self):
        # Keras' default traces with float32 inputs, which a complex model rejects; use the recorded complex specs.
        signature = self.input_signature()
        if signature is None:
            return None

        @tf.function(input_signature=[signature])
        def serving_default(inputs):
            return self(inputs)

        return serving_default

    def get_build_config(self):
        shapes = getattr(self, "_example_shapes", None)
        return None if shapes is None else {"example_shapes": shapes}

    def build_from_config(self, config):
        shapes = (config or {}).get("example_shapes")
        if not shapes:
            return
        fill = 32  # unknown spatial sizes (a model first called on symbolic shapes)
        example = {}
        for key, shape in shapes.items():
            shape = [1 if i == 0 and d is None else (fill if d is None else d) for i, d in enumerate(shape)]
            example[key] = tf.zeros(shape, tf.float32 if key in REAL_INPUTS else tf.complex64)
        for key in ("mask", "density"):
            if key in example:
                example[key] = tf.ones_like(example[key])
        self(example)

    def get_config(self):
        config = super().get_config()
        config.update(normalize=self.normalize, extra_dims=self.extra_dims, spatial_rank=self.spatial_rank,
                      operator=self.operator, recompute=self.recompute, initial=self.initial,
                      initial_lam=self.initial_lam, initial_noise_lam=self.initial_noise_lam,
                      initial_iterations=self.initial_iterations, final_dc=self.final_dc, final_lam=self.final_lam,
                      final_noise_lam=self.final_noise_lam, final_iterations=self.final_iterations,
                      final_calibration=None if self.final_proximal is None else self.final_proximal.calibration,
                      prior_l1=self.prior_l1_step.table,
                      prior_l1_iterations=self.prior_l1_iterations,
                      zero_outside_support=self.zero_outside_support)
        return config


def _positive_int(value, name):
    """``value`` as an int ≥ 1, or a ``ValueError`` naming the argument ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}.")
    return int(value)
