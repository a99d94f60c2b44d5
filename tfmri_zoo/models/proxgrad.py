"""Unrolled proximal gradient network, review Eq. 22.

``x₀ = Eᴴy``; for ``k = 1..K``: ``z = CNN_k(x)`` (the learned proximal step) and ``x = z + η_k Eᴴ(y − Ez)`` (a
gradient step on the data term, :class:`~tfmri_zoo.layers.data_consistency.GradientDC`, ``η_k ≥ 0`` trainable). The
data consistency is cheaper than MoDL's CG step (one ``EᴴE`` per unroll instead of ``cg_iterations``).
"""
import keras

from tfmri_zoo.layers.data_consistency import GradientDC
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec
from tfmri_zoo.models.registry import register


@register("proxgrad", presets={
    "small": {"iterations": 2, "lam": 1.0, "regularizer": {"name": "dncnn", "filters": 16, "layers": 3}},
    "default": {"iterations": 10, "lam": 1.0, "regularizer": {"name": "dncnn", "filters": 64, "layers": 5}},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ProxGrad(ReconModel):
    """Proximal-gradient unroll (Eq. 22).

    Args:
      iterations: number of unrolls ``K``.
      lam: initial step size ``η_k`` of every unroll's data-consistency gradient step (trainable, ≥ 0, one per
        unroll).
      regularizer: regulariser name or ``{"name": ..., **config}`` (see ``tfmri_zoo.models.regularizers``).
      share_weights: one CNN for all unrolls (default: one per unroll).
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W] or absent}``. Returns complex64 ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    operators = ("cartesian", "nufft")  # operator="nufft": trajectory inputs (models/base.py)
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)
    unrolled = True

    def __init__(self, iterations=10, lam=1.0, regularizer="dncnn", share_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.iterations, self.lam = int(iterations), float(lam)
        self.regularizer, self.share_weights = regularizer_spec(regularizer), bool(share_weights)
        self.denoisers = make_regularizers(self.regularizer, self.iterations, self.share_weights)
        self.steps = [GradientDC(lam=self.lam) for _ in range(self.iterations)]

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        x = self.initial_image(kspace, mask, sensitivities, noise_std)
        steps = [lambda x, k, m, s, d=denoiser, dc=step: dc(d(x, training=training), k, m, s)
                 for denoiser, step in zip(self.denoisers, self.steps)]
        return self.unroll(steps, x, kspace, mask, sensitivities)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "lam": self.lam,
                "regularizer": self.regularizer, "share_weights": self.share_weights}
