"""A small complex U-Net block, buildable in complex mode or in real 2-channel mode.

Used as the CNN regulariser of unrolled networks (VN, MoDL, CINENet ...).  Inputs and outputs are always complex;
``complex_network`` only chooses how the convolutions compute:

* ``complex_network=True``: complex convolutions (Eq. 26) on complex features; activations, normalisation and
  pooling are the complex layers of this package.
* ``complex_network=False`` (real 2-channel network): the input is converted to ``[Re, Im]`` channels and every
  convolution is the *same layer class* with ``complex_network=False`` (an unconstrained real kernel on ``2C -> 2F``
  channels).  The non-convolution blocks are applied to the complex view of the same tensor (for a separable
  activation such as ``"crelu"`` this is exactly the real activation on every channel), so both networks differ
  only in whether the kernels are complex-structured.

Layout per level ``l`` (features ``filters·2^l``): ``convs × (conv -> [norm] -> activation)``; max-magnitude
pooling between encoder levels; a stride-2 transposed convolution, skip concatenation and convs in the decoder;
a final 1x1 convolution to ``out_features`` (default: input features), plus the input if ``residual``.
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers import complex_conv, complex_norm, complex_pooling
from tfmri_zoo.layers.complex_activations import get_complex_activation
from tfmri_zoo.layers.complex_misc import ChannelsToComplex, ComplexToChannels
from tfmri_zoo.layers.complex_ops import complex_dtype_of

@keras.saving.register_keras_serializable(package="tfmri_zoo")
class FrameWise(keras.layers.Layer):
    """Applies a spatial layer to every frame of a dynamic tensor by folding time into the batch axis.

    ``[B, T, *spatial, F] -> [B·T, *spatial, F] -> layer -> [B, T, *spatial', F']``.  Used by the ``"3dt"`` U-Net
    for its pooling, up-sampling and 1x1 head (there are no (3+1)D pooling layers: the time axis is never pooled).

    Args:
        layer: a Keras layer (or its serialised config) on ``[batch, *spatial, features]``.

    Call args:
        inputs: ``[B, T, *spatial, F]`` (complex, or real in real 2-channel mode).

    Returns:
        ``[B, T, *layer_output_shape[1:]]`` of the layer's output dtype.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer if isinstance(layer, keras.layers.Layer) else keras.layers.deserialize(layer)

    def build(self, input_shape):
        if not self.layer.built:  # a deserialised inner layer may be built already
            self.layer.build((None,) + tuple(input_shape[2:]))

    def call(self, inputs):
        shape = tf.shape(inputs)
        folded = tf.reshape(inputs, tf.concat([[shape[0] * shape[1]], shape[2:]], axis=0))
        y = self.layer(folded)
        return tf.reshape(y, tf.concat([shape[:2], tf.shape(y)[1:]], axis=0))

    def compute_output_spec(self, inputs):
        frame = self.layer.compute_output_spec(keras.KerasTensor((None,) + tuple(inputs.shape[2:]), inputs.dtype))
        return keras.KerasTensor(tuple(inputs.shape[:2]) + tuple(frame.shape[1:]), dtype=frame.dtype)

    def get_config(self):
        return {**super().get_config(), "layer": keras.layers.serialize(self.layer)}


def _framewise_pool3d(dtype=None, name=None):
    """Max-magnitude pooling of D, H and W of ``[B, T, D, H, W, F]`` (time kept)."""
    return FrameWise(complex_pooling.ComplexMaxPooling3D((2, 2, 2), dtype=dtype, name=f"{name}_frame"),
                     dtype=dtype, name=name)


def _framewise_transpose3d(filters, kernel_size, strides, name=None, dtype=None, **kwargs):
    """Stride-2 transposed 3D convolution of D, H and W of ``[B, T, D, H, W, F]`` (``kernel_size``/``strides`` are
    the 4-tuples of the factor table; their leading time entry 1 is dropped)."""
    return FrameWise(complex_conv.ComplexConv3DTranspose(filters, tuple(kernel_size)[1:], strides=tuple(strides)[1:],
                                                         dtype=dtype, name=f"{name}_frame", **kwargs),
                     dtype=dtype, name=name)


