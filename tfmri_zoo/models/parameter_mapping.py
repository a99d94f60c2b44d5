"""Learned parameter mapping (review Sec. IV-C, Eq. 29–30; MANTIS-type: Liu et al., MRM 2019).

A network ``f_NM`` maps undersampled multi-echo (T2) or inversion-recovery (T1) k-space to the parameter maps ``ϑ =
(ρ, R)`` of a signal model ``M`` (:mod:`tfmri_zoo.physics.signal_models`):

    x_t = Eᴴy_t                               zero-filled series (the always-sampled centre keeps its intensity)
    R₀                                        T2: weighted log-linear fit of |x_t| (weights |x_t|²); T1: 1/mean(t)
    ρ₀                                        variable projection at R₀ (:func:`recon.initial_params`)
    ρ = ρ₀ · exp(u₁ + i u₂),  R = R₀ + u₃ / mean(t),   u = U([|x_t| / max|x|, R₀ · mean(t)])

The U-Net sees the magnitudes only, and corrects ρ multiplicatively, so the maps follow any phase of the data
(a global phase rotates ``ρ`` and nothing else); its output convolution starts at zero (the untrained model is
``ϑ₀``).

It is trained with the model in the loss (:func:`tfmri_zoo.training.mapping.mapping_loss`): supervised on maps plus
k-space consistency ``‖E M(ϑ) − y‖²`` (Eq. 29), or self-supervised from k-space alone with a total-variation prior on
the maps (Eq. 30). ``ρ`` carries the data's scale (the model divides k-space by ``max|Eᴴy|`` and multiplies ``ρ``
back); the rate is in the inverse unit of ``times``.
"""
import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.models.base import ReconModel
from tfmri_zoo.models.regularizers import UNet
from tfmri_zoo.models.registry import register
from tfmri_zoo.physics.signal_models import pack_params, signal_model, unpack_params
from tfmri_zoo.recon.model_based import initial_params, log_linear_rate

@register("parameter_mapping", presets={
    "small": {"signal": "t2", "times": [10.0, 20.0, 40.0, 80.0], "filters": 8, "depth": 2},
    "default": {"signal": "t2", "times": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0], "filters": 32,
                "depth": 3},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ParameterMapping(ReconModel):
    """Undersampled multi-coil series → packed parameter maps.

    Args:
      signal: ``"t2"`` (``ρ e^{−tR2}``) or ``"t1"`` (``ρ(1 − 2e^{−tR1})``).
      times: the echo / inversion times (≥ 2), e.g. in ms.
      filters, depth: the U-Net's first-level channels and pooling steps.
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, T, H, W], "mask": float32 [B, 1, T, 1, W], "sensitivities": complex64
    [B, C, 1, H, W]}``. Returns packed complex64 ``[B, 2, H, W]``: ``ρ`` (complex) and the rate in channel 1's real
    part (``physics.unpack_params``, ``physics.rate_to_time``).
    """

    layouts = {"extra_dims": (1,), "spatial_rank": (2,)}

    def __init__(self, signal="t2", times=(10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0), filters=32, depth=3,
                 **kwargs):
        kwargs.setdefault("extra_dims", 1)
        super().__init__(**kwargs)
        self.signal, self.times = signal, [float(t) for t in times]
        self.signal_model = signal_model(self.signal, self.times)
        self.time_scale = float(np.mean(self.times))
        self.filters, self.depth = int(filters), int(depth)
        self.unet = UNet(filters=self.filters, depth=self.depth, residual=False, out_channels=3, zero_output=True,
                         name="unet")

    def call(self, inputs, training=None):
        kspace, mask, sensitivities = self.parse_inputs(inputs)
        if kspace.shape[2] is not None and kspace.shape[2] != len(self.times):
            raise ValueError(f"kspace: axis 2 has {kspace.shape[2]} time points but times has {len(self.times)}.")
        scale = self.input_scale(kspace, mask, sensitivities)                          # [B, 1, 1, 1]
        operator = self.make_operator(mask, sensitivities)
        series = operator.adjoint(kspace / scale[:, None])                             # [B, T, H, W]
        magnitude = tf.abs(series)                                                    # [B, T, H, W]
        rate0 = self.initial_rate(magnitude)
        rho0, _ = unpack_params(initial_params(series, self.signal_model, rate=rate0))
        peak = tf.maximum(tf.reduce_max(magnitude, axis=[1, 2, 3], keepdims=True), 1e-30)
        channels = tf.concat([tf.transpose(magnitude / peak, [0, 2, 3, 1]), (rate0 * self.time_scale)[..., None]],
                             axis=-1)
        delta = self.unet(channels, training=training, real_channels=True)            # [B, H, W, 3]
        rho = rho0 * tf.exp(tf.complex(delta[..., 0], delta[..., 1]))
        rate = rate0 + delta[..., 2] / self.time_scale
        return pack_params(rho * scale[:, 0], rate)

    def initial_rate(self, magnitude):
        """``R₀`` float32 ``[B, H, W]`` from the magnitudes ``[B, T, H, W]``: T2 — :func:`recon.log_linear_rate`;
        T1 — the constant ``1/mean(t)``."""
        if self.signal != "t2":
            return tf.fill(tf.shape(magnitude[:, 0]), 1.0 / self.time_scale)
        return log_linear_rate(magnitude, self.times)

    def get_config(self):
        return {**super().get_config(), "signal": self.signal, "times": self.times, "filters": self.filters,
                "depth": self.depth}
