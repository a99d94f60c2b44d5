"""Swappable regulariser CNNs ``D_w`` for unrolled networks (the "CNN" of Eqs. 20-22 and the z-update of Eq. 9).

Every regulariser is a Keras layer mapping a complex image ``[B, H, W]`` (complex64) to a complex image of the same
shape. Inside, the image is processed by real Keras layers on the stacked real/imaginary channels ``[B, H, W, 2]``
("real 2-channel" processing, review Sec. IV-A); all are residual by default (``D(x) = x + CNN(x)``).

* :class:`UNet`       — the zoo's one real U-Net: per level ``convs`` 3×3 conv + (norm) + activation, 2×2 max- or
  average-pool down, 2×2 transposed conv up (optionally + norm + activation), skip concatenation; sizes not divisible
  by ``2**depth`` are zero-padded and cropped back; optionally standardised per channel (fastMRI's normalised U-Net,
  :func:`norm_unet`, is this class with ``standardize=True``).
* :class:`DnCNN`      — plain CNN: ``layers − 1`` × (3×3 conv, BN, ReLU) then a 3×3 conv to 2 channels (MoDL's D_w).
* :class:`ResNet`     — input conv, ``blocks`` residual blocks (conv-ReLU-conv + skip), output conv.
* :class:`DownUpNet`  — Down-Up net (Yu et al. 2019): full-resolution conv, strided-conv down, convs at half
  resolution, transposed-conv up + skip, output conv.

* :class:`ComplexUNetRegularizer` — the package's complex U-Net (complex convolutions, Eq. 26, and complex
  activations) on the complex image itself, or the same network in real 2-channel mode.

``make_regularizer(name, **config)`` builds one by name (``"unet"``, ``"dncnn"``, ``"resnet"``, ``"downup"``,
``"complex_unet"``);
``regularizer_spec`` normalises the ``regularizer`` argument of the models (a name or ``{"name": ..., **config}``).
"""
import keras
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.layers.complex_ops import channels_to_complex, complex_to_channels
from tfmri_zoo.layers.complex_unet import ComplexUNet
from tfmri_zoo.layers.normalization import InstanceNormalization, standardize


def _as_image(image):
    """Validates a complex ``[B, H, W]`` image and casts it to complex64."""
    image = validation.as_complex(image, "image", tf.complex64)
    if image.shape.rank != 3:
        raise ValueError(f"image: expected rank 3 [B, H, W] complex, got shape {image.shape}.")
    return image


