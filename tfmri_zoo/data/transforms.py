"""Small image-space transforms shared by the data pipeline and the synthetic generator (TensorFlow ops)."""
import tensorflow as tf


def center_crop(x, shape):
    """Crops the last two axes of ``x`` to ``shape`` ``(h, w)`` about the centre (fastMRI's ``center_crop``).

    Works on numpy arrays and tensors (trailing dims static or dynamic): the window starts at ``(H - h) // 2``,
    ``(W - w) // 2``. A ``shape`` larger than a static ``x`` along an axis is a ``ValueError``.
    """
    h, w = int(shape[0]), int(shape[1])
    if x.shape[-2] is not None and x.shape[-1] is not None:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        if not (0 < h <= height and 0 < w <= width):
            raise ValueError(f"crop: {tuple(shape)} must fit inside the image size {(height, width)}.")
    else:  # dynamic trailing dims (tensors only)
        height, width = tf.shape(x)[-2], tf.shape(x)[-1]
    top, left = (height - h) // 2, (width - w) // 2
    return x[..., top:top + h, left:left + w]
