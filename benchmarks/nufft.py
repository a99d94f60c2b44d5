"""NUFFT forward + adjoint time: tfmri_zoo (pure TensorFlow) vs finufft (C++, optional peer: pip install finufft).

Problem: multi-coil 2D golden-angle radial, N×N image, 2N readout samples per spoke. Accuracy is matched: ours with
σ = 2 and kernel width W (default 4, measured ≈7e-4 relative error) against finufft at eps = 1e-3; both are
checked against finufft at eps = 1e-9 and the measured errors printed. One timed run is one forward (type 2, all
coils) plus one adjoint (type 1, all coils); ours and finufft run in turn within every repeat (interleaved, same
process) and the min and median are printed, after a warm-up call each. Both are planned outside the timing.

    python benchmarks/nufft.py            # 256×256, 8 coils, 400 spokes × 512 samples
    python benchmarks/nufft.py --quick    # 128×128, 4 coils, 200 spokes × 256 samples
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timing import interleaved  # noqa: E402

from tfmri_zoo.physics.nufft import NUFFT  # noqa: E402
from tfmri_zoo.physics.trajectories import radial_trajectory  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problem, few repeats")
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--coils", type=int, default=None)
    parser.add_argument("--spokes", type=int, default=None)
    parser.add_argument("--kernel-width", type=int, default=4)
    parser.add_argument("--eps", type=float, default=1e-3)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    n = args.size or (128 if args.quick else 256)
    coils = args.coils or (4 if args.quick else 8)
    spokes = args.spokes or (200 if args.quick else 400)
    repeats = args.repeats or (3 if args.quick else 9)

    points = radial_trajectory(spokes, 2 * n)
    rng = np.random.default_rng(0)
    image = (rng.standard_normal((coils, n, n)) + 1j * rng.standard_normal((coils, n, n))).astype(np.complex64)
    kspace = (rng.standard_normal((coils, len(points))) + 1j * rng.standard_normal((coils, len(points))))
    kspace = kspace.astype(np.complex64)
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'} | image {n}x{n}, {coils} coils, "
          f"{spokes} spokes x {2 * n} = {len(points)} samples, threads {args.threads}")

    plan = NUFFT(points, (n, n), oversampling=2.0, kernel_width=args.kernel_width)
    image_t, kspace_t = tf.constant(image), tf.constant(kspace)

    def compiled(xla):
        forward = tf.function(plan.forward, jit_compile=xla)
        adjoint = tf.function(plan.adjoint, jit_compile=xla)
        return lambda: (forward(image_t).numpy(), adjoint(kspace_t).numpy())

    ours, ours_xla = compiled(False), compiled(True)

    # What sharing the plan saves: a model makes it once per call (physics.plan_sampling) instead of at each of its
    # data-consistency calls, whose operators are rebuilt from the call's tensors (docs/design.md). Its cost is that
    # of a planned-and-applied transform minus the planned one.
    points_t = tf.constant(points, tf.float32)
    replanned = tf.function(lambda: NUFFT(points_t, (n, n), oversampling=2.0, kernel_width=args.kernel_width)
                            .forward(image_t))
    planned = tf.function(plan.forward)
    times = interleaved({"replanned": lambda: replanned().numpy(), "planned": lambda: planned(image_t).numpy(),
                         "pair": ours}, repeats)
    plan_cost = max(times["replanned"][0] - times["planned"][0], 0.0)
    print(f"plan (made once per model call, shared by its data-consistency steps): {plan_cost * 1e3:.1f} ms = "
          f"{100 * plan_cost / times['pair'][0]:.0f}% of one forward+adjoint (a CG step of the data consistency)")

    try:
        import finufft
    except ImportError:
        (best, median), = interleaved({"ours": ours}, repeats).values()
        print(f"tfmri_zoo  W={args.kernel_width} sigma=2: forward+adjoint min {best * 1e3:8.1f} ms, median "
              f"{median * 1e3:8.1f} ms")
        print("finufft is not installed (pip install finufft): no peer timing.")
        return
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    scale = 1.0 / n  # our orthonormal convention: 1/sqrt(N·N)
    image64, kspace64 = image.astype(np.complex128), kspace.astype(np.complex128)

    # finufft planned once (points set once), like our NUFFT plan; only execute() is timed.
    opts = dict(eps=args.eps, nthreads=args.threads, n_trans=coils, dtype="complex64")
    plan2 = finufft.Plan(2, (n, n), isign=-1, **opts)
    plan1 = finufft.Plan(1, (n, n), isign=1, **opts)
    for p in (plan2, plan1):
        p.setpts(x.astype(np.float32), y.astype(np.float32))

    def peer():
        return plan2.execute(image) * scale, plan1.execute(kspace) * scale

    times = interleaved({"ours": ours, "ours (XLA)": ours_xla, "finufft": peer}, repeats)
    (ours_min, ours_median), (peer_min, peer_median) = times["ours"], times["finufft"]
    print(f"tfmri_zoo  W={args.kernel_width} sigma=2: forward+adjoint min {ours_min * 1e3:8.1f} ms, median "
          f"{ours_median * 1e3:8.1f} ms (sparse-matrix gridding)")
    xla_min, xla_median = times["ours (XLA)"]
    print(f"tfmri_zoo  under XLA (gather/segment-sum gridding): min {xla_min * 1e3:8.1f} ms, median "
          f"{xla_median * 1e3:8.1f} ms")
    print(f"finufft    eps={args.eps:g} (complex64, planned): forward+adjoint min {peer_min * 1e3:8.1f} ms, median "
          f"{peer_median * 1e3:8.1f} ms")
    ours_fwd, ours_adj = ours()
    peer_fwd, peer_adj = peer()
    ref_fwd = finufft.nufft2d2(x, y, image64, eps=1e-9, isign=-1, nthreads=args.threads) * scale
    ref_adj = finufft.nufft2d1(x, y, kspace64, (n, n), eps=1e-9, isign=1, nthreads=args.threads) * scale
    rel = lambda a, b: np.linalg.norm(a - b) / np.linalg.norm(b)  # noqa: E731
    print(f"accuracy vs finufft eps=1e-9: ours forward {rel(ours_fwd, ref_fwd):.1e} adjoint "
          f"{rel(ours_adj, ref_adj):.1e} | finufft forward {rel(peer_fwd, ref_fwd):.1e} adjoint "
          f"{rel(peer_adj, ref_adj):.1e}")
    print(f"ratio ours / finufft: {ours_min / peer_min:.2f}x (min), {ours_median / peer_median:.2f}x (median); "
          f"goal <= 1.5x")


if __name__ == "__main__":
    main()
