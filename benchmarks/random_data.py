"""Random multi-coil Cartesian inputs shared by the timing benchmarks (``from random_data import random_multicoil``).

Timings do not depend on the image content, so random k-space and random (pixelwise normalised) maps are enough.
"""
import numpy as np

from tfmri_zoo.physics.sampling import EquispacedMaskFunc, RandomMaskFunc

MASKS = {"equispaced": EquispacedMaskFunc, "random": RandomMaskFunc}


def random_multicoil(batch, coils, size, seed=0, mask="equispaced"):
    """``{"kspace": complex64 [B, C, N, N], "mask": float32 [B, 1, 1, N], "sensitivities": complex64 [B, C, N, N]}``
    numpy: random k-space under a fastMRI 4× line mask (8 % centre), random maps with ``Σ|S|² = 1``."""
    rng = np.random.default_rng(seed)
    shape = (batch, coils, size, size)
    kspace = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    maps = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
    lines, _ = MASKS[mask]([0.08], [4], seed=seed)(shape, seed=seed)
    lines = np.broadcast_to(lines, (batch, 1, 1, size)).astype(np.float32)
    return {"kspace": kspace * lines, "mask": lines, "sensitivities": maps}
