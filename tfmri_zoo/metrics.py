"""Image quality metrics with fastMRI's ``evaluate.py`` definitions: numpy (evaluation), TF (training), Keras.

Definitions (target ``x``, prediction ``y``, real magnitude images):

* ``nmse = ||x - y||^2 / ||x||^2`` over the whole volume;
* ``psnr = 10 log10(R^2 / mean((x - y)^2))`` with ``R = data_range`` (default: ``max(x)`` of the volume);
* ``ssim``: structural similarity of Wang et al. (2004) as computed by ``skimage.metrics.structural_similarity``
  with fastMRI's settings: a 7x7 uniform window, ``K1 = 0.01``, ``K2 = 0.03``, sample covariance (``N/(N-1)``
  with ``N = 49``), ``C1 = (K1 R)^2``, ``C2 = (K2 R)^2``, the SSIM map averaged over the pixels whose window lies
  inside the image (3-pixel border dropped), then averaged over slices; ``R`` is the volume maximum of the target.

The numpy functions take whole volumes ``[slices, H, W]`` (fastMRI: one value per volume). The TF functions
``ssim_tf``/``psnr_tf``/``nmse_tf`` return one value per example of a batch ``[B, H, W]`` (or ``[B, H, W, 1]``),
each example being its own "volume" (data range = the example's target maximum unless given), and are
differentiable (``1 - ssim_tf`` is an SSIM loss). The Keras metric classes take complex model outputs, take the
magnitude explicitly and are built with ``dtype="complex64"`` so Keras never casts complex inputs to float (which
would silently drop the imaginary part, see docs/design.md).
"""
import keras
import numpy as np
import scipy.ndimage
import tensorflow as tf

WIN_SIZE = 7
K1 = 0.01
K2 = 0.03

__all__ = ["ssim", "psnr", "nmse", "dice", "per_volume_metrics", "ssim_tf", "psnr_tf", "nmse_tf", "SSIMMetric", "PSNRMetric",
           "NMSEMetric"]


# ------------------------------------------------------------------------------------------------ numpy versions

def _as_real_pair(target, prediction, min_ndim=1):
    target = np.asarray(target)
    prediction = np.asarray(prediction)
    for name, x in (("target", target), ("prediction", prediction)):
        if np.iscomplexobj(x):
            raise TypeError(f"{name}: expected a real magnitude array, got {x.dtype}; take np.abs first.")
        if x.ndim < min_ndim:
            raise ValueError(f"{name}: expected at least {min_ndim} axes, got shape {x.shape}.")
    if target.shape != prediction.shape:
        raise ValueError(f"prediction: shape {prediction.shape} differs from target shape {target.shape}.")
    return target.astype(np.float64), prediction.astype(np.float64)


def _data_range(target, data_range):
    return float(target.max()) if data_range is None else float(data_range)


def nmse(target, prediction, data_range=None):
    """Normalised mean squared error ``||target - prediction||^2 / ||target||^2`` of a volume.

    Args:
        target: real array, e.g. magnitude volume ``[slices, H, W]``.
        prediction: real array of the same shape.
        data_range: unused (accepted so that all three metrics share a signature).

    Returns:
        float.
    """
    target, prediction = _as_real_pair(target, prediction)
    return float(np.sum((target - prediction) ** 2) / np.sum(target ** 2))


def psnr(target, prediction, data_range=None):
    """Peak signal-to-noise ratio in dB, ``10 log10(R^2 / MSE)``, of a volume.

    Args:
        target: real array, e.g. magnitude volume ``[slices, H, W]``.
        prediction: real array of the same shape.
        data_range: ``R``; ``None`` means ``target.max()``.

    Returns:
        float (``inf`` when the images are equal).
    """
    target, prediction = _as_real_pair(target, prediction)
    mse = np.mean((target - prediction) ** 2)
    with np.errstate(divide="ignore"):
        return float(10.0 * np.log10(_data_range(target, data_range) ** 2 / mse))


def _ssim_map(box, x, y, data_range):
    """SSIM map from window means; ``box`` is a 7x7 uniform filter (numpy or TF: plain arithmetic only).

    Sample (co)variances ``N/(N-1) (E[xy] - E[x]E[y])``, ``N = 49``; ``data_range`` broadcasts against the map.
    """
    n = WIN_SIZE * WIN_SIZE
    cov_norm = n / (n - 1.0)
    mx, my = box(x), box(y)
    vx = cov_norm * (box(x * x) - mx * mx)
    vy = cov_norm * (box(y * y) - my * my)
    cxy = cov_norm * (box(x * y) - mx * my)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def _ssim_slice(x, y, data_range):
    """Mean SSIM of two ``[H, W]`` float64 images (uniform 7x7 window, valid region only)."""
    ssim_map = _ssim_map(lambda image: scipy.ndimage.uniform_filter(image, size=WIN_SIZE), x, y, data_range)
    pad = (WIN_SIZE - 1) // 2
    return ssim_map[pad:-pad, pad:-pad].mean()


