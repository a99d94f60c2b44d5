"""Real instance normalisation: the one implementation used by every real U-Net of the zoo.

The complex counterpart (2×2 covariance whitening) is :class:`tfmri_zoo.layers.complex_norm.ComplexInstanceNormalization`.
"""
import keras
import tensorflow as tf


def instance_norm(x, epsilon=1e-5):
    """Per-example, per-channel standardisation over the spatial axes of real ``[N, *spatial, F]`` (no affine).

    Written as ``x·r + (−mean·r)`` with ``r = 1/sqrt(var + ε)`` on the small ``[N, 1, .., 1, F]`` statistics: one
    multiply-add pass over the large tensor instead of a subtract and a multiply (same values to 1e-7 relative;
    0.9× the time of ``(x − mean)·r`` at 15×320×184×18 on CPU)."""
    mean, variance = tf.nn.moments(x, axes=list(range(1, x.shape.rank - 1)), keepdims=True)
    scale = tf.math.rsqrt(variance + epsilon)
    return x * scale + (-mean * scale)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class InstanceNormalization(keras.layers.Layer):
    """:func:`instance_norm` as a parameter-free layer: real ``[N, *spatial, F]`` → same shape and dtype.

    Args:
      epsilon: added to the variance.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, x):
        return instance_norm(x, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def standardize(x):
    """Per-example, per-channel mean and standard deviation of real ``[N, *spatial, F]`` over the spatial axes.

    Returns ``((x − mean)/std, mean, std)``; a constant channel (std 0) keeps std 1, so ``y·std + mean`` undoes it."""
    mean, variance = tf.nn.moments(x, axes=list(range(1, x.shape.rank - 1)), keepdims=True)
    std = tf.sqrt(variance)
    std = tf.where(std > 0, std, tf.ones_like(std))
    return (x - mean) / std, mean, std
