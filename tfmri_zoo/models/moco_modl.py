"""MoCo-MoDL: MoDL-style unrolls whose CG data consistency uses the motion-aware operator (review Sec. IV-C-4).

With fields ``u_t`` estimated from frame-wise SENSE frames by a U-Net (as in :mod:`tfmri_zoo.models.motion_net`)
and ``E_u = [M_t F C W_{u_t}]_t`` (:class:`tfmri_zoo.physics.motion.MotionSenseOperator`), the reference image
``x ∈ C^{H×W}`` is reconstructed by MoDL's iteration (review Eq. 21) on the motion-aware operator:

    x₀ = (E_uᴴE_u + μI)⁻¹E_uᴴy  (motion-compensated CG-SENSE),
    z_k = D_w(x_{k−1}),    x_k = (E_uᴴE_u + λI)⁻¹(E_uᴴy + λ z_k),    k = 1..K,

and the output frames are ``W_{u_t} x_K``. ``D_w`` (a residual 2D CNN on the reference image) and ``λ`` are shared
over the unrolls; gradients flow through the CG into the motion estimator (end-to-end training).
"""
import keras

from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.models.motion_net import MotionModel
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec
from tfmri_zoo.models.registry import register
from tfmri_zoo.physics.motion import MotionSenseOperator, motion_compensated_sense


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class MotionProximalDC(ProximalL2DC):
    """Proximal ℓ2 step ``(E_uᴴE_u + λI)⁻¹(E_uᴴy + λz)`` on the motion-aware operator, by CG started at ``z``.

    Arguments as :class:`~tfmri_zoo.layers.data_consistency.ProximalL2DC`.

    Call args:
      image: complex ``[B, H, W]`` (the reference-frame ``z``).
      kspace: complex ``[B, C, T, H, W]``.
      sampling_mask: float32/bool broadcastable to ``kspace``.
      sensitivities: complex ``[B, C, 1, H, W]`` or ``None``.
      displacements: float32 ``[B, T, H, W, 2]``.

    Returns:
      complex ``[B, H, W]``.
    """

    def call(self, image, kspace, sampling_mask, sensitivities=None, displacements=None):
        if displacements is None:
            raise ValueError("displacements: required [B, T, H, W, 2] motion fields.")
        z, kspace = self.as_image(image), self.as_kspace(kspace)
        operator = MotionSenseOperator(sensitivities, sampling_mask, displacements, dtype=self.complex_dtype)
        return self.solve(z, kspace, operator, self.nonnegative(self.lam))


@register("moco_modl", presets={
    "small": {"iterations": 1, "cg_iterations": 3, "filters": 8, "depth": 1, "sense_iterations": 2,
              "regularizer": {"name": "dncnn", "filters": 8, "layers": 3}},
    "default": {"iterations": 4, "cg_iterations": 10, "filters": 32, "depth": 3, "sense_iterations": 10,
                "max_displacement": 8.0, "diffeomorphic": True, "warp_loss_weight": 1.0,
                "regularizer": {"name": "dncnn", "filters": 64, "layers": 5}},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class MoCoMoDL(MotionModel):
    """MoDL unrolls with motion-aware CG data consistency and a learned motion estimator (module docstring).

    Args:
      iterations: unrolls ``K``.
      cg_iterations: CG iterations of the initial motion-compensated SENSE and of every DC step.
      lam: initial shared ``λ`` (trainable, ≥ 0).
      init_lam: Tikhonov weight ``μ`` of the initial motion-compensated SENSE.
      regularizer: 2D regulariser of the reference image (name or ``{"name": ..., **config}``, see MoDL).
      **kwargs: motion-estimator and frame-wise SENSE arguments of :class:`~tfmri_zoo.models.motion_net.MotionNet`
        (``filters``, ``depth``, ``reference``, ``max_displacement``, ``diffeomorphic``, ``sense_iterations``,
        ``sense_lam``, ``warp_loss_weight``, ``smoothness``) and ``normalize``.

    Call args: ``{"kspace": complex64 [B, C, T, H, W], "mask": float32 [B, 1, T, 1, W] or [B, 1, T, H, W],
    "sensitivities": complex64 [B, C, 1, H, W]}``. Returns complex64 ``[B, T, H, W]``.
    """

    unrolled = True

    def __init__(self, iterations=4, cg_iterations=10, lam=0.05, init_lam=0.01, regularizer="dncnn", **kwargs):
        super().__init__(**kwargs)
        self.iterations, self.cg_iterations = int(iterations), int(cg_iterations)
        self.lam, self.init_lam = float(lam), float(init_lam)
        self.regularizer = regularizer_spec(regularizer)
        self.denoisers = make_regularizers(self.regularizer, self.iterations, share_weights=True)
        self.dc = MotionProximalDC(lam=self.lam, cg_iterations=self.cg_iterations, name="motion_dc")

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        _, displacements = self.estimate_motion(kspace, mask, sensitivities, training=training)
        x = motion_compensated_sense(kspace, mask, sensitivities, displacements, max_iter=self.cg_iterations,
                                     lam=self.init_lam, return_reference=True)
        steps = [lambda x, k, m, s, u, d=denoiser: self.dc(d(x, training=training), k, m, s, displacements=u)
                 for denoiser in self.denoisers]
        # the estimated displacements are an argument, so that the motion estimator gets gradients through them
        x = self.unroll(steps, x, kspace, mask, sensitivities, displacements)
        return MotionSenseOperator(sensitivities, mask, displacements).frames(x)

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "cg_iterations": self.cg_iterations,
                "lam": self.lam, "init_lam": self.init_lam, "regularizer": self.regularizer}
