"""Coil tools: root-sum-of-squares, sensitivity estimation (ESPIRiT, Walsh) and SVD coil compression.

Layouts follow docs/design.md: coil images, k-space and sensitivities are complex ``[B, C, H, W]`` (coil axis 1),
k-space centred as :func:`tfmri_zoo.physics.fft2c` makes it (DC at index ``(H // 2, W // 2)``).

BART interop: BART stores 2D multi-coil k-space as ``[x, y, z, coils]`` (Fortran order). The zoo maps BART ``x`` to
``H`` and BART ``y`` to ``W``: ``zoo[b, c, h, w] = bart[h, w, 0, c]``. Maps of :func:`espirit` then lie on the same
pixel grid as ``bart ecalib`` maps of the same k-space.
"""
import tensorflow as tf

from tfmri_zoo.physics.espirit import calibration_region, coil_principal_components, espirit_maps, rotate_phase
from tfmri_zoo.physics.fft import ifft2c
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.validation import as_complex, check_finite, check_rank

_LAYOUT = "[batch, coils, height, width]"


def rss(coil_images, axis=1):
    """Root-sum-of-squares coil combination ``sqrt(Σ_c |x_c|²)``.

    Args:
      coil_images: complex64 (or complex128) tensor, coil axis ``axis`` (``[B, C, H, W]`` by default).
      axis: the coil axis.

    Returns:
      float32 (float64 for complex128) tensor with ``axis`` removed.
    """
    coil_images = as_complex(coil_images, "coil_images")
    rank = coil_images.shape.rank
    if rank is None or not -rank <= axis < rank:
        raise ValueError(f"axis: {axis} is out of range for coil_images of shape {coil_images.shape}.")
    magnitude = tf.abs(coil_images)
    return tf.sqrt(tf.reduce_sum(tf.square(magnitude), axis=axis))


def _check_kspace(kspace, name="kspace"):
    kspace = as_complex(kspace, name, tf.complex64)
    check_rank(kspace, name, 4, _LAYOUT)
    if any(d is None for d in kspace.shape[1:]):
        raise ValueError(f"{name}: coils, height and width must be known statically, got shape {kspace.shape}.")
    check_finite(kspace, name)
    return kspace


def _pair(value, name, image_shape):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f"{name}: expected a positive int or a pair of them, got {value!r}.")
    if pair[0] > image_shape[0] or pair[1] > image_shape[1]:
        raise ValueError(f"{name}: {pair} is larger than the k-space matrix {tuple(image_shape)}.")
    return pair


def espirit(kspace, calib_size=24, kernel_size=6, threshold=0.02, crop=0.95, num_maps=1,
            return_eigenvalues=False):
    """ESPIRiT coil sensitivities (Uecker et al. 2014) from the fully sampled centre of ``kspace``.

    The centre ``calib_size`` block (the ACS region) must be fully sampled; the rest may be undersampled. See
    :mod:`tfmri_zoo.physics.espirit` for the algorithm and the phase convention (BART's default: phase relative to
    the first principal component).

    Args:
      kspace: complex64 ``[B, C, H, W]``, centred k-space.
      calib_size: int or ``(ch, cw)``: size of the calibration region (BART ``ecalib -r``).
      kernel_size: int: ESPIRiT kernel width ``k`` (BART ``-k``).
      threshold: singular vectors with ``σ² ≤ threshold · σ²_max`` span the null space (BART ``-t``, which
        compares squared singular values, see :mod:`tfmri_zoo.physics.espirit`).
      crop: maps are zero where their eigenvalue is ``< crop`` (BART ``-c``).
      num_maps: number of eigenvector maps (BART ``-m``).
      return_eigenvalues: also return the eigenvalue maps.

    Returns:
      complex64 sensitivities ``[B, C, H, W]`` for ``num_maps=1``, ``[B, num_maps, C, H, W]`` otherwise; with
      ``return_eigenvalues`` a pair ``(maps, eigenvalues)`` with float32 eigenvalues ``[B, H, W]`` (or
      ``[B, num_maps, H, W]``).
    """
    kspace = _check_kspace(kspace)
    num_coils, image_shape = kspace.shape[1], kspace.shape[2:]
    calib = _pair(calib_size, "calib_size", image_shape)
    if not isinstance(kernel_size, int) or not 1 <= kernel_size <= min(calib):
        raise ValueError(f"kernel_size: expected an int in [1, {min(calib)}] (≤ calib_size), got {kernel_size!r}.")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold: expected a value in [0, 1), got {threshold}.")
    if not 0.0 <= crop < 1.0:
        raise ValueError(f"crop: expected a value in [0, 1), got {crop}.")
    if not isinstance(num_maps, int) or not 1 <= num_maps <= num_coils:
        raise ValueError(f"num_maps: expected an int in [1, {num_coils}], got {num_maps!r}.")
    maps, values = espirit_maps(kspace, calib, kernel_size, float(threshold), float(crop), num_maps)
    if num_maps == 1:
        maps, values = maps[:, 0], values[:, 0]
    return (maps, values) if return_eigenvalues else maps