_CONVS = {
    # conv kind: (conv class, transpose class, pooling class, pool/up factor, spatial rank of the tensor)
    "2d": (complex_conv.ComplexConv2D, complex_conv.ComplexConv2DTranspose, complex_pooling.ComplexMaxPooling2D,
           (2, 2), 2),
    "2dt": (complex_conv.ComplexConv2Dt, complex_conv.ComplexConv3DTranspose, complex_pooling.ComplexMaxPooling2Dt,
            (1, 2, 2), 3),
    "3d": (complex_conv.ComplexConv3D, complex_conv.ComplexConv3DTranspose, complex_pooling.ComplexMaxPooling3D,
           (2, 2, 2), 3),
    "3dt": (complex_conv.ComplexConv3Dt, _framewise_transpose3d, _framewise_pool3d, (1, 2, 2, 2), 4),
}
_NORMS = {
    "batch": complex_norm.ComplexBatchNormalization,
    "instance": complex_norm.ComplexInstanceNormalization,
    "layer": complex_norm.ComplexLayerNormalization,
}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexUNet(keras.layers.Layer):
    """Complex U-Net.

    Args:
        filters: features of the first level (doubled per level).
        depth: number of poolings (levels = depth + 1).
        convs: convolutions per level.
        kernel_size: spatial kernel size.
        activation: complex activation name (``"crelu"``, ``"modrelu"``, ``"cardioid"``, ``"separable_tanh"``,
            ...), layer config or layer (a fresh copy is made per use).
        conv: ``"2d"`` for ``[B, H, W, F]``; ``"2dt"`` (split spatio-temporal, pooling H and W only) or ``"3d"``
            (full 3D kernels, pooling all three axes) for ``[B, T, H, W, F]``; ``"3dt"`` (split 3D-spatial then
            temporal convolutions, :class:`~tfmri_zoo.layers.complex_conv.ComplexConv3Dt`; pooling, up-sampling
            and the 1x1 head per frame over D, H and W, :class:`FrameWise`) for ``[B, T, D, H, W, F]``.
        norm: ``None``, ``"batch"``, ``"instance"`` or ``"layer"``.
        complex_network: ``True`` complex network, ``False`` real 2-channel network (module docstring).
        out_features: output features (default: the input's).
        residual: add the input to the output (needs ``out_features`` equal to the input's).

    Call args:
        inputs: complex ``[B, H, W, F]`` (``"2d"``), ``[B, T, H, W, F]`` or ``[B, T, D, H, W, F]`` (``"3dt"``); the
            pooled axes must be divisible by
            ``2**depth``.
        training: forwarded to batch normalisation.

    Returns:
        complex ``[B, ..., out_features]`` of the input's spatial shape.
    """

    def __init__(self, filters=16, depth=2, convs=2, kernel_size=3, activation="crelu", conv="2d",
                 norm=None, complex_network=True, out_features=None, residual=False, **kwargs):
        super().__init__(**kwargs)
        if conv not in _CONVS:
            raise ValueError(f"conv: expected one of {sorted(_CONVS)}, got {conv!r}.")
        if norm is not None and norm not in _NORMS:
            raise ValueError(f"norm: expected None or one of {sorted(_NORMS)}, got {norm!r}.")
        if int(depth) < 0 or int(filters) < 1 or int(convs) < 1:
            raise ValueError(f"depth/filters/convs: expected depth >= 0, filters >= 1, "
                             f"convs >= 1, got {depth}, {filters}, {convs}.")
        self.filters, self.depth, self.convs = int(filters), int(depth), int(convs)
        if isinstance(activation, keras.layers.Layer):  # keep the config JSON-serialisable (and untracked)
            activation = keras.layers.serialize(activation)
        self.kernel_size, self.activation, self.conv = kernel_size, activation, conv
        self.norm, self.complex_network = norm, bool(complex_network)
        self.out_features, self.residual = out_features, bool(residual)
        get_complex_activation(self.activation)  # validates the identifier early
        self._rank = _CONVS[conv][4]

    # -- construction ---------------------------------------------------------------------------------------------
    def _conv(self, features, name, kernel_size=None):
        conv_cls = _CONVS[self.conv][0]
        kwargs = dict(complex_network=self.complex_network, dtype=self.dtype_policy, name=name)
        if kernel_size == 1 and self.conv == "3dt":
            return FrameWise(complex_conv.ComplexConv3D(features, 1, **{**kwargs, "name": f"{name}_frame"}),
                             dtype=self.dtype_policy, name=name)
        if kernel_size == 1:
            conv_cls = (complex_conv.ComplexConv2D if self.conv == "2d" else complex_conv.ComplexConv3D)
        elif self.conv in ("2dt", "3dt"):
            kwargs["temporal_kernel_size"] = self.kernel_size
        return conv_cls(features, kernel_size or self.kernel_size, **kwargs)

    def _stage(self, features, name):
        layers = []
        for i in range(self.convs):
            layers.append(self._conv(features, f"{name}_conv{i}"))
            if self.norm:
                layers.append(_NORMS[self.norm](dtype=self.dtype_policy, name=f"{name}_norm{i}"))
            activation = get_complex_activation(self.activation, dtype=self.dtype_policy, name=f"{name}_act{i}")
            if activation is not None:
                layers.append(activation)
        return layers

    def build(self, input_shape):
        if len(input_shape) != self._rank + 2 or input_shape[-1] is None:
            raise ValueError(f"inputs: conv={self.conv!r} expects rank {self._rank + 2} [batch, *spatial, features] "
                             f"with a known feature axis, got shape {input_shape}.")
        factor = _CONVS[self.conv][3]
        for axis, f in enumerate(factor):
            size = input_shape[1 + axis]
            if size is not None and f > 1 and size % (f ** self.depth):
                raise ValueError(f"inputs: axis {1 + axis} (size {size}) must be divisible by {f ** self.depth} "
                                 f"for depth {self.depth}; got shape {input_shape}.")
        in_features = input_shape[-1]
        out_features = self.out_features or in_features
        if self.residual and out_features != in_features:
            raise ValueError(f"residual: needs out_features == input features ({in_features}), got {out_features}.")
        _, transpose_cls, pool_cls, factor, _ = _CONVS[self.conv]
        self.encoder = [self._stage(self.filters * 2 ** level, f"enc{level}") for level in range(self.depth + 1)]
        self.pools = [pool_cls(dtype=self.dtype_policy, name=f"pool{level}") for level in range(self.depth)]
        self.ups = [transpose_cls(self.filters * 2 ** level, factor, strides=factor,
                                  complex_network=self.complex_network,
                                  dtype=self.dtype_policy, name=f"up{level}") for level in range(self.depth)]
        self.decoder = [self._stage(self.filters * 2 ** level, f"dec{level}") for level in range(self.depth)]
        # A flat list as well: TF's SavedModel object graph does not follow lists nested in lists, so without it the
        # stage variables would be "untracked" on tf.saved_model.save.
        self.stage_layers = [layer for stage in self.encoder + self.decoder for layer in stage]
        self.head = self._conv(out_features, "head", kernel_size=1)
        self.to_channels = ComplexToChannels(dtype=self.dtype_policy, name="to_channels")
        self.to_complex = ChannelsToComplex(dtype=self.dtype_policy, name="to_complex")
        dtype = complex_dtype_of(self.compute_dtype).name
        self._forward(keras.KerasTensor(tuple(input_shape), dtype=dtype))  # builds all sub-layers symbolically

    # -- forward --------------------------------------------------------------------------------------------------
    def _apply(self, layer, x, training):
        """Applies a non-convolution ``layer``; in real 2-channel mode on the complex view of ``x``."""
        kwargs = {"training": training} if isinstance(layer, complex_norm.ComplexBatchNormalization) else {}
        if self.complex_network:
            return layer(x, **kwargs)
        return self.to_channels(layer(self.to_complex(x), **kwargs))

    def _run_stage(self, layers, x, training):
        for layer in layers:
            if isinstance(layer, (complex_conv.ComplexConvBase, complex_conv.ComplexConvSpatioTemporal,
                                  FrameWise)):
                x = layer(x)
            else:
                x = self._apply(layer, x, training)
        return x

    def _concat(self, a, b):
        if self.complex_network:
            return keras.ops.concatenate([a, b], axis=-1)
        return self.to_channels(keras.ops.concatenate([self.to_complex(a), self.to_complex(b)], axis=-1))

    def _forward(self, inputs, training=None):
        x = inputs if self.complex_network else self.to_channels(inputs)
        skips = []
        for level in range(self.depth + 1):
            x = self._run_stage(self.encoder[level], x, training)
            if level < self.depth:
                skips.append(x)
                x = self._apply(self.pools[level], x, training)
        for level in reversed(range(self.depth)):
            x = self._concat(skips[level], self.ups[level](x))
            x = self._run_stage(self.decoder[level], x, training)
        x = self.head(x)
        if not self.complex_network:
            x = self.to_complex(x)
        return x + keras.ops.cast(inputs, x.dtype) if self.residual else x

    def call(self, inputs, training=None):
        return self._forward(inputs, training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth,
                "convs": self.convs, "kernel_size": self.kernel_size,
                "activation": self.activation, "conv": self.conv, "norm": self.norm,
                "complex_network": self.complex_network, "out_features": self.out_features, "residual": self.residual}
