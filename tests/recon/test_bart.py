"""CG-SENSE and ℓ1-wavelet against BART ``pics`` (Debian's bart v0.8) on ``bart phantom`` data.

Layout: BART arrays are ``[x, y, z, coils]``; :func:`tfmri_zoo.data.cfl.bart_to_zoo` maps them to ``[coils, H, W]``
with H = x (READ) and W = y (PHS1), no flips. BART's ``fft -u`` is the same centred unitary FFT as ``fft2c``
(checked in tests/data), so ``bart phantom -k`` k-space is directly our k-space. Lines are undersampled along y = W.

BART flags, and why:
* ``-w 1``: BART's ``pics`` otherwise divides the data by a scale estimated from the zero-filled image (and, without
  ``-S``, returns the image in those scaled units), which would make ``-r λ`` relative to that estimate. ``-w 1``
  fixes the scale to 1, so BART minimises exactly ``½‖y − E x‖² + λ R(x)`` in data units, as our solvers do
  (``lam`` is absolute in tfmri_zoo.recon; the internal rescaling there leaves the minimiser unchanged).
* ``-l2 -r λ``: BART runs CG on ``(EᴴE + λI) x = Eᴴy`` — measured: our ``sense(lam=λ)`` agrees to ~1e-7, while
  ``lam=2λ`` differs by 30 %.
* ``-l1 -r λ -n``: FISTA with Daubechies-2 (``dau2``, 4 taps = db2) wavelets; ``-n`` switches off BART's random
  cycle spinning so the result is deterministic. BART's wavelet boundary handling and step size (0.95) differ from
  ours (periodic, 1/L), so the check is on quality at each method's best λ of a grid, not on the image itself.
* ``-p pattern``: the sampling pattern, so that BART does not infer it from non-zero k-space samples.

Sensitivities: ``bart phantom -S 8`` gives analytic maps with ``Σ|S|² ≈ 1e10``; they are normalised pixelwise to
``Σ|S|² = 1`` (as ESPIRiT maps are) and the same normalised maps go to both packages. Ground truth: the fully
sampled, coil-combined image ``Σ conj(S) F⁻¹y``.
"""
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import requires_bart
from tfmri_zoo.data.cfl import bart_to_zoo, read_cfl, write_cfl, zoo_to_bart
from tfmri_zoo.recon import l1_wavelet, sense, zero_filled

N = 64


def bart(*args):
    # One OpenMP thread: on a shared 2-core machine BART's spinning OpenMP threads made one pics call take 22 s
    # instead of 0.5 s.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(["bart", *map(str, args)], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    """Fully sampled 8-coil k-space ``[C, H, W]``, normalised maps ``[C, H, W]`` and the folder of the files."""
    folder = tmp_path_factory.mktemp("bart")
    bart("phantom", "-k", "-s", 8, "-x", N, folder / "kspace")
    bart("phantom", "-S", 8, "-x", N, folder / "maps")
    kspace = bart_to_zoo(read_cfl(folder / "kspace"))
    maps = bart_to_zoo(read_cfl(folder / "maps"))
    maps = (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))).astype(np.complex64)
    write_cfl(folder / "maps_normalised", zoo_to_bart(maps))
    return kspace, maps, folder


def undersample(phantom, lines, name):
    """Writes the pattern and the undersampled k-space for BART; returns zoo-layout k-space and mask ``[1,1,1,W]``."""
    kspace, _, folder = phantom
    mask = np.broadcast_to(lines.astype(np.float32), (N, N))        # [x = H, y = W]: lines along y
    write_cfl(folder / f"pattern_{name}", mask)
    write_cfl(folder / f"kspace_{name}", zoo_to_bart(kspace * mask))
    return (kspace * mask)[None], lines.astype(np.float32).reshape(1, 1, 1, N)


def bart_pics(phantom, name, *flags):
    folder = phantom[2]
    out = folder / f"recon_{name}"
    bart("pics", *flags, "-w", 1, "-p", folder / f"pattern_{name}", folder / f"kspace_{name}",
         folder / "maps_normalised", out)
    return bart_to_zoo(read_cfl(out))[0]


def nrmse(x, reference):
    return np.linalg.norm(x - reference) / np.linalg.norm(reference)


@requires_bart
@pytest.mark.parametrize("accel", [2, 4])
@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_cg_sense_matches_bart_pics_l2(phantom, accel, lam):
    lines = np.zeros(N)
    lines[::accel] = 1
    lines[N // 2 - 4:N // 2 + 4] = 1
    name = f"r{accel}_{lam}"
    kspace, mask = undersample(phantom, lines, name)
    reference = bart_pics(phantom, name, "-l2", "-r", lam, "-i", 30)
    ours = sense(kspace=kspace, mask=mask, sensitivities=phantom[1][None], lam=lam, max_iter=30).numpy()[0]
    assert nrmse(ours, reference) <= 1e-2
    assert nrmse(reference, zero_filled(kspace, mask, phantom[1][None]).numpy()[0]) > 0.05   # not a trivial match


@requires_bart
def test_l1_wavelet_within_half_db_of_bart_pics_l1(phantom):
    kspace_full, maps, _ = phantom
    truth = np.abs(zero_filled(kspace_full[None], sensitivities=maps[None]).numpy()[0])

    def psnr(x):
        return 20 * np.log10(truth.max() / np.sqrt(np.mean((np.abs(x) - truth) ** 2)))

    rng = np.random.default_rng(0)
    lines = (rng.random(N) < 0.13).astype(np.float32)
    lines[N // 2 - 5:N // 2 + 5] = 1                                 # 20 of 64 lines: R = 3.2
    kspace, mask = undersample(phantom, lines, "cs")
    grid = (1.0, 3.0)          # BART and we both peak in this range (0.1 … 300 scanned while writing the test)
    bart_best = max(psnr(bart_pics(phantom, "cs", "-l1", "-r", lam, "-n", "-i", 60)) for lam in grid)

    @tf.function
    def ours(k):
        return [l1_wavelet(kspace=k, mask=mask, sensitivities=maps[None], lam=lam, max_iter=60, wavelet="db2")
                for lam in grid]

    ours_best = max(psnr(x.numpy()[0]) for x in ours(tf.constant(kspace)))
    sense_psnr = psnr(sense(kspace=kspace, mask=mask, sensitivities=maps[None], max_iter=20).numpy()[0])
    assert ours_best >= bart_best - 0.5, (ours_best, bart_best)
    assert ours_best > sense_psnr + 2.0                              # the ℓ1 prior really helps here
