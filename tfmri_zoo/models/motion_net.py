"""Motion-aware reconstruction: a U-Net estimates motion fields, CG reconstructs with the motion in the operator.

Review Sec. IV-C-4, Fig. 7. On 2D+t multi-coil data with k-t undersampling:

  1. frame-wise SENSE ``x̂_t = (E_tᴴE_t + μI)⁻¹E_tᴴy_t`` (a few CG iterations on the 2D+t SENSE operator);
  2. a real U-Net ``G`` maps each pair ``(|x̂_r|, |x̂_t|)`` (reference frame ``r``, frame ``t``) to a displacement
     field ``u_t = G(|x̂_r|, |x̂_t|)`` in pixels (``u_r = 0``), bounded by ``max_displacement·tanh(·)``; with
     ``diffeomorphic=True`` the output is a stationary velocity integrated by scaling and squaring;
  3. motion-compensated CG-SENSE with ``E = [M_t F C W_{u_t}]_t``: ``x = (EᴴE + λI)⁻¹Eᴴy``, output ``W_{u_t} x``.

Training: end-to-end through the CG (supervised image loss on the frames), and/or the self-supervised warping loss
``Σ_t ‖W_{u_t}|x̂_r| − |x̂_t|‖² + α Σ_t ‖∇u_t‖²`` (:func:`warping_loss`), which the model adds to its losses during
training when ``warp_loss_weight > 0``.
"""
import keras
import tensorflow as tf

from tfmri_zoo.physics.warp import scaling_and_squaring, warp
from tfmri_zoo.models.base import LAYOUT_2DT, ReconModel
from tfmri_zoo.models.regularizers import UNet
from tfmri_zoo.models.registry import register
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.motion import motion_compensated_sense


def framewise_sense(operator, kspace, iterations, lam):
    """``(EᴴE + λI)⁻¹Eᴴy`` by ``iterations`` CG steps on a 2D+t SENSE operator (each frame independent).

    Args:
      operator: a 2D+t :class:`~tfmri_zoo.physics.sense.SenseOperator`.
      kspace: complex ``[B, C, T, H, W]``.
      iterations: CG iterations.
      lam: Tikhonov weight ``λ ≥ 0`` (float).

    Returns:
      complex ``[B, T, H, W]``.
    """
    lam = tf.cast(lam, operator.dtype)
    return conjugate_gradient(lambda v: operator.normal(v) + lam * v, operator.adjoint(kspace), max_iter=iterations)


def _normalised_magnitude(frames):
    magnitude = tf.abs(frames)
    peak = tf.reduce_max(magnitude, axis=[1, 2, 3], keepdims=True)
    return magnitude / tf.maximum(peak, 1e-12)


def warping_loss(frames, displacements, reference=0, smoothness=0.01):
    """Self-supervised registration loss: photometric error of the warped reference plus field smoothness.

    Args:
      frames: complex or real ``[B, T, H, W]`` (magnitudes are compared, normalised per example).
      displacements: float32 ``[B, T, H, W, 2]`` pulling frame ``reference`` to every frame.
      reference: index of the reference frame.
      smoothness: weight ``α`` of the squared finite-difference gradient of the fields.

    Returns:
      float32 scalar.
    """
    magnitude = _normalised_magnitude(frames)
    moved = warp(tf.broadcast_to(magnitude[:, reference:reference + 1], tf.shape(magnitude)), displacements)
    photometric = tf.reduce_mean(tf.square(moved - magnitude))
    du_rows = displacements[:, :, 1:] - displacements[:, :, :-1]
    du_cols = displacements[:, :, :, 1:] - displacements[:, :, :, :-1]
    smooth = tf.reduce_mean(tf.square(du_rows)) + tf.reduce_mean(tf.square(du_cols))
    return photometric + smoothness * smooth


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class MotionEstimator(keras.layers.Layer):
    """U-Net predicting displacement fields from every frame to a reference frame.

    Args:
      filters, depth: of the real U-Net (``tfmri_zoo.models.regularizers.UNet``, 2 input channels → 2 outputs).
      reference: index of the reference frame (its field is zero).
      max_displacement: bound of the fields in pixels (``max_displacement · tanh``).
      diffeomorphic: integrate the output as a stationary velocity field by scaling and squaring.
      steps: scaling-and-squaring steps.

    Call args:
      frames: complex64 ``[B, T, H, W]``.

    Returns:
      float32 ``[B, T, H, W, 2]`` (row, column) displacements in pixels, ``frame_t(p) ≈ frame_r(p + u_t(p))``.
    """

    def __init__(self, filters=16, depth=2, reference=0, max_displacement=4.0, diffeomorphic=False, steps=6,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters, self.depth, self.reference = int(filters), int(depth), int(reference)
        self.max_displacement, self.diffeomorphic, self.steps = float(max_displacement), bool(diffeomorphic), int(steps)
        self.unet = UNet(filters=self.filters, depth=self.depth, residual=False, out_channels=2, name="unet")

    def call(self, frames, training=None):
        magnitude = _normalised_magnitude(frames)
        shape = tf.shape(magnitude)
        pairs = tf.stack([tf.broadcast_to(magnitude[:, self.reference:self.reference + 1], shape), magnitude], -1)
        pairs = tf.reshape(pairs, tf.concat([[-1], shape[2:], [2]], axis=0))                # [B·T, H, W, 2]
        field = self.max_displacement * tf.tanh(self.unet.network(pairs, training=training))
        if self.diffeomorphic:
            field = scaling_and_squaring(field, self.steps)
        field = tf.reshape(field, tf.concat([shape, [2]], axis=0))
        not_reference = tf.cast(tf.not_equal(tf.range(shape[1]), self.reference), field.dtype)
        return field * not_reference[None, :, None, None, None]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth, "reference": self.reference,
                "max_displacement": self.max_displacement, "diffeomorphic": self.diffeomorphic,
                "steps": self.steps}


