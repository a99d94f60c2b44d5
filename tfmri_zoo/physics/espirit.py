"""ESPIRiT coil sensitivity calibration (Uecker et al., MRM 71:990-1001, 2014).

Steps, with the paper's notation:

1. Calibration matrix ``A`` (Hankel/block-Hankel): every ``k×k`` patch of the fully sampled centre
   (``calib_size × calib_size``) of every coil is one row, vectorised as ``(coil, ky, kx)``.
2. SVD ``A = U Σ Vᴴ``; the signal subspace ``V∥`` is spanned by the right singular vectors whose singular value
   exceeds ``threshold · σ_max`` (BART ``ecalib -t``). Every patch ``p`` of the signal satisfies ``p = P p`` with
   the projector ``P = V∥ V∥ᴴ`` (written for column patches).
3. Averaging ``p = P p`` over the ``K = k²`` patches that contain one k-space sample gives a k-space convolution;
   in image space it is a point-wise ``C×C`` matrix

       G(r)_{c,c'} = 1/K · Σ_Δ g_{c,c'}(Δ) · exp(+2πi Δ·r / N),
       g_{c,c'}(Δ) = Σ_{d − d' = Δ} P[(c,d), (c',d')],

   (``d, d'`` kernel offsets). ``G(r)`` is Hermitian with eigenvalues in ``[0, 1]``; the coil sensitivities at
   ``r`` are its eigenvectors with eigenvalue ≈ 1 (``G(r) s(r) = s(r)``).
4. Maps are set to zero where that eigenvalue is below ``crop`` (BART ``ecalib -c``), which masks the background.

Computing ``G`` from the ``(2k−1)²`` offset-correlations ``g`` costs one zero-padded FFT per coil pair instead of
one per kernel; all shapes are static, so the function runs in graph mode (the kept subspace is selected by a 0/1
weight per singular vector rather than by slicing).

Threshold: BART's ``ecalib -t`` compares *squared* singular values (the eigenvalues of ``AᴴA``) with ``t`` times the
largest one; measured on ``bart phantom -k -s 8 -x 64`` with ``-t 0.02`` (BART v0.8): BART keeps the 32
vectors with ``σ²/σ²_max > 0.02``, not the 51 with ``σ/σ_max > 0.02``, and only the former reproduces BART's
eigenvalue maps (to 3e-3). This module uses the same rule, so ``threshold=t`` here means ``ecalib -t t``.

Phase: an eigenvector is defined up to a per-pixel phase. BART's default (``ecalib`` without ``-P``) "rotates the
phase with respect to the first principal component"; measured, BART's maps ``s(r)`` have a constant phase of
``uᴴ s(r)`` across pixels, with ``u`` the first principal component (coil space) of the calibration data. Here each
pixel is rotated so that ``uᴴ s(r)`` is real and non-negative, which equals BART's maps up to one global phase
(the arbitrary phase of ``u``). Referencing a virtual coil avoids the phase singularities of referencing coil 0,
whose sensitivity can vanish inside the object.
"""
import math

import tensorflow as tf

from tfmri_zoo.physics.fft import ifft2c


def calibration_region(kspace, calib_size):
    """Centre ``calib_size`` block of the last two axes of ``kspace`` (centre index ``n // 2``, as ``fft2c``).

    Args:
      kspace: complex ``[B, C, H, W]``.
      calib_size: pair ``(ch, cw)`` of Python ints, each ≤ the matching axis.

    Returns:
      complex ``[B, C, ch, cw]``.
    """
    h, w = kspace.shape[-2], kspace.shape[-1]
    ch, cw = calib_size
    top, left = h // 2 - ch // 2, w // 2 - cw // 2
    return kspace[..., top:top + ch, left:left + cw]


def _calibration_matrix(calib, kernel_size):
    """Rows: all ``k×k`` patches of ``calib`` ``[B, C, ch, cw]``; columns ``(coil, ky, kx)``. ``[B, rows, C·k²]``."""
    _, c, ch, cw = calib.shape
    k = kernel_size
    ny, nx = ch - k + 1, cw - k + 1
    shifted = [calib[:, :, dy:dy + ny, dx:dx + nx] for dy in range(k) for dx in range(k)]  # k² × [B, C, ny, nx]
    patches = tf.stack(shifted, axis=2)  # [B, C, k², ny, nx]
    patches = tf.transpose(patches, [0, 3, 4, 1, 2])  # [B, ny, nx, C, k²]
    return tf.reshape(patches, [-1, ny * nx, c * k * k])


def _signal_projector(matrix, threshold):
    """Projector ``P = V∥ V∥ᴴ`` on the patch signal subspace, ``[B, C·k², C·k²]``, complex128.

    Uses the eigendecomposition of the Gram matrix ``AᴴA = V Σ² Vᴴ`` (same ``V`` as the SVD of ``A``).
    A row ``aᵀ`` of ``A`` lies in the row space spanned by ``Vᴴ``; as a column patch ``p = a`` it lies in the span
    of ``conj(V)``, hence ``P = conj(V∥ V∥ᴴ)``.
    """
    gram = tf.linalg.matmul(matrix, matrix, adjoint_a=True)
    eigvals, eigvecs = tf.linalg.eigh(gram)  # ascending
    singular = tf.sqrt(tf.maximum(tf.math.real(eigvals), 0.0))  # TF returns complex eigenvalues
    keep = tf.cast(tf.square(singular) > threshold * tf.square(singular[:, -1:]), eigvecs.dtype)  # [B, n]
    projector = tf.linalg.matmul(eigvecs * keep[:, None, :], eigvecs, adjoint_b=True)
    return tf.math.conj(projector)


