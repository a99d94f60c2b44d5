"""Complex convolutions (review Eq. 26) as Keras 3 layers, with a real 2-channel mode.

Complex mode (default)
    inputs ``complex [B, *spatial, C]`` -> outputs ``complex [B, *spatial', F]``.  The complex kernel ``K = Kr + i Ki``
    is one real variable ``[*kernel_size, C, F, 2]``; Eq. 26,
    ``x * K = (Re x * Kr - Im x * Ki) + i (Im x * Kr + Re x * Ki)``, is evaluated as *one* real convolution of the
    stacked input ``[Re x, Im x]`` (``2C`` channels) with the block kernel ``[[Kr, Ki], [-Ki, Kr]]`` (``2C -> 2F``).
    Like Keras' ``Conv`` it is a cross-correlation (the kernel is not flipped nor conjugated).

Real 2-channel mode (``complex_network=False``)
    the same layer on the real view: inputs ``real [B, *spatial, 2C]`` (real parts of the C features, then their
    imaginary parts), outputs ``real [B, *spatial', 2F]``, with an *unconstrained* real kernel ``[*k, 2C, 2F]``.
    This is the usual "real network on real/imag channels"; a network builds both ways by passing one flag (see
    :class:`tfmri_zoo.layers.complex_unet.ComplexUNet`).  A complex initialiser in this mode draws a complex kernel
    and starts from its block form; a real initialiser (default ``glorot_uniform``) fills the real kernel.

Transposed convolutions apply the adjoint ``Kᴴ`` of the complex convolution that has the same kernel (conjugation
included), so ``<K x, y> = <x, Kᴴ y>`` holds exactly with shared weights.

Spatio-temporal ``ComplexConv2Dt`` / ``ComplexConv3Dt`` (CINENet) split a (2+1)D / (3+1)D kernel into a spatial
convolution per frame followed by a temporal 1D convolution per voxel.
"""
import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.layers.complex_activations import get_complex_activation
from tfmri_zoo.layers.complex_init import ComplexInitializer, get_complex_initializer
from tfmri_zoo.layers.complex_ops import (channels_to_complex, complex_dtype_of, complex_to_channels,
                                          to_layer_complex)


def _tuple(value, rank, name):
    if isinstance(value, int):
        return (value,) * rank
    value = tuple(int(v) for v in value)
    if len(value) != rank:
        raise ValueError(f"{name}: expected an int or {rank} ints, got {value}.")
    return value


def block_kernel(kernel):
    """Real block kernel ``[[Kr, Ki], [-Ki, Kr]]`` of shape ``[*k, 2C, 2F]`` from the stored ``[*k, C, F, 2]``."""
    kr, ki = kernel[..., 0], kernel[..., 1]
    top = tf.concat([kr, ki], axis=-1)        # multiplies Re x
    bottom = tf.concat([-ki, kr], axis=-1)    # multiplies Im x
    return tf.concat([top, bottom], axis=-2)


