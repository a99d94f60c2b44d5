"""GRAPPA: coil k-space interpolation calibrated on the auto-calibration (ACS) lines of the scan itself.

Griswold et al., MRM 2002 (review Sec. II and III-B: RAKI is its non-linear, learned generalisation). For 2D Cartesian
k-space ``[B, C, H, W]`` undersampled along ``W`` by an integer ``R`` (equispaced lines, fastMRI's
``EquispacedMaskFunc``) with a fully sampled centre block (the ACS), every missing sample is a linear combination of
acquired samples of all coils in a neighbourhood::

    y_c(h, w_s + r) = Σ_{c', dx, j} G_r[c, c', dx, j] · y_c'(h + dx − kx//2, w_s + s_j),   r = 1 … R−1,

where ``w_s`` runs over the acquired lattice columns, ``s_j = (j − (ky//2 − 1))·R`` are the ``ky`` source lines
around the gap (e.g. ``−R, 0, R, 2R`` for ``ky = 4``) and ``kx`` the kernel extent along the readout ``H``. The
weights are fitted on the ACS, where every sample is known, by Tikhonov-regularised least squares

    G = (AᴴA + λ · tr(AᴴA)/n · I)⁻¹ Aᴴ T        (A: source patches, T: targets, n: columns of A)

and then applied at every lattice column of the whole k-space (zero-padded at the edges). Acquired samples,
the ACS included, are kept as measured. One calibration per example of the batch (scan-specific), in numpy;
:func:`grappa_weights` exposes the fit.
"""
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.coils import rss
from tfmri_zoo.physics.fft import ifft2c
from tfmri_zoo.physics.sampling import acs_mask


class CoilReconstruction(NamedTuple):
    """Result of a coil-by-coil k-space reconstruction (:func:`grappa`, :func:`tfmri_zoo.recon.raki`).

    Attributes:
      kspace: complex64 ``[B, C, H, W]``, the acquired samples unchanged and the missing ones filled.
      image: float32 ``[B, H, W]``, root-sum-of-squares of the coil images (``ifft2c`` of ``kspace``).
    """
    kspace: tf.Tensor
    image: tf.Tensor


class Geometry(NamedTuple):
    """The sampling lattice of one example: acceleration ``R``, lattice offset, ACS columns ``[start, stop)``."""
    acceleration: int
    offset: int
    acs_start: int
    acs_stop: int


def sampling_geometry(line, acs, acceleration=None):
    """Finds ``R``, the lattice offset and the ACS of one example's sampled columns.

    Args:
      line: bool ``[W]``, the sampled columns.
      acs: bool ``[W]``, the contiguous ACS columns (:func:`tfmri_zoo.physics.sampling.acs_mask`).
      acceleration: ``R`` if known; else the most common gap between sampled columns outside the ACS.

    Returns:
      :class:`Geometry`.

    Raises:
      ValueError: no ACS, no lines outside it, or lines outside the ACS that are not on one lattice of step ``R``.
    """
    columns = np.flatnonzero(acs)
    if columns.size == 0 or np.any(np.diff(columns) != 1):   # acs_mask(fallback="sampled") gave scattered lines
        raise ValueError("mask: no auto-calibration (ACS) lines at the k-space centre; GRAPPA and RAKI fit their "
                         "kernels on them.")
    outside = np.flatnonzero(line & ~acs)
    if acceleration is None:
        if outside.size < 2:
            raise ValueError("mask: fewer than 2 sampled lines outside the ACS; pass acceleration=R.")
        gaps, counts = np.unique(np.diff(outside), return_counts=True)
        acceleration = int(gaps[np.argmax(counts)])
    acceleration = validation.as_int(acceleration, "acceleration", minimum=1)
    offset = int(outside[0] % acceleration) if outside.size else int(columns[0] % acceleration)
    if np.any(outside % acceleration != offset):
        raise ValueError(f"mask: the lines outside the ACS are not equispaced with R = {acceleration} (GRAPPA and "
                         "RAKI need a uniform lattice, e.g. fastMRI's EquispacedMaskFunc).")
    return Geometry(acceleration, offset, int(columns[0]), int(columns[-1]) + 1)