def walsh(coil_images, window=5):
    """Walsh et al. (MRM 43:682, 2000) sensitivities: dominant eigenvector of the locally averaged coil covariance.

    ``R(r) = Σ_{r' ∈ window(r)} m(r') m(r')ᴴ``; ``s(r)`` is the unit-norm eigenvector of its largest eigenvalue,
    phase-rotated as ESPIRiT's (projection on the first principal component of the coil images real, ≥ 0).

    Args:
      coil_images: complex64 ``[B, C, H, W]`` (typically low-resolution images from the ACS region).
      window: odd int, side of the square averaging window.

    Returns:
      complex64 ``[B, C, H, W]`` unit-norm (per pixel) sensitivities.
    """
    coil_images = _check_kspace(coil_images, "coil_images")
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window: expected a positive odd int, got {window!r}.")
    c, h, w = coil_images.shape[1:]
    images = tf.transpose(coil_images, [0, 2, 3, 1])  # [B, H, W, C]
    outer = images[..., :, None] * tf.math.conj(images[..., None, :])  # [B, H, W, C, C]
    flat = tf.reshape(outer, [-1, h, w, c * c])
    channels = tf.concat([tf.math.real(flat), tf.math.imag(flat)], axis=-1)
    smoothed = tf.nn.avg_pool2d(channels, ksize=window, strides=1, padding="SAME")
    covariance = tf.reshape(tf.complex(smoothed[..., :c * c], smoothed[..., c * c:]), [-1, h, w, c, c])
    covariance = 0.5 * (covariance + tf.linalg.adjoint(covariance))
    _, vectors = tf.linalg.eigh(covariance)
    maps = rotate_phase(vectors[..., -1], coil_principal_components(coil_images)[:, :, 0])
    return tf.transpose(maps, [0, 3, 1, 2])


def low_resolution_images(kspace, calib_size=24):
    """Coil images from the centre ``calib_size`` block of ``kspace`` (zero elsewhere, Hann-windowed).

    Args:
      kspace: complex64 ``[B, C, H, W]``.
      calib_size: int or ``(ch, cw)``.

    Returns:
      complex64 ``[B, C, H, W]``.
    """
    kspace = _check_kspace(kspace)
    h, w = kspace.shape[2:]
    ch, cw = _pair(calib_size, "calib_size", (h, w))
    window = tf.signal.hann_window(ch, periodic=False)[:, None] * tf.signal.hann_window(cw, periodic=False)[None]
    top, left = h // 2 - ch // 2, w // 2 - cw // 2
    window = tf.pad(window, [[top, h - top - ch], [left, w - left - cw]])
    return ifft2c(kspace * tf.cast(window, kspace.dtype))


