"""Plug-and-play zoo model: a denoiser inside a fixed number of PnP-ADMM or RED iterations (review Sec. III-B).

``x₀ = z₀ = Eᴴy`` (or, with ``initial="sense"``, the CG-SENSE image), ``u₀ = 0``; ``method="admm"`` runs ``K``
PnP-ADMM iterations (Eq. 9 with the proximal step 9b replaced by the denoiser ``D``):
  ``x = (EᴴE + ρI)⁻¹(Eᴴy + ρ(z − u))`` (CG),   ``z = D(x + u)``,   ``u = u + x − z``,
and ``method="red"`` runs ``K`` RED fixed-point iterations for Eq. 13 ``0 = Eᴴ(Ex − y) + ν(x − D(x))``:
  ``x = (EᴴE + νI)⁻¹(Eᴴy + ν D(x))`` (CG).
Both return the data-consistent ``x``. ``noise_lam=ν`` makes the weight noise-adaptive per example, ``ρ₀ + ν·σ̂²``
(σ̂ from the call's k-space, as MoDL's ``noise_lam``): noisy data lean on the denoiser. One denoiser
(:class:`tfmri_zoo.models.denoiser.Denoiser`) is shared by all iterations and ``ρ``/``ν`` are fixed hyperparameters,
as in PnP. The iteration updates are those of :mod:`tfmri_zoo.recon.pnp`.

Two ways to train: (1) classic PnP — train the denoiser alone on noisy/clean pairs
(:func:`tfmri_zoo.models.denoiser.noisy_pairs`) and copy its weights in with :meth:`PnP.set_denoiser_weights`;
(2) end-to-end through the ``K`` iterations like any zoo model (``model.fit`` on k-space/image pairs), which makes it a
weight-shared unrolled network (MoDL-like for ``method="red"``).
"""
import keras
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.denoiser import PRESETS as DENOISER_PRESETS
from tfmri_zoo.models.denoiser import Denoiser
from tfmri_zoo.models.registry import register
from tfmri_zoo.physics.noise import noise_adaptive_weight
from tfmri_zoo.recon.pnp import admm_update, red_fixed_point_update

METHODS = ("admm", "red")


@register("pnp", presets={
    "small": {"iterations": 3, "method": "admm", "lam": 0.5, "cg_iterations": 3,
              "denoiser": DENOISER_PRESETS["small"]},
    "default": {"iterations": 10, "method": "admm", "lam": 0.5, "cg_iterations": 5,
                "denoiser": DENOISER_PRESETS["default"]},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class PnP(ReconModel):
    """Plug-and-play ADMM / RED with a CNN denoiser.

    Args:
      iterations: number of outer iterations ``K``.
      method: ``"admm"`` (PnP-ADMM, penalty ``ρ``) or ``"red"`` (RED fixed point, weight ``ν``).
      lam: the data-consistency weight, ``ρ`` (ADMM penalty) or ``ν`` (RED weight), > 0, fixed.
      cg_iterations: CG iterations per data-consistency solve.
      noise_lam: ``None`` (a fixed ``lam``) or ν of the noise-adaptive weight ``lam + ν·σ̂²`` (fixed, ≥ 0; σ̂ measured
        on each call's normalised k-space by :func:`tfmri_zoo.physics.kspace_noise_std`).
      denoiser: :class:`~tfmri_zoo.models.denoiser.Denoiser` constructor arguments (``{"network": ..., ...}``).
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W] or absent}``. Returns complex64 ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)

    def __init__(self, iterations=10, method="admm", lam=0.5, cg_iterations=5, denoiser=None, noise_lam=None,
                 **kwargs):
        super().__init__(**kwargs)
        if method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {method!r}.")
        lam = validation.as_float(lam, "lam", minimum=0.0, exclusive=True)
        iterations = validation.as_int(iterations, "iterations", minimum=1)
        cg_iterations = validation.as_int(cg_iterations, "cg_iterations", minimum=1)
        if denoiser is not None and not isinstance(denoiser, dict):
            raise TypeError(f"denoiser: expected a dict of Denoiser arguments, got {type(denoiser).__name__}.")
        self.iterations, self.method, self.lam = iterations, method, float(lam)
        self.cg_iterations = cg_iterations
        self.noise_lam = (None if noise_lam is None else
                          float(validation.as_float(noise_lam, "noise_lam", minimum=0.0)))
        self.denoiser_config = dict(denoiser or DENOISER_PRESETS["small"])
        self.denoiser = Denoiser(**self.denoiser_config)

    def set_denoiser_weights(self, trained):
        """Copies the weights of a separately trained :class:`Denoiser` of the same configuration."""
        if not isinstance(trained, Denoiser):
            raise TypeError(f"trained: expected a Denoiser, got {type(trained).__name__}.")
        if not self.denoiser.built or not self.denoiser.weights:
            self.denoiser(tf.zeros([1, 8, 8], tf.complex64))
        self.denoiser.set_weights(trained.get_weights())

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        operator = self.make_operator(mask, sensitivities)
        rhs = operator.adjoint(kspace)

        def denoise(v):
            return self.denoiser(v, training=training)

        sigma = self.noise_level(kspace, mask, noise_std) if self.uses_noise_level() else None       # [B]
        weight = (self.lam if self.noise_lam is None                                 # float32 [B, 1, 1]
                  else noise_adaptive_weight(self.lam, self.noise_lam, sigma, 3))

        start = rhs if self.initial == "adjoint" else self.initial_image(kspace, mask, sensitivities, sigma)
        x, z, u = start, start, tf.zeros_like(start)
        for _ in range(self.iterations):
            if self.method == "admm":
                x, z, u = admm_update(operator, rhs, x, z, u, denoise, weight, self.cg_iterations)
            else:
                x = red_fixed_point_update(operator, rhs, x, denoise, weight, self.cg_iterations)
        return x

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "method": self.method,
                "lam": self.lam, "cg_iterations": self.cg_iterations, "denoiser": self.denoiser_config,
                "noise_lam": self.noise_lam}
