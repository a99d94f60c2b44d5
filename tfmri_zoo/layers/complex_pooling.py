"""Complex pooling and up-sampling (review Table I: max pooling by maximum magnitude).

* ``ComplexMaxPooling{1,2,3}D`` — each non-overlapping window (``strides = pool_size``) outputs the complex value of
  largest magnitude, ``x_n`` with ``n = argmax_k |x_k|``, so the gradient flows to that element only.
* ``ComplexAveragePooling{1,2,3}D`` — average of the complex values (average of real and imaginary parts).
* ``ComplexUpSampling{1,2,3}D`` — nearest-neighbour repetition.
* ``*2Dt`` variants for 2D+t tensors ``[B, T, H, W, F]`` pool/up-sample the spatial axes only (time kept).

All take complex ``[B, *spatial, F]`` and return complex ``[B, *spatial', F]``.
"""
import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import (channels_to_complex, complex_to_channels, safe_abs,
                                          to_layer_complex)


def _sizes(value, rank, name):
    if isinstance(value, int):
        value = (value,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank or min(value) < 1:
        raise ValueError(f"{name}: expected a positive int or {rank} positive ints, got {value}.")
    return value


def _check_rank(z, rank):
    if len(z.shape) != rank + 2:
        raise ValueError(f"inputs: expected rank {rank + 2} [batch, *spatial({rank}), features], got shape {z.shape}.")


def max_magnitude_pool(z, pool_size, padding="valid"):
    """Max-magnitude pooling of complex ``z [B, *spatial, F]`` over non-overlapping windows ``pool_size``.

    ``padding="valid"`` drops the incomplete trailing windows, ``"same"`` zero-pads them.
    """
    rank = len(pool_size)
    shape = tf.shape(z)
    spatial = [shape[1 + d] for d in range(rank)]
    if padding == "same":
        pads = [[0, 0]] + [[0, (-spatial[d]) % pool_size[d]] for d in range(rank)] + [[0, 0]]
        z = tf.pad(z, pads)
        blocks = [-(-spatial[d] // pool_size[d]) for d in range(rank)]
    else:
        blocks = [spatial[d] // pool_size[d] for d in range(rank)]
        z = z[(slice(None),) + tuple(slice(0, blocks[d] * pool_size[d]) for d in range(rank))]
    split = [shape[0]]
    for d in range(rank):
        split += [blocks[d], pool_size[d]]
    split.append(shape[-1])
    z = tf.reshape(z, tf.stack(split))
    outer = [0] + [1 + 2 * d for d in range(rank)] + [2 * rank + 1]
    inner = [2 + 2 * d for d in range(rank)]
    z = tf.transpose(z, outer + inner)                           # [B, *blocks, F, *pool]
    z = tf.reshape(z, tf.concat([tf.shape(z)[:rank + 2], [-1]], axis=0))
    winner = tf.one_hot(tf.argmax(safe_abs(z), axis=-1), tf.shape(z)[-1], dtype=z.dtype.real_dtype)
    return tf.reduce_sum(z * tf.cast(winner, z.dtype), axis=-1)


def average_pool(z, pool_size, strides, padding="valid"):
    """Average pooling of complex ``z [B, *spatial, F]`` (real and imaginary parts alike).

    Computed as a convolution of every channel with a box kernel (which, unlike ``AvgPool3D``, also runs in
    float64 on CPU); with ``padding="same"`` the border windows average their valid elements only, as Keras does.
    """
    rank = len(pool_size)
    x = complex_to_channels(z)                                   # [B, *S, 2F]
    shape = tf.shape(x)
    x = tf.transpose(x, [0, rank + 1] + list(range(1, rank + 1)))
    x = tf.reshape(x, tf.concat([[-1], shape[1:rank + 1], [1]], axis=0))  # [B·2F, *S, 1]
    box = tf.ones(tuple(pool_size) + (1, 1), dtype=x.dtype)
    sums = keras.ops.conv(x, box, strides=strides, padding=padding)
    if padding == "same":
        sums = sums / keras.ops.conv(tf.ones_like(x[:1]), box, strides=strides, padding=padding)
    else:
        sums = sums / float(np.prod(pool_size))
    out = tf.shape(sums)
    sums = tf.reshape(sums, tf.concat([shape[:1], shape[-1:], out[1:rank + 1]], axis=0))
    return channels_to_complex(tf.transpose(sums, [0] + list(range(2, rank + 2)) + [1]))


class _ComplexPool(keras.layers.Layer):
    rank = 2

    def __init__(self, pool_size=2, padding="valid", **kwargs):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"padding: expected 'same' or 'valid', got {padding!r}.")
        self.pool_size = _sizes(pool_size, self.rank, "pool_size")
        self.padding = padding

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding}


class _ComplexMaxPool(_ComplexPool):
    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        _check_rank(z, self.rank)
        return max_magnitude_pool(z, self.pool_size, self.padding)


class _ComplexAveragePool(_ComplexPool):
    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, padding, **kwargs)
        self.strides = self.pool_size if strides is None else _sizes(strides, self.rank, "strides")

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        _check_rank(z, self.rank)
        return average_pool(z, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "strides": self.strides}


class _ComplexUpSample(keras.layers.Layer):
    rank = 2

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = _sizes(size, self.rank, "size")

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        _check_rank(z, self.rank)
        for d, factor in enumerate(self.size):
            if factor > 1:
                z = tf.repeat(z, factor, axis=1 + d)
        return z

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _spatial_only(value):
    """``2`` or ``(2, 2)`` -> ``(1, 2, 2)``; a 3-tuple is kept (for ``from_config``)."""
    if isinstance(value, int):
        return (1, value, value)
    value = tuple(value)
    return value if len(value) == 3 else (1,) + value




@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexMaxPooling1D(_ComplexMaxPool):
    """Max-magnitude pooling, inputs complex ``[B, L, F]``. Args: ``pool_size=2``, ``padding="valid"|"same"``."""
    rank = 1


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexMaxPooling2D(_ComplexMaxPool):
    """Max-magnitude pooling, inputs complex ``[B, H, W, F]``. Args: ``pool_size=2``, ``padding``."""
    rank = 2


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexMaxPooling3D(_ComplexMaxPool):
    """Max-magnitude pooling, inputs complex ``[B, D, H, W, F]``. Args: ``pool_size=2``, ``padding``."""
    rank = 3


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexMaxPooling2Dt(ComplexMaxPooling3D):
    """Max-magnitude pooling of the spatial axes of complex ``[B, T, H, W, F]``; ``pool_size`` int or (ph, pw)."""

    def __init__(self, pool_size=2, padding="valid", **kwargs):
        super().__init__(_spatial_only(pool_size), padding, **kwargs)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexAveragePooling1D(_ComplexAveragePool):
    """Average pooling, complex ``[B, L, F]``. Args: ``pool_size=2``, ``strides=None`` (= pool), ``padding``."""
    rank = 1


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexAveragePooling2D(_ComplexAveragePool):
    """Average pooling, complex ``[B, H, W, F]``. Args: ``pool_size=2``, ``strides=None``, ``padding``."""
    rank = 2


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexAveragePooling3D(_ComplexAveragePool):
    """Average pooling, complex ``[B, D, H, W, F]``. Args: ``pool_size=2``, ``strides=None``, ``padding``."""
    rank = 3


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexAveragePooling2Dt(ComplexAveragePooling3D):
    """Average pooling of the spatial axes of complex ``[B, T, H, W, F]``; ``pool_size`` int or (ph, pw)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(_spatial_only(pool_size), None if strides is None else _spatial_only(strides), padding,
                         **kwargs)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexUpSampling1D(_ComplexUpSample):
    """Nearest up-sampling of complex ``[B, L, F]`` by ``size`` (int)."""
    rank = 1


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexUpSampling2D(_ComplexUpSample):
    """Nearest up-sampling of complex ``[B, H, W, F]`` by ``size`` (int or 2 ints)."""
    rank = 2


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexUpSampling3D(_ComplexUpSample):
    """Nearest up-sampling of complex ``[B, D, H, W, F]`` by ``size`` (int or 3 ints)."""
    rank = 3


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexUpSampling2Dt(ComplexUpSampling3D):
    """Nearest up-sampling of the spatial axes of complex ``[B, T, H, W, F]`` by ``size`` (int or 2 ints)."""

    def __init__(self, size=2, **kwargs):
        super().__init__(_spatial_only(size), **kwargs)