def coil_compress(kspace, num_virtual_coils, calib_size=None):
    """SVD (PCA) coil compression (Buehrer et al. 2007; Huang et al. 2008).

    The coil covariance ``X Xᴴ`` of the data (all of it, or the centre ``calib_size`` block) gives the
    eigenvectors ``U``; the compression matrix is ``Aᴴ = U[:, :V]ᴴ`` (largest eigenvalues first) and the virtual
    coils are ``Aᴴ y``. With ``V = C`` the matrix is unitary: no information is lost.

    Args:
      kspace: complex64 ``[B, C, H, W]``.
      num_virtual_coils: int ``V`` in ``[1, C]``.
      calib_size: None (use all samples) or int / ``(ch, cw)`` centre block used to estimate the covariance.

    Returns:
      ``(compressed, matrix)``: complex64 ``[B, V, H, W]`` and the compression matrix complex64 ``[B, V, C]``
      (``compressed[b] = matrix[b] @ kspace[b]`` over the coil axis).
    """
    kspace = _check_kspace(kspace)
    c, h, w = kspace.shape[1:]
    if not isinstance(num_virtual_coils, int) or not 1 <= num_virtual_coils <= c:
        raise ValueError(f"num_virtual_coils: expected an int in [1, {c}], got {num_virtual_coils!r}.")
    data = kspace
    if calib_size is not None:
        data = calibration_region(kspace, _pair(calib_size, "calib_size", (h, w)))
    kept = coil_principal_components(data)[..., :num_virtual_coils]  # [B, C, V]
    matrix = tf.cast(tf.linalg.adjoint(kept), tf.complex64)  # [B, V, C]
    compressed = tf.einsum("bvc,bchw->bvhw", matrix, kspace)
    return compressed, matrix


_METHODS = ("espirit", "walsh")


def estimate_sensitivities(kspace, method="espirit", calib_size=24, **kwargs):
    """Coil sensitivities from ``kspace`` by ``method``.

    Args:
      kspace: complex64 ``[B, C, H, W]`` with a fully sampled centre of ``calib_size``.
      method: ``"espirit"`` (:func:`espirit`, ``kwargs`` passed on) or ``"walsh"`` (:func:`walsh` on
        :func:`low_resolution_images`; ``kwargs``: ``window``).
      calib_size: int or ``(ch, cw)``.

    Returns:
      complex64 ``[B, C, H, W]``.
    """
    if method == "espirit":
        return espirit(kspace, calib_size=calib_size, **kwargs)
    if method == "walsh":
        return walsh(low_resolution_images(kspace, calib_size), **kwargs)
    raise ValueError(f"method: expected one of {_METHODS}, got {method!r}.")


def sense_combine(coil_images, sensitivities):
    """Pixelwise least-squares (SENSE) coil combination ``Σ_c conj(S_c) x_c / Σ_c |S_c|²``.

    Pixels whose map energy ``Σ|S|²`` is below 1e-6 of the example's maximum (outside the coils' support) are set to
    0 rather than amplified. For maps normalised to ``Σ|S|² = 1`` this is ``Cᴴ x`` (the adjoint coil combination).

    Args:
      coil_images: complex ``[B, C, *extra, H, W]``.
      sensitivities: complex, the same layout (``extra`` axes may be 1).

    Returns:
      complex ``[B, *extra, H, W]`` of ``coil_images``' dtype.
    """
    coil_images = as_complex(coil_images, "coil_images")
    sensitivities = as_complex(sensitivities, "sensitivities", coil_images.dtype)
    combined = SenseOperator(sensitivities, dtype=coil_images.dtype).coil_combine(coil_images)
    energy = tf.reduce_sum(tf.math.real(sensitivities * tf.math.conj(sensitivities)), axis=1)
    peak = tf.reduce_max(energy, axis=list(range(1, energy.shape.rank)), keepdims=True)
    support = energy > 1e-6 * peak
    safe = tf.where(support, energy, tf.ones_like(energy))
    return tf.where(support, combined / tf.complex(safe, tf.zeros_like(safe)), tf.zeros_like(combined))