def _pad_to_multiple(x, factor):
    """Zero-pads axes 1 and 2 of ``x`` up to multiples of ``factor``; returns the padded tensor and (H, W)."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    pad = [[0, 0], [0, (-height) % factor], [0, (-width) % factor]] + [[0, 0]] * (x.shape.rank - 3)
    return tf.pad(x, pad), (height, width)


def _norm_layer(norm):
    if norm in (None, "none"):
        return None
    if norm == "batch":
        return keras.layers.BatchNormalization()
    if norm == "instance":
        return InstanceNormalization()
    raise ValueError(f"norm: expected None, 'batch' or 'instance', got {norm!r}.")


class Regularizer(keras.layers.Layer):
    """Base: complex ``[B, H, W]`` → real ``[B, H, W, 2]`` → ``network`` → complex ``[B, H, W]`` (+ input if residual).

    ``network`` can also be used on its own as a real CNN ``[B, H, W, any] → [B, H, W, out_channels]`` (the learned
    primal-dual network does so for its multi-channel blocks); ``call`` needs ``out_channels = 2``.

    Args:
      residual: add the input to the network output.
      out_channels: real output channels of ``network`` (2 = one complex image).
    """

    def __init__(self, residual=True, out_channels=2, **kwargs):
        super().__init__(**kwargs)
        self.residual = bool(residual)
        self.out_channels = int(out_channels)

    def network(self, x, training=None):
        raise NotImplementedError

    def call(self, image, training=None):
        if self.out_channels != 2:
            raise ValueError(f"out_channels: a regulariser called on a complex image needs 2, got {self.out_channels}.")
        image = _as_image(image)
        out = channels_to_complex(self.network(complex_to_channels(image[..., None]), training=training))[..., 0]
        return out + image if self.residual else out

    def get_config(self):
        return {**super().get_config(), "residual": self.residual, "out_channels": self.out_channels}


class _ConvStack(keras.layers.Layer):
    """``n`` × (3×3 conv, optional norm, activation; ``"prelu"`` = per-channel PReLU) — a helper block."""

    def __init__(self, filters, n, norm=None, activation="relu", bias=True, **kwargs):
        if kwargs.get("name") is None:
            # Keras' class-derived default "__conv_stack" is not a valid root TF name scope: the symbolic build of a
            # parent layer (a fresh graph) failed on it and left the parent's name scope open, so every layer built
            # afterwards in the process got nested variable paths.
            uid = keras.backend.get_uid("conv_stack")
            kwargs["name"] = "conv_stack" if uid == 1 else f"conv_stack_{uid - 1}"
        super().__init__(**kwargs)
        self.steps = []
        for _ in range(n):
            self.steps.append(keras.layers.Conv2D(filters, 3, padding="same", use_bias=bias))
            norm_layer = _norm_layer(norm)
            if norm_layer is not None:
                self.steps.append(norm_layer)
            self.steps.append(keras.layers.PReLU(shared_axes=[1, 2]) if activation == "prelu"
                              else keras.layers.Activation(activation))

    def call(self, x, training=None):
        for step in self.steps:
            x = step(x, training=training) if isinstance(step, keras.layers.BatchNormalization) else step(x)
        return x


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class UNet(Regularizer):
    """Real 2-channel U-Net regulariser — the zoo's one real U-Net (MoDL/VN regulariser, image U-Net, E2E-VarNet's
    normalised U-Net through :func:`norm_unet`, motion network).

    Args:
      filters: channels at the first level (doubled at each level down).
      depth: number of pooling steps.
      convs: convolutions per level.
      norm: ``None``, ``"batch"`` or ``"instance"`` (parameter-free, :func:`tfmri_zoo.layers.instance_norm`).
      activation: Keras activation name (``"leaky_relu"``: slope 0.2).
      residual: ``D(x) = x + U(x)``.
      pooling: ``"max"`` or ``"avg"`` (2×2).
      bias: biases in the 3×3 and transposed convolutions (the 1×1 output convolution always has one).
      up_activation: norm and activation after each transposed convolution too.
      standardize: standardise each input channel by its mean and standard deviation over the image and undo it on
        the output (fastMRI's normalised U-Net), which makes the network scale-equivariant.
      restore_mean: with ``standardize``, add the mean back on the output (fastMRI); ``False`` multiplies by the
        standard deviation only — for a network that predicts a zero-mean correction (a residual), which a U-Net
        on standardised inputs could only produce by reading the per-image mean off the background.
      zero_output: start the 1×1 output convolution at zero, so that the network starts as the zero map (and a
        residual network as the identity).

    Call args: ``image`` complex64 ``[B, H, W]``. Returns complex64 ``[B, H, W]``. ``network``: real
    ``[B, H, W, F]`` → ``[B, H, W, out_channels]``.
    """

    def __init__(self, filters=32, depth=4, convs=2, norm=None, activation="relu", residual=True, pooling="max",
                 bias=True, up_activation=False, standardize=False, restore_mean=True, zero_output=False, **kwargs):
        super().__init__(residual=residual, **kwargs)
        if depth < 0 or filters < 1:
            raise ValueError(f"depth, filters: expected depth >= 0 and filters >= 1, got {depth}, {filters}.")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling: expected 'max' or 'avg', got {pooling!r}.")
        self.filters, self.depth, self.convs = int(filters), int(depth), int(convs)
        self.norm, self.activation, self.pooling, self.bias = norm, activation, pooling, bool(bias)
        self.up_activation, self.standardize = bool(up_activation), bool(standardize)
        self.restore_mean, self.zero_output = bool(restore_mean), bool(zero_output)
        width = lambda level: self.filters * 2 ** level  # noqa: E731
        stack = lambda level: _ConvStack(width(level), self.convs, norm, activation, self.bias)  # noqa: E731
        self.down = [stack(i) for i in range(self.depth)]
        self.bottom = stack(self.depth)
        self.up = [keras.layers.Conv2DTranspose(width(i), 2, strides=2, use_bias=self.bias)
                   for i in reversed(range(self.depth))]
        self.up_norms = [_norm_layer(norm) for _ in self.up] if self.up_activation and norm is not None else []
        self.up_convs = [stack(i) for i in reversed(range(self.depth))]
        self.pool = keras.layers.MaxPooling2D(2) if pooling == "max" else keras.layers.AveragePooling2D(2)
        self.out = keras.layers.Conv2D(self.out_channels, 1,
                                       kernel_initializer="zeros" if self.zero_output else "glorot_uniform")

    def _upsample(self, index, x, training):
        x = self.up[index](x)
        if not self.up_activation:
            return x
        if self.up_norms:
            norm = self.up_norms[index]
            x = norm(x, training=training) if isinstance(norm, keras.layers.BatchNormalization) else norm(x)
        return keras.activations.get(self.activation)(x)

    def call(self, image, training=None, return_features=False, real_channels=False):
        """``D(image)`` of a complex64 ``[B, H, W]`` image.

        ``real_channels=True``: ``image`` is a real float32 ``[B, H, W, F]`` tensor and the result the real
        ``network`` output ``[B, H, W, out_channels]`` (e.g. parameter maps or class logits; no residual).
        ``return_features=True``: the last level's features before the 1×1 output convolution instead, float32
        ``[B, H, W, filters]`` (a task head on the U-Net's body, e.g. the segmentation of ``recon_seg``; with
        ``standardize``, of the standardised input)."""
        x = image if real_channels else complex_to_channels(_as_image(image)[..., None])
        if return_features:
            return self._body(standardize(x)[0] if self.standardize else x, training)
        if real_channels:
            return self.network(x, training=training)
        return super().call(image, training=training)

    def _body(self, x, training):
        x, (height, width) = _pad_to_multiple(x, 2 ** self.depth)
        skips = []
        for block in self.down:
            x = block(x, training=training)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x, training=training)
        for index, (block, skip) in enumerate(zip(self.up_convs, reversed(skips))):
            x = block(tf.concat([self._upsample(index, x, training), skip], axis=-1), training=training)
        return x[:, :height, :width]

    def network(self, x, training=None):
        if self.standardize:
            x, mean, std = standardize(x)
        x = self.out(self._body(x, training))
        if not self.standardize:
            return x
        return x * std + mean if self.restore_mean else x * std

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth": self.depth, "convs": self.convs,
                "norm": self.norm, "activation": self.activation, "pooling": self.pooling, "bias": self.bias,
                "up_activation": self.up_activation, "standardize": self.standardize,
                "restore_mean": self.restore_mean, "zero_output": self.zero_output}


def norm_unet(chans=18, pools=4, out_channels=2, name=None, residual_output=False):
    """fastMRI's normalised U-Net (Sriram et al. 2020) as a :class:`UNet`: input channels standardised, two 3×3
    convolutions without bias → instance norm → LeakyReLU(0.2) per level, 2×2 average pooling, transposed convolution
    + instance norm + LeakyReLU up, 1×1 output convolution; not residual. Complex ``[N, H, W]`` → ``[N, H, W]``.

    ``residual_output=True``: the output is a zero-mean correction (``restore_mean=False``) and starts at zero
    (``zero_output=True``)."""
    return UNet(filters=chans, depth=pools, convs=2, norm="instance", activation="leaky_relu", residual=False,
                pooling="avg", bias=False, up_activation=True, standardize=True, out_channels=out_channels,
                restore_mean=not residual_output, zero_output=residual_output, name=name)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class DnCNN(Regularizer):
    """Plain residual CNN (MoDL's ``D_w``: 5 layers, 64 channels, 3×3, BN + ReLU).

    Args:
      filters: hidden channels.
      layers: number of convolutions (``layers − 1`` hidden ones + the output one), ≥ 2.
      batch_norm: batch normalisation after each hidden conv.
      activation: Keras activation name, or ``"prelu"`` (per-channel learned slope).
      residual: ``D(x) = x + CNN(x)``.

    Call args: ``image`` complex64 ``[B, H, W]``. Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, filters=64, layers=5, batch_norm=True, activation="relu", residual=True, **kwargs):
        super().__init__(residual=residual, **kwargs)
        self.activation = activation
        if layers < 2:
            raise ValueError(f"layers: expected >= 2, got {layers}.")
        self.filters, self.num_layers, self.batch_norm = int(filters), int(layers), bool(batch_norm)
        self.hidden = _ConvStack(self.filters, self.num_layers - 1, "batch" if batch_norm else None,
                                 activation)
        self.out = keras.layers.Conv2D(self.out_channels, 3, padding="same")

    def network(self, x, training=None):
        return self.out(self.hidden(x, training=training))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "layers": self.num_layers,
                "batch_norm": self.batch_norm,
                "activation": self.activation}


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
        self.out = keras.layers.Conv2D(self.out_channels, 3, padding="same")

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
        self.out = keras.layers.Conv2D(self.out_channels, 3, padding="same")

    def network(self, x, training=None):
        x, (height, width) = _pad_to_multiple(x, 2)
        full = self.inp(x)
        x = self.up(self.middle(self.down(full)))
        return self.out(tf.nn.relu(x + full))[:, :height, :width]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "convs": self.convs}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexUNetRegularizer(keras.layers.Layer):
    """Residual complex U-Net regulariser: :class:`tfmri_zoo.layers.complex_unet.ComplexUNet` on ``[B, H, W, 1]``.

    Args:
      filters, depth, convs, activation, norm: as ``ComplexUNet``.
      complex_network: complex convolutions (``True``) or the same network with real 2-channel kernels (``False``).

    Call args: ``image`` complex64 ``[B, H, W]`` (padded to multiples of ``2**depth`` and cropped back).
    Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, filters=16, depth=2, convs=2, activation="crelu", norm=None,
                 complex_network=True, **kwargs):
        super().__init__(**kwargs)
        self.unet_config = {"filters": int(filters), "depth": int(depth), "convs": int(convs),
                            "activation": activation, "norm": norm,
                            "complex_network": bool(complex_network)}
        self.unet = ComplexUNet(**self.unet_config, out_features=1, residual=True)
        # Built here, outside any call: built lazily inside an outer layer's first call, its kernels' deferred
        # initialisers would draw from a Keras global seed generator that is not initialised there (Keras 3.15).
        self.unet.build((None, None, None, 1))

    def call(self, image, training=None):
        x, (height, width) = _pad_to_multiple(_as_image(image)[..., None], 2 ** self.unet_config["depth"])
        return self.unet(x, training=training)[:, :height, :width, 0]

    def get_config(self):
        return {**super().get_config(), **self.unet_config}


REGULARIZERS = {"unet": UNet, "dncnn": DnCNN, "resnet": ResNet, "downup": DownUpNet,
                "complex_unet": ComplexUNetRegularizer}


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
    """Builds the regulariser layer ``name`` (a key of ``REGULARIZERS``) with constructor arguments ``config``."""
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
