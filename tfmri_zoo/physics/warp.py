"""Differentiable bilinear backward warp ``W_u``, its exact adjoint ``W_uᴴ``, and diffeomorphic fields.

Convention (the synthetic cine generator :mod:`tfmri_zoo.data.synthetic_series` moves its frames with this warp):
a displacement field ``u`` in pixels, ``[..., H, W, 2]`` with (row, column) components, *pulls* an image through it,

    (W_u x)(p) = x(p + u(p)) = Σ_k w_k(p) · x(q_k(p)),

where ``q_k(p)`` are the four integer neighbours of ``p + u(p)`` and ``w_k`` their bilinear weights. Neighbours
outside the image contribute zero (zero padding), so ``W_u`` is a linear map of ``x`` with a sparse real matrix
and its adjoint is the scatter of the same weights,

    (W_uᴴ y)(q) = Σ_p Σ_k [q_k(p) = q] · w_k(p) · y(p),

which :func:`warp_adjoint` computes with ``unsorted_segment_sum`` (``⟨W_u x, y⟩ = ⟨x, W_uᴴ y⟩`` exactly, up to
rounding). Both are differentiable in the image and in the field (through the fractional weights).

Diffeomorphic fields (scaling and squaring): a stationary velocity field ``v`` gives the displacement of
``φ = exp(v)`` by ``u ← v / 2^K``, then ``K`` times ``u ← u + W_u u`` (the composition ``φ ∘ φ``).
"""
import tensorflow as tf

from tfmri_zoo import validation


def _real_dtype(dtype):
    dtype = tf.as_dtype(dtype)
    return dtype.real_dtype if dtype.is_complex else dtype


def _check(values, displacement, name):
    """Validates ``values [..., H, W, C]`` against ``displacement [..., H, W, 2]``; returns the cast field."""
    if displacement.shape.rank is None or displacement.shape.rank < 3 or displacement.shape[-1] != 2:
        raise ValueError(f"displacement: expected [..., H, W, 2] (row, column) in pixels, got shape "
                         f"{displacement.shape}.")
    if displacement.dtype.is_complex:
        raise TypeError(f"displacement: expected a real float tensor, got {displacement.dtype.name}.")
    if values.shape.rank != displacement.shape.rank:
        raise ValueError(f"{name}: rank {values.shape.rank - 1} does not match displacement rank "
                         f"{displacement.shape.rank} minus the trailing 2 ({name} shape {values.shape[:-1]}, "
                         f"displacement shape {displacement.shape}).")
    return tf.cast(displacement, _real_dtype(values.dtype))


def _neighbours(displacement):
    """Flat indices and bilinear weights of the four neighbours of ``p + u(p)``.

    Args:
      displacement: real ``[N, H, W, 2]``.

    Returns:
      ``(indices, weights)``: lists of four int32 ``[N, H·W]`` (clipped into range) and four real ``[N, H·W]``
      (zero for neighbours outside the image).
    """
    shape = tf.shape(displacement)
    height, width = shape[1], shape[2]
    dtype = displacement.dtype
    rows = tf.cast(tf.range(height), dtype)[:, None] + displacement[..., 0]
    cols = tf.cast(tf.range(width), dtype)[None, :] + displacement[..., 1]
    r0, c0 = tf.floor(rows), tf.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)
    indices, weights = [], []
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        r, c = r0 + dr, c0 + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        flat = tf.clip_by_value(r, 0, height - 1) * width + tf.clip_by_value(c, 0, width - 1)
        indices.append(tf.reshape(flat, [shape[0], -1]))
        weights.append(tf.reshape(tf.where(inside, w, tf.zeros_like(w)), [shape[0], -1]))
    return indices, weights


def _prepare(values, displacement):
    """Validates and flattens ``values [..., H, W, C]`` and ``displacement [..., H, W, 2]``.

    Returns:
      ``(values [N, H·W, C], shape of values, indices, weights)`` with the neighbours of :func:`_neighbours`.
    """
    values = tf.convert_to_tensor(values)
    displacement = _check(values, tf.convert_to_tensor(displacement), "values")
    shape = tf.shape(values)
    hw = shape[-3:-1]
    flat = tf.reshape(values, tf.concat([[-1, hw[0] * hw[1]], shape[-1:]], axis=0))
    indices, weights = _neighbours(tf.reshape(displacement, tf.concat([[-1], hw, [2]], axis=0)))
    return flat, shape, indices, [tf.cast(w, values.dtype)[..., None] for w in weights]


def warp_channels(values, displacement):
    """``W_u`` on every channel: ``out[..., p, c] = values[..., p + u(p), c]`` (bilinear, zero outside).

    Args:
      values: real or complex ``[..., H, W, C]``.
      displacement: real ``[..., H, W, 2]`` (same leading axes), (row, column) in pixels.

    Returns:
      ``values``' dtype, ``[..., H, W, C]``.
    """
    flat, shape, indices, weights = _prepare(values, displacement)
    out = 0
    for idx, w in zip(indices, weights):
        out += w * tf.gather(flat, idx, batch_dims=1)
    return tf.reshape(out, shape)


def warp_channels_adjoint(values, displacement):
    """``W_uᴴ`` on every channel (scatter of the bilinear weights), the exact adjoint of :func:`warp_channels`.

    Args:
      values: real or complex ``[..., H, W, C]``.
      displacement: real ``[..., H, W, 2]``.

    Returns:
      ``values``' dtype, ``[..., H, W, C]``.
    """
    flat, shape, indices, weights = _prepare(values, displacement)
    n, hw = tf.shape(flat)[0], tf.shape(flat)[1]
    offsets = (tf.range(n) * hw)[:, None]
    ids = tf.reshape(tf.stack([idx + offsets for idx in indices]), [-1])
    contributions = tf.stack([w * flat for w in weights])
    contributions = tf.reshape(contributions, tf.stack([-1, tf.shape(flat)[-1]]))
    out = tf.math.unsorted_segment_sum(contributions, ids, n * hw)
    return tf.reshape(out, shape)


def warp(image, displacement):
    """Backward bilinear warp of images: ``out(p) = image(p + u(p))``.

    Args:
      image: complex or real ``[..., H, W]``, e.g. ``[B, H, W]`` or ``[B, T, H, W]``.
      displacement: real ``[..., H, W, 2]`` with the same leading axes, (row, column) in pixels.

    Returns:
      ``image``'s dtype and shape.
    """
    image = tf.convert_to_tensor(image)
    return warp_channels(image[..., None], displacement)[..., 0]


def warp_adjoint(image, displacement):
    """Exact adjoint of :func:`warp` for the same field (see the module docstring). Shapes as :func:`warp`."""
    image = tf.convert_to_tensor(image)
    return warp_channels_adjoint(image[..., None], displacement)[..., 0]


def scaling_and_squaring(velocity, steps=6):
    """Displacement of the diffeomorphism ``exp(v)`` of a stationary velocity field by scaling and squaring.

    Args:
      velocity: real ``[..., H, W, 2]`` in pixels.
      steps: number of squarings ``K`` (``v`` is first divided by ``2^K``).

    Returns:
      real ``[..., H, W, 2]`` displacement ``u`` with ``p + u(p) = exp(v)(p)``.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps: expected a non-negative int, got {steps!r}.")
    velocity = tf.convert_to_tensor(velocity)
    if velocity.dtype.is_complex:
        raise TypeError(f"velocity: expected a real float tensor, got {velocity.dtype.name}.")
    u = velocity / (2.0 ** steps)
    for _ in range(steps):
        u = u + warp_channels(u, u)
    return u
