"""Complex activation layers (review Sec. IV-A.2, Table I, Eqs. 27-28).

Every layer maps a complex tensor ``[..., F]`` (``complex64``, or ``complex128`` for a ``float64`` layer) to a
complex tensor of the same shape.  Trainable parameters are real variables with one value per feature ``F``.

* :class:`ComplexSeparable` — ``f(Re z) + i f(Im z)`` for any real Keras activation ``f`` (``CReLU`` for ReLU).
* :class:`ModReLU` — Eq. 27, ``max(0, |z| + β) z/|z|`` with trainable ``β``.
* :class:`Cardioid` — Eq. 28, ``½(1 + cos(∠z + β)) z`` with optional trainable ``β``.
* :class:`SigLog` — ``z / (c + r|z|)`` (Georgiou & Koutsougeras; used by Virtue et al.).
* :class:`ComplexSigmoid` — fully complex ``1 / (1 + e^{-z})``.
* :class:`ZReLU` — ``z`` where ``∠z ∈ [0, π/2]`` (both parts positive), else 0 (Guberman).
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import safe_abs, to_layer_complex


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexSeparable(keras.layers.Layer):
    """Separable activation ``f(Re z) + i f(Im z)``.

    Args:
        activation: any real Keras activation identifier (``"relu"``, ``"sigmoid"``, ``"tanh"``, ...).

    Call args:
        inputs: complex tensor ``[..., F]``.
    """

    def __init__(self, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        return tf.complex(self.activation(tf.math.real(z)), self.activation(tf.math.imag(z)))

    def get_config(self):
        return {**super().get_config(), "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class CReLU(ComplexSeparable):
    """``ReLU(Re z) + i ReLU(Im z)``; inputs complex ``[..., F]``."""

    def __init__(self, **kwargs):
        kwargs.pop("activation", None)
        super().__init__(activation="relu", **kwargs)


class _PerFeatureParameter(keras.layers.Layer):
    """Base for activations with one trainable real parameter per feature (last axis)."""

    def __init__(self, parameter_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.parameter_initializer = keras.initializers.get(parameter_initializer)

    def _add_parameter(self, input_shape, name):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"{self.name}: the feature (last) axis of inputs must be known, got {input_shape}.")
        return self.add_weight(shape=(features,), initializer=self.parameter_initializer, name=name)

    def get_config(self):
        return {**super().get_config(),
                "parameter_initializer": keras.initializers.serialize(self.parameter_initializer)}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ModReLU(_PerFeatureParameter):
    """Eq. 27: ``max(0, |z| + β) · z/|z|`` with a trainable bias ``β`` per feature (output 0 at ``z = 0``).

    Args:
        parameter_initializer: initialiser of ``β`` (shape ``[F]``, default zeros).

    Call args:
        inputs: complex tensor ``[..., F]``.
    """

    def build(self, input_shape):
        self.bias = self._add_parameter(input_shape, "bias")

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        mag = safe_abs(z)
        nonzero = mag > 0
        gain = tf.where(nonzero, tf.nn.relu(mag + self.bias) / tf.where(nonzero, mag, tf.ones_like(mag)),
                        tf.zeros_like(mag))
        return z * tf.cast(gain, z.dtype)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class Cardioid(_PerFeatureParameter):
    """Eq. 28: ``½ (1 + cos(∠z + β)) z``.

    ``cos(∠z + β) = (Re z cos β - Im z sin β) / |z|`` is evaluated without ``atan2``.

    Args:
        trainable_offset: learn one phase offset ``β`` per feature; otherwise ``β = 0``.
        parameter_initializer: initialiser of ``β`` (default zeros).

    Call args:
        inputs: complex tensor ``[..., F]``.
    """

    def __init__(self, trainable_offset=False, **kwargs):
        super().__init__(**kwargs)
        self.trainable_offset = bool(trainable_offset)

    def build(self, input_shape):
        self.offset = self._add_parameter(input_shape, "offset") if self.trainable_offset else None

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        re, im = tf.math.real(z), tf.math.imag(z)
        mag = safe_abs(z)
        nonzero = mag > 0
        if self.offset is None:
            numerator = re
        else:
            numerator = re * tf.cos(self.offset) - im * tf.sin(self.offset)
        cos_phase = tf.where(nonzero, numerator / tf.where(nonzero, mag, tf.ones_like(mag)), tf.ones_like(mag))
        return z * tf.cast(0.5 * (1.0 + cos_phase), z.dtype)

    def get_config(self):
        return {**super().get_config(), "trainable_offset": self.trainable_offset}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SigLog(keras.layers.Layer):
    """``z / (c + r |z|)``: squashes the magnitude into ``[0, 1/r)`` and keeps the phase.

    Args:
        c: positive offset (default 1).
        r: positive magnitude scale (default 1).

    Call args:
        inputs: complex tensor ``[..., F]``.
    """

    def __init__(self, c=1.0, r=1.0, **kwargs):
        super().__init__(**kwargs)
        if c <= 0 or r <= 0:
            raise ValueError(f"c, r: expected positive values, got c={c}, r={r}.")
        self.c, self.r = float(c), float(r)

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        return z / tf.cast(self.c + self.r * safe_abs(z), z.dtype)

    def get_config(self):
        return {**super().get_config(), "c": self.c, "r": self.r}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexSigmoid(keras.layers.Layer):
    """Fully complex (holomorphic) sigmoid ``1 / (1 + e^{-z})``; poles at ``z = i(2k+1)π``.

    Call args:
        inputs: complex tensor ``[..., F]``.
    """

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        return tf.math.reciprocal(1.0 + tf.exp(-z))


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ZReLU(keras.layers.Layer):
    """zReLU: ``z`` where ``Re z > 0`` and ``Im z > 0`` (phase in the first quadrant), else 0.

    Call args:
        inputs: complex tensor ``[..., F]``.
    """

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        keep = tf.logical_and(tf.math.real(z) > 0, tf.math.imag(z) > 0)
        return tf.where(keep, z, tf.zeros_like(z))


_NAMED = {
    "crelu": CReLU,
    "modrelu": ModReLU,
    "cardioid": Cardioid,
    "siglog": SigLog,
    "complex_sigmoid": ComplexSigmoid,
    "zrelu": ZReLU,
}


def get_complex_activation(identifier, **kwargs):
    """Builds a fresh complex activation layer.

    Args:
        identifier: ``None`` (identity), a name in ``crelu, modrelu, cardioid, siglog, complex_sigmoid, zrelu``,
            ``"separable_<keras activation>"`` (e.g. ``"separable_tanh"``), a Keras layer config dict, or a layer.
        **kwargs: layer keyword arguments for a new layer from a name (e.g. ``dtype``, ``name``).

    Returns:
        A Keras layer, or ``None`` for ``None``/``"linear"``.
    """
    if identifier is None or identifier == "linear":
        return None
    if isinstance(identifier, keras.layers.Layer):
        return identifier
    if isinstance(identifier, dict):
        config = {**identifier.get("config", {}), **kwargs}
        if "name" not in kwargs:
            config.pop("name", None)  # a fresh, uniquely named layer per use
        return keras.layers.deserialize({**identifier, "config": config})
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _NAMED:
            return _NAMED[key](**kwargs)
        if key.startswith("separable_"):
            return ComplexSeparable(key[len("separable_"):], **kwargs)
    raise ValueError(f"activation: unknown complex activation {identifier!r}; expected one of {sorted(_NAMED)}, "
                     f"'separable_<keras activation>', a layer config or a layer.")
