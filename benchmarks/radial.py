"""Golden-angle radial brain MRI: MoDL with ``operator="nufft"`` against NUFFT CG-SENSE, ℓ1-wavelet and gridding.

Data: the brain generator (:mod:`tfmri_zoo.data.brain`, MNI ICBM152 anatomy), held-out test slabs; N×N, 8 coils,
ESPIRiT maps from the Cartesian ACS of the fully sampled data, k-space noise 0.02. The radial k-space is the NUFFT of
the fully sampled (noisy) coil images on golden-angle spokes of 2N samples; density: analytic ramp weights. Every
method gets the same k-space, trajectory, density and maps; every solver and model is density-weighted
(``min ‖W^½(Ex − y)‖²`` + its prior).

Methods:
  gridding        the density-compensated adjoint ``EᴴWy``
  CG-SENSE        ``(EᴴWE + λI)⁻¹EᴴWy``, 15 CG iterations, λ chosen on validation subjects
  ℓ1-wavelet      FISTA with cycle spinning (``recon.l1_wavelet``), 60 iterations, λ chosen on validation subjects
  MoDL zero-shot  the shipped ``modl``/``brain`` weights (trained on Cartesian data only) built with
                  ``operator="nufft"``: the same denoiser, the data consistency now through the NUFFT
  MoDL radial     the same weights fine-tuned on radial training subjects for ``--steps`` steps (Adam, complex ℓ1)

Before the tables, the zero-shot model's CG iterations per data-consistency step (``--cg-grid``) are scored on 6
**validation** subjects × 2 slices in four geometries (64², 6 coils, 16 spokes; 96², 8 coils, 32 spokes; and the
table's): mean PSNR and slices below the best CG-SENSE of the λ grid. Rule: fewest slices below CG-SENSE, then the
highest PSNR (session 15: 10 iterations, the Cartesian step's, with 0 of 48 below; 5 iterations had a higher mean
PSNR in every geometry but 3 slices below CG-SENSE at 64², 16 spokes).

    python benchmarks/radial.py                 # 128², 64 and 32 spokes, 150 fine-tuning steps
    python benchmarks/radial.py --quick         # 32², 4 coils, 16 spokes, 2 steps, fewer iterations (a smoke test)
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models, recon  # noqa: E402
from tfmri_zoo.data.brain import brain_volume  # noqa: E402
from tfmri_zoo.physics import NUFFT, ifft2c, make_operator, radial_density, radial_trajectory  # noqa: E402
from tfmri_zoo.physics.coils import sense_combine  # noqa: E402
from tfmri_zoo.recon.tuning import select_lam  # noqa: E402
from tfmri_zoo.metrics import per_volume_metrics  # noqa: E402


def radial_slices(seed, split, size, coils, spokes, num_slices, noise_level=0.02):
    """One subject as radial inputs: ``(inputs, target, names)``; data scaled so that ``max|EᴴWy| = 1``."""
    volume = brain_volume(seed, split, num_slices=num_slices, shape=(size, size), coils=coils,
                          noise_level=noise_level)
    coil_images = ifft2c(volume["kspace"]).numpy()
    maps = volume["sensitivities"].astype(np.complex64)
    target = sense_combine(tf.constant(coil_images), maps).numpy()
    trajectory = np.asarray(radial_trajectory(spokes, 2 * size), np.float32)
    density = np.asarray(radial_density(trajectory, (size, size), spokes, 2 * size), np.float32)
    kspace = NUFFT(trajectory, (size, size)).forward(tf.constant(coil_images)).numpy()
    n = len(kspace)
    sampling = {"trajectory": np.broadcast_to(trajectory, (n,) + trajectory.shape).copy(),
                "density": np.broadcast_to(density, (n,) + density.shape).copy()}
    gridded = make_operator(sampling, maps).adjoint(kspace).numpy()
    scale = np.abs(gridded).reshape(n, -1).max(axis=1)[:, None, None]
    inputs = {"kspace": (kspace / scale).astype(np.complex64), **sampling, "sensitivities": maps}
    return inputs, (target / scale).astype(np.complex64), [f"{split}-{seed}"] * n


def split(seeds, split_name, args, spokes):
    return [radial_slices(seed, split_name, args.size, args.coils, spokes, args.slices) for seed in seeds]


def sampling_of(inputs):
    return {"trajectory": inputs["trajectory"], "density": inputs["density"]}


def fine_tune(model, batches, steps, learning_rate):
    """Adam on complex ℓ1, cycling through ``batches`` of ``(inputs, target, names)``; returns the loss curve."""
    import keras

    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step(inputs, target):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(inputs, training=True) - target))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = []
    for i in range(steps):
        inputs, target, _ = batches[i % len(batches)]
        losses.append(float(step({k: tf.constant(v) for k, v in inputs.items()}, tf.constant(target))))
    return losses


def evaluate(methods, test):
    """``{method: (metrics, per-slice PSNR list, seconds per slice)}``."""
    results = {}
    targets = [t for _, target, _ in test for t in target]
    names = [n for _, _, batch_names in test for n in batch_names]
    for name, fn in methods.items():
        start = time.perf_counter()
        predictions = [p for inputs, _, _ in test for p in np.asarray(fn(inputs))]
        seconds = (time.perf_counter() - start) / len(predictions)
        per_slice = [per_volume_metrics([p], [t], ["s"])["psnr"] for p, t in zip(predictions, targets)]
        results[name] = (per_volume_metrics(predictions, targets, names), per_slice, seconds)
    return results


def cg_sense(inputs, lam, max_iter):
    """Density-weighted NUFFT CG-SENSE of one batch of :func:`radial_slices` inputs, complex ``[B, N, N]``."""
    return recon.sense(inputs["kspace"], sampling_of(inputs), inputs["sensitivities"], lam=lam, max_iter=max_iter)


def cg_sweep(geometries, seeds, slices, grid, sense_grid, sense_iterations, unrolls):
    """The zero-shot MoDL's CG iterations per step with ``operator="nufft"`` on validation subjects ``seeds`` ×
    ``slices`` of each ``(size, coils, spokes)`` geometry: ``{geometry: {CG iterations: {"psnr": mean per-slice dB,
    "below_cg_sense": slices below the best CG-SENSE of sense_grid}}}``."""
    table = {}
    for size, coils, spokes in geometries:
        val = [radial_slices(seed, "val", size, coils, spokes, slices) for seed in seeds]
        best_sense = np.max([evaluate({"s": lambda x, lam=lam: cg_sense(x, lam, sense_iterations)}, val)["s"][1]
                             for lam in sense_grid], axis=0)
        rows = {}
        for iterations in grid:
            model = models.get("modl", weights="brain", operator="nufft", **{**unrolls, "cg_iterations": iterations})
            per_slice = np.array(evaluate({"m": model}, val)["m"][1])
            rows[iterations] = {"psnr": float(np.mean(per_slice)),
                                "below_cg_sense": int(np.sum(per_slice < best_sense))}
        table[f"{size}², {coils} coils, {spokes} spokes"] = rows
        print(f"validation {size}², {coils} coils, {spokes} spokes ({len(seeds)} subjects × {slices} slices): MoDL "
              "zero-shot by CG iterations per step, mean PSNR (slices below CG-SENSE): "
              + ", ".join(f"{n}: {v['psnr']:.2f} ({v['below_cg_sense']})" for n, v in rows.items()), flush=True)
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32², 4 coils, 16 spokes, 2 fine-tuning steps, few λ, "
                        "MoDL with 2 unrolls × 2 CG iterations, fewer classical iterations")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--spokes", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--steps", type=int, default=150, help="fine-tuning steps on radial training subjects")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--cg-grid", type=int, nargs="+", default=[2, 3, 5, 6, 7, 8, 10],
                        help="CG iterations per MoDL step scored on the validation subjects (zero-shot)")
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.coils, args.spokes, args.slices, args.steps, args.cg_grid = 32, 4, [16], 2, 2, [1, 2]
    val_seeds, test_seeds, sweep_seeds = (1, 2), (1, 2, 3, 4), (1, 2, 3, 4, 5, 6)
    train_seeds = range(10, 12) if args.quick else range(10, 40)
    cg_iterations, l1_iterations = (5, 20) if args.quick else (15, 60)
    unrolls = {"iterations": 2, "cg_iterations": 2} if args.quick else {}   # quick: 2 of the 4 (shared) unrolls
    if args.quick:
        val_seeds, test_seeds, sweep_seeds = (1,), (1,), (1, 2)
    sense_grid = [0.0, 0.01, 0.03, 0.1] if not args.quick else [0.0, 0.03]
    l1_grid = [1e-3, 3e-3, 1e-2, 3e-2] if not args.quick else [3e-3]
    geometries = [(32, 4, 16)] if args.quick else [(64, 6, 16), (96, 8, 32)] + [(args.size, args.coils, s)
                                                                              for s in args.spokes]
    table = {"validation: MoDL zero-shot by CG iterations": cg_sweep(
        geometries, sweep_seeds, 2, args.cg_grid, sense_grid, cg_iterations, unrolls)}
    for spokes in args.spokes:
        val, test = split(val_seeds, "val", args, spokes), split(test_seeds, "test", args, spokes)

        def cg(inputs, lam):
            return cg_sense(inputs, lam, cg_iterations)

        def l1(inputs, lam):
            return recon.l1_wavelet(inputs["kspace"], sampling_of(inputs), inputs["sensitivities"], lam=lam,
                                    max_iter=l1_iterations)

        lam_cg, _ = select_lam(cg, val, sense_grid)
        lam_l1, _ = select_lam(l1, val, l1_grid)
        zero_shot = models.get("modl", weights="brain", operator="nufft", **unrolls)
        tuned = models.get("modl", weights="brain", operator="nufft", **unrolls)
        train = [radial_slices(seed, "train", min(args.size, 96), args.coils, max(8, spokes * 96 // args.size),
                               2) for seed in train_seeds]
        start = time.perf_counter()
        losses = fine_tune(tuned, train, args.steps, args.learning_rate)
        train_seconds = time.perf_counter() - start
        methods = {
            "gridding": lambda x: make_operator(sampling_of(x), x["sensitivities"]).adjoint(x["kspace"]),
            f"CG-SENSE (λ={lam_cg:g})": lambda x: cg(x, lam_cg),
            f"ℓ1-wavelet (λ={lam_l1:g})": lambda x: l1(x, lam_l1),
            "MoDL zero-shot": lambda x: zero_shot(x),
            f"MoDL radial ({args.steps} steps)": lambda x: tuned(x),
        }
        results = evaluate(methods, test)
        reference = next(v for k, v in results.items() if k.startswith("CG-SENSE"))[1]
        rate = np.pi / 2 * args.size / spokes
        print(f"\n{args.size}², {args.coils} coils, {spokes} golden-angle spokes × {2 * args.size} "
              f"(≈ R {rate:.1f}); λ chosen on {len(val_seeds)} validation subjects; {len(test_seeds)} test subjects "
              f"× {args.slices} slices; fine-tuning {args.steps} steps in {train_seconds:.0f} s, loss "
              f"{np.mean(losses[:10]):.4f} → {np.mean(losses[-10:]):.4f}")
        print(f"{'method':<26} {'PSNR dB':>8} {'SSIM':>7} {'NMSE':>8} {'worst slice vs CG-SENSE':>24} {'s/slice':>8}")
        for name, (metrics, per_slice, seconds) in results.items():
            worst = min(np.array(per_slice) - np.array(reference))
            print(f"{name:<26} {metrics['psnr']:8.2f} {metrics['ssim']:7.4f} {metrics['nmse']:8.4f} "
                  f"{worst:+24.2f} {seconds:8.3f}")
            table[f"{spokes} spokes / {name}"] = {**metrics, "worst_vs_cg_sense": float(worst), "seconds": seconds}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