def ssim(target, prediction, data_range=None):
    """Structural similarity of a volume: mean over slices of the per-slice mean SSIM (fastMRI).

    Args:
        target: real magnitude volume ``[slices, H, W]`` (H, W >= 7).
        prediction: real volume of the same shape.
        data_range: ``R``; ``None`` means ``target.max()`` over the whole volume.

    Returns:
        float.
    """
    target, prediction = _as_real_pair(target, prediction)
    if target.ndim != 3:
        raise ValueError(f"target: expected a volume [slices, H, W], got shape {target.shape}.")
    if min(target.shape[1:]) < WIN_SIZE:
        raise ValueError(f"target: H and W must be at least {WIN_SIZE}, got shape {target.shape}.")
    r = _data_range(target, data_range)
    return float(np.mean([_ssim_slice(t, p, r) for t, p in zip(target, prediction)]))


def dice(labels, prediction, num_classes):
    """Dice coefficient per class, ``2|A ∩ B| / (|A| + |B|)`` over all pixels of a volume (1 for a class absent from
    both).

    Args:
        labels: integer class map ``[..., H, W]`` (the reference).
        prediction: integer class map of the same shape, or class probabilities ``[..., H, W, num_classes]`` (the
            arg-max is taken).
        num_classes: number of classes; every label must lie in ``[0, num_classes)``.

    Returns:
        float64 numpy ``[num_classes]``.

    Raises:
        ValueError: shapes that do not match, or labels outside ``[0, num_classes)``.
    """
    labels = np.asarray(labels)
    prediction = np.asarray(prediction)
    if prediction.ndim == labels.ndim + 1 and prediction.shape[-1] == num_classes:
        prediction = np.argmax(prediction, axis=-1)
    if prediction.shape != labels.shape:
        raise ValueError(f"prediction: expected a class map of shape {labels.shape} or probabilities "
                         f"{labels.shape + (num_classes,)}, got {prediction.shape}.")
    for name, values in (("labels", labels), ("prediction", prediction)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name}: expected classes in [0, {num_classes}), got [{values.min()}, {values.max()}].")
    scores = np.ones(num_classes)
    for c in range(num_classes):
        a, b = labels == c, prediction == c
        total = a.sum() + b.sum()
        if total:
            scores[c] = 2.0 * np.logical_and(a, b).sum() / total
    return scores


def per_volume_metrics(predictions, targets, names):
    """fastMRI SSIM/PSNR/NMSE of magnitudes per volume (slices grouped by file name), averaged over volumes.

    Args:
      predictions, targets: complex or real ``[slices, H, W]`` arrays, or lists of ``[H, W]`` slices (sizes may
        differ between volumes, not within one).
      names: the file name of each slice.

    Returns:
      ``{"ssim": float, "psnr": float, "nmse": float}``.
    """
    scores = {"ssim": [], "psnr": [], "nmse": []}
    for name in sorted(set(names)):
        idx = [i for i, n in enumerate(names) if n == name]
        gt = np.abs(np.stack([targets[i] for i in idx]))
        rec = np.abs(np.stack([predictions[i] for i in idx]))
        for key in scores:
            scores[key].append(METRICS[key](gt, rec))
    return {k: float(np.mean(v)) for k, v in scores.items()}


METRICS = {"ssim": ssim, "psnr": psnr, "nmse": nmse}


# ------------------------------------------------------------------------------------------------ TF versions


def _as_batch(target, prediction):
    """Real ``[B, H, W, 1]`` tensors from ``[B, H, W]`` or ``[B, H, W, 1]`` real inputs."""
    target = tf.convert_to_tensor(target)
    prediction = tf.convert_to_tensor(prediction, dtype_hint=target.dtype)
    for name, x in (("target", target), ("prediction", prediction)):
        if x.dtype.is_complex or not x.dtype.is_floating:
            raise TypeError(f"{name}: expected a real float magnitude tensor, got {x.dtype.name}; take tf.abs first.")
        if x.shape.rank not in (3, 4) or (x.shape.rank == 4 and x.shape[-1] not in (1, None)):
            raise ValueError(f"{name}: expected [B, H, W] or [B, H, W, 1], got shape {x.shape}.")
    if prediction.dtype != target.dtype:
        prediction = tf.cast(prediction, target.dtype)
    if target.shape.rank == 3:
        target = target[..., None]
    if prediction.shape.rank == 3:
        prediction = prediction[..., None]
    if not target.shape.is_compatible_with(prediction.shape):
        raise ValueError(f"prediction: shape {prediction.shape} differs from target shape {target.shape}.")
    return target, prediction


