"""Packed k-space targets: one complex tensor carrying what a k-space loss needs, so it flows through ``model.fit``.

A Keras loss receives ``(y_true, y_pred)`` only. Losses in k-space (``‖y − E x‖`` on a sampled set, SSDU's loss on
Λ, mixed image + k-space losses) also need the measured k-space, the sampling set and the coil maps, so the target is
packed along a new axis 1 (the coil axis of k-space):

  packed  complex64 ``[B, 2 + 2C, *extra, H, W]``
          index 0          image target (zeros when there is none, e.g. self-supervised training)
          index 1          loss mask (the sampling set the loss is computed on, e.g. Λ), 0/1 as complex
          1 + 1 ... 1 + C  measured k-space ``y`` (zero outside the loss mask is not required)
          2 + C ... 1 + 2C coil sensitivities (ones for single-coil data)

One tensor (not a dict) keeps Keras' loss machinery, ``tf.distribute`` and the dtype guard of
:class:`~tfmri_zoo.training.losses.ComplexLoss` simple.
"""
import tensorflow as tf

from tfmri_zoo import validation


def pack_kspace_target(kspace, mask, sensitivities=None, image=None):
    """Packs a k-space loss target.

    Args:
      kspace: complex64 ``[B, C, *extra, H, W]`` measured k-space.
      mask: float32/bool broadcastable to ``kspace`` (e.g. ``[B, 1, 1, W]``): where the loss is evaluated.
      sensitivities: complex64 ``[B, C, *extra, H, W]`` (``extra`` axes may be 1), or ``None`` for single-coil data.
      image: complex64 ``[B, *extra, H, W]`` image target, or ``None``.

    Returns:
      complex64 ``[B, 2 + 2C, *extra, H, W]`` (module docstring).
    """
    kspace = validation.as_complex(kspace, "kspace", tf.complex64)
    shape = tf.shape(kspace)
    one_coil = tf.concat([shape[:1], [1], shape[2:]], 0)
    mask = tf.broadcast_to(validation.as_mask(mask, "mask", tf.complex64), one_coil)
    if sensitivities is None:
        if kspace.shape[1] is not None and kspace.shape[1] != 1:
            raise ValueError(f"sensitivities: required for multi-coil kspace of shape {kspace.shape}.")
        sensitivities = tf.ones_like(kspace)
    sensitivities = tf.broadcast_to(validation.as_complex(sensitivities, "sensitivities", tf.complex64), shape)
    if image is None:
        image = tf.zeros_like(mask)
    else:
        image = tf.expand_dims(validation.as_complex(image, "image", tf.complex64), 1)
    return tf.concat([image, mask, kspace, sensitivities], axis=1)


def unpack_kspace_target(packed):
    """Inverse of :func:`pack_kspace_target`.

    Args:
      packed: complex ``[B, 2 + 2C, *extra, H, W]``.

    Returns:
      ``(image [B, *extra, H, W], mask [B, 1, *extra, H, W] (complex 0/1), kspace [B, C, ...], sensitivities
      [B, C, ...])``, all of ``packed``'s dtype.
    """
    channels = packed.shape[1]
    if channels is None or channels < 4 or channels % 2:
        raise ValueError(f"packed: expected [B, 2 + 2C, ...] from pack_kspace_target, got shape {packed.shape}.")
    coils = (channels - 2) // 2
    return packed[:, 0], packed[:, 1:2], packed[:, 2:2 + coils], packed[:, 2 + coils:]


def is_packed(y_true, y_pred):
    """True when ``y_true`` is a packed target for the image ``y_pred`` (one more axis)."""
    return len(y_true.shape) == len(y_pred.shape) + 1
