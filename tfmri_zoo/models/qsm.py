"""Unrolled dipole inversion for quantitative susceptibility mapping (review Sec. IV-C; MoDL-QSM / LPCNN-type).

The tissue field ``φ = A χ`` with ``A = F⁻¹ D F`` the unit dipole (:mod:`tfmri_zoo.physics.dipole`). Alternating a
learned 3D denoiser and the exact proximal data-consistency step (Tikhonov towards the denoised map, closed form in
k-space because ``A`` is diagonal there):

    χ₀ = (AᴴA + λI)⁻¹ Aᴴφ
    z_k = χ_k + R_w([χ_k, mask]),    χ_{k+1} = (AᴴA + λI)⁻¹(Aᴴφ + λ z_k) = F⁻¹[(D·Fφ + λ F z_k) / (D² + λ)]

``R_w`` is a residual 3D CNN (3×3×3 convolutions, ReLU; the brain mask as a second input channel) shared by the
unrolls, ``λ > 0`` is learned. The field is divided by its largest magnitude inside the mask before the network and
the result multiplied back (a linear inverse problem: the model is scale-equivariant). The dipole depends only on the
direction of ``k``, so for isotropic voxels the model is independent of the voxel size; anisotropic voxels need
their ``voxel_size`` (aspect ratio) in the config.
"""
import keras
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.layers.data_consistency import inverse_softplus
from tfmri_zoo.models.registry import register
from tfmri_zoo.physics.dipole import DipoleOperator, dipole_kernel


@register("qsm", presets={
    "small": {"iterations": 2, "filters": 8, "layers": 3, "lam": 0.05},
    "default": {"iterations": 5, "filters": 32, "layers": 5, "lam": 0.05},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class QSMNet(keras.Model):
    """Learned dipole inversion.

    Args:
      iterations: unrolls ``K``.
      filters, layers: the residual 3D CNN's channels and convolutions.
      lam: initial ``λ`` of the data-consistency step (trainable, > 0; in units of the normalised field squared).
      voxel_size: voxel sizes ``(D, H, W)`` (only their ratios matter).
      b0_direction: B0 in the array's axis order (default: the first axis).

    Call args: ``{"field": float32 [B, D, H, W] (ppm, background removed), "mask": float32 [B, D, H, W]}`` with
    known ``D, H, W``. Returns the susceptibility float32 ``[B, D, H, W]`` (ppm; zero outside the mask).
    """

    def __init__(self, iterations=5, filters=32, layers=5, lam=0.05, voxel_size=(1.0, 1.0, 1.0),
                 b0_direction=(1.0, 0.0, 0.0), **kwargs):
        super().__init__(**kwargs)
        if int(iterations) < 1 or int(layers) < 2 or int(filters) < 1:
            raise ValueError(f"iterations, layers, filters: expected ≥ 1, ≥ 2, ≥ 1, got {iterations}, {layers}, "
                             f"{filters}.")
        self.iterations, self.filters, self.num_layers = int(iterations), int(filters), int(layers)
        self.lam_init = float(lam)
        self.voxel_size = tuple(float(v) for v in voxel_size)
        self.b0_direction = tuple(float(b) for b in b0_direction)
        dipole_kernel((2, 2, 2), self.voxel_size, self.b0_direction)       # ValueError naming a bad argument now
        self.hidden = [keras.layers.Conv3D(self.filters, 3, padding="same", activation="relu")
                       for _ in range(self.num_layers - 1)]
        self.out = keras.layers.Conv3D(1, 3, padding="same", kernel_initializer="zeros")
        self.lam = self.add_weight(name="lam", shape=(), trainable=True,
                                   initializer=keras.initializers.Constant(inverse_softplus(self.lam_init)))

    def denoise(self, chi, mask):
        """``χ + R_w([χ, mask])``: float32 ``[B, D, H, W]`` → same."""
        x = tf.stack([chi, mask], axis=-1)
        for layer in self.hidden:
            x = layer(x)
        return chi + self.out(x)[..., 0]

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict) or "field" not in inputs:
            raise ValueError("inputs: expected {'field': float32 [B, D, H, W], 'mask': float32 [B, D, H, W]}.")
        field = tf.convert_to_tensor(inputs["field"])
        if field.dtype.is_complex or not field.dtype.is_floating:
            raise TypeError(f"field: expected a real float tensor [B, D, H, W] (ppm), got {field.dtype.name}.")
        field = validation.check_finite(tf.cast(field, tf.float32), "field")
        if field.shape.rank != 4 or None in field.shape[1:]:
            raise ValueError(f"field: expected float32 [B, D, H, W] with known D, H, W, got shape {field.shape}.")
        mask = tf.cast(inputs.get("mask", tf.ones_like(field)), tf.float32)
        if mask.shape[1:] != field.shape[1:]:
            raise ValueError(f"mask: expected the field's shape {field.shape}, got {mask.shape}.")
        field = field * mask
        scale = tf.reduce_max(tf.abs(field), axis=[1, 2, 3], keepdims=True)
        scale = tf.where(scale > 0, scale, tf.ones_like(scale))
        field = field / scale
        operator = DipoleOperator(field.shape[1:], self.voxel_size, self.b0_direction)
        lam = tf.math.softplus(self.lam)
        chi = tf.math.real(operator.regularised_inverse(field, tf.zeros_like(field), lam))
        for _ in range(self.iterations):
            prior = self.denoise(chi * mask, mask)
            chi = tf.math.real(operator.regularised_inverse(field, prior, lam))
        return chi * mask * scale

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "filters": self.filters,
                "layers": self.num_layers, "lam": self.lam_init, "voxel_size": list(self.voxel_size),
                "b0_direction": list(self.b0_direction)}
