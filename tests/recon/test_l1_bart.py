"""ℓ1-wavelet against BART ``pics -l1`` as the peer: within 0.3 dB PSNR, each at its best λ of a grid.

Data: ``bart phantom`` k-space (random-tubes ``-N 6 -r seed`` and Shepp-Logan) with 8 analytic coils, undersampled
along W (BART's y) by random lines with a fully sampled centre (fastMRI-style: 8 % centre at R = 4, 4 % at R = 8).
Both methods get the same mask and the same maps (``bart phantom -S 8``, normalised pixelwise to ``Σ|S|² = 1``).
Ground truth: the fully sampled coil-combined image ``Σ conj(S) F⁻¹y``.

BART runs its defaults for ``-l1`` (FISTA, Daubechies-2 wavelets, step 0.95, random cycle spinning), with ``-w 1`` so
that ``-r λ`` is absolute like our ``lam`` (see tests/recon/test_bart.py). Ours runs its defaults too (db2, BART's
levels, coarse band thresholded, cycle spinning, step 1/L), 100 iterations each. λ grid: ``(0.25 … 4) × 10⁻³ ·
max|Eᴴy|`` in factors of 2; the test also checks that both optima are inside it.

Our λ loop is one batched call for all cases: ℓ1 is 1-homogeneous, so ``λ · l1_wavelet(y/λ, lam=1)`` is the
solution for ``λ``; the batch holds ``y/λ_j`` of every case and every ``λ_j`` (batch elements are independent).
"""
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import requires_bart
from tfmri_zoo import metrics
from tfmri_zoo.data.cfl import bart_to_zoo, read_cfl, write_cfl, zoo_to_bart
from tfmri_zoo.recon import l1_wavelet, sense, zero_filled

N = 80
COILS = 8
ITERATIONS = 100
GRID = (2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3)       # × max|Eᴴy|


def bart(*args):
    # One OpenMP thread: on a shared 2-core machine BART's spinning OpenMP threads slow it down many times.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(["bart", *map(str, args)], check=True, capture_output=True, env=env)