class MotionModel(ReconModel):
    """Base of the motion-aware models (:class:`MotionNet`, :class:`~tfmri_zoo.models.moco_modl.MoCoMoDL`): the 2D+t
    layout (``extra_dims=1``, ``spatial_rank=2``; other values raise a ``ValueError``), frame-wise SENSE and the
    motion estimator.

    Args:
      filters, depth, reference, max_displacement, diffeomorphic: of the :class:`MotionEstimator`.
      sense_iterations, sense_lam: CG iterations and Tikhonov weight of the frame-wise SENSE input.
      warp_loss_weight, smoothness: weight of :func:`warping_loss` added during training, and its ``α``.
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments (``normalize``).

    Subclasses implement ``reconstruct`` with :meth:`estimate_motion`.
    """

    layouts = LAYOUT_2DT
    cartesian_only_reason = "its motion-aware operator warps frames of Cartesian 2D+t data"

    def __init__(self, filters=16, depth=2, reference=0, max_displacement=4.0, diffeomorphic=False,
                 sense_iterations=5, sense_lam=0.05, warp_loss_weight=0.0, smoothness=0.01, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.depth, self.reference = int(filters), int(depth), int(reference)
        self.max_displacement, self.diffeomorphic = float(max_displacement), bool(diffeomorphic)
        self.sense_iterations, self.sense_lam = int(sense_iterations), float(sense_lam)
        self.warp_loss_weight, self.smoothness = float(warp_loss_weight), float(smoothness)
        self.estimator = MotionEstimator(filters=self.filters, depth=self.depth, reference=self.reference,
                                         max_displacement=self.max_displacement, diffeomorphic=self.diffeomorphic,
                                         name="estimator")

    def estimate_motion(self, kspace, mask, sensitivities, training=None):
        """Frame-wise SENSE frames ``[B, T, H, W]`` and the estimated fields ``[B, T, H, W, 2]``."""
        frames = framewise_sense(self.make_operator(mask, sensitivities), kspace, self.sense_iterations, self.sense_lam)
        displacements = self.estimator(frames, training=training)
        if training and self.warp_loss_weight > 0:
            self.add_loss(self.warp_loss_weight * warping_loss(frames, displacements, self.reference,
                                                               self.smoothness))
        return frames, displacements

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth, "reference": self.reference,
                "max_displacement": self.max_displacement, "diffeomorphic": self.diffeomorphic,
                "sense_iterations": self.sense_iterations, "sense_lam": self.sense_lam,
                "warp_loss_weight": self.warp_loss_weight, "smoothness": self.smoothness}


@register("motion_net", presets={
    "small": {"filters": 8, "depth": 1, "sense_iterations": 2, "cg_iterations": 4, "max_displacement": 4.0},
    "default": {"filters": 32, "depth": 3, "sense_iterations": 10, "cg_iterations": 20, "max_displacement": 8.0,
                "diffeomorphic": True, "warp_loss_weight": 1.0},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class MotionNet(MotionModel):
    """Motion estimation U-Net followed by motion-compensated CG-SENSE (module docstring).

    Args:
      filters, depth: of the motion-estimation U-Net.
      reference: reference frame index.
      max_displacement: bound of the fields (pixels).
      diffeomorphic: scaling-and-squaring of a velocity output.
      sense_iterations, sense_lam: CG iterations and Tikhonov weight of the frame-wise SENSE input.
      cg_iterations, lam: CG iterations and Tikhonov weight of the motion-compensated reconstruction.
      warp_loss_weight, smoothness: weight of :func:`warping_loss` added during training, and its ``α``.
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments (``normalize``).

    Call args: ``{"kspace": complex64 [B, C, T, H, W], "mask": float32 [B, 1, T, 1, W] or [B, 1, T, H, W],
    "sensitivities": complex64 [B, C, 1, H, W]}``. Returns complex64 ``[B, T, H, W]``.
    """

    def __init__(self, cg_iterations=10, lam=0.01, **kwargs):
        super().__init__(**kwargs)
        self.cg_iterations, self.lam = int(cg_iterations), float(lam)

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        _, displacements = self.estimate_motion(kspace, mask, sensitivities, training=training)
        return motion_compensated_sense(kspace, mask, sensitivities, displacements, max_iter=self.cg_iterations,
                                        lam=self.lam)

    def get_config(self):
        return {**super().get_config(), "cg_iterations": self.cg_iterations, "lam": self.lam}
