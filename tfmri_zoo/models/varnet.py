"""End-to-end Variational Network (Sriram et al., MICCAI 2020; the fastMRI E2E-VarNet) — Sec. III-D of the review.

Cascade ``t`` updates the multi-coil k-space ``k`` (``k_0 = y``, the measured, masked k-space):

    k_{t+1} = k_t − η_t M (k_t − y) − F S( U_t( R( F⁻¹ k_t ) ) )

* ``R(x) = Σ_c conj(S_c) x_c`` reduces coil images to one image, ``S(x)_c = S_c x`` expands it back
  (``SenseOperator(maps).adjoint / .forward`` without a mask); ``F`` the centred orthonormal FFT.
* ``U_t`` a normalised U-Net on the real/imaginary channels (:func:`tfmri_zoo.models.regularizers.norm_unet`, the
  zoo's one real U-Net configured as fastMRI's): each channel is standardised by its mean and standard deviation over
  the image, zero-padded at the end to a multiple of ``2**pools``, passed through a U-Net (conv 3×3 → instance norm
  → LeakyReLU(0.2), twice per level; 2×2 average pooling; 2×2 stride-2 transposed convolution + instance norm +
  LeakyReLU for upsampling; skip concatenation; final 1×1 convolution), cropped and un-standardised.
* ``η_t`` a trainable scalar (init 1), ``M`` the sampling mask.
* Sensitivity maps ``S`` are estimated by :class:`SensitivityNetwork` from the auto-calibration (ACS) lines: the
  contiguous run of sampled columns around the k-space centre (found from the mask, in the graph) → zero-filled coil
  images → a normalised U-Net per coil → division by the root-sum-of-squares over coils. With
  ``estimate_sensitivities=False`` the ``sensitivities`` input is used instead; with ``True`` a given
  ``sensitivities`` input is not used, and the model warns once. A mask without ACS lines at the centre column is
  refused (:func:`tfmri_zoo.physics.sampling.acs_mask`).

Output: the complex coil-combined image ``R(F⁻¹ k_T)`` ``[B, H, W]`` (the zoo's model contract). fastMRI reports the
root-sum-of-squares of the coil images ``F⁻¹ k_T``; :meth:`VarNet.magnitude` gives ``|R(F⁻¹ k_T)|``, which with
RSS-normalised maps is ≤ that RSS (Cauchy–Schwarz) and equal to it where the coil images are proportional to the
maps — i.e. where the reconstruction is consistent with the maps.
"""
import warnings

import keras
import tensorflow as tf

