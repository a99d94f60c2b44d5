"""ADMM-Net: ADMM (review Eq. 9) unrolled with a learned z-update (after Yang, Sun, Li & Xu, NeurIPS 2016).

Problem ``min_x ½‖Ex − y‖² + R(z)`` s.t. ``x = z``, scaled dual ``u``. With ``x₀ = Eᴴy`` and ``u₀ = 0``, each of the
``K`` stages runs
  ``z = D_k(x + u)``                                   (learned proximal step of ``R``, a CNN)
  ``x = (EᴴE + ρ_k I)⁻¹(Eᴴy + ρ_k(z − u))``            (CG, :class:`~tfmri_zoo.layers.data_consistency.ADMMStep`)
  ``u = u + η_k(x − z)``                               (dual update)
and returns ``x`` (the last stage skips the unused dual update). ``ρ_k, η_k ≥ 0`` are trainable per stage. This is Eq. 9's cycle started at the z-update, so each
stage ends on the data-consistent image.
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.data_consistency import ADMMStep
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec
from tfmri_zoo.models.registry import register


@register("admmnet", presets={
    "small": {"iterations": 2, "cg_iterations": 2, "lam": 0.1,
              "regularizer": {"name": "dncnn", "filters": 16, "layers": 3}},
    "default": {"iterations": 10, "cg_iterations": 10, "lam": 0.1,
                "regularizer": {"name": "dncnn", "filters": 64, "layers": 5}},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ADMMNet(ReconModel):
    """Unrolled ADMM (Eq. 9).

    Args:
      iterations: number of stages ``K``.
      cg_iterations: CG iterations of each x-update.
      lam: initial penalty ``ρ_k`` of the x-update (trainable, ≥ 0, one per stage).
      dual_step: initial dual step ``η_k`` (trainable, ≥ 0, one per stage; 1 is plain ADMM).
      regularizer: regulariser name or ``{"name": ..., **config}`` (see ``tfmri_zoo.models.regularizers``).
      share_weights: one CNN for all stages (default: one per stage).
      noise_lam: ``None`` (one learned ``ρ_k`` per stage) or the initial ``ν`` of noise-adaptive x-updates
        ``ρ_k = ρ_k,0 + ν_k·σ̂²`` (``σ̂`` the call's k-space noise level, :func:`tfmri_zoo.physics.kspace_noise_std`):
        the noisier the data, the more each x-update trusts the CNN's ``z`` (as MoDL's ``noise_lam``).
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W] or absent}``. Returns complex64 ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    operators = ("cartesian", "nufft")  # operator="nufft": trajectory inputs (models/base.py)
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)
    unrolled = True

    def __init__(self, iterations=10, cg_iterations=10, lam=0.1, dual_step=1.0, regularizer="dncnn",
                 share_weights=False, noise_lam=None, **kwargs):
        super().__init__(**kwargs)
        self.noise_lam = None if noise_lam is None else float(noise_lam)
        self.iterations, self.cg_iterations = int(iterations), int(cg_iterations)
        self.lam, self.dual_step = float(lam), float(dual_step)
        self.regularizer, self.share_weights = regularizer_spec(regularizer), bool(share_weights)
        self.denoisers = make_regularizers(self.regularizer, self.iterations, self.share_weights)
        # the last stage's dual update would be unused: it has none (and no η)
        self.steps = [ADMMStep(lam=self.lam, dual_step=self.dual_step, cg_iterations=self.cg_iterations,
                               dual_update=k < self.iterations - 1, noise_lam=self.noise_lam)
                      for k in range(self.iterations)]

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        sigma = self.noise_level(kspace, mask, noise_std) if self.uses_noise_level() else None
        x = self.initial_image(kspace, mask, sensitivities, noise_std=sigma)
        noise = sigma if sigma is not None else tf.zeros(tf.shape(kspace)[:1], tf.float32)   # unroll passes tensors
        steps = [lambda xu, k, m, s, n, d=denoiser, dc=step: dc(d(xu[0] + xu[1], training=training), xu[1], k, m, s,
                                                                 noise_std=n)
                 for denoiser, step in zip(self.denoisers, self.steps)]
        x, _ = self.unroll(steps, (x, tf.zeros_like(x)), kspace, mask, sensitivities, noise)
        return x

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "cg_iterations": self.cg_iterations,
                "lam": self.lam, "dual_step": self.dual_step, "regularizer": self.regularizer,
                "share_weights": self.share_weights, "noise_lam": self.noise_lam}
