"""Joint reconstruction and segmentation (review Sec. V, "beyond reconstruction": task-driven multi-task networks).

A MoDL-type unroll whose shared regulariser is a residual U-Net ``D_w``; the same U-Net body then reads the final
image and a 1×1 convolution maps its last-level features to class probabilities:

    x₀ = Eᴴy;   x_{k+1} = (EᴴE + λI)⁻¹(Eᴴy + λ D_w(x_k)),  k = 0..K−1       (review Eq. 21)
    p = softmax(W · U_body(x_K))                                           (segmentation head, shared body)

Both outputs are trained together, ``L = ℓ1(x_K, x_ref) + w · CE(p, labels)``: the segmentation loss shapes the
features the regulariser uses, and the reconstruction is what the segmentation sees. The default classes are the
brain generator's background, CSF, grey matter and white matter (:data:`tfmri_zoo.data.brain.SEGMENTATION_CLASSES`).
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import UNet
from tfmri_zoo.models.registry import register


@register("recon_seg", presets={
    "small": {"iterations": 2, "cg_iterations": 3, "lam": 0.05, "filters": 8, "depth": 2, "num_classes": 4},
    "default": {"iterations": 5, "cg_iterations": 10, "lam": 0.05, "filters": 32, "depth": 3, "num_classes": 4},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ReconSeg(ReconModel):
    """Joint reconstruction and segmentation sharing one U-Net body.

    Args:
      iterations: unrolls ``K``.
      cg_iterations: CG iterations per data-consistency step.
      lam: initial shared ``λ`` (trainable, ≥ 0).
      filters, depth: the shared U-Net's first-level channels and pooling steps (ReLU, no normalisation).
      num_classes: segmentation classes (4: background, CSF, GM, WM).
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W]}``. Returns ``{"image": complex64 [B, H, W], "segmentation": float32 [B, H, W, num_classes]}``
    (class probabilities, summing to 1 over the last axis).
    """

    layouts = LAYOUT_2D
    unrolled = True

    def __init__(self, iterations=5, cg_iterations=10, lam=0.05, filters=32, depth=3, num_classes=4, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"num_classes: expected at least 2 classes, got {num_classes!r}.")
        self.iterations, self.cg_iterations, self.lam = int(iterations), int(cg_iterations), float(lam)
        self.filters, self.depth, self.num_classes = int(filters), int(depth), int(num_classes)
        self.unet = UNet(filters=self.filters, depth=self.depth, residual=True, name="unet")
        self.segmentation_head = keras.layers.Conv2D(self.num_classes, 1, name="segmentation_head")
        self.dc = ProximalL2DC(lam=self.lam, cg_iterations=self.cg_iterations)

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        x = self.make_operator(mask, sensitivities).adjoint(kspace)
        steps = [lambda x, k, m, s: self.dc(self.unet(x, training=training), k, m, s)] * self.iterations
        return self.unroll(steps, x, kspace, mask, sensitivities)

    def segment(self, image, training=None):
        """Class probabilities float32 ``[B, H, W, num_classes]`` of a (normalised) complex image ``[B, H, W]``."""
        features = self.unet(image, training=training, return_features=True)
        return tf.nn.softmax(self.segmentation_head(features), axis=-1)

    def call(self, inputs, training=None):
        kspace, mask, sensitivities = self.parse_inputs(inputs)
        scale = (self.input_scale(kspace, mask, sensitivities) if self.normalize
                 else tf.ones([tf.shape(kspace)[0], 1, 1], kspace.dtype))
        image = self.reconstruct(kspace / scale[:, None], mask, sensitivities, training=training)
        return {"image": self.restrict_to_support(image * scale, sensitivities),
                "segmentation": self.segment(image, training=training)}

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "cg_iterations": self.cg_iterations,
                "lam": self.lam, "filters": self.filters, "depth": self.depth, "num_classes": self.num_classes}