from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.registry import register
from tfmri_zoo.models.regularizers import make_regularizer, norm_unet
from tfmri_zoo.models.vn import non_residual_spec
from tfmri_zoo.physics.coils import rss
from tfmri_zoo.physics.fft import ifft2c
from tfmri_zoo.physics.sampling import acs_mask
from tfmri_zoo.physics.sense import SenseOperator


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SensitivityNetwork(keras.layers.Layer):
    """Estimates coil maps from the ACS lines: zero-filled coil images → normalised U-Net per coil (`norm_unet`) → RSS normalisation.

    Args:
      chans, pools: of the normalised U-Net.

    Call args:
      kspace: complex64 ``[B, C, H, W]`` (masked).
      mask: float32 ``[B, 1, 1 or H, W]``.

    Returns:
      complex64 ``[B, C, H, W]`` maps with ``Σ_c |S_c|² = 1`` wherever they are non-zero.
    """

    def __init__(self, chans=8, pools=4, **kwargs):
        super().__init__(**kwargs)
        self.chans = int(chans)
        self.pools = int(pools)
        self.unet = norm_unet(self.chans, self.pools, name="unet")

    def call(self, kspace, mask):
        acs = tf.cast(acs_mask(mask), kspace.dtype)
        images = ifft2c(kspace * acs)
        shape = tf.shape(images)
        maps = self.unet(tf.reshape(images, tf.concat([[-1], shape[2:]], 0)))
        maps = tf.reshape(maps, shape)
        rss = tf.sqrt(tf.reduce_sum(tf.square(tf.abs(maps)), axis=1, keepdims=True))
        return tf.math.divide_no_nan(maps, tf.cast(rss, maps.dtype))

    def get_config(self):
        return {**super().get_config(), "chans": self.chans, "pools": self.pools}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class VarNetCascade(keras.layers.Layer):
    """One cascade ``k − η M(k − y) − F S U(R F⁻¹ k)``.

    Args:
      chans, pools: of the normalised U-Net ``U``.
      regularizer: ``None`` (the normalised U-Net) or a CNN spec ``{"name": ..., **config}`` of
        :mod:`tfmri_zoo.models.regularizers` used as ``U`` instead (built with ``residual=False``).
      lam: initial soft data-consistency weight ``η`` (trainable).
      identity_init: the U-Net's output is a zero-mean correction that starts at zero
        (``norm_unet(residual_output=True)``), so the cascade starts as ``k − η M(k − y)``.

    Call args:
      kspace: complex64 ``[B, C, H, W]``, the current k-space ``k_t``.
      measured: complex64 ``[B, C, H, W]``, the masked measured k-space ``y``.
      mask: float32 broadcastable to k-space, e.g. ``[B, 1, 1, W]``.
      sensitivities: complex64 ``[B, C, H, W]``.

    Returns:
      complex64 ``[B, C, H, W]``, ``k_{t+1}``.
    """

    def __init__(self, chans=18, pools=4, regularizer=None, lam=1.0, identity_init=False, **kwargs):
        super().__init__(**kwargs)
        self.lam = float(lam)
        self.chans = int(chans)
        self.pools = int(pools)
        self.identity_init = bool(identity_init)
        self.regularizer = None if regularizer is None else non_residual_spec(regularizer)
        self.unet = (norm_unet(self.chans, self.pools, name="unet", residual_output=self.identity_init)
                     if self.regularizer is None
                     else make_regularizer(**self.regularizer))

    def build(self, input_shape):
        self.dc_weight = self.add_weight(name="dc_weight", shape=(),
                                         initializer=keras.initializers.Constant(self.lam))

    def data_consistency(self, kspace, measured, mask):
        """The soft data-consistency term ``η M (k − y)``, complex64 ``[B, C, H, W]``."""
        weight = tf.cast(tf.complex(self.dc_weight, 0.0), kspace.dtype)
        return weight * tf.cast(mask, kspace.dtype) * (kspace - measured)

    def call(self, kspace, measured, mask, sensitivities):
        coils = SenseOperator(sensitivities, None)
        refinement = coils.forward(self.unet(coils.adjoint(kspace)))
        return kspace - self.data_consistency(kspace, measured, mask) - refinement

    def get_config(self):
        return {**super().get_config(), "chans": self.chans, "pools": self.pools, "regularizer": self.regularizer,
                "lam": self.lam, "identity_init": self.identity_init}