class ComplexConvBase(keras.layers.Layer):
    """Shared implementation of complex (or real 2-channel) N-D convolution and its adjoint.

    The base of :class:`ComplexConv1D`, :class:`ComplexConv2D`, :class:`ComplexConv3D` and the transposed
    convolutions (class attribute ``transpose``); networks test ``isinstance(layer, ComplexConvBase)`` to recognise a
    convolution. Arguments as :class:`ComplexConv1D`, after ``rank`` (number of spatial axes).
    """

    transpose = False

    def __init__(self, rank, filters, kernel_size, strides=1, padding="same", dilation_rate=1, use_bias=True,
                 kernel_initializer=None, bias_initializer="zeros", kernel_regularizer=None, complex_network=True,
                 **kwargs):
        super().__init__(**kwargs)
        if int(filters) <= 0:
            raise ValueError(f"filters: expected a positive int, got {filters}.")
        if padding not in ("same", "valid"):
            raise ValueError(f"padding: expected 'same' or 'valid', got {padding!r}.")
        self.rank = rank
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, rank, "kernel_size")
        self.strides = _tuple(strides, rank, "strides")
        self.padding = padding
        self.dilation_rate = _tuple(dilation_rate, rank, "dilation_rate")
        self.use_bias = bool(use_bias)
        self.complex_network = bool(complex_network)
        self._real_2ch = not self.complex_network
        if kernel_initializer is None:
            kernel_initializer = "glorot_uniform" if self._real_2ch else "complex_glorot_uniform"
        self.kernel_initializer = get_complex_initializer(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"inputs: expected rank {self.rank + 2} [batch, *spatial({self.rank}), features], "
                             f"got shape {input_shape}.")
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"inputs: the feature (last) axis must be known, got shape {input_shape}.")
        if self._real_2ch:
            if channels % 2:
                raise ValueError(f"inputs: complex_network=False expects an even number of channels (real then "
                                 f"imaginary parts), got shape {input_shape}.")
            pair = (channels, 2 * self.filters)
            shape = self.kernel_size + (pair[::-1] if self.transpose else pair)
            bias_shape = (2 * self.filters,)
            initializer = self.kernel_initializer
            if isinstance(initializer, ComplexInitializer):  # start from the block form of a complex kernel
                half = self.kernel_size + tuple(d // 2 for d in shape[-2:]) + (2,)
                initializer = lambda shape, dtype=None: block_kernel(self.kernel_initializer(half, dtype))  # noqa
        else:
            pair = (channels, self.filters)
            shape = self.kernel_size + (pair[::-1] if self.transpose else pair) + (2,)
            bias_shape = (self.filters, 2)
            initializer = self.kernel_initializer
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight(name="bias", shape=bias_shape, initializer=self.bias_initializer)
                     if self.use_bias else None)

    def _real_kernel(self):
        return self.kernel if self._real_2ch else block_kernel(self.kernel)

    def call(self, inputs):
        if self._real_2ch:
            x = tf.cast(inputs, self.compute_dtype)
        else:
            x = complex_to_channels(to_layer_complex(self, inputs))
        kernel = self._real_kernel()
        if self.transpose:
            y = keras.ops.conv_transpose(x, kernel, strides=self.strides, padding=self.padding,
                                         dilation_rate=self.dilation_rate)
        else:
            y = keras.ops.conv(x, kernel, strides=self.strides, padding=self.padding,
                               dilation_rate=self.dilation_rate)
        if self.bias is not None:
            bias = self.bias if self._real_2ch else tf.concat([self.bias[:, 0], self.bias[:, 1]], axis=0)
            y = y + bias
        return y if self._real_2ch else channels_to_complex(y)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias, "complex_network": self.complex_network,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)}


def _make_conv_class(rank, transpose):
    """Creates a registered public class for one rank (the docstring is set below)."""

    class _Conv(ComplexConvBase):
        def __init__(self, filters, kernel_size, **kwargs):
            super().__init__(rank, filters, kernel_size, **kwargs)

    _Conv.transpose = transpose
    return _Conv


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv1D(_make_conv_class(1, False)):
    """Complex 1D convolution. Inputs ``complex [B, L, C]`` (or ``real [B, L, 2C]`` if ``complex_network=False``);
    outputs ``complex [B, L', filters]`` (or ``real [B, L', 2 filters]``).  Args: ``filters, kernel_size, strides=1,
    padding="same", dilation_rate=1, use_bias=True, kernel_initializer, bias_initializer, kernel_regularizer,
    complex_network=True`` (``False``: real 2-channel mode, see module docstring)."""


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv2D(_make_conv_class(2, False)):
    """Complex 2D convolution. Inputs ``complex [B, H, W, C]`` (``real [B, H, W, 2C]`` if ``complex_network=False``);
    outputs ``complex [B, H', W', filters]``.  Arguments as :class:`ComplexConv1D`."""


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv3D(_make_conv_class(3, False)):
    """Complex 3D convolution. Inputs ``complex [B, D, H, W, C]``; outputs ``complex [B, D', H', W', filters]``.
    Arguments as :class:`ComplexConv1D`."""


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv2DTranspose(_make_conv_class(2, True)):
    """Adjoint of :class:`ComplexConv2D` with the same kernel. Inputs ``complex [B, H, W, C]``; outputs
    ``complex [B, H·s, W·s, filters]`` (``same``) or ``(H-1)s + k`` (``valid``).  Kernel stored as
    ``[kh, kw, filters, C, 2]`` (Keras' transpose layout)."""


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv3DTranspose(_make_conv_class(3, True)):
    """Adjoint of :class:`ComplexConv3D` with the same kernel. Inputs ``complex [B, D, H, W, C]``; outputs
    ``complex [B, D', H', W', filters]``.  Kernel stored as ``[kd, kh, kw, filters, C, 2]``."""