def make_case(folder, phantom_flags, accel, seed=0):
    """Writes BART inputs; returns zoo-layout k-space ``[1, C, H, W]``, mask ``[1, 1, 1, W]``, maps, truth."""
    bart("phantom", *phantom_flags, "-k", "-s", COILS, "-x", N, folder / "full")
    bart("phantom", "-S", COILS, "-x", N, folder / "maps_raw")
    kspace = bart_to_zoo(read_cfl(folder / "full"))
    maps = bart_to_zoo(read_cfl(folder / "maps_raw"))
    maps = (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))).astype(np.complex64)
    rng = np.random.default_rng(seed)
    centre = int(round((0.08 if accel <= 4 else 0.04) * N))
    lines = np.zeros(N, np.float32)
    lines[N // 2 - centre // 2:N // 2 - centre // 2 + centre] = 1
    lines[rng.choice(np.flatnonzero(lines == 0), N // accel - centre, replace=False)] = 1
    mask = np.broadcast_to(lines, (N, N))                              # [x = H, y = W]: lines along y
    write_cfl(folder / "maps", zoo_to_bart(maps))
    write_cfl(folder / "pattern", mask)
    write_cfl(folder / "kspace", zoo_to_bart(kspace * mask))
    truth = np.abs(zero_filled(kspace[None], sensitivities=maps[None]).numpy()[0])
    return (kspace * mask)[None].astype(np.complex64), lines.reshape(1, 1, 1, N), maps[None], truth


def bart_l1(folder, lam):
    bart("pics", "-l1", "-r", lam, "-w", 1, "-i", ITERATIONS, "-p", folder / "pattern", folder / "kspace",
         folder / "maps", folder / "out")
    return bart_to_zoo(read_cfl(folder / "out"))[0]


def psnr(truth, image):
    return metrics.psnr(truth[None], np.abs(image)[None])


PHANTOMS = {"tubes": ("-N", 6, "-r", 3), "shepp-logan": ()}
CASES = [(phantom, accel) for phantom in PHANTOMS for accel in (4, 8)]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """PSNR over the λ grid for BART and ours, and of CG-SENSE, on every case: ``{case: (bart, ours, sense, λs)}``.

    Ours runs once for all cases and λ: a batch of ``len(CASES) × len(GRID)`` problems in one XLA-compiled call."""
    data, lams = {}, {}
    for case in CASES:
        folder = tmp_path_factory.mktemp(f"{case[0]}_r{case[1]}")
        data[case] = (folder, *make_case(folder, PHANTOMS[case[0]], case[1]))
        kspace, mask, maps = data[case][1:4]
        lams[case] = [factor * float(np.abs(zero_filled(kspace, mask, maps).numpy()).max()) for factor in GRID]
    stack = [(data[case][1] / np.float32(lam), data[case][2], data[case][3]) for case in CASES for lam in lams[case]]
    kspace, mask, maps = (np.concatenate(parts) for parts in zip(*stack))
    solve = tf.function(lambda k, m, s: l1_wavelet(k, m, s, lam=1.0, max_iter=ITERATIONS), jit_compile=True)
    ours = iter(solve(tf.constant(kspace), tf.constant(mask), tf.constant(maps)).numpy())
    out = {}
    for case in CASES:
        folder, kspace, mask, maps, truth = data[case]
        bart_psnr = [psnr(truth, bart_l1(folder, lam)) for lam in lams[case]]
        ours_psnr = [psnr(truth, next(ours) * lam) for lam in lams[case]]
        sense_psnr = psnr(truth, sense(kspace, mask, maps, max_iter=20).numpy()[0])
        out[case] = (bart_psnr, ours_psnr, sense_psnr, lams[case])
    return out


@requires_bart
@pytest.mark.parametrize("case", CASES, ids=[f"{p}-R{r}" for p, r in CASES])
def test_l1_wavelet_within_0p3_db_of_bart_pics_l1(results, case):
    bart_psnr, ours_psnr, sense_psnr, lams = results[case]
    summary = (f"{case}: BART {max(bart_psnr):.2f} dB (λ={lams[int(np.argmax(bart_psnr))]:.3g}), "
               f"ours {max(ours_psnr):.2f} dB (λ={lams[int(np.argmax(ours_psnr))]:.3g}), CG-SENSE {sense_psnr:.2f}; "
               f"grid BART {np.round(bart_psnr, 2)}, ours {np.round(ours_psnr, 2)}")
    print(summary)
    assert max(ours_psnr) >= max(bart_psnr) - 0.3, summary
    # The grid holds both optima, and the ℓ1 prior beats unregularised CG-SENSE by a margin: not a trivial match.
    assert 0 < np.argmax(bart_psnr) < len(GRID) - 1 and 0 < np.argmax(ours_psnr) < len(GRID) - 1, summary
    assert min(max(ours_psnr), max(bart_psnr)) > sense_psnr + 1.0, summary


@requires_bart
def test_without_cycle_spinning_both_lose(tmp_path):
    """Switching cycle spinning off (ours ``cycle_spinning=False``, BART ``-n``) costs both packages alike, and both
    end well below the translation-invariant versions: the property the default relies on."""
    kspace, mask, maps, truth = make_case(tmp_path, ("-N", 6, "-r", 3), 4)
    lam = 1e-3 * float(np.abs(zero_filled(kspace, mask, maps).numpy()).max())
    bart("pics", "-l1", "-n", "-r", lam, "-w", 1, "-i", ITERATIONS, "-p", tmp_path / "pattern", tmp_path / "kspace",
         tmp_path / "maps", tmp_path / "fixed")
    bart_fixed = psnr(truth, bart_to_zoo(read_cfl(tmp_path / "fixed"))[0])
    bart_spun = psnr(truth, bart_l1(tmp_path, lam))
    solve = tf.function(lambda k: [l1_wavelet(k, mask, maps, lam=lam, max_iter=ITERATIONS, cycle_spinning=spin)
                                   for spin in (False, True)])
    ours_fixed, ours_spun = (psnr(truth, image.numpy()[0]) for image in solve(tf.constant(kspace)))
    print(f"fixed grid: BART {bart_fixed:.2f}, ours {ours_fixed:.2f}; spinning: BART {bart_spun:.2f}, "
          f"ours {ours_spun:.2f}")
    assert abs(ours_fixed - bart_fixed) <= 0.5
    assert bart_spun > bart_fixed + 1.0 and ours_spun > ours_fixed + 1.0
