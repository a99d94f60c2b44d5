"""Orthogonal Daubechies wavelets (db1 … db4) in TensorFlow: periodic-boundary DWT/IDWT, multi-level 2D.

The filters are computed, not tabulated, from Daubechies' construction: the low-pass filter of ``dbp`` is
``H(z) = √2 ((1 + z⁻¹)/2)ᵖ Q(z)`` where ``|Q(e^{iω})|² = P(sin²(ω/2))``, ``P(y) = Σ_{k<p} C(p−1+k, k) yᵏ``, with the
minimum-phase spectral factor (roots of ``Q`` inside the unit circle). The high-pass filter is its quadrature
mirror. With periodic extension the one-level transform is an orthogonal matrix, so the inverse transform is exactly
the adjoint: ``idwt2(dwt2(x)) = x`` and ``⟨dwt2(x), c⟩ = ⟨x, idwt2(c)⟩``.

Conventions match PyWavelets ``mode="periodization"``:
``cA[k] = Σ_j dec_lo[j] x[(2k + p − j) mod N]`` (``cD`` likewise with ``dec_hi``), ``dec_lo`` being the time-reversed
low-pass filter. Multi-level 2D coefficients are packed in an array of the image's shape, as
``pywt.coeffs_to_array(pywt.wavedec2(x, "dbp", mode="periodization", level=levels, axes=(-2, -1)))``: the coarsest
approximation in the top-left ``H/2^levels × W/2^levels`` block; each level's details in the other three quadrants of
its block. Axis −2 (height) is pywt's first transformed axis.
"""
import functools
from math import comb

import numpy as np
import tensorflow as tf

WAVELETS = ("db1", "db2", "db3", "db4")


@functools.lru_cache(maxsize=None)
def daubechies_filters(wavelet):
    """Analysis filters ``(dec_lo, dec_hi)`` of ``wavelet`` ("db1" … "db4") as float64 numpy arrays of length 2p."""
    if wavelet not in WAVELETS:
        raise ValueError(f"wavelet: expected one of {WAVELETS}, got {wavelet!r}.")
    p = int(wavelet[2:])
    poly = [comb(p - 1 + k, k) for k in range(p)]            # P(y), increasing powers
    zeros = []
    for y in (np.roots(poly[::-1]) if p > 1 else []):
        # sin²(ω/2) = (2 − z − 1/z)/4 = y  ⇔  z² − (2 − 4y) z + 1 = 0; keep the root inside the unit circle.
        pair = np.roots([1.0, -(2.0 - 4.0 * y), 1.0])
        zeros.append(pair[np.argmin(np.abs(pair))])
    low = np.array([1.0])
    for _ in range(p):
        low = np.convolve(low, [1.0, 1.0])
    if zeros:
        low = np.convolve(low, np.real(np.poly(zeros)))
    low = low * np.sqrt(2.0) / low.sum()                      # synthesis low-pass (pywt rec_lo)
    dec_lo = low[::-1].copy()
    dec_hi = -low * (-1.0) ** np.arange(low.size)            # quadrature mirror (pywt dec_hi)
    return dec_lo, dec_hi


def max_levels(shape, wavelet):
    """Largest number of levels for an image of ``shape`` ``(H, W)``: each level halves a block that must stay even
    and at least as long as the filter."""
    length = 2 * int(wavelet[2:])
    levels = 0
    h, w = shape
    while h % 2 == 0 and w % 2 == 0 and h // 2 >= length and w // 2 >= length:
        h, w, levels = h // 2, w // 2, levels + 1
    return levels


def coarse_levels(shape, wavelet, min_coarse=8):
    """Levels that leave a coarsest band of at least ``min_coarse`` pixels per side: the largest ``L`` ≤
    :func:`max_levels` with ``min(H, W) / 2^L ≥ min_coarse`` (0 if none). With the default 8 this is BART's choice
    (its wavelets decompose while a band is at least 16 long): 2 levels at 32², 3 at 64²–96², 4 at 128²–255²,
    5 at 256².

    Args:
      shape: ``(H, W)`` Python ints.
      wavelet: "db1" … "db4".
      min_coarse: positive int.
    """
    if isinstance(min_coarse, bool) or not isinstance(min_coarse, int) or min_coarse < 1:
        raise ValueError(f"min_coarse: expected a positive int, got {min_coarse!r}.")
    levels = 0
    while levels < max_levels(shape, wavelet) and min(shape) >= min_coarse << (levels + 1):
        levels += 1
    return levels


def _periodic_pad(x, left, right):
    """Periodically extends the last axis of ``x`` by ``left`` and ``right`` samples."""
    parts = [x[..., x.shape[-1] - left:]] if left else []
    parts.append(x)
    if right:
        parts.append(x[..., :right])
    return tf.concat(parts, axis=-1) if len(parts) > 1 else x


def _analysis_last_axis(x, wavelet):
    """One level along the last axis (length N, even): ``[..., N]`` → ``(cA, cD)`` each ``[..., N/2]``."""
    dec_lo, dec_hi = daubechies_filters(wavelet)
    length, n = dec_lo.size, x.shape[-1]
    p = length // 2
    padded = _periodic_pad(x, p - 1, p)                      # padded[q] = x[(q − p + 1) mod N]
    approx, detail = 0.0, 0.0
    for j in range(length):
        start = 2 * p - 1 - j                                # x[2k + p − j] = padded[2k + 2p − 1 − j]
        taps = padded[..., start:start + n - 1:2]
        approx = approx + float(dec_lo[j]) * taps
        detail = detail + float(dec_hi[j]) * taps
    return approx, detail


