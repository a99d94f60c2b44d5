"""Losses for complex-valued reconstructions, safe from the Keras 3 complex→float cast (DESIGN.md).

``keras.losses.Loss.__call__`` casts ``y_true``/``y_pred`` to the loss dtype before ``call``; with the default
float32 it silently drops the imaginary part. Every loss here is constructed with ``dtype="complex64"`` so the
tensors reach ``call`` intact, and computes a real value from them.

Shapes: ``y_true`` and ``y_pred`` complex64 ``[B, *extra, H, W]`` (a float target is promoted to complex).
"""
import keras
import tensorflow as tf


class ComplexLoss(keras.losses.Loss):
    """Base: keeps complex inputs complex; subclasses implement ``complex_call(y_true, y_pred) → [B]`` float32."""

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype="complex64"):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.convert_to_tensor(y_true)
        if not y_pred.dtype.is_complex:
            y_pred = tf.complex(tf.cast(y_pred, tf.float32), 0.0)
        if not y_true.dtype.is_complex:
            y_true = tf.complex(tf.cast(y_true, y_pred.dtype.real_dtype), tf.zeros_like(tf.cast(y_true, y_pred.dtype.real_dtype)))
        y_true = tf.cast(y_true, y_pred.dtype)
        return tf.cast(self.complex_call(y_true, y_pred), tf.float32)

    def complex_call(self, y_true, y_pred):
        raise NotImplementedError


def _per_example_mean(x):
    return tf.reduce_mean(x, axis=list(range(1, x.shape.rank)))


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexMSE(ComplexLoss):
    """Mean of ``|y_true − y_pred|²`` per example (real and imaginary parts both count)."""

    def __init__(self, name="complex_mse", **kwargs):
        super().__init__(name=name, **kwargs)

    def complex_call(self, y_true, y_pred):
        return _per_example_mean(tf.math.square(tf.abs(y_true - y_pred)))


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexL1(ComplexLoss):
    """Mean of ``|y_true − y_pred|`` per example (modulus of the complex error)."""

    def __init__(self, name="complex_l1", **kwargs):
        super().__init__(name=name, **kwargs)

    def complex_call(self, y_true, y_pred):
        return _per_example_mean(tf.abs(y_true - y_pred))
