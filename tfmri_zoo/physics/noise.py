"""Noise level of measured k-space, estimated from the data alone (no noise scan).

Thermal noise is white in k-space, while an MR image's energy falls off with spatial frequency, so the outermost
k-space band holds mostly noise. The estimate is the median magnitude of the *measured* samples in that band over all
coils, divided by ``sqrt(ln 2)`` — the median of ``|n|`` for circular complex Gaussian noise of variance ``σ²``
(``E|n|² = σ²``) is ``σ·sqrt(ln 2)``. The median ignores the minority of band samples that still carry signal (sharp
edges), so the estimate is robust without a noise-only region of the image.

The band: for Cartesian data, the readout rows (axis −2, always fully sampled) whose distance from the k-space centre
is at least ``(1 − band)`` of the half-width, on the acquired phase-encoding columns (mask > 0); for non-Cartesian
data, the samples with ``max_i |k_i| ≥ (1 − band)·π``.
"""
import math

import tensorflow as tf


def _masked_median(values, selected):
    """Median of ``values[b][selected[b]]`` per row of real ``[B, N]`` (0 for a row with nothing selected)."""
    count = tf.reduce_sum(tf.cast(selected, tf.int32), axis=1)
    ordered = tf.sort(tf.where(selected, values, tf.fill(tf.shape(values), 0.25 * values.dtype.max)), axis=1)
    low = tf.gather(ordered, tf.maximum(count - 1, 0) // 2, axis=1, batch_dims=1)
    high = tf.gather(ordered, tf.maximum(count // 2, 0), axis=1, batch_dims=1)
    return tf.where(count > 0, 0.5 * (low + high), tf.zeros_like(low))


def kspace_noise_std(kspace, sampling, band=0.25):
    """Per-example standard deviation ``σ`` of complex k-space noise (``E|n|² = σ²`` per sample).

    Args:
      kspace: complex ``[B, C, *extra, H, W]`` (Cartesian) or ``[B, C, *extra, M]`` (non-Cartesian), measured.
      sampling: the Cartesian mask (float32/bool broadcastable to ``kspace``, e.g. ``[B, 1, 1, W]``) or the
        non-Cartesian ``{"trajectory": float32 [B, (*extra,) M, ndim] in radians, ...}`` dict.
      band: fraction of the half-width (Cartesian) or of π (non-Cartesian) that forms the outer band, in (0, 1].

    Returns:
      float32 ``[B]``; 0 for an example without measured samples in the band.

    Raises:
      ValueError: ``band`` outside (0, 1].
    """
    if not 0.0 < float(band) <= 1.0:
        raise ValueError(f"band: expected a fraction in (0, 1], got {band!r}.")
    kspace = tf.convert_to_tensor(kspace)
    magnitude = tf.abs(kspace)
    batch = tf.shape(kspace)[0]
    if isinstance(sampling, dict):
        points = tf.convert_to_tensor(sampling["trajectory"], magnitude.dtype)
        outer = tf.reduce_max(tf.abs(points), axis=-1) >= (1.0 - band) * math.pi      # [B, (*extra,) M]
        outer = tf.expand_dims(outer, 1)                                                 # shared by the coils
        while outer.shape.rank < kspace.shape.rank:
            outer = tf.expand_dims(outer, 2)                                             # one trajectory for all extra
    else:
        height = tf.shape(kspace)[-2]
        rows = tf.abs(tf.range(height) - height // 2)
        outer_rows = tf.cast(rows, tf.float32) >= (1.0 - band) * tf.cast(height, tf.float32) / 2.0
        outer = tf.reshape(outer_rows, [-1, 1])
        if sampling is not None:                                                         # None: fully sampled
            outer = tf.logical_and(outer, tf.convert_to_tensor(sampling) > 0)
    outer = tf.broadcast_to(outer, tf.shape(magnitude))
    median = _masked_median(tf.reshape(magnitude, [batch, -1]), tf.reshape(outer, [batch, -1]))
    return median / math.sqrt(math.log(2.0))


def noise_adaptive_weight(weight, nu, noise_std, rank):
    """A per-example regularisation weight ``w₀ + ν·σ̂²`` (MoDL's λ, PnP's ρ): noisier data lean more on the prior.

    Args:
      weight: ``w₀``, a real or complex scalar (Python number or tensor).
      nu: ``ν``, a real scalar (Python number or tensor).
      noise_std: ``σ̂``, float32 ``[B]`` (e.g. :func:`kspace_noise_std`).
      rank: rank of the image the weight multiplies (``[B, H, W]``: 3).

    Returns:
      ``[B, 1, ..., 1]`` (``rank`` axes) of ``weight``'s dtype (float32 for a Python number).
    """
    weight = tf.convert_to_tensor(weight)
    real = weight.dtype.real_dtype
    variance = tf.reshape(tf.square(tf.cast(noise_std, real)), [-1] + [1] * (int(rank) - 1))
    adaptive = tf.cast(nu, real) * variance
    return weight + (tf.complex(adaptive, tf.zeros_like(adaptive)) if weight.dtype.is_complex else adaptive)
