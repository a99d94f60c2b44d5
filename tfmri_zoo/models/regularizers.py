"""Swappable regulariser CNNs ``D_w`` for unrolled networks (the "CNN" of Eqs. 20-22 and the z-update of Eq. 9).

Every regulariser is a Keras layer mapping a complex image ``[B, H, W]`` (complex64) to a complex image of the same
shape. Inside, the image is processed by real Keras layers on the stacked real/imaginary channels ``[B, H, W, 2]``
("real 2-channel" processing, review Sec. IV-A); all are residual by default (``D(x) = x + CNN(x)``).

* :class:`UNet`       — U-Net: per level ``convs`` 3×3 conv + (norm) + activation, 2×2 max-pool down, 2×2 transposed
  conv up, skip concatenation; sizes not divisible by ``2**depth`` are zero-padded and cropped back.
* :class:`DnCNN`      — plain CNN: ``layers − 1`` × (3×3 conv, BN, ReLU) then a 3×3 conv to 2 channels (MoDL's D_w).
* :class:`ResNet`     — input conv, ``blocks`` residual blocks (conv-ReLU-conv + skip), output conv.
* :class:`DownUpNet`  — Down-Up net (Yu et al. 2019): full-resolution conv, strided-conv down, convs at half
  resolution, transposed-conv up + skip, output conv.

``make_regularizer(name, **config)`` builds one by name (``"unet"``, ``"dncnn"``, ``"resnet"``, ``"downup"``);
``regularizer_spec`` normalises the ``regularizer`` argument of the models (a name or ``{"name": ..., **config}``).
"""
import keras
import tensorflow as tf

from tfmri_zoo import validation


def _to_channels(image):
    image = validation.as_complex(image, "image", tf.complex64)
    if image.shape.rank != 3:
        raise ValueError(f"image: expected rank 3 [B, H, W] complex, got shape {image.shape}.")
    return tf.stack([tf.math.real(image), tf.math.imag(image)], axis=-1)


def _to_complex(channels):
    return tf.complex(channels[..., 0], channels[..., 1])


def _norm_layer(norm):
    if norm in (None, "none"):
        return None
    if norm == "batch":
        return keras.layers.BatchNormalization()
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1)
    raise ValueError(f"norm: expected None, 'batch' or 'instance', got {norm!r}.")


class Regularizer(keras.layers.Layer):
    """Base: complex ``[B, H, W]`` → real ``[B, H, W, 2]`` → ``network`` → complex ``[B, H, W]`` (+ input if residual).

    Args:
      residual: add the input to the network output.
    """

    def __init__(self, residual=True, **kwargs):
        super().__init__(**kwargs)
        self.residual = bool(residual)

    def network(self, x, training=None):
        raise NotImplementedError

    def call(self, image, training=None):
        x = _to_channels(image)
        out = _to_complex(self.network(x, training=training))
        return out + tf.cast(image, tf.complex64) if self.residual else out

    def get_config(self):
        return {**super().get_config(), "residual": self.residual}


