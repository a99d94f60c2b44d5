"""Non-Cartesian k-space trajectories in radians per pixel (the convention of :mod:`tfmri_zoo.physics.nufft`).

Every function returns a float32 numpy array of points ``[..., M, ndim]`` whose columns follow the image's axis order
(column 0 ↔ the first spatial axis, e.g. H). Spokes are full diameters: readout sample ``r`` of ``R`` sits at radius
``2π (r - R/2) / R`` (so ``[-π, π)``, DC sampled at ``r = R/2``), direction ``(cos θ, sin θ)`` in (axis 0, axis 1).
Samples are ordered spoke-major: ``M = spokes · readout``, sample ``s·R + r``.

Golden-angle ordering (Winkelmann et al., IEEE TMI 2007): spoke ``s`` has angle ``θ_s = s · π (√5 - 1) / 2``
(≈ 111.246°, spokes cover 180°), so any contiguous window of spokes is nearly uniform — frames of dynamic data are
consecutive windows of one continuous golden-angle sequence.
"""
import math

import numpy as np

GOLDEN_ANGLE = math.pi * (math.sqrt(5.0) - 1.0) / 2.0
"""Golden angle for full-diameter radial spokes, in radians (≈ 111.246°)."""


def _check_positive(value, name):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}.")
    return int(value)


def radial_angles(num_spokes, golden=True, first_spoke=0):
    """Spoke angles in radians, ``float64 [num_spokes]``: golden-angle increments, or uniform over [0, π)."""
    num_spokes = _check_positive(num_spokes, "num_spokes")
    index = np.arange(first_spoke, first_spoke + num_spokes, dtype=np.float64)
    return np.mod(index * GOLDEN_ANGLE, math.pi) if golden else index * math.pi / num_spokes


def radial_readout(num_readout):
    """Radii of one full-diameter spoke in radians, ``float64 [num_readout]``: ``2π (r - R/2) / R``."""
    num_readout = _check_positive(num_readout, "num_readout")
    return 2.0 * math.pi * (np.arange(num_readout) - num_readout / 2.0) / num_readout


def radial_trajectory(num_spokes, num_readout, num_frames=None, golden=True):
    """2D radial trajectory.

    Args:
      num_spokes: spokes per frame (per image when ``num_frames`` is None).
      num_readout: samples per spoke (e.g. ``2 N`` for 2× readout oversampling of an ``N``-pixel image).
      num_frames: ``None`` for one image, or the number of frames ``T`` of a dynamic series: frame ``t`` takes spokes
        ``t·S … (t+1)·S - 1`` of the continuous sequence.
      golden: golden-angle angles (default) or uniformly spaced angles over [0, π) (per frame, the same each frame).

    Returns:
      float32 points ``[S·R, 2]`` or ``[T, S·R, 2]`` in radians.
    """
    radii = radial_readout(num_readout)
    frames = 1 if num_frames is None else _check_positive(num_frames, "num_frames")
    out = []
    for t in range(frames):
        theta = radial_angles(num_spokes, golden, first_spoke=t * num_spokes if golden else 0)
        spokes = np.stack([np.cos(theta)[:, None] * radii, np.sin(theta)[:, None] * radii], -1)   # [S, R, 2]
        out.append(spokes.reshape(-1, 2))
    out = np.stack(out).astype(np.float32)
    return out[0] if num_frames is None else out


def stack_of_stars_trajectory(num_spokes, num_readout, num_partitions, golden=True):
    """3D stack-of-stars: the 2D radial trajectory on each Cartesian partition ``k_z = 2π (z - Z/2) / Z``.

    Column 0 is the partition axis (image axis D), columns 1, 2 the in-plane axes (H, W). Samples are ordered
    partition-major. Returns float32 points ``[Z·S·R, 3]``.
    """
    num_partitions = _check_positive(num_partitions, "num_partitions")
    plane = radial_trajectory(num_spokes, num_readout, golden=golden)                     # [S·R, 2]
    kz = 2.0 * math.pi * (np.arange(num_partitions) - num_partitions // 2) / num_partitions
    kz = np.broadcast_to(kz[:, None, None], (num_partitions, plane.shape[0], 1))
    plane = np.broadcast_to(plane[None], (num_partitions,) + plane.shape)
    return np.concatenate([kz, plane], -1).reshape(-1, 3).astype(np.float32)


def bart_to_radians(trajectory, image_shape):
    """Converts a BART trajectory (``bart traj``: ``[3, *samples]`` in k-space sample units) to points in radians.

    BART's coordinate ``i`` (x, y, z) pairs with BART axis ``i`` (READ, PHS1, PHS2), which the zoo maps to image
    axes (H, W[, D]) in order (see :mod:`tfmri_zoo.data.cfl`). Returns float32 ``[M, ndim]`` with
    ``ndim = len(image_shape)``, ``points[:, i] = 2π · traj[i] / image_shape[i]``, samples in BART's column-major
    order (readout fastest).
    """
    trajectory = np.asarray(trajectory)
    if trajectory.ndim < 2 or trajectory.shape[0] != 3:
        raise ValueError(f"trajectory: expected a BART trajectory [3, ...], got shape {trajectory.shape}.")
    ndim = len(image_shape)
    coords = np.real(trajectory[:ndim]).reshape(ndim, -1, order="F")
    scale = 2.0 * math.pi / np.asarray(image_shape, np.float64)[:, None]
    return (coords * scale).T.astype(np.float32)
