"""Learned primal-dual reconstruction (Adler & Öktem, IEEE TMI 2018), an unrolled primal-dual hybrid gradient method.

Primal memory ``f`` (``n_primal`` complex images) and dual memory ``h`` (``n_dual`` complex k-spaces per coil) are
updated alternately, with the operator ``E`` and its adjoint between them; ``f₀`` = ``Eᴴy`` (or, with
``initial="sense"``, the CG-SENSE image) in every channel, ``h₀ = 0``. For ``i = 1..K``:
  ``h = h + Γ_i([h, E f⁽²⁾, y])``       (dual block, applied per coil on k-space real/imaginary channels)
  ``f = f + Λ_i([f, Eᴴ h⁽¹⁾])``         (primal block on image real/imaginary channels)
and the result is ``f⁽¹⁾``. Γ_i and Λ_i are small CNNs (original: three 3×3 convolutions, 32 channels, PReLU), one
pair per iteration. They are built from the same regulariser registry as the other unrolled models, used as plain
real CNNs (``network``, no residual) with ``2·n`` output channels.
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import channels_to_complex, complex_to_channels
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import REGULARIZERS, Regularizer, make_regularizer, regularizer_spec
from tfmri_zoo.models.registry import register

_ADLER_BLOCK = {"name": "dncnn", "filters": 32, "layers": 3, "batch_norm": False, "activation": "prelu"}


@register("primal_dual", presets={
    "small": {"iterations": 2, "n_primal": 3, "n_dual": 3, "regularizer": {**_ADLER_BLOCK, "filters": 8}},
    "default": {"iterations": 10, "n_primal": 5, "n_dual": 5, "regularizer": dict(_ADLER_BLOCK)},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class PrimalDual(ReconModel):
    """Learned primal-dual network.

    Args:
      iterations: number of primal-dual iterations ``K``.
      n_primal: complex primal memory channels (≥ 2: channel 1 is the output, channel 2 goes through ``E``).
      n_dual: complex dual memory channels per coil (≥ 1).
      regularizer: the block CNN, a name or ``{"name": ..., **config}`` of a real regulariser (``"dncnn"``,
        ``"unet"``, ``"resnet"``, ``"downup"``); ``residual`` and ``out_channels`` are set by the model.
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W] or absent}``. Returns complex64 ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    unrolled = True
    cartesian_only_reason = "its dual CNN convolves the Cartesian k-space grid"
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)

    def __init__(self, iterations=10, n_primal=5, n_dual=5, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if n_primal < 2 or n_dual < 1:
            raise ValueError(f"n_primal, n_dual: expected >= 2 and >= 1, got {n_primal}, {n_dual}.")
        self.iterations, self.n_primal, self.n_dual = int(iterations), int(n_primal), int(n_dual)
        spec = regularizer_spec(dict(_ADLER_BLOCK) if regularizer is None else regularizer)
        spec = {k: v for k, v in spec.items() if k not in ("residual", "out_channels")}
        self.regularizer = spec
        self.primal_blocks = [self._block(2 * self.n_primal) for _ in range(self.iterations)]
        self.dual_blocks = [self._block(2 * self.n_dual) for _ in range(self.iterations)]

    def _block(self, out_channels):
        if not issubclass(REGULARIZERS[self.regularizer["name"]], Regularizer):
            raise ValueError(f"regularizer: primal-dual blocks need a real multi-channel CNN "
                             f"({sorted(n for n, c in REGULARIZERS.items() if issubclass(c, Regularizer))}), "
                             f"got {self.regularizer['name']!r}.")
        return make_regularizer(**self.regularizer, residual=False, out_channels=out_channels)

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        start = self.initial_image(kspace, mask, sensitivities, noise_std)
        f = tf.repeat(start[..., None], self.n_primal, axis=-1)                   # [B, H, W, Np]
        h = tf.zeros(tf.concat([tf.shape(kspace), [self.n_dual]], 0), kspace.dtype)  # [B, C, H, W, Nd]

        def step(fh, kspace, mask, sensitivities, primal, dual):
            f, h = fh
            op = self.make_operator(mask, sensitivities)
            dual_in = tf.concat([h, op.forward(f[..., 1])[..., None], kspace[..., None]], axis=-1)
            dual_in = tf.reshape(dual_in, tf.concat([[-1], tf.shape(kspace)[2:], [self.n_dual + 2]], 0))
            update = channels_to_complex(dual.network(complex_to_channels(dual_in), training=training))
            h = h + tf.reshape(update, tf.shape(h))
            primal_in = tf.concat([f, op.adjoint(h[..., 0])[..., None]], axis=-1)
            f = f + channels_to_complex(primal.network(complex_to_channels(primal_in), training=training))
            return f, h

        steps = [lambda fh, k, m, s, p=primal, d=dual: step(fh, k, m, s, p, d)
                 for primal, dual in zip(self.primal_blocks, self.dual_blocks)]
        f, _ = self.unroll(steps, (f, h), kspace, mask, sensitivities)
        return f[..., 0]

    def get_config(self):
        return {**super().get_config(), "iterations": self.iterations, "n_primal": self.n_primal,
                "n_dual": self.n_dual, "regularizer": self.regularizer}
