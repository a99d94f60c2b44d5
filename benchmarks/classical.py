"""Classical reconstruction quality and speed: tfmri_zoo.recon vs BART ``pics`` on the same data.

Data: ``bart phantom`` k-space (``-N 6 -r seed`` random tubes, Shepp-Logan, ``-G`` geometric) with C analytic coils,
``-x N``; the maps of ``bart phantom -S C -x N`` normalised pixelwise (``Σ|S|² = 1``) go to both packages. Lines
along W (= BART's y) are undersampled fastMRI-style: a fully sampled centre (8 % of the lines at R ≤ 4, 4 % above)
plus random lines up to N/R in all. Ground truth: the fully sampled coil-combined image ``Σ conj(S) F⁻¹y``.

Quality (ℓ1-wavelet), each method at its own best λ: ``tfmri_zoo.recon.select_lam`` picks λ from a grid
``factor × max|Eᴴy|`` by PSNR for BART ``pics -l1 -r λ -w 1 -i n`` (its defaults: FISTA, Daubechies-2, step 0.95,
random cycle spinning) and for ours ``l1_wavelet(lam=λ, max_iter=n)`` (defaults: db2, cycle spinning, step 1/L).
``-w 1`` makes BART's λ absolute like ours (see tests/recon/test_bart.py). PSNR/SSIM: tfmri_zoo.metrics (fastMRI).

Speed: time per iteration at equal work, ``(T(3n) − T(n)) / 2n`` (cancels BART's start-up, file I/O and FFTW
planning, and our call overhead), ours and BART timed interleaved in this process, ``--repeats`` runs each; the ratio
ours / BART is given from the minima and from the medians of the runs. Both use ``--threads`` CPU threads
(``OMP_NUM_THREADS`` for BART, TF intra-op threads for us). XLA per method, as measured by ``benchmarks/xla.py``
(``--xla auto``, the default): the ℓ1-wavelet is XLA-compiled (0.48× the graph-mode time at 256²), CG-SENSE is not
(1.05×: nothing to fuse around its FFTs); ``--xla on``/``off`` forces one mode for both. Methods timed: ℓ1-wavelet
(``-l1``) and CG-SENSE (``-l2 -r λ_l2``).

    python benchmarks/classical.py            # 8 coils, 144², tubes/Shepp-Logan/geometric, R = 4 and 8
    python benchmarks/classical.py --quick    # 8 coils, 64², tubes, R = 4, 3 λ, short timing
"""
import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import metrics  # noqa: E402
from tfmri_zoo.data.cfl import bart_to_zoo, read_cfl, write_cfl, zoo_to_bart  # noqa: E402
from tfmri_zoo.recon import l1_wavelet, select_lam, sense, zero_filled  # noqa: E402
from tfmri_zoo.training.comparison import classical_methods  # noqa: E402

PHANTOMS = {"tubes": ["-N", 6, "-r", 1], "shepp-logan": [], "geometric": ["-G"]}
GRID = tuple(1e-3 * 2.0 ** np.arange(-2.0, 1.5, 0.5))    # × max|Eᴴy|: 2.5e-4 … 2.8e-3 in steps of √2


#: jit_compile per method, chosen by ``benchmarks/xla.py`` (XLA / graph time at 256², 8 coils: ℓ1-wavelet 0.48,
#: CG-SENSE 1.05); the README's "XLA per method" table.
XLA_BY_METHOD = {"l1-wavelet": True, "CG-SENSE": False}