def _image_space_operator(projector, num_coils, kernel_size, image_shape):
    """Point-wise ``C×C`` ESPIRiT matrices ``G(r)``, complex ``[B, H, W, C, C]`` (see module docstring)."""
    c, k = num_coils, kernel_size
    h, w = image_shape
    p = tf.reshape(projector, [-1, c, k, k, c, k, k])  # [B, c, dy, dx, c', dy', dx']
    # g(Δ) with Δ = d − d' ∈ [−(k−1), k−1]²: sum over d' the slice P[..., d'] shifted by −d'.
    width = 2 * k - 1
    offsets = tf.zeros_like(p[:, :, 0, 0, :, 0, 0])[..., None, None]  # [B, c, c', 1, 1]
    offsets = tf.tile(offsets, [1, 1, 1, width, width])
    for a in range(k):
        for b in range(k):
            block = tf.transpose(p[:, :, :, :, :, a, b], [0, 1, 4, 2, 3])  # [B, c, c', dy, dx]
            offsets += tf.pad(block, [[0, 0], [0, 0], [0, 0], [k - 1 - a, a], [k - 1 - b, b]])
    # Place Δ = 0 at the centre index (h//2, w//2) of a zero [H, W] grid, then G = sqrt(N)/K · ifft2c(g).
    top, left = h // 2 - (k - 1), w // 2 - (k - 1)
    if top < 0 or left < 0 or top + width > h or left + width > w:
        raise ValueError(f"kernel_size: {k} needs an image of at least {width}×{width}, got {h}×{w}.")
    padded = tf.pad(offsets, [[0, 0], [0, 0], [0, 0], [top, h - top - width], [left, w - left - width]])
    scale = tf.cast(math.sqrt(h * w) / (k * k), padded.dtype)
    operator = ifft2c(padded) * scale  # [B, c, c', H, W]
    return tf.transpose(operator, [0, 3, 4, 1, 2])


def coil_principal_components(data):
    """Eigenvectors of the coil covariance ``X Xᴴ`` of ``data``, largest eigenvalue first.

    Args:
      data: complex ``[B, C, ...]`` (k-space or coil images; by Parseval both give the same covariance).

    Returns:
      complex128 ``[B, C, C]``: column ``j`` is the ``j``-th principal component in coil space.
    """
    samples = tf.reshape(tf.cast(data, tf.complex128), [tf.shape(data)[0], data.shape[1], -1])
    covariance = tf.linalg.matmul(samples, samples, adjoint_b=True)
    _, vectors = tf.linalg.eigh(covariance)  # ascending
    return tf.reverse(vectors, axis=[-1])


def rotate_phase(maps, reference):
    """Rotates each pixel of ``maps`` so that ``referenceᴴ s(r)`` is real and non-negative.

    Args:
      maps: complex ``[B, H, W, C]``.
      reference: complex ``[B, C]`` coil-space vector (e.g. the first principal component of the coil data).

    Returns:
      complex ``[B, H, W, C]``; pixels with ``referenceᴴ s(r) = 0`` are unchanged.
    """
    reference = tf.cast(reference, maps.dtype)
    projection = tf.reduce_sum(maps * tf.math.conj(reference)[:, None, None, :], axis=-1, keepdims=True)
    magnitude = tf.abs(projection)
    phase = tf.where(magnitude > 0, projection / tf.cast(tf.maximum(magnitude, 1e-30), maps.dtype),
                     tf.ones_like(projection))
    return maps * tf.math.conj(phase)


def espirit_maps(kspace, calib_size, kernel_size, threshold, crop, num_maps):
    """ESPIRiT maps from validated input (see :func:`tfmri_zoo.physics.coils.espirit` for the public API).

    Args:
      kspace: complex64 ``[B, C, H, W]``.
      calib_size: ``(ch, cw)`` Python ints.
      kernel_size: Python int.
      threshold, crop: Python floats.
      num_maps: Python int.

    Returns:
      ``(maps, eigenvalues)``: complex64 ``[B, num_maps, C, H, W]`` and float32 ``[B, num_maps, H, W]``.
    """
    num_coils = kspace.shape[1]
    image_shape = (kspace.shape[-2], kspace.shape[-1])
    calib = tf.cast(calibration_region(kspace, calib_size), tf.complex128)
    matrix = _calibration_matrix(calib, kernel_size)
    projector = _signal_projector(matrix, threshold)
    operator = _image_space_operator(projector, num_coils, kernel_size, image_shape)
    operator = tf.cast(operator, tf.complex64)
    operator = 0.5 * (operator + tf.linalg.adjoint(operator))  # exact Hermitian symmetry for eigh
    eigvals, eigvecs = tf.linalg.eigh(operator)  # ascending: [B, H, W, C], [B, H, W, C, C]
    reference = coil_principal_components(calib)[:, :, 0]
    maps, values = [], []
    for m in range(num_maps):
        vector = eigvecs[..., -1 - m]  # [B, H, W, C]
        value = tf.math.real(eigvals[..., -1 - m])  # [B, H, W]
        vector = rotate_phase(vector, reference)
        keep = tf.cast(value >= crop, vector.dtype)[..., None]
        maps.append(tf.transpose(vector * keep, [0, 3, 1, 2]))
        values.append(value)
    return tf.stack(maps, axis=1), tf.stack(values, axis=1)
