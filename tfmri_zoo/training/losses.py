"""Losses for complex-valued reconstructions, safe from the Keras 3 complex→float cast (docs/design.md).

``keras.losses.Loss.__call__`` casts ``y_true``/``y_pred`` to the loss dtype before ``call``; with the default
float32 it silently drops the imaginary part. Every loss here is constructed with ``dtype="complex64"`` so the
tensors reach ``call`` intact, and computes a real value from them.

Shapes: ``y_true`` and ``y_pred`` complex64 ``[B, *extra, H, W]`` (a float target is promoted to complex).
k-space losses (:class:`KSpaceLoss`, :class:`SSDULoss`, :class:`MixedLoss`) take a packed target
``[B, 2 + 2C, *extra, H, W]`` (:mod:`tfmri_zoo.training.targets`) carrying y, the loss mask and the coil maps.

Losses: :class:`ComplexL1` (ℓ1), :class:`ComplexMSE` (ℓ2), :class:`SSIMLoss` (1 − fastMRI SSIM of magnitudes),
:class:`KSpaceLoss` (ℓ1/ℓ2 of ``E x − y`` on the sampled set), :class:`MixedLoss` (image + k-space),
:class:`SSDULoss` (Eq. 24). :func:`get` builds one by name.
"""
import keras
import tensorflow as tf

from tfmri_zoo.metrics import ssim_tf
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.training.targets import is_packed, unpack_kspace_target


class ComplexLoss(keras.losses.Loss):
    """Base: keeps complex inputs complex; subclasses implement ``complex_call(y_true, y_pred) → [B]`` float32.

    Args:
      real_target: what to do with a real ``y_true`` (e.g. fastMRI's RSS magnitude target, or the pipeline's target
        with ``sensitivities=None``) against a complex prediction: ``"error"`` (the default: a ``TypeError`` naming
        ``y_true``), ``"magnitude"`` (compare ``|y_pred|`` with it — the fastMRI convention) or ``"zero_phase"``
        (treat it as a complex image of zero phase, which also penalises the prediction's phase).
      name, reduction, dtype: of ``keras.losses.Loss`` (keep ``dtype="complex64"``, see docs/design.md).
    """

    REAL_TARGETS = ("error", "magnitude", "zero_phase")
    default_real_target = "error"

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype="complex64", real_target=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        real_target = self.default_real_target if real_target is None else real_target
        if real_target not in self.REAL_TARGETS:
            raise ValueError(f"real_target: expected one of {self.REAL_TARGETS}, got {real_target!r}.")
        self.real_target = real_target

    def _resolve_real_target(self, y_true, y_pred):
        """Applies ``real_target`` to a real ``y_true`` against a complex ``y_pred`` (before Keras casts both to
        the loss dtype, which would hide that the target was real)."""
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.convert_to_tensor(y_true)
        if not y_true.dtype.is_complex and y_pred.dtype.is_complex:
            if self.real_target == "error":
                raise TypeError(f"y_true: real ({y_true.dtype.name}, e.g. an RSS magnitude target) but the prediction "
                                f"is complex; {type(self).__name__}(real_target='magnitude') compares |y_pred| with "
                                "it, real_target='zero_phase' treats it as a zero-phase complex image.")
            if self.real_target == "magnitude":
                y_pred = tf.complex(tf.abs(y_pred), tf.zeros([], y_pred.dtype.real_dtype))
        return y_true, y_pred

    def call(self, y_true, y_pred):
        y_true, y_pred = self._resolve_real_target(y_true, y_pred)
        if not y_pred.dtype.is_complex:
            y_pred = tf.complex(tf.cast(y_pred, tf.float32), 0.0)
        if not y_true.dtype.is_complex:
            real = tf.cast(y_true, y_pred.dtype.real_dtype)
            y_true = tf.complex(real, tf.zeros_like(real))
        y_true = tf.cast(y_true, y_pred.dtype)
        # Returned as a complex number of zero imaginary part: Keras reduces it in the loss dtype, and a cast of a real
        # value there would back-propagate through a complex→float cast (TensorFlow's "discard the imaginary part"
        # warning, harmless but alarming); ``__call__`` takes the real part.
        value = tf.cast(self.complex_call(y_true, y_pred), tf.float32)
        return tf.complex(value, tf.zeros_like(value))

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras reduces in the loss dtype (complex64 here); return the real float32 value so that Keras' compile
        # loss does not cast complex → float (the same warning as in ``call``).
        y_true, y_pred = self._resolve_real_target(y_true, y_pred)
        return tf.math.real(super().__call__(y_true, y_pred, sample_weight))

    def get_config(self):
        return {**super().get_config(), "real_target": self.real_target}

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
        y_true = _image_target(y_true, y_pred)
        return _per_example_mean(tf.math.square(tf.abs(y_true - y_pred)))


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexL1(ComplexLoss):
    """Mean of ``|y_true − y_pred|`` per example (modulus of the complex error)."""

    def __init__(self, name="complex_l1", **kwargs):
        super().__init__(name=name, **kwargs)

    def complex_call(self, y_true, y_pred):
        y_true = _image_target(y_true, y_pred)
        return _per_example_mean(tf.abs(y_true - y_pred))