class _ConvStack(keras.layers.Layer):
    """``n`` × (3×3 conv, optional norm, activation) — a helper block, not exported."""

    def __init__(self, filters, n, norm=None, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.steps = []
        for _ in range(n):
            self.steps.append(keras.layers.Conv2D(filters, 3, padding="same"))
            norm_layer = _norm_layer(norm)
            if norm_layer is not None:
                self.steps.append(norm_layer)
            self.steps.append(keras.layers.Activation(activation))

    def call(self, x, training=None):
        for step in self.steps:
            x = step(x, training=training) if isinstance(step, keras.layers.BatchNormalization) else step(x)
        return x


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class UNet(Regularizer):
    """Real 2-channel U-Net regulariser.

    Args:
      filters: channels at the first level (doubled at each level down).
      depth: number of pooling steps.
      convs: convolutions per level.
      norm: ``None``, ``"batch"`` or ``"instance"``.
      activation: Keras activation name.
      residual: ``D(x) = x + U(x)``.

    Call args: ``image`` complex64 ``[B, H, W]``. Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, filters=32, depth=4, convs=2, norm=None, activation="relu", residual=True, **kwargs):
        super().__init__(residual=residual, **kwargs)
        if depth < 0 or filters < 1:
            raise ValueError(f"depth, filters: expected depth >= 0 and filters >= 1, got {depth}, {filters}.")
        self.filters, self.depth, self.convs = int(filters), int(depth), int(convs)
        self.norm, self.activation = norm, activation
        width = lambda level: self.filters * 2 ** level  # noqa: E731
        self.down = [_ConvStack(width(i), self.convs, norm, activation) for i in range(self.depth)]
        self.bottom = _ConvStack(width(self.depth), self.convs, norm, activation)
        self.up = [keras.layers.Conv2DTranspose(width(i), 2, strides=2) for i in reversed(range(self.depth))]
        self.up_convs = [_ConvStack(width(i), self.convs, norm, activation) for i in reversed(range(self.depth))]
        self.pool = keras.layers.MaxPooling2D(2)
        self.out = keras.layers.Conv2D(2, 1)

    def network(self, x, training=None):
        factor = 2 ** self.depth
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        pad_h, pad_w = (-height) % factor, (-width) % factor
        x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        skips = []
        for block in self.down:
            x = block(x, training=training)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x, training=training)
        for up, block, skip in zip(self.up, self.up_convs, reversed(skips)):
            x = block(tf.concat([up(x), skip], axis=-1), training=training)
        return self.out(x)[:, :height, :width]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth, "convs": self.convs,
                "norm": self.norm, "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class DnCNN(Regularizer):
    """Plain residual CNN (MoDL's ``D_w``: 5 layers, 64 channels, 3×3, BN + ReLU).

    Args:
      filters: hidden channels.
      layers: number of convolutions (``layers − 1`` hidden ones + the output one), ≥ 2.
      batch_norm: batch normalisation after each hidden conv.
      residual: ``D(x) = x + CNN(x)``.

    Call args: ``image`` complex64 ``[B, H, W]``. Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, filters=64, layers=5, batch_norm=True, residual=True, **kwargs):
        super().__init__(residual=residual, **kwargs)
        if layers < 2:
            raise ValueError(f"layers: expected >= 2, got {layers}.")
        self.filters, self.num_layers, self.batch_norm = int(filters), int(layers), bool(batch_norm)
        self.hidden = _ConvStack(self.filters, self.num_layers - 1, "batch" if batch_norm else None, "relu")
        self.out = keras.layers.Conv2D(2, 3, padding="same")

    def network(self, x, training=None):
        return self.out(self.hidden(x, training=training))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "layers": self.num_layers,
                "batch_norm": self.batch_norm}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ResNet(Regularizer):
    """Residual-block CNN: conv, ``blocks`` × (conv-ReLU-conv, scaled skip), conv to 2 channels.

    Args:
      filters: hidden channels.
      blocks: number of residual blocks.
      block_scale: factor on each block's branch before the skip addition.
      residual: ``D(x) = x + CNN(x)``.

    Call args: ``image`` complex64 ``[B, H, W]``. Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, filters=64, blocks=5, block_scale=0.1, residual=True, **kwargs):
        super().__init__(residual=residual, **kwargs)
        self.filters, self.blocks, self.block_scale = int(filters), int(blocks), float(block_scale)
        self.inp = keras.layers.Conv2D(self.filters, 3, padding="same")
        self.first = [keras.layers.Conv2D(self.filters, 3, padding="same", activation="relu")
                      for _ in range(self.blocks)]
        self.second = [keras.layers.Conv2D(self.filters, 3, padding="same") for _ in range(self.blocks)]
        self.out = keras.layers.Conv2D(2, 3, padding="same")

    def network(self, x, training=None):
        x = self.inp(x)
        for first, second in zip(self.first, self.second):
            x = x + self.block_scale * second(first(x))
        return self.out(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "blocks": self.blocks,
                "block_scale": self.block_scale}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class DownUpNet(Regularizer):
    """Down-Up network: full-resolution features, stride-2 conv down, convs at half resolution, transposed conv up.

    Args:
      filters: channels at full resolution (``2·filters`` at half resolution).
      convs: convolutions at half resolution.
      residual: ``D(x) = x + CNN(x)``.

    Call args: ``image`` complex64 ``[B, H, W]`` (odd sizes are padded by one and cropped).
    Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, filters=32, convs=3, residual=True, **kwargs):
        super().__init__(residual=residual, **kwargs)
        self.filters, self.convs = int(filters), int(convs)
        self.inp = keras.layers.Conv2D(self.filters, 3, padding="same", activation="relu")
        self.down = keras.layers.Conv2D(2 * self.filters, 3, strides=2, padding="same", activation="relu")
        self.middle = _ConvStack(2 * self.filters, self.convs, None, "relu")
        self.up = keras.layers.Conv2DTranspose(self.filters, 2, strides=2)
        self.out = keras.layers.Conv2D(2, 3, padding="same")

    def network(self, x, training=None):
        height, width = tf.shape(x)[1], tf.shape(x)[2]
        x = tf.pad(x, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]])
        full = self.inp(x)
        x = self.up(self.middle(self.down(full)))
        return self.out(tf.nn.relu(x + full))[:, :height, :width]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "convs": self.convs}


REGULARIZERS = {"unet": UNet, "dncnn": DnCNN, "resnet": ResNet, "downup": DownUpNet}


def regularizer_spec(regularizer):
    """Normalises a model's ``regularizer`` argument to a plain dict ``{"name": ..., **config}``.

    Args:
      regularizer: a name from ``REGULARIZERS`` or a dict with key ``"name"`` and constructor arguments.
    """
    if isinstance(regularizer, str):
        regularizer = {"name": regularizer}
    if not isinstance(regularizer, dict) or "name" not in regularizer:
        raise TypeError(f"regularizer: expected a name or a dict with key 'name', got {regularizer!r}.")
    if regularizer["name"] not in REGULARIZERS:
        raise ValueError(f"regularizer: unknown name {regularizer['name']!r}; expected one of {sorted(REGULARIZERS)}.")
    return dict(regularizer)


def make_regularizer(name, **config):
    """Builds the regulariser layer ``name`` (``"unet"``, ``"dncnn"``, ``"resnet"``, ``"downup"``) with ``config``."""
    spec = regularizer_spec({"name": name, **config})
    return REGULARIZERS[spec.pop("name")](**spec)


def make_regularizers(regularizer, count, share_weights):
    """``count`` regulariser layers for the unrolled iterations: one shared layer repeated, or ``count`` separate ones.

    Args:
      regularizer: a name or ``{"name": ..., **config}`` (see :func:`regularizer_spec`).
      count: number of unrolled iterations.
      share_weights: one set of weights for every iteration (MoDL) or one per iteration.
    """
    spec = regularizer_spec(regularizer)
    if share_weights:
        return [make_regularizer(**spec)] * count
    return [make_regularizer(**spec) for _ in range(count)]
