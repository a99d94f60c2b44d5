"""MoDL: model-based deep learning (Aggarwal, Mani & Jacob 2019), review Eq. 21.

``x₀ = Eᴴy``; for ``k = 1..K``: ``z = D_w(x)``, ``x = (EᴴE + λI)⁻¹(Eᴴy + λz)`` (CG data consistency). The
regulariser ``D_w`` (a residual 5-layer 3×3 CNN, 64 channels, BN + ReLU) and ``λ`` (init 0.05, ≥ 0) are shared over
the ``K = 10`` unrolls; the DC step runs 10 CG iterations.
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec
from tfmri_zoo.models.registry import register


@register("modl", presets={
    "small": {"iterations": 2, "cg_iterations": 3, "lam": 0.05,
              "regularizer": {"name": "dncnn", "filters": 16, "layers": 3}},
    "default": {"iterations": 10, "cg_iterations": 10, "lam": 0.05,
                "regularizer": {"name": "dncnn", "filters": 64, "layers": 5}},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class MoDL(ReconModel):
    """MoDL (Eq. 21).

    Args:
      iterations: number of unrolls ``K``.
      cg_iterations: CG iterations per data-consistency step.
      lam: initial shared ``λ`` (trainable, ≥ 0).
      regularizer: regulariser name or ``{"name": ..., **config}`` (``"dncnn"``, ``"unet"``, ``"resnet"``, ``"downup"``).
      share_weights: share ``D_w`` over the unrolls (MoDL: ``True``).
      noise_lam: ``None`` (MoDL: one learned λ) or the initial ``ν`` of a noise-adaptive data-consistency weight
        ``λ = λ₀ + ν·σ̂²``, ``σ̂`` the noise level estimated from each call's measured k-space
        (:func:`tfmri_zoo.physics.kspace_noise_std`; :class:`~tfmri_zoo.layers.data_consistency.ProximalL2DC`): noisier
        data lean more on the CNN.
      calibration: ``None``, or the shared step's table of ``(λ₀, ν)`` per mask acceleration chosen on validation
        slices (:class:`~tfmri_zoo.layers.data_consistency.ProximalL2DC`'s ``calibration``; set by
        :func:`tfmri_zoo.training.calibration.set_calibration`).
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments (``recompute`` for memory-efficient
        training).

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W] or absent}``. Returns complex64 ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    operators = ("cartesian", "nufft")  # operator="nufft": trajectory inputs (models/base.py)
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)
    unrolled = True

    def __init__(self, iterations=10, cg_iterations=10, lam=0.05, regularizer="dncnn", share_weights=True,
                 noise_lam=None, calibration=None, **kwargs):
        super().__init__(**kwargs)
        self.iterations, self.cg_iterations, self.lam = int(iterations), int(cg_iterations), float(lam)
        self.regularizer, self.share_weights = regularizer_spec(regularizer), bool(share_weights)
        self.noise_lam = None if noise_lam is None else float(noise_lam)
        self.denoisers = make_regularizers(self.regularizer, self.iterations, self.share_weights)
        self.dc = ProximalL2DC(lam=self.lam, cg_iterations=self.cg_iterations, noise_lam=self.noise_lam,
                               calibration=calibration)

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        sigma = self.noise_level(kspace, mask, noise_std) if self.uses_noise_level() else None
        x = self.initial_image(kspace, mask, sensitivities, noise_std=sigma)
        noise = sigma if sigma is not None else tf.zeros(tf.shape(kspace)[:1])   # unroll passes tensors
        steps = [lambda x, k, m, s, n, d=denoiser: self.dc(d(x, training=training), k, m, s, noise_std=n)
                 for denoiser in self.denoisers]
        return self.unroll(steps, x, kspace, mask, sensitivities, noise)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "cg_iterations": self.cg_iterations,
                "lam": self.lam, "regularizer": self.regularizer, "share_weights": self.share_weights,
                "noise_lam": self.noise_lam, "calibration": self.dc.calibration}
