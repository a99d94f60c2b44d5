"""3D susceptibility phantoms from the MNI ICBM152 2009 tissue maps, for learned dipole inversion (QSM).

A "subject" is a block of the template (1 mm, :func:`tfmri_zoo.data.brain_anatomy.load_atlas`) resampled on a
randomly rotated (±10°), scaled grid of voxel size 1.5–2.5 mm (Gaussian pre-filtered), with susceptibilities
(ppm, relative to CSF = 0) drawn per subject:

* grey matter 0.01–0.05, white matter −0.05 to −0.015 (myelin is diamagnetic), with a smooth ±20 % variation;
* 2–4 iron-rich nuclei (ellipsoids of 2–5 voxels, 0.08–0.20 ppm) inside the brain;
* 3–6 veins (straight tubes of radius 0.7–1.5 voxels through the block, 0.25–0.45 ppm).

The tissue field is the dipole convolution of the whole block computed on a twice zero-padded grid (no wrap-around,
as a real field), plus Gaussian noise of ``noise`` ppm inside the brain mask; background fields are assumed removed.
The default noise, log-uniform in 0.001–0.005 ppm, is that of a phase image at 3 T: ``σ_φ = 1/(SNR · ω₀ · TE)`` is
0.0012 ppm for SNR 50 and 0.003 ppm for SNR 20 at TE = 20 ms (ω₀ = 2π · 127.7 MHz): the range is SNR 12–60.
B0 is along the first array axis (``D``), which is the atlas' inferior → superior axis. Train / validation / test
blocks come from disjoint bands of that axis (:data:`SPLIT_BANDS`, fractions of the brain's extent).
"""
import numpy as np
import scipy.ndimage

from tfmri_zoo.data.brain_anatomy import load_atlas
from tfmri_zoo.physics.dipole import dipole_kernel

#: ``split → (start, stop)`` fractions of the brain's inferior → superior extent from which block centres are drawn
#: (the blocks of different splits may touch at the band edges by at most half a block).
SPLIT_BANDS = {"train": (0.15, 0.55), "val": (0.62, 0.70), "test": (0.75, 0.85)}


def _brain_extent(axis):
    brain = load_atlas()["brain"]
    profile = brain.sum(axis=tuple(a for a in range(3) if a != axis))
    keep = np.flatnonzero(profile > 0.05 * profile.max())
    return int(keep[0]), int(keep[-1])


def _rotation(rng, max_degrees):
    angles = np.deg2rad(rng.uniform(-max_degrees, max_degrees, size=3))
    matrix = np.eye(3)
    for axis, angle in enumerate(angles):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [a for a in range(3) if a != axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        matrix = matrix @ r
    return matrix


def _resample(volume, centre, rotation, voxel_mm, shape):
    """``volume`` (1 mm, ``[x, y, z]``) sampled on a grid ``shape = (D, H, W)`` (D along z, H along y, W along x)."""
    offsets = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * voxel_mm for n in shape], indexing="ij")
    grid = np.stack([offsets[2], offsets[1], offsets[0]], axis=0).reshape(3, -1)       # (x, y, z) offsets in mm
    points = rotation @ grid + np.asarray(centre, np.float64)[:, None]
    smooth = scipy.ndimage.gaussian_filter(volume, sigma=max(0.0, 0.4 * (voxel_mm - 1.0)))
    return scipy.ndimage.map_coordinates(smooth, points, order=1, mode="constant").reshape(shape)


def dipole_field(chi, voxel_mm):
    """The field (ppm) of a susceptibility block ``chi`` ``[D, H, W]`` (ppm, B0 along axis 0, isotropic voxels of
    ``voxel_mm``) as in an unbounded medium: the dipole convolution on a twice zero-padded grid, cropped back."""
    padded_shape = tuple(2 * n for n in chi.shape)
    kernel = np.fft.ifftshift(dipole_kernel(padded_shape, (voxel_mm,) * 3))
    padded = np.zeros(padded_shape)
    padded[tuple(slice(0, n) for n in chi.shape)] = chi
    field = np.real(np.fft.ifftn(kernel * np.fft.fftn(padded)))
    return field[tuple(slice(0, n) for n in chi.shape)]


