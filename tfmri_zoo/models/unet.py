"""Image-domain U-Net with optional k-space replacement (review Sec. III-A: image enhancement + data consistency).

``x = U(Eᴴy)`` — a residual U-Net on the zero-filled image — optionally followed by hard k-space replacement
``x ← Cᴴ F⁻¹[(1 − m)·F C x + m·y]`` (:class:`~tfmri_zoo.layers.data_consistency.KSpaceReplacement`), which puts the
measured samples back. The U-Net is the real 2-channel one (fastMRI-style defaults: 32 channels, 4 poolings,
instance norm, leaky ReLU) or, with ``complex_network=True``, the package's complex U-Net
(:class:`~tfmri_zoo.layers.complex_unet.ComplexUNet`, complex convolutions and CReLU).
"""
import keras

from tfmri_zoo.layers.data_consistency import KSpaceReplacement
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import ComplexUNetRegularizer, UNet
from tfmri_zoo.models.registry import register


@register("unet", presets={
    "small": {"filters": 8, "depth": 2, "norm": None, "activation": "relu", "kspace_replacement": True},
    "default": {"filters": 32, "depth": 4, "norm": "instance", "kspace_replacement": True},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class UNetRecon(ReconModel):
    """Zero-filled image → residual U-Net → (optional) k-space replacement.

    Args:
      filters: channels of the first level (doubled per level).
      depth: number of poolings.
      convs: convolutions per level.
      norm: ``None``, ``"instance"`` or ``"batch"``.
      activation: real activation (real U-Net) — complex U-Net uses ``"crelu"``.
      complex_network: use the complex U-Net (complex convolutions) instead of the real 2-channel one.
      kspace_replacement: put the measured k-space samples back after the U-Net.
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W] or absent}``. Returns complex64 ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    operators = ("cartesian", "nufft")  # operator="nufft": trajectory inputs (models/base.py)
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)

    def __init__(self, filters=32, depth=4, convs=2, norm="instance", activation="leaky_relu", complex_network=False,
                 kspace_replacement=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.depth, self.convs, self.norm = int(filters), int(depth), int(convs), norm
        self.activation, self.complex_network = activation, bool(complex_network)
        self.kspace_replacement = bool(kspace_replacement)
        if self.kspace_replacement and self.operator == "nufft":
            raise ValueError("kspace_replacement: k-space replacement puts back Cartesian samples; set it False for "
                             "operator='nufft'.")
        if self.complex_network:
            self.network = ComplexUNetRegularizer(filters=self.filters, depth=self.depth,
                                                  convs=self.convs, norm=norm)
        else:
            self.network = UNet(filters=self.filters, depth=self.depth, convs=self.convs, norm=norm,
                                activation=activation)
        self.dc = KSpaceReplacement() if self.kspace_replacement else None

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        x = self.network(self.initial_image(kspace, mask, sensitivities, noise_std), training=training)
        return self.dc(x, kspace, mask, sensitivities) if self.dc is not None else x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth, "convs": self.convs,
                "norm": self.norm, "activation": self.activation, "complex_network": self.complex_network,
                "kspace_replacement": self.kspace_replacement}