def _per_example_range(target, data_range):
    """``[B]`` data range: the given scalar/``[B]`` value or each example's target maximum."""
    if data_range is None:
        return tf.reduce_max(target, axis=[1, 2, 3])
    data_range = tf.cast(tf.convert_to_tensor(data_range), target.dtype)
    return tf.broadcast_to(tf.reshape(data_range, [-1]), tf.shape(target)[:1])


def ssim_tf(target, prediction, data_range=None):
    """Differentiable per-example SSIM with fastMRI/skimage settings.

    Args:
        target: real float ``[B, H, W]`` or ``[B, H, W, 1]`` (H, W >= 7).
        prediction: real float of the same shape.
        data_range: ``None`` (each example's target maximum), a scalar, or ``[B]``.

    Returns:
        ``[B]`` tensor of the target's dtype.
    """
    target, prediction = _as_batch(target, prediction)
    r = _per_example_range(target, data_range)[:, None, None, None]
    # a VALID 7x7 average equals skimage's filtered map with its 3-pixel border cropped
    ssim_map = _ssim_map(lambda image: tf.nn.avg_pool2d(image, ksize=WIN_SIZE, strides=1, padding="VALID"),
                         target, prediction, r)
    return tf.reduce_mean(ssim_map, axis=[1, 2, 3])


def psnr_tf(target, prediction, data_range=None):
    """Per-example PSNR in dB.

    Args:
        target: real float ``[B, H, W]`` or ``[B, H, W, 1]``.
        prediction: real float of the same shape.
        data_range: ``None`` (each example's target maximum), a scalar, or ``[B]``.

    Returns:
        ``[B]`` tensor.
    """
    target, prediction = _as_batch(target, prediction)
    r = _per_example_range(target, data_range)
    mse = tf.reduce_mean(tf.square(target - prediction), axis=[1, 2, 3])
    return 10.0 * tf.math.log(r * r / mse) / tf.math.log(tf.constant(10.0, target.dtype))


def nmse_tf(target, prediction, data_range=None):
    """Per-example NMSE ``||target - prediction||^2 / ||target||^2``.

    Args:
        target: real float ``[B, H, W]`` or ``[B, H, W, 1]``.
        prediction: real float of the same shape.
        data_range: unused (shared signature).

    Returns:
        ``[B]`` tensor.
    """
    target, prediction = _as_batch(target, prediction)
    return (tf.reduce_sum(tf.square(target - prediction), axis=[1, 2, 3])
            / tf.reduce_sum(tf.square(target), axis=[1, 2, 3]))


# ------------------------------------------------------------------------------------------------ Keras metrics

class _MagnitudeMetric(keras.metrics.Metric):
    """Running mean of a per-example metric on the magnitudes of (complex) images ``[B, H, W(, 1)]``.

    Built with ``dtype="complex64"``: Keras then leaves complex ``y_true``/``y_pred`` alone and ``update_state``
    takes ``|.|`` itself, so the imaginary part counts. Real inputs are used as magnitudes (``|.|`` as well).
    """

    _fn = None

    def __init__(self, data_range=None, name=None, dtype="complex64"):
        super().__init__(name=name, dtype=dtype)
        self.data_range = data_range
        self.total = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch.

        Args:
            y_true: ``complex64`` (or real) target images ``[B, H, W]`` or ``[B, H, W, 1]``.
            y_pred: ``complex64`` (or real) predictions of the same shape.
            sample_weight: optional ``[B]`` weights.
        """
        target = tf.cast(tf.abs(tf.convert_to_tensor(y_true)), tf.float32)
        prediction = tf.cast(tf.abs(tf.convert_to_tensor(y_pred)), tf.float32)
        values = type(self)._fn(target, prediction, self.data_range)
        if sample_weight is None:
            weights = tf.ones_like(values)
        else:
            weights = tf.broadcast_to(tf.reshape(tf.cast(sample_weight, tf.float32), [-1]), tf.shape(values))
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "data_range": self.data_range}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class SSIMMetric(_MagnitudeMetric):
    """Mean per-example SSIM (:func:`ssim_tf`) of ``|y_true|`` and ``|y_pred|``."""

    _fn = staticmethod(ssim_tf)

    def __init__(self, data_range=None, name="ssim", dtype="complex64"):
        super().__init__(data_range=data_range, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class PSNRMetric(_MagnitudeMetric):
    """Mean per-example PSNR in dB (:func:`psnr_tf`) of ``|y_true|`` and ``|y_pred|``."""

    _fn = staticmethod(psnr_tf)

    def __init__(self, data_range=None, name="psnr", dtype="complex64"):
        super().__init__(data_range=data_range, name=name, dtype=dtype)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class NMSEMetric(_MagnitudeMetric):
    """Mean per-example NMSE (:func:`nmse_tf`) of ``|y_true|`` and ``|y_pred|``."""

    _fn = staticmethod(nmse_tf)

    def __init__(self, data_range=None, name="nmse", dtype="complex64"):
        super().__init__(data_range=data_range, name=name, dtype=dtype)