def _synthesis_last_axis(approx, detail, wavelet):
    """Adjoint (= inverse) of :func:`_analysis_last_axis`: ``(cA, cD)`` ``[..., N/2]`` → ``[..., N]``.

    ``x[n] = Σ_j lo[j] u[(n − p + j) mod N]`` (``u`` = ``cA`` upsampled by 2, likewise ``cD`` with ``hi``), computed
    polyphase: even outputs ``x[2m]`` use the taps with ``j − p`` even and ``cA[m + (j − p)/2]``, odd outputs the
    others with ``cA[m + (j − p + 1)/2]``; the two phases are then interleaved.
    """
    dec_lo, dec_hi = daubechies_filters(wavelet)
    length, half = dec_lo.size, approx.shape[-1]
    p = length // 2
    pad_a = _periodic_pad(approx, p, p)                      # pad[q] = c[(q − p) mod N/2]
    pad_d = _periodic_pad(detail, p, p)
    phases = [0.0, 0.0]
    for j in range(length):
        phase = (j - p) % 2
        start = (j - p + phase) // 2 + p
        phases[phase] = (phases[phase] + float(dec_lo[j]) * pad_a[..., start:start + half]
                         + float(dec_hi[j]) * pad_d[..., start:start + half])
    out = tf.stack(phases, axis=-1)
    return tf.reshape(out, tf.concat([tf.shape(approx)[:-1], [2 * half]], axis=0))


def _swap(x):
    return tf.linalg.matrix_transpose(x)


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def dwt2(x, wavelet="db4"):
    """One-level 2D DWT over the last two axes, packed: ``[[aa, ad], [da, dd]]`` (first letter: axis −2).

    Args:
      x: real or complex ``[..., H, W]`` with ``H``, ``W`` even and static.
      wavelet: "db1" … "db4".

    Returns:
      tensor of ``x``'s shape and dtype.
    """
    low, high = _analysis_last_axis(_swap(x), wavelet)       # along axis −2 (height)
    rows = _swap(tf.concat([low, high], axis=-1))
    low, high = _analysis_last_axis(rows, wavelet)           # along axis −1 (width)
    return tf.concat([low, high], axis=-1)


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def idwt2(c, wavelet="db4"):
    """Inverse (= adjoint) of :func:`dwt2`. ``c``: ``[..., H, W]`` packed coefficients → image of the same shape."""
    half_w = c.shape[-1] // 2
    rows = _synthesis_last_axis(c[..., :half_w], c[..., half_w:], wavelet)
    cols = _swap(rows)
    half_h = cols.shape[-1] // 2
    return _swap(_synthesis_last_axis(cols[..., :half_h], cols[..., half_h:], wavelet))


def _check(x, wavelet, levels):
    x = tf.convert_to_tensor(x)
    if x.shape.rank is None or x.shape.rank < 2 or None in x.shape[-2:]:
        raise ValueError(f"x: expected a tensor [..., H, W] with static H and W, got shape {x.shape}.")
    if wavelet not in WAVELETS:
        raise ValueError(f"wavelet: expected one of {WAVELETS}, got {wavelet!r}.")
    limit = max_levels(tuple(x.shape[-2:]), wavelet)
    if levels is None:
        levels = limit
    if isinstance(levels, bool) or not isinstance(levels, int) or not 0 <= levels <= limit:
        raise ValueError(f"levels: expected an int in [0, {limit}] for an image {tuple(x.shape[-2:])} and "
                         f"{wavelet} (blocks must stay even and at least the filter length), got {levels!r}.")
    return x, levels


def _replace_block(x, block):
    """Writes ``block`` into the top-left corner of ``x`` (static shapes)."""
    h, w = block.shape[-2], block.shape[-1]
    top = tf.concat([block, x[..., :h, w:]], axis=-1)
    return tf.concat([top, x[..., h:, :]], axis=-2)


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def wavedec2(x, wavelet="db4", levels=None):
    """Multi-level orthogonal 2D DWT, periodic boundary, coefficients packed in an array of ``x``'s shape.

    Args:
      x: real or complex ``[..., H, W]`` (static ``H``, ``W`` divisible by ``2**levels``).
      wavelet: "db1" … "db4".
      levels: number of levels (default: the most the image size allows, see :func:`max_levels`).

    Returns:
      tensor of ``x``'s shape and dtype (see the module docstring for the packing).
    """
    x, levels = _check(x, wavelet, levels)
    h, w = x.shape[-2], x.shape[-1]
    out = x
    for level in range(levels):
        hl, wl = h >> level, w >> level
        out = _replace_block(out, dwt2(out[..., :hl, :wl], wavelet))
    return out


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def waverec2(c, wavelet="db4", levels=None):
    """Inverse (= adjoint) of :func:`wavedec2`. ``c``: packed ``[..., H, W]`` → image ``[..., H, W]``."""
    c, levels = _check(c, wavelet, levels)
    h, w = c.shape[-2], c.shape[-1]
    out = c
    for level in reversed(range(levels)):
        hl, wl = h >> level, w >> level
        out = _replace_block(out, idwt2(out[..., :hl, :wl], wavelet))
    return out
