"""Classical reconstruction speed and quality: tfmri_zoo.recon vs BART ``pics`` on the same data, same iterations.

Data: ``bart phantom -k -s C -x N`` k-space with the analytic maps of ``bart phantom -S C -x N`` normalised pixelwise
(``Σ|S|² = 1``), undersampled along W (= BART's y) with random lines and a fully sampled centre (8 % of lines) at
acceleration R. Ground truth: the fully sampled coil-combined image ``Σ conj(S) F⁻¹y``.

Methods (``lam`` absolute in both packages, see tests/recon/test_bart.py for the flag choice):
  CG-SENSE     ours ``sense(lam)``                                 BART ``pics -l2 -r lam -w 1 -i n``
  ℓ1-wavelet   ours ``l1_wavelet(lam, wavelet="db2", step 0.95)`` BART ``pics -l1 -r lam -w 1 -n -i n`` (dau2, FISTA)

Time per iteration = ``(T(3n) − T(n)) / 2n`` for both (BART: wall time of the ``pics`` process, which cancels its
start-up, file I/O and FFTW planning; ours: a ``tf.function`` call after warm-up, XLA-compiled unless ``--no-xla``,
which cancels tracing and the power iteration). The best of ``--repeats`` runs is kept for each. Both are limited to
``--threads`` CPU threads (``OMP_NUM_THREADS`` for BART; TF intra-op threads for us). BART is also timed with one
thread and the faster of its two timings is used for the ratio (on a loaded machine, spinning OpenMP threads can make
BART much slower). Quality: PSNR and SSIM (tfmri_zoo.metrics, fastMRI definitions) of the magnitude after n
iterations.

    python benchmarks/classical.py            # 8 coils, 256×256, R = 4, 30 CG / 50 FISTA iterations
    python benchmarks/classical.py --quick    # 8 coils, 64×64, 10 / 20 iterations
"""
import argparse
import os
import subprocess
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import metrics  # noqa: E402
from tfmri_zoo.data.cfl import bart_to_zoo, read_cfl, write_cfl, zoo_to_bart  # noqa: E402
from tfmri_zoo.recon import l1_wavelet, sense, zero_filled  # noqa: E402


