"""Keras layer for the bilinear backward warp ``W_u`` of :mod:`tfmri_zoo.physics.warp` (and its adjoint)."""
import keras
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.warp import scaling_and_squaring, warp, warp_adjoint, warp_channels, warp_channels_adjoint

__all__ = ["Warp", "scaling_and_squaring", "warp", "warp_adjoint", "warp_channels", "warp_channels_adjoint"]


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class Warp(keras.layers.Layer):
    """Keras layer: bilinear backward warp ``W_u x`` (or its adjoint ``W_uᴴ x`` with ``adjoint=True``).

    Args:
      adjoint: apply the adjoint (scatter) instead of the warp.
      diffeomorphic: treat the second input as a stationary velocity field and integrate it by scaling and
        squaring first.
      steps: scaling-and-squaring steps (with ``diffeomorphic``).

    Call args:
      image: complex64 or float32 ``[B, (T,) H, W]``.
      displacement: float32 ``[B, (T,) H, W, 2]`` in pixels (row, column).

    Returns:
      ``image``'s dtype and shape.
    """

    def __init__(self, adjoint=False, diffeomorphic=False, steps=6, **kwargs):
        super().__init__(**kwargs)
        self.adjoint, self.diffeomorphic, self.steps = bool(adjoint), bool(diffeomorphic), int(steps)

    def call(self, image, displacement):
        image = tf.convert_to_tensor(image)
        if image.dtype.is_complex:
            image = validation.as_complex(image, "image", image.dtype)
        field = tf.convert_to_tensor(displacement)
        if self.diffeomorphic:
            field = scaling_and_squaring(tf.cast(field, image.dtype.real_dtype), self.steps)
        return (warp_adjoint if self.adjoint else warp)(image, field)

    def compute_output_spec(self, image, displacement):
        return keras.KerasTensor(image.shape, dtype=image.dtype)

    def get_config(self):
        return {**super().get_config(), "adjoint": self.adjoint, "diffeomorphic": self.diffeomorphic,
                "steps": self.steps}