def _image_target(y_true, y_pred):
    """The image target: ``y_true`` itself, or channel 0 of a packed k-space target."""
    if is_packed(y_true, y_pred):
        return unpack_kspace_target(y_true)[0]
    return y_true


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SSIMLoss(ComplexLoss):
    """``1 − SSIM(|y_true|, |y_pred|)`` per example, fastMRI's SSIM (:func:`tfmri_zoo.metrics.ssim_tf`).

    The SSIM of magnitudes depends on the imaginary parts through ``|·|``. Images ``[B, *extra, H, W]``
    (H, W ≥ 7); extra axes (time) are folded into the batch and averaged per example.

    Args:
      data_range: ``None`` (each example's target maximum) or a fixed positive value.
    """

    default_real_target = "magnitude"   # SSIM compares magnitudes: a real (RSS) target is natural

    def __init__(self, data_range=None, name="ssim_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.data_range = data_range

    def complex_call(self, y_true, y_pred):
        y_true = _image_target(y_true, y_pred)
        batch = tf.shape(y_pred)[0]
        spatial = tf.shape(y_pred)[-2:]
        target = tf.reshape(tf.abs(y_true), tf.concat([[-1], spatial], 0))
        prediction = tf.reshape(tf.abs(y_pred), tf.concat([[-1], spatial], 0))
        ssim = tf.reshape(ssim_tf(target, prediction, self.data_range), tf.stack([batch, -1]))
        return 1.0 - tf.reduce_mean(ssim, axis=1)

    def get_config(self):
        return {**super().get_config(), "data_range": self.data_range}


def kspace_residual(packed, image, spatial_rank=2):
    """``(M (E x − y), M y)`` on the packed target's mask ``M``.

    Args:
      packed: complex64 ``[B, 2 + 2C, *extra, H, W]`` (:func:`pack_kspace_target`).
      image: complex64 ``[B, *extra, H, W]`` network output ``x``.
      spatial_rank: FFT axes (2 or 3).

    Returns:
      two complex ``[B, C, *extra, H, W]`` tensors: the masked residual and the masked measurement.
    """
    _, mask, kspace, sensitivities = unpack_kspace_target(packed)
    mask = tf.math.real(mask)
    operator = SenseOperator(sensitivities, mask, spatial_rank=spatial_rank, dtype=image.dtype)
    measured = operator.apply_mask(kspace)
    return operator.forward(image) - measured, measured


def _per_example_sum(x):
    return tf.reduce_sum(x, axis=list(range(1, x.shape.rank)))


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class KSpaceLoss(ComplexLoss):
    """ℓ1 or ℓ2 distance between ``E x`` and ``y`` on the sampled set of a packed target (the operator is used).

    ``y_true`` is a packed target (:func:`~tfmri_zoo.training.targets.pack_kspace_target`), ``y_pred`` the image
    ``[B, *extra, H, W]``. Per example, with residual ``r = M(E x − y)`` over the ``n`` sampled entries of all coils:

      ``norm="l2"``: ``Σ|r|² / n``  (``normalized``: ``‖r‖₂ / ‖M y‖₂``)
      ``norm="l1"``: ``Σ|r| / n``   (``normalized``: ``‖r‖₁ / ‖M y‖₁``)

    Args:
      norm: ``"l1"`` or ``"l2"``.
      normalized: divide by the norm of the measured data on the set instead of the entry count.
      spatial_rank: number of FFT axes (2 or 3).
    """

    def __init__(self, norm="l2", normalized=False, spatial_rank=2, name=None, **kwargs):
        if norm not in ("l1", "l2"):
            raise ValueError(f"norm: expected 'l1' or 'l2', got {norm!r}.")
        super().__init__(name=name or f"kspace_{norm}", **kwargs)
        self.norm, self.normalized, self.spatial_rank = norm, bool(normalized), int(spatial_rank)

    def complex_call(self, y_true, y_pred):
        if not is_packed(y_true, y_pred):
            raise ValueError(f"y_true: a k-space loss needs a packed target [B, 2 + 2C, ...] (pack_kspace_target), "
                             f"got shape {y_true.shape} for an image of shape {y_pred.shape}.")
        residual, measured = kspace_residual(y_true, y_pred, self.spatial_rank)
        if self.norm == "l1":
            value, reference = _per_example_sum(tf.abs(residual)), _per_example_sum(tf.abs(measured))
        else:
            value = _per_example_sum(tf.square(tf.abs(residual)))
            reference = _per_example_sum(tf.square(tf.abs(measured)))
            if self.normalized:
                value, reference = tf.sqrt(value), tf.sqrt(reference)
        if not self.normalized:
            mask = tf.math.real(unpack_kspace_target(y_true)[1])
            reference = _per_example_sum(tf.broadcast_to(mask, tf.shape(residual)))
        return tf.math.divide_no_nan(value, tf.cast(reference, value.dtype))

    def get_config(self):
        return {**super().get_config(), "norm": self.norm, "normalized": self.normalized,
                "spatial_rank": self.spatial_rank}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SSDULoss(ComplexLoss):
    """SSDU's loss on Λ (review Eq. 24): ``‖y_Λ − E_Λ x‖₂/‖y_Λ‖₂ + ‖y_Λ − E_Λ x‖₁/‖y_Λ‖₁`` per example.

    ``y_true`` is a packed target whose mask is Λ (built by :func:`tfmri_zoo.training.ssdu.ssdu_split_example`);
    ``y_pred`` the network output from the Θ data.

    Args:
      spatial_rank: number of FFT axes (2 or 3).
    """

    def __init__(self, spatial_rank=2, name="ssdu_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.spatial_rank = int(spatial_rank)
        self._l1 = KSpaceLoss("l1", normalized=True, spatial_rank=spatial_rank)
        self._l2 = KSpaceLoss("l2", normalized=True, spatial_rank=spatial_rank)

    def complex_call(self, y_true, y_pred):
        return self._l2.complex_call(y_true, y_pred) + self._l1.complex_call(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "spatial_rank": self.spatial_rank}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class MixedLoss(ComplexLoss):
    """Weighted sum of an image-domain loss and a k-space loss on a packed target (review Eq. 23, mixed domain).

    Args:
      image_loss: a :class:`ComplexLoss` on images (default :class:`ComplexL1`); gets the packed image target.
      kspace_loss: a :class:`KSpaceLoss` (default ``KSpaceLoss("l1", normalized=True)``).
      image_weight, kspace_weight: non-negative weights.
    """

    def __init__(self, image_loss=None, kspace_loss=None, image_weight=1.0, kspace_weight=1.0, name="mixed_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.image_loss = _as_loss(image_loss, ComplexL1())
        self.kspace_loss = _as_loss(kspace_loss, KSpaceLoss("l1", normalized=True))
        self.image_weight, self.kspace_weight = float(image_weight), float(kspace_weight)

    def complex_call(self, y_true, y_pred):
        image_term = self.image_loss.complex_call(_image_target(y_true, y_pred), y_pred)
        return self.image_weight * image_term + self.kspace_weight * self.kspace_loss.complex_call(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "image_loss": keras.losses.serialize(self.image_loss),
                "kspace_loss": keras.losses.serialize(self.kspace_loss), "image_weight": self.image_weight,
                "kspace_weight": self.kspace_weight}


def _as_loss(value, default):
    if value is None:
        return default
    if isinstance(value, dict):
        value = keras.losses.deserialize(value)
    if not isinstance(value, ComplexLoss):
        raise TypeError(f"loss: expected a tfmri_zoo ComplexLoss, got {type(value).__name__}.")
    return value


LOSSES = {"l1": ComplexL1, "l2": ComplexMSE, "mse": ComplexMSE, "ssim": SSIMLoss, "kspace_l1": KSpaceLoss,
          "kspace_l2": KSpaceLoss, "mixed": MixedLoss, "ssdu": SSDULoss}


def get(name, **config):
    """A loss by name: ``l1``, ``l2``/``mse``, ``ssim``, ``kspace_l1``, ``kspace_l2``, ``mixed``, ``ssdu``."""
    if isinstance(name, keras.losses.Loss):
        return name
    if name not in LOSSES:
        raise ValueError(f"loss: unknown name {name!r}; expected one of {sorted(LOSSES)}.")
    if name in ("kspace_l1", "kspace_l2"):
        config.setdefault("norm", name[-2:])
    return LOSSES[name](**config)