_SPATIAL_CONV = {1: ComplexConv1D, 2: ComplexConv2D, 3: ComplexConv3D}


def matched_intermediate_filters(in_features, filters, spatial_kernel, temporal_kernel):
    """Intermediate feature count of a split conv with the parameter count of the full (N+1)-D kernel.

    Full kernel: ``kt · ks · C · F`` weights; split: ``ks · C · M + kt · M · F``; so
    ``M = floor(kt ks C F / (ks C + kt F))`` (R(2+1)D, Tran et al. 2018; as in CINENet).  At least 1.
    """
    ks = int(np.prod(spatial_kernel))
    kt = int(temporal_kernel)
    return max(1, (kt * ks * in_features * filters) // (ks * in_features + kt * filters))


class ComplexConvSpatioTemporal(keras.layers.Layer):
    """Spatial convolution per frame, optional activation, then temporal 1D convolution per voxel.

    The base of :class:`ComplexConv2Dt` and :class:`ComplexConv3Dt` (class attribute ``spatial_rank``); arguments as
    :class:`ComplexConv2Dt`.
    """

    spatial_rank = 2

    def __init__(self, filters, kernel_size=3, temporal_kernel_size=3, strides=1, temporal_strides=1,
                 padding="same", intermediate_filters=None, intermediate_activation=None, use_bias=True,
                 kernel_initializer=None, complex_network=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.spatial_rank, "kernel_size")
        self.temporal_kernel_size = int(temporal_kernel_size)
        self.strides = _tuple(strides, self.spatial_rank, "strides")
        self.temporal_strides = int(temporal_strides)
        self.padding = padding
        if not (intermediate_filters is None or intermediate_filters == "match"
                or (isinstance(intermediate_filters, int) and intermediate_filters > 0)):
            raise ValueError(f"intermediate_filters: expected None, 'match' or a positive int, "
                             f"got {intermediate_filters!r}.")
        self.intermediate_filters = intermediate_filters
        self.intermediate_activation = intermediate_activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.complex_network = bool(complex_network)
        self._real_2ch = not self.complex_network

    def build(self, input_shape):
        rank = self.spatial_rank + 3
        if len(input_shape) != rank or input_shape[-1] is None:
            raise ValueError(f"inputs: expected rank {rank} [batch, time, *spatial({self.spatial_rank}), features] "
                             f"with a known feature axis, got shape {input_shape}.")
        in_features = input_shape[-1] // 2 if self._real_2ch else input_shape[-1]
        middle = self.intermediate_filters
        if middle is None:
            middle = self.filters
        elif middle == "match":
            middle = matched_intermediate_filters(in_features, self.filters, self.kernel_size,
                                                  self.temporal_kernel_size)
        self.resolved_intermediate_filters = middle
        common = dict(padding=self.padding, use_bias=self.use_bias, complex_network=self.complex_network,
                      dtype=self.dtype_policy)
        if self.kernel_initializer is not None:
            common["kernel_initializer"] = self.kernel_initializer
        self.spatial = _SPATIAL_CONV[self.spatial_rank](middle, self.kernel_size, strides=self.strides,
                                                        name="spatial", **common)
        self.temporal = ComplexConv1D(self.filters, self.temporal_kernel_size, strides=self.temporal_strides,
                                      name="temporal", **common)
        if self._real_2ch:
            self.activation = (keras.layers.Activation(self.intermediate_activation, dtype=self.dtype_policy)
                               if self.intermediate_activation else None)
        else:
            self.activation = get_complex_activation(self.intermediate_activation, dtype=self.dtype_policy)
        frame_shape = (None,) + tuple(input_shape[2:])
        self.spatial.build(frame_shape)
        channels = 2 * middle if self._real_2ch else middle
        if self.activation is not None:
            self.activation.build(self.spatial.compute_output_spec(
                keras.KerasTensor(frame_shape, dtype=self._io_dtype())).shape)
        self.temporal.build((None, None, channels))

    def _io_dtype(self):
        return self.compute_dtype if self._real_2ch else complex_dtype_of(self.compute_dtype).name

    def call(self, inputs):
        x = tf.cast(inputs, self.compute_dtype) if self._real_2ch else to_layer_complex(self, inputs)
        shape = tf.shape(x)
        batch, time = shape[0], shape[1]
        frames = tf.reshape(x, tf.concat([[batch * time], shape[2:]], axis=0))
        y = self.spatial(frames)
        if self.activation is not None:
            y = self.activation(y)
        y_shape = tf.shape(y)
        spatial = y_shape[1:-1]
        y = tf.reshape(y, tf.concat([[batch, time], spatial, y_shape[-1:]], axis=0))
        perm = [0] + list(range(2, self.spatial_rank + 2)) + [1, self.spatial_rank + 2]
        y = tf.transpose(y, perm)                                             # [B, *S, T, M]
        y = tf.reshape(y, tf.stack([-1, time, y_shape[-1]]))                  # [B·prod(S), T, M]
        y = self.temporal(y)                                                  # [B·prod(S), T', F]
        t_shape = tf.shape(y)
        y = tf.reshape(y, tf.concat([[batch], spatial, t_shape[1:]], axis=0))  # [B, *S, T', F]
        inverse = [0, self.spatial_rank + 1] + list(range(1, self.spatial_rank + 1)) + [self.spatial_rank + 2]
        return tf.transpose(y, inverse)

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        probe = keras.KerasTensor((1,) + tuple(input_shape[2:]), dtype=self._io_dtype())
        spatial = self.spatial.compute_output_spec(probe).shape[1:-1]
        if time is not None:
            time = (time if self.padding == "same" else time - self.temporal_kernel_size + 1)
            time = -(-time // self.temporal_strides)
        features = 2 * self.filters if self._real_2ch else self.filters
        return (batch, time) + tuple(spatial) + (features,)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self._io_dtype())

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "temporal_kernel_size": self.temporal_kernel_size, "strides": self.strides,
                "temporal_strides": self.temporal_strides, "padding": self.padding,
                "intermediate_filters": self.intermediate_filters,
                "intermediate_activation": self.intermediate_activation, "use_bias": self.use_bias,
                "kernel_initializer": (self.kernel_initializer if self.kernel_initializer is None
                                       or isinstance(self.kernel_initializer, str)
                                       else keras.initializers.serialize(self.kernel_initializer)),
                "complex_network": self.complex_network}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv2Dt(ComplexConvSpatioTemporal):
    """Split (2+1)D complex convolution for CINENet.

    Inputs ``complex [B, T, H, W, C]`` (``real [B, T, H, W, 2C]`` if ``complex_network=False``); a ``kernel_size`` 2D
    convolution per frame to ``M`` features, an optional ``intermediate_activation`` (complex activation name, or
    a real Keras activation in real 2-channel mode), then a ``temporal_kernel_size`` 1D convolution along ``T`` per
    pixel to ``filters`` features.  Outputs ``complex [B, T', H', W', filters]``.

    Args:
        filters: output features ``F``.
        kernel_size, strides: spatial kernel size and strides (int or 2 ints).
        temporal_kernel_size, temporal_strides: along ``T``.
        padding: ``"same"`` or ``"valid"`` for both convolutions.
        intermediate_filters: ``M``: ``None`` (= ``filters``), ``"match"`` (same parameter count as a full 3D
            kernel, :func:`matched_intermediate_filters`) or an int.
        complex_network: ``True`` complex kernels, ``False`` real 2-channel mode (see module docstring).
    """


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexConv3Dt(ComplexConvSpatioTemporal):
    """Split (3+1)D complex convolution: inputs ``complex [B, T, D, H, W, C]``, a 3D convolution per frame then a
    1D convolution along ``T``; outputs ``complex [B, T', D', H', W', filters]``.  Arguments as
    :class:`ComplexConv2Dt` (spatial ``kernel_size``/``strides`` take 3 ints)."""

    spatial_rank = 3