def run_bart(args, threads):
    """Runs ``bart *args`` with ``threads`` OpenMP threads; returns the wall time in seconds."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    subprocess.run(["bart", *map(str, args)], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def make_data(folder, size, coils, accel, seed=0):
    """Phantom k-space, normalised maps and a random-line mask; writes BART inputs into ``folder``."""
    run_bart(["phantom", "-k", "-s", coils, "-x", size, f"{folder}/full"], 1)
    run_bart(["phantom", "-S", coils, "-x", size, f"{folder}/maps_raw"], 1)
    kspace = bart_to_zoo(read_cfl(f"{folder}/full"))
    maps = bart_to_zoo(read_cfl(f"{folder}/maps_raw"))
    maps = (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))).astype(np.complex64)
    rng = np.random.default_rng(seed)
    centre = max(2, int(round(0.08 * size)))
    lines = np.zeros(size, np.float32)
    lines[size // 2 - centre // 2:size // 2 - centre // 2 + centre] = 1
    others = np.flatnonzero(lines == 0)
    lines[rng.choice(others, size // accel - centre, replace=False)] = 1
    mask = np.broadcast_to(lines, (size, size))
    write_cfl(f"{folder}/maps", zoo_to_bart(maps))
    write_cfl(f"{folder}/pattern", mask)
    write_cfl(f"{folder}/kspace", zoo_to_bart(kspace * mask))
    truth = np.abs(zero_filled(kspace[None], sensitivities=maps[None]).numpy())
    return (kspace * mask)[None], lines.reshape(1, 1, 1, size), maps[None], truth


def bart_pics(folder, flags, iterations, threads):
    """Runs ``bart pics``; returns (wall time, magnitude image [1, H, W])."""
    seconds = run_bart(["pics", *flags, "-w", 1, "-i", iterations, "-p", f"{folder}/pattern", f"{folder}/kspace",
                        f"{folder}/maps", f"{folder}/out"], threads)
    return seconds, np.abs(bart_to_zoo(read_cfl(f"{folder}/out")))


def per_iteration(timer, iterations, repeats):
    """``(min T(3n) − min T(n)) / 2n`` over ``repeats`` runs each (0 when lost in timing noise), and ``min T(n)``."""
    t_n = min(timer(iterations) for _ in range(repeats))
    t_3n = min(timer(3 * iterations) for _ in range(repeats))
    return max(t_3n - t_n, 0.0) / (2 * iterations), t_n


def ours_timer(solve, kspace, xla):
    compiled = {}

    def timer(iterations):
        if iterations not in compiled:
            compiled[iterations] = tf.function(lambda k: solve(k, iterations), jit_compile=xla)
            compiled[iterations](kspace)                     # trace / compile
        start = time.perf_counter()
        compiled[iterations](kspace).numpy()
        return time.perf_counter() - start

    return timer


def quality(truth, image):
    image = np.abs(np.asarray(image)).reshape(truth.shape)
    return metrics.psnr(truth, image), metrics.ssim(truth, image)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64×64, 10 CG / 20 FISTA iterations")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--accel", type=int, default=4)
    parser.add_argument("--cg-iters", type=int, default=30)
    parser.add_argument("--fista-iters", type=int, default=50)
    parser.add_argument("--lam-l2", type=float, default=0.01, help="absolute Tikhonov weight (both packages)")
    parser.add_argument("--lam-l1", type=float, default=None,
                        help="absolute ℓ1 weight (default 2e-4 × max|Eᴴy|, the same value for both)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-xla", action="store_true", help="tf.function without jit_compile")
    parser.add_argument("--methods", nargs="+", default=["CG-SENSE", "l1-wavelet"], choices=["CG-SENSE", "l1-wavelet"])
    args = parser.parse_args()
    if args.quick:
        args.size, args.cg_iters, args.fista_iters, args.repeats = 64, 10, 20, 2
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    xla = not args.no_xla

    with tempfile.TemporaryDirectory() as folder:
        kspace, mask, maps, truth = make_data(folder, args.size, args.coils, args.accel)
        kspace = tf.constant(kspace)
        lam_l1 = args.lam_l1
        if lam_l1 is None:
            lam_l1 = 2e-4 * float(np.abs(zero_filled(kspace, mask, maps).numpy()).max())
        methods = {
            "CG-SENSE": (args.cg_iters, ["-l2", "-r", args.lam_l2],
                         lambda k, n: sense(kspace=k, mask=mask, sensitivities=maps, lam=args.lam_l2, max_iter=n)),
            "l1-wavelet": (args.fista_iters, ["-l1", "-r", lam_l1, "-n"],
                           lambda k, n: l1_wavelet(kspace=k, mask=mask, sensitivities=maps, lam=lam_l1, max_iter=n,
                                                   wavelet="db2", step_size=0.95)),
        }
        print(f"{args.coils} coils, {args.size}×{args.size}, R = {args.accel} "
              f"({int(mask.sum())} of {args.size} lines), threads = {args.threads}, XLA = {xla}, "
              f"λ_l2 = {args.lam_l2:g}, λ_l1 = {lam_l1:.4g}, load average {os.getloadavg()[0]:.1f}")
        print(f"zero-filled: PSNR {quality(truth, zero_filled(kspace, mask, maps))[0]:.2f} dB")
        header = (f"{'method':<11} {'iters':>5} {'ours ms/it':>10} {'BART ms/it':>10} {'BART 1thr':>9} "
                  f"{'ratio':>6} {'ours PSNR/SSIM':>15} {'BART PSNR/SSIM':>15}")
        print(header)
        for name in args.methods:
            iterations, flags, solve = methods[name]
            ours_it, _ = per_iteration(ours_timer(solve, kspace, xla), iterations, args.repeats)
            bart_it, _ = per_iteration(lambda n: bart_pics(folder, flags, n, args.threads)[0], iterations,
                                       args.repeats)
            bart_it1, _ = per_iteration(lambda n: bart_pics(folder, flags, n, 1)[0], iterations, args.repeats)
            _, bart_image = bart_pics(folder, flags, iterations, args.threads)
            ours_q = quality(truth, solve(kspace, iterations))
            bart_q = quality(truth, bart_image)
            best_bart = min(bart_it, bart_it1)
            ratio = ours_it / best_bart if best_bart > 0 else float("nan")
            print(f"{name:<11} {iterations:>5} {1e3 * ours_it:>10.2f} {1e3 * bart_it:>10.2f} {1e3 * bart_it1:>9.2f} "
                  f"{ratio:>6.2f} {ours_q[0]:>8.2f}/{ours_q[1]:.3f} {bart_q[0]:>8.2f}/{bart_q[1]:.3f}")
        print(f"ratio = ours / min(BART {args.threads} threads, BART 1 thread), time per iteration; "
              f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