def run_bart(args, threads):
    """Runs ``bart *args`` with ``threads`` OpenMP threads; returns the wall time in seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    subprocess.run(["bart", *map(str, args)], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def make_case(folder, phantom, size, coils, accel, seed=0):
    """Phantom k-space, normalised maps and a line mask, BART's files written into ``folder``.

    Returns:
      ``(inputs, truth)``: ``inputs`` = {"kspace": complex64 [1, C, N, N] undersampled, "mask": float32
      [1, 1, 1, N], "sensitivities": complex64 [1, C, N, N], "folder": the folder}; ``truth`` float32 [1, N, N].
    """
    run_bart(["phantom", *PHANTOMS[phantom], "-k", "-s", coils, "-x", size, f"{folder}/full"], 1)
    run_bart(["phantom", "-S", coils, "-x", size, f"{folder}/maps_raw"], 1)
    kspace = bart_to_zoo(read_cfl(f"{folder}/full"))
    maps = bart_to_zoo(read_cfl(f"{folder}/maps_raw"))
    maps = (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))).astype(np.complex64)
    rng = np.random.default_rng(seed)
    centre = max(2, int(round((0.08 if accel <= 4 else 0.04) * size)))
    lines = np.zeros(size, np.float32)
    lines[size // 2 - centre // 2:size // 2 - centre // 2 + centre] = 1
    lines[rng.choice(np.flatnonzero(lines == 0), max(size // accel - centre, 0), replace=False)] = 1
    write_cfl(f"{folder}/maps", zoo_to_bart(maps))
    write_cfl(f"{folder}/pattern", np.broadcast_to(lines, (size, size)))
    write_cfl(f"{folder}/kspace", zoo_to_bart(kspace * lines))
    truth = np.abs(zero_filled(kspace[None], sensitivities=maps[None]).numpy())
    inputs = {"kspace": (kspace * lines)[None].astype(np.complex64), "mask": lines.reshape(1, 1, 1, size),
              "sensitivities": maps[None], "folder": folder}
    return inputs, truth


def bart_pics(folder, flags, iterations, threads):
    """Runs ``bart pics -w 1``; returns (wall time, complex image [1, H, W])."""
    seconds = run_bart(["pics", *flags, "-w", 1, "-i", iterations, "-p", f"{folder}/pattern", f"{folder}/kspace",
                        f"{folder}/maps", f"{folder}/out"], threads)
    return seconds, bart_to_zoo(read_cfl(f"{folder}/out"))


def quality_table(args, folder, xla):
    """Best-λ PSNR/SSIM of ours and BART on every phantom and acceleration; prints one row each."""
    # the comparisons' ℓ1 (one compiled solve for every λ of the grid, by 1-homogeneity)
    ours = classical_methods({"l1_wavelet": args.iters}, {"l1_wavelet": xla["l1-wavelet"]})["l1_wavelet"]
    print(f"ℓ1-wavelet quality, {args.iters} iterations each, λ grid {len(args.grid)} values "
          f"{min(args.grid):.3g} … {max(args.grid):.3g} × max|Eᴴy| (chosen λ in data units):")
    print(f"{'phantom':<12} {'R':>2} {'size':>4} {'λ BART':>8} {'λ ours':>8} {'BART PSNR/SSIM':>15} "
          f"{'ours PSNR/SSIM':>15} {'gap dB':>7}")
    cases = {}
    for phantom in args.phantoms:
        for accel in args.accels:
            case_folder = Path(folder) / f"{phantom}_r{accel}"
            case_folder.mkdir()
            inputs, truth = make_case(case_folder, phantom, args.size, args.coils, accel)
            scale = float(np.abs(zero_filled(inputs["kspace"], inputs["mask"], inputs["sensitivities"])).max())
            grid = [factor * scale for factor in args.grid]
            batches = [(inputs, truth, [phantom])]
            lam_bart, bart_scores = select_lam(
                lambda x, lam: bart_pics(x["folder"], ["-l1", "-r", lam], args.iters, args.threads)[1],
                batches, grid)
            lam_ours, ours_scores = select_lam(ours, batches, grid)
            b, o = bart_scores[lam_bart], ours_scores[lam_ours]
            edge = " (λ at the grid's edge)" if {lam_bart, lam_ours} & {grid[0], grid[-1]} else ""
            print(f"{phantom:<12} {accel:>2} {args.size:>4} {lam_bart:>8.3g} {lam_ours:>8.3g} "
                  f"{b['psnr']:>8.2f}/{b['ssim']:.3f} {o['psnr']:>8.2f}/{o['ssim']:.3f} "
                  f"{b['psnr'] - o['psnr']:>7.2f}{edge}", flush=True)
            cases[phantom, accel] = (inputs, lam_bart, lam_ours)
    return cases


def per_iteration(times, iterations):
    """``(T(3n) − T(n)) / 2n`` from the minima and from the medians of the runs (0 when lost in timing noise)."""
    return tuple(max(reduce(times[3 * iterations]) - reduce(times[iterations]), 0.0) / (2 * iterations)
                 for reduce in (np.min, np.median))


def speed_rows(args, inputs, lam_bart, lam_ours, xla):
    """Times ours and BART interleaved at equal iterations; prints one row per method."""
    folder = inputs["folder"]
    kspace = tf.constant(inputs["kspace"])
    mask, maps = inputs["mask"], inputs["sensitivities"]
    methods = {
        "l1-wavelet": (args.time_iters, ["-l1", "-r", lam_bart],
                       lambda k, n: l1_wavelet(k, mask, maps, lam=lam_ours, max_iter=n)),
        "CG-SENSE": (args.cg_iters, ["-l2", "-r", args.lam_l2],
                     lambda k, n: sense(k, mask, maps, lam=args.lam_l2, max_iter=n)),
    }
    print(f"time per iteration, {args.repeats} interleaved runs of n and 3n iterations, threads = {args.threads}, "
          f"XLA = {xla}:")
    print(f"{'method':<11} {'n':>4} {'ours ms/it min/med':>19} {'BART ms/it min/med':>19} {'ratio min/med':>14}")
    for name in args.methods:
        iterations, flags, solve = methods[name]
        compiled = {n: tf.function(lambda k, n=n: solve(k, n), jit_compile=xla[name])
                    for n in (iterations, 3 * iterations)}
        for function in compiled.values():
            function(kspace).numpy()                              # trace and compile outside the timing
        ours_times = {n: [] for n in compiled}
        bart_times = {n: [] for n in compiled}
        for _ in range(args.repeats):
            for n in compiled:
                start = time.perf_counter()
                compiled[n](kspace).numpy()
                ours_times[n].append(time.perf_counter() - start)
                bart_times[n].append(bart_pics(folder, flags, n, args.threads)[0])
        ours_it, bart_it = per_iteration(ours_times, iterations), per_iteration(bart_times, iterations)
        ratio = [o / b if b > 0 else float("nan") for o, b in zip(ours_it, bart_it)]
        print(f"{name:<11} {iterations:>4} {1e3 * ours_it[0]:>9.2f}/{1e3 * ours_it[1]:<9.2f} "
              f"{1e3 * bart_it[0]:>9.2f}/{1e3 * bart_it[1]:<9.2f} {ratio[0]:>6.2f}/{ratio[1]:<6.2f}", flush=True)
    print(f"ratio = ours / BART time per iteration (from the minima / the medians); load average "
          f"{os.getloadavg()[0]:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="64², tubes, R = 4, 3 λ, 30 iterations, timing with n = 10 (CG 5)")
    parser.add_argument("--size", type=int, default=144)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--accels", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--phantoms", nargs="+", default=list(PHANTOMS), choices=list(PHANTOMS))
    parser.add_argument("--iters", type=int, default=100, help="ℓ1-wavelet iterations for the quality table")
    parser.add_argument("--grid", type=float, nargs="+", default=GRID, help="λ grid as factors of max|Eᴴy|")
    parser.add_argument("--time-iters", type=int, default=30, help="n for the ℓ1-wavelet timing")
    parser.add_argument("--cg-iters", type=int, default=30, help="n for the CG-SENSE timing")
    parser.add_argument("--lam-l2", type=float, default=0.01, help="absolute Tikhonov weight (both packages)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for BART and for us")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--xla", choices=["auto", "on", "off"], default="auto",
                        help="jit_compile per method as measured (auto: ℓ1-wavelet on, CG-SENSE off), or forced")
    parser.add_argument("--methods", nargs="+", default=["l1-wavelet", "CG-SENSE"], choices=["l1-wavelet", "CG-SENSE"])
    parser.add_argument("--no-quality", action="store_true", help="timing only, at the middle of the grid")
    args = parser.parse_args()
    if args.quick:
        args.size, args.accels, args.phantoms, args.iters = 64, [4], ["tubes"], 30
        args.grid, args.time_iters, args.cg_iters = (5e-4, 1e-3, 2e-3), 10, 5
    if args.repeats < 1 or args.iters < 1 or args.time_iters < 1 or args.cg_iters < 1:
        parser.error("--repeats, --iters, --time-iters and --cg-iters must be positive")
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    xla = {name: XLA_BY_METHOD[name] if args.xla == "auto" else args.xla == "on" for name in XLA_BY_METHOD}
    print(f"{args.coils} coils, {args.size}×{args.size}, R = {args.accels}, threads = {args.threads}, XLA = {xla}, "
          f"load average {os.getloadavg()[0]:.1f}")

    with tempfile.TemporaryDirectory() as folder:
        if args.no_quality:
            Path(folder, "timing").mkdir()
            inputs, _ = make_case(Path(folder) / "timing", args.phantoms[0], args.size, args.coils, args.accels[0])
            lam = float(np.median(args.grid)) * float(np.abs(zero_filled(
                inputs["kspace"], inputs["mask"], inputs["sensitivities"])).max())
            speed_rows(args, inputs, lam, lam, xla)
            return
        cases = quality_table(args, folder, xla)
        speed_rows(args, *cases[args.phantoms[0], args.accels[0]], xla)


if __name__ == "__main__":
    main()
