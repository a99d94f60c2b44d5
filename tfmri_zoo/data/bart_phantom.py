"""Data made by others: BART's analytic k-space phantoms with ``bart ecalib`` ESPIRiT maps, as fastMRI-schema files.

For generalisation tests (review Sec. V): the anatomy, the coil model and the map estimation all come from BART
(``bart phantom -k -s C``: analytic k-space of the phantom seen by ``C`` BART coil sensitivities; ``bart ecalib``:
ESPIRiT maps), not from this project. Needs the ``bart`` command (Debian's ``bart`` package; a test peer, never a
runtime dependency of the zoo).

Kinds (``bart phantom`` flags): ``"shepp_logan"`` (default phantom), ``"tubes"`` (``-N 6 -r seed``: six random
tubes), ``"geometric"`` (``-G``), ``"logo"`` (``-B``, the BART logo). Complex Gaussian noise of standard deviation
``noise_level × mean|RSS image|`` over the object is added to k-space before ESPIRiT (uncorrelated coils).
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np

from tfmri_zoo.data.cfl import bart_to_zoo, read_cfl
from tfmri_zoo.data.fastmri import write_fastmri_file

KINDS = {"shepp_logan": [], "tubes": ["-N", "6"], "geometric": ["-G"], "logo": ["-B"]}


def _bart(*args, cwd):
    if shutil.which("bart") is None:
        raise RuntimeError("bart: the 'bart' command is needed for BART phantoms (apt-get install bart).")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(["bart", *map(str, args)], check=True, capture_output=True, cwd=cwd, env=env)


def bart_phantom_slice(kind="shepp_logan", size=128, coils=8, seed=0, noise_level=0.0, calib_size=24):
    """One BART phantom slice.

    Args:
      kind: one of :data:`KINDS`.
      size: matrix size ``N`` (BART phantoms are square, ``N × N``).
      coils: number of BART coil sensitivities (``-s``, at most 8 in BART 0.8).
      seed: seed of ``-r`` (random tubes) and of the added noise.
      noise_level: k-space noise std relative to the mean RSS magnitude over the object.
      calib_size: ``bart ecalib -r`` calibration size.

    Returns:
      ``(kspace, maps)``: complex64 ``[C, N, N]`` (zoo layout, :func:`~tfmri_zoo.data.cfl.bart_to_zoo`) and the
      ``bart ecalib -m1`` maps of the noisy k-space, complex64 ``[C, N, N]``.
    """
    from tfmri_zoo.data.cfl import write_cfl, zoo_to_bart
    from tfmri_zoo.physics.fft import ifft2c

    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {sorted(KINDS)}, got {kind!r}.")
    if not 1 <= int(coils) <= 8:
        raise ValueError(f"coils: BART 0.8 phantoms have 1–8 coils, got {coils}.")
    with tempfile.TemporaryDirectory() as folder:
        extra = KINDS[kind] + (["-r", seed] if kind == "tubes" else [])
        _bart("phantom", *extra, "-k", "-s", coils, "-x", size, "kspace", cwd=folder)
        kspace = bart_to_zoo(read_cfl(os.path.join(folder, "kspace")))
        kspace = kspace / np.abs(kspace).max()
        if noise_level > 0:
            rss = np.sqrt(np.sum(np.abs(ifft2c(kspace).numpy()) ** 2, axis=0))
            sigma = noise_level * rss[rss > 0.1 * rss.max()].mean()
            rng = np.random.default_rng(seed)
            kspace = kspace + sigma / np.sqrt(2) * (rng.standard_normal(kspace.shape)
                                                    + 1j * rng.standard_normal(kspace.shape))
        kspace = kspace.astype(np.complex64)
        write_cfl(os.path.join(folder, "noisy"), zoo_to_bart(kspace))
        _bart("ecalib", "-m1", "-r", calib_size, "noisy", "maps", cwd=folder)
        maps = bart_to_zoo(read_cfl(os.path.join(folder, "maps"))).astype(np.complex64)
    return kspace, maps


def write_bart_phantom_file(path, kind="shepp_logan", num_slices=2, size=128, coils=8, seed=0, noise_level=0.0):
    """Writes ``num_slices`` BART phantom slices (seeds ``seed, seed+1, …``) as one fastMRI-schema file with the
    ESPIRiT maps as ``sensitivities``; returns ``path``."""
    from tfmri_zoo.physics.coils import rss
    from tfmri_zoo.physics.fft import ifft2c

    pairs = [bart_phantom_slice(kind, size, coils, seed + i, noise_level) for i in range(num_slices)]
    kspace = np.stack([k for k, _ in pairs])
    maps = np.stack([m for _, m in pairs])
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.path.basename(path)}")
    write_fastmri_file(tmp, kspace, reconstruction_rss=rss(ifft2c(kspace), axis=1).numpy(), sensitivities=maps,
                       attrs={"acquisition": f"BART_{kind.upper()}", "patient_id": f"bart-{kind}-{seed}",
                              "noise_level": float(noise_level)})
    os.replace(tmp, path)
    return path
