"""Complex dropout and conversions between the complex and the real 2-channel representations.

Real 2-channel layout: ``real [..., 2F]`` holds the ``F`` real parts (or magnitudes) first, then the ``F``
imaginary parts (or phases), concatenated on the feature axis.
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import (channels_to_complex, complex_to_channels, safe_abs, safe_angle,
                                          to_layer_complex)

_MODES = ("real_imag", "magnitude_phase")


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexDropout(keras.layers.Layer):
    """Dropout with one mask shared by the real and imaginary parts, kept values scaled by ``1/(1-rate)``.

    Args:
        rate: drop probability in ``[0, 1)``.
        noise_shape: optional shape broadcastable to the inputs (e.g. ``[B, 1, 1, F]`` for spatial dropout).
        seed: optional integer seed.

    Call args:
        inputs: complex ``[B, ..., F]``.
        training: identity unless true.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate: expected a value in [0, 1), got {rate}.")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        z = to_layer_complex(self, inputs)
        if not training or self.rate == 0.0:
            return z
        shape = tf.shape(z) if self.noise_shape is None else self.noise_shape
        keep = keras.random.uniform(shape, dtype=z.dtype.real_dtype, seed=self.seed_generator) >= self.rate
        scale = tf.cast(keep, z.dtype.real_dtype) / (1.0 - self.rate)
        return z * tf.cast(scale, z.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexToChannels(keras.layers.Layer):
    """complex ``[..., F]`` -> real ``[..., 2F]``.

    Args:
        mode: ``"real_imag"`` (``[Re, Im]``) or ``"magnitude_phase"`` (``[|z|, ∠z]``, phase in ``(-π, π]``).
    """

    def __init__(self, mode="real_imag", **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        if self.mode == "real_imag":
            return complex_to_channels(z)
        return tf.concat([safe_abs(z), safe_angle(z)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ChannelsToComplex(keras.layers.Layer):
    """real ``[..., 2F]`` -> complex ``[..., F]``; inverse of :class:`ComplexToChannels` with the same ``mode``."""

    def __init__(self, mode="real_imag", **kwargs):
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(f"mode: expected one of {_MODES}, got {mode!r}.")
        self.mode = mode

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        if x.dtype.is_complex:
            raise TypeError(f"inputs: expected a real tensor [..., 2F], got {x.dtype.name}.")
        z = channels_to_complex(tf.cast(x, self.compute_dtype))
        if self.mode == "real_imag":
            return z
        magnitude, phase = tf.math.real(z), tf.math.imag(z)
        return tf.complex(magnitude * tf.cos(phase), magnitude * tf.sin(phase))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