def susceptibility_volume(seed, split="train", shape=(16, 48, 48), noise=None):
    """One subject's block.

    Args:
      seed: integer seed (the block is a deterministic function of all arguments).
      split: ``"train"``, ``"val"`` or ``"test"`` (:data:`SPLIT_BANDS`).
      shape: ``(D, H, W)`` voxels, ``D`` along B0.
      noise: field noise std in ppm; default log-uniform in 0.001–0.005 (module docstring).

    Returns:
      dict: ``field`` float32 ``[D, H, W]`` (ppm, zero outside the mask), ``susceptibility`` float32 ``[D, H, W]``
      (ppm, zero outside the mask), ``mask`` float32 ``[D, H, W]``, ``voxel_size`` ``(v, v, v)`` mm and ``noise``.

    Raises:
      ValueError: an unknown split or a shape that is not three sizes ≥ 8.
    """
    if split not in SPLIT_BANDS:
        raise ValueError(f"split: expected one of {tuple(SPLIT_BANDS)}, got {split!r}.")
    shape = tuple(int(n) for n in shape)
    if len(shape) != 3 or min(shape) < 8:
        raise ValueError(f"shape: expected three sizes (D, H, W) of at least 8, got {shape}.")
    rng = np.random.default_rng(seed)
    atlas = load_atlas()
    voxel_mm = float(rng.uniform(1.5, 2.5))
    low, high = _brain_extent(2)
    band = SPLIT_BANDS[split]
    z = low + (high - low) * rng.uniform(*band)
    brain_xy = np.argwhere(atlas["brain"][:, :, int(round(z))] > 0.5)
    x, y = brain_xy[rng.integers(len(brain_xy))] if len(brain_xy) else (98, 116)
    x, y = (np.array([x, y]) + np.array(atlas["brain"].shape[:2]) / 2) / 2          # towards the centre
    rotation = _rotation(rng, 10.0)
    maps = {name: _resample(atlas[name], (x, y, z), rotation, voxel_mm, shape) for name in ("gm", "wm", "brain")}
    mask = (maps["brain"] > 0.5).astype(np.float64)
    smooth = scipy.ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    variation = 1.0 + 0.2 * np.clip(smooth / max(smooth.std(), 1e-12), -2.0, 2.0) / 2.0     # within ±20 %
    chi = (rng.uniform(0.01, 0.05) * maps["gm"] + rng.uniform(-0.05, -0.015) * maps["wm"]) * variation
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij"), axis=-1)
    inside = np.argwhere(mask > 0)
    for _ in range(rng.integers(2, 5) if len(inside) else 0):
        centre = inside[rng.integers(len(inside))]
        radii = rng.uniform(2.0, 5.0, size=3)
        chi[np.sum(((grid - centre) / radii) ** 2, axis=-1) <= 1.0] = rng.uniform(0.08, 0.20)
    for _ in range(rng.integers(3, 7)):
        point = rng.uniform(0, 1, size=3) * np.array(shape)
        direction = rng.standard_normal(3)
        direction /= np.linalg.norm(direction)
        offset = grid - point
        distance = np.linalg.norm(offset - (offset @ direction)[..., None] * direction, axis=-1)
        chi[distance <= rng.uniform(0.7, 1.5)] = rng.uniform(0.25, 0.45)
    chi *= mask
    noise = float(np.exp(rng.uniform(np.log(0.001), np.log(0.005)))) if noise is None else float(noise)
    field = (dipole_field(chi, voxel_mm) + noise * rng.standard_normal(shape)) * mask
    return {"field": field.astype(np.float32), "susceptibility": chi.astype(np.float32),
            "mask": mask.astype(np.float32), "voxel_size": (voxel_mm,) * 3, "noise": noise}