def source_offsets(acceleration, ky):
    """The ``ky`` source-column offsets ``s_j = (j − (ky//2 − 1))·R`` relative to the lattice column below a gap."""
    return (np.arange(ky) - (ky // 2 - 1)) * acceleration


def patches(kspace, rows, bases, kx, offsets):
    """Source patches ``[len(rows)·len(bases), C·kx·ky]`` of coil k-space ``[C, H', W']`` (column order coil, dx, j).

    Row ``h`` of the output takes k-space rows ``h … h + kx − 1`` (the caller pads or picks interior rows) and
    columns ``base + offsets``.
    """
    c = kspace.shape[0]
    rows, bases = np.asarray(rows), np.asarray(bases)
    r = rows[:, None, None, None] + np.arange(kx)[None, None, :, None]                # [n_rows, 1, kx, 1]
    w = bases[None, :, None, None] + np.asarray(offsets)[None, None, None, :]        # [1, n_bases, 1, ky]
    gathered = kspace[:, r, w]                                                        # [C, n_rows, n_bases, kx, ky]
    return np.moveaxis(gathered, 0, 2).reshape(len(rows) * len(bases), c * kx * len(offsets))


def check_kernel_size(kernel_size):
    kx, ky = (validation.as_int(k, "kernel_size", minimum=1) for k in kernel_size)
    if kx % 2 != 1 or ky % 2 != 0:
        raise ValueError(f"kernel_size: expected (odd readout extent, even number of source lines), got {kernel_size}.")
    return kx, ky


def grappa_weights(calibration, acceleration, kernel_size=(5, 4), lam=1e-3):
    """Fits the GRAPPA weights on fully sampled calibration k-space (module docstring).

    Args:
      calibration: complex ``[C, H, Wc]`` fully sampled k-space (the ACS block of one example).
      acceleration: ``R``.
      kernel_size: ``(kx, ky)``: readout extent (odd) and number of source lines (even).
      lam: relative Tikhonov weight λ (of ``tr(AᴴA)/n``).

    Returns:
      complex128 ``[C·kx·ky, C·(R−1)]`` weights ``G``; target column ``(r − 1)·C + c`` is coil ``c`` at offset ``r``.

    Raises:
      ValueError: the calibration region is narrower than the kernel's span ``(ky − 1)·R + 1`` or shorter than ``kx``.
    """
    calibration = np.asarray(calibration, np.complex128)
    kx, ky = check_kernel_size(kernel_size)
    c, h, width = calibration.shape
    offsets = source_offsets(acceleration, ky)
    span = offsets[-1] - offsets[0] + 1
    if width < span or h < kx:
        raise ValueError(f"mask: the ACS has {width} lines; kernel_size {tuple(kernel_size)} at R = {acceleration} "
                         f"needs at least {span} ACS lines (and {kx} readout samples).")
    bases = np.arange(-offsets[0], width - offsets[-1])
    sources = patches(calibration, np.arange(h - kx + 1), bases, kx, offsets)
    targets = np.concatenate([calibration[:, kx // 2:h - kx // 2][:, :, bases + r].transpose(1, 2, 0)
                              .reshape(-1, c) for r in range(1, acceleration)], axis=1)
    gram = sources.conj().T @ sources
    regularised = gram + lam * np.trace(gram).real / gram.shape[0] * np.eye(gram.shape[0])
    return np.linalg.solve(regularised, sources.conj().T @ targets)


def apply_weights(kspace, line, geometry, weights, kx, ky):
    """Fills the missing columns of one example's coil k-space ``[C, H, W]`` with GRAPPA ``weights``."""
    c, h, w = kspace.shape
    r_acc = geometry.acceleration
    offsets = source_offsets(r_acc, ky)
    pad = r_acc * ky
    padded = np.pad(kspace, [(0, 0), (kx // 2, kx // 2), (pad, pad)])
    first = geometry.offset + r_acc * int(np.ceil((-pad - geometry.offset) / r_acc))   # lattice columns ≥ −pad ...
    bases = np.arange(first, w, r_acc)                                                   # ... below W
    bases = bases[(bases + offsets[0] >= -pad) & (bases + offsets[-1] < w + pad)]
    sources = patches(padded, np.arange(h), bases + pad, kx, offsets)
    filled = (sources @ weights).reshape(h, len(bases), r_acc - 1, c)
    out = kspace.copy()
    for r in range(1, r_acc):
        columns = bases + r
        keep = (columns >= 0) & (columns < w)
        columns, values = columns[keep], filled[:, keep, r - 1, :].transpose(2, 0, 1)   # [C, H, n]
        missing = ~line[columns]
        out[:, :, columns[missing]] = values[:, :, missing]
    return out


def prepare(kspace, mask, acceleration):
    """Checks the inputs; returns numpy k-space ``[B, C, H, W]``, sampled columns ``[B, W]``, geometries."""
    kspace = validation.as_complex(kspace, "kspace", tf.complex64)
    if kspace.shape.rank != 4:
        raise ValueError(f"kspace: expected complex [B, C, H, W], got shape {kspace.shape}.")
    mask = tf.math.real(validation.as_mask(validation.check_mask(mask), "mask", tf.complex64))
    validation.check_broadcastable(mask, kspace.shape, "mask", "kspace")
    full = tf.broadcast_to(mask, tf.shape(kspace))
    line = (tf.reduce_min(full, axis=[1, 2]) > 0.5).numpy()
    acs = acs_mask(full[:, :1], fallback="sampled").numpy()[:, 0, 0] > 0.5
    geometries = [sampling_geometry(line[b], acs[b], acceleration) for b in range(line.shape[0])]
    return kspace.numpy(), line, geometries


def coil_result(kspace):
    """:class:`CoilReconstruction` of filled numpy coil k-space ``[B, C, H, W]``."""
    kspace = tf.constant(kspace.astype(np.complex64))
    return CoilReconstruction(kspace, rss(ifft2c(kspace), axis=1))


def grappa(kspace, mask, *, kernel_size=(5, 4), lam=1e-3, acceleration=None):
    """GRAPPA reconstruction of 2D multi-coil Cartesian k-space (module docstring).

    Args:
      kspace: complex ``[B, C, H, W]`` undersampled k-space (zeros where not acquired).
      mask: float/bool broadcastable to ``kspace`` with equispaced lines along ``W`` and a fully sampled centre block
        (fastMRI's ``EquispacedMaskFunc`` or ``EquispacedMaskFractionFunc``), e.g. ``[B, 1, 1, W]``.
      kernel_size: ``(kx, ky)``: readout extent (odd) and number of source lines (even).
      lam: relative Tikhonov weight of the calibration.
      acceleration: ``R``; default inferred per example from the lines outside the ACS.

    Returns:
      :class:`CoilReconstruction`: filled coil k-space ``[B, C, H, W]`` (acquired samples kept) and its RSS image.

    Raises:
      ValueError: a mask without ACS, an ACS narrower than the kernel needs (the message says how many lines), or
        lines that are not equispaced outside the ACS.
    """
    data, line, geometries = prepare(kspace, mask, acceleration)
    kx, ky = check_kernel_size(kernel_size)
    lam = validation.as_float(lam, "lam", minimum=0.0)
    out = np.empty_like(data)
    for b, geometry in enumerate(geometries):
        if geometry.acceleration == 1:
            out[b] = data[b]
            continue
        calibration = data[b][:, :, geometry.acs_start:geometry.acs_stop]
        weights = grappa_weights(calibration, geometry.acceleration, (kx, ky), lam)
        out[b] = apply_weights(data[b], line[b], geometry, weights, kx, ky)
    return coil_result(out)