@register("varnet", presets={
    "small": {"iterations": 2, "chans": 4, "pools": 2, "sens_chans": 4, "sens_pools": 2},
    "default": {"iterations": 12, "chans": 18, "pools": 4, "sens_chans": 8, "sens_pools": 4},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class VarNet(ReconModel):
    """E2E-VarNet (Sriram et al. 2020), 2D multi- or single-coil Cartesian.

    Args:
      iterations: number of cascades (no sharing).
      chans, pools: normalised U-Net of every cascade.
      sens_chans, sens_pools: normalised U-Net of the sensitivity network.
      estimate_sensitivities: estimate the maps from the ACS lines (the paper); if ``False`` use the
        ``sensitivities`` input (required for multi-coil data then).
      regularizer: ``None`` (normalised U-Nets, the paper) or a CNN spec for every cascade (see
        :class:`VarNetCascade`).
      lam: initial soft data-consistency weight ``η_t`` of every cascade (trainable, one per cascade).
      identity_init: ``False`` (the paper): fastMRI's normalised U-Nets, whose random initial refinements the
        training must first learn to cancel. ``True``: each cascade's U-Net predicts a zero-mean correction
        (standardised input, output multiplied by the standard deviation only) from a zero-initialised output
        convolution, so the untrained model is the zero-filled reconstruction ``R F⁻¹ y`` and training starts there
        (measured: on the brain data the paper's initialisation stayed above the zero-filled validation loss for
        575 steps; ``models/varnet/README.md``).
      **kwargs: :class:`ReconModel` arguments (``normalize``), Keras ``name``.

    Called as ``model({"kspace": [B, C, H, W] complex64, "mask": [B, 1, 1, W] float32,
    "sensitivities": [B, C, H, W] complex64 (optional when estimating)})`` → complex64 image ``[B, H, W]``.
    With ``estimate_sensitivities=True`` the per-example scale is ``max RSS(F⁻¹ M y)`` instead of ``max |Eᴴy|``, so
    the model needs no maps at all.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    unrolled = True
    initials = ("adjoint", "sense")  # initial="sense": the cascades start from F(S x_SENSE) (models/base.py)
    cartesian_only_reason = "its cascades update Cartesian k-space and its sensitivity network reads the Cartesian ACS"

    def __init__(self, iterations=12, chans=18, pools=4, sens_chans=8, sens_pools=4, estimate_sensitivities=True,
                 regularizer=None, lam=1.0, identity_init=False, **kwargs):
        super().__init__(**kwargs)
        self.iterations = int(iterations)
        self.chans = int(chans)
        self.pools = int(pools)
        self.sens_chans = int(sens_chans)
        self.sens_pools = int(sens_pools)
        self.estimate_sensitivities = bool(estimate_sensitivities)
        if self.final_dc and self.estimate_sensitivities:
            raise ValueError("final_dc: the final proximal step uses the given maps; build VarNet with "
                             "estimate_sensitivities=False, or final_dc=False.")
        self.sensitivity_network = (SensitivityNetwork(self.sens_chans, self.sens_pools, name="sensitivity_network")
                                    if self.estimate_sensitivities else None)
        self.regularizer = None if regularizer is None else non_residual_spec(regularizer)
        self.lam = float(lam)
        self.identity_init = bool(identity_init)
        self.cascades = [VarNetCascade(self.chans, self.pools, self.regularizer, lam=self.lam,
                                       identity_init=self.identity_init, name=f"cascade_{t}")
                         for t in range(self.iterations)]

    def parse_inputs(self, inputs):
        if (self.estimate_sensitivities and isinstance(inputs, dict) and inputs.get("sensitivities") is not None
                and not getattr(self, "_warned_unused_maps", False)):
            self._warned_unused_maps = True
            warnings.warn(f"{self.name}: estimate_sensitivities=True, so the 'sensitivities' input is not used (the "
                          "maps are estimated from the ACS lines). Build VarNet(estimate_sensitivities=False) to use "
                          "given maps.", UserWarning, stacklevel=3)
        if (self.estimate_sensitivities and isinstance(inputs, dict) and inputs.get("sensitivities") is None
                and "kspace" in inputs):
            # Maps are estimated: validate k-space and mask with a placeholder for the absent maps.
            kspace = tf.convert_to_tensor(inputs["kspace"])
            kspace, mask, _ = super().parse_inputs({**inputs, "sensitivities": tf.ones_like(kspace)})
            return kspace, mask, None
        return super().parse_inputs(inputs)

    def input_scale(self, kspace, mask, sensitivities):
        if not self.estimate_sensitivities:
            return super().input_scale(kspace, mask, sensitivities)
        scale = tf.reduce_max(rss(ifft2c(kspace * tf.cast(mask, kspace.dtype))), axis=[1, 2], keepdims=True)
        scale = tf.where(scale > 0, scale, tf.ones_like(scale))
        return tf.cast(tf.stop_gradient(scale), kspace.dtype)

    def sensitivity_maps(self, kspace, mask, sensitivities):
        """The maps the cascades use: estimated, or the given ones (``None`` for single-coil data)."""
        if self.estimate_sensitivities:
            return self.sensitivity_network(kspace, mask)
        return sensitivities

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        """Normalised k-space complex64 ``[B, C, H, W]`` → complex64 image ``[B, H, W]``."""
        measured = kspace * tf.cast(mask, kspace.dtype)
        maps = self.sensitivity_maps(measured, mask, sensitivities)
        if maps is None:
            maps = tf.ones_like(measured)  # single coil: unit sensitivity
        start = measured if self.initial == "adjoint" else SenseOperator(maps, None).forward(
            self.initial_image(kspace, mask, maps, noise_std))       # initial="sense": the coil k-space of CG-SENSE
        steps = [lambda k, y, m, s, cascade=cascade: cascade(k, y, m, s) for cascade in self.cascades]
        k = self.unroll(steps, start, measured, mask, maps)   # estimated maps are an argument: they get gradients
        return SenseOperator(maps, None).adjoint(k)

    @staticmethod
    def magnitude(image):
        """``|image|``, float32 ``[B, H, W]``: the magnitude image to compare with fastMRI's RSS output."""
        return tf.abs(image)

    def get_config(self):
        config = super().get_config()
        config.update(iterations=self.iterations, chans=self.chans, pools=self.pools, sens_chans=self.sens_chans,
                      sens_pools=self.sens_pools, estimate_sensitivities=self.estimate_sensitivities,
                      regularizer=self.regularizer, lam=self.lam, identity_init=self.identity_init)
        return config
