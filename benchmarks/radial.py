"""Golden-angle radial brain MRI: MoDL with ``operator="nufft"`` against NUFFT CG-SENSE, ℓ1-wavelet and gridding.

Data: the brain generator (:mod:`tfmri_zoo.data.brain`, MNI ICBM152 anatomy), held-out test slabs; N×N, 8 coils,
ESPIRiT maps from the Cartesian ACS of the fully sampled data, k-space noise 0.02. The radial k-space is the NUFFT of
the fully sampled (noisy) coil images on golden-angle spokes of 2N samples; density: analytic ramp weights. Every
method gets the same k-space, trajectory, density and maps.

Methods:
  gridding        the density-compensated adjoint ``EᴴWy``
  CG-SENSE        two rows: density-weighted ``(EᴴWE + λI)⁻¹EᴴWy`` and unweighted least squares ``(EᴴE + λI)⁻¹Eᴴy``
                  (the maximum-likelihood cost for white noise, regularised by λ and by early stopping); each with λ
                  and its CG iterations (10, 15, 20, 30) chosen on validation subjects
  ℓ1-wavelet      FISTA with cycle spinning (``recon.l1_wavelet``), 60 iterations, density-weighted and unweighted,
                  λ chosen on validation subjects
  MoDL zero-shot  the shipped ``modl``/``brain`` weights (trained on Cartesian data only) built with
                  ``operator="nufft"``: the same denoiser, the data consistency now through the density-weighted NUFFT
  MoDL radial     the same weights fine-tuned on radial training subjects for ``--steps`` steps (Adam, complex ℓ1)

"Below CG-SENSE" / "worst": the slices where a method's PSNR is below, and its lowest per-slice PSNR minus, that of
the CG-SENSE that scored higher on validation.

Before the tables, the zero-shot model's CG iterations per data-consistency step (``--cg-grid``) are scored on 6
**validation** subjects × 2 slices in four geometries (64², 6 coils, 16 spokes; 96², 8 coils, 32 spokes; and the
table's): mean PSNR and slices below CG-SENSE, whose weighting, λ and iterations are tuned on the same slices. Rule:
fewest slices below CG-SENSE, then the highest PSNR. (Session 15, against the density-weighted CG-SENSE only: 10
iterations, the Cartesian step's.)

    python benchmarks/radial.py [--save runs/modl-radial.keras]   # 128², 64 and 32 spokes, 500 fine-tuning steps
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
from tfmri_zoo.training import save_model_atomic  # noqa: E402


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


def sampling_of(inputs, weighted=True):
    """The sampling dict of :func:`radial_slices` inputs; ``weighted=False`` drops the density (``min ‖Ex − y‖²``)."""
    return {"trajectory": inputs["trajectory"], **({"density": inputs["density"]} if weighted else {})}


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


def cg_sense(inputs, lam, max_iter, weighted=True):
    """NUFFT CG-SENSE of one batch of :func:`radial_slices` inputs, complex ``[B, N, N]``: density-weighted
    ``(EᴴWE + λI)⁻¹EᴴWy`` or, with ``weighted=False``, the least-squares ``(EᴴE + λI)⁻¹Eᴴy`` (regularised by λ and
    by stopping CG after ``max_iter`` iterations)."""
    return recon.sense(inputs["kspace"], sampling_of(inputs, weighted), inputs["sensitivities"], lam=lam,
                       max_iter=max_iter)


def l1_wavelet(inputs, lam, max_iter, weighted=True):
    """NUFFT ℓ1-wavelet (FISTA with cycle spinning) of one batch of :func:`radial_slices` inputs, density-weighted or
    (``weighted=False``) on ``‖Ex − y‖²``."""
    return recon.l1_wavelet(inputs["kspace"], sampling_of(inputs, weighted), inputs["sensitivities"], lam=lam,
                            max_iter=max_iter)


def tune(method, val, lam_grid, settings):
    """The best ``(setting, λ, validation PSNR)`` of ``method(inputs, lam, **setting)`` over ``settings`` (dicts of
    keyword arguments, e.g. the CG iterations and the weighting), λ chosen by :func:`select_lam` for each."""
    best = None
    for setting in settings:
        lam, scores = select_lam(lambda x, lam: method(x, lam, **setting), val, lam_grid)
        if best is None or scores[lam]["psnr"] > best[2]:
            best = (setting, lam, scores[lam]["psnr"])
    return best


def describe(setting, lam):
    """``"unweighted, λ=0.01, 15 it."`` for a row label."""
    return f"{'density-weighted' if setting['weighted'] else 'unweighted'}, λ={lam:g}, {setting['max_iter']} it."


def cg_sweep(geometries, seeds, slices, grid, sense_grid, sense_settings, unrolls):
    """The zero-shot MoDL's CG iterations per step with ``operator="nufft"`` on validation subjects ``seeds`` ×
    ``slices`` of each ``(size, coils, spokes)`` geometry: ``{geometry: {CG iterations: {"psnr": mean per-slice dB,
    "below_cg_sense": slices below CG-SENSE}}}``, CG-SENSE with its weighting, λ and iterations (``sense_settings`` ×
    ``sense_grid``) tuned on the same slices."""
    table = {}
    for size, coils, spokes in geometries:
        val = [radial_slices(seed, "val", size, coils, spokes, slices) for seed in seeds]
        setting, lam, _ = tune(cg_sense, val, sense_grid, sense_settings)
        reference = evaluate({"s": lambda x: cg_sense(x, lam, **setting)}, val)["s"][1]
        rows = {}
        for iterations in grid:
            model = models.get("modl", weights="brain", operator="nufft", **{**unrolls, "cg_iterations": iterations})
            per_slice = np.array(evaluate({"m": model}, val)["m"][1])
            rows[iterations] = {"psnr": float(np.mean(per_slice)),
                                "below_cg_sense": int(np.sum(per_slice < np.array(reference)))}
        table[f"{size}², {coils} coils, {spokes} spokes"] = {"CG-SENSE": {"setting": describe(setting, lam),
                                                                          "psnr": float(np.mean(reference))}, **rows}
        print(f"validation {size}², {coils} coils, {spokes} spokes ({len(seeds)} subjects × {slices} slices): "
              f"CG-SENSE ({describe(setting, lam)}) {np.mean(reference):.2f} dB; MoDL zero-shot by CG iterations per "
              "step, mean PSNR (slices below CG-SENSE): "
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
    parser.add_argument("--steps", type=int, default=500, help="fine-tuning steps on radial training subjects")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--cg-grid", type=int, nargs="+", default=[3, 5, 7, 10],
                        help="CG iterations per MoDL step scored on the validation subjects (zero-shot)")
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    parser.add_argument("--save", default=None, help="write the fine-tuned radial MoDL as a .keras file")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.coils, args.spokes, args.slices, args.steps, args.cg_grid = 32, 4, [16], 2, 2, [1, 2]
    val_seeds, test_seeds, sweep_seeds = (1, 2), (1, 2, 3, 4), (1, 2, 3, 4, 5, 6)
    train_seeds = range(10, 12) if args.quick else range(10, 50)
    sense_iterations, l1_iterations = ((5,), 20) if args.quick else ((10, 15, 20, 30), 60)
    unrolls = {"iterations": 2, "cg_iterations": 2} if args.quick else {}   # quick: 2 of the 4 (shared) unrolls
    if args.quick:
        val_seeds, test_seeds, sweep_seeds = (1,), (1,), (1, 2)
    sense_grid = [0.0, 0.01, 0.03, 0.1] if not args.quick else [0.0, 0.03]
    l1_grid = [1e-3, 3e-3, 1e-2, 3e-2] if not args.quick else [3e-3]
    weightings = {"density-weighted": True, "unweighted": False}
    sense_settings = {name: [{"weighted": weighted, "max_iter": n} for n in sense_iterations]
                      for name, weighted in weightings.items()}
    l1_settings = {name: [{"weighted": weighted, "max_iter": l1_iterations}] for name, weighted in weightings.items()}
    geometries = [(32, 4, 16)] if args.quick else [(64, 6, 16), (96, 8, 32)] + [(args.size, args.coils, s)
                                                                              for s in args.spokes]
    sweep = cg_sweep(geometries, sweep_seeds, 2, args.cg_grid, sense_grid,
                     [s for v in sense_settings.values() for s in v], unrolls)
    table = {"validation: MoDL zero-shot by CG iterations": sweep}
    # the rule: fewest validation slices below CG-SENSE over all geometries, then the highest mean PSNR
    cg_iterations = max(args.cg_grid, key=lambda n: (-sum(g[n]["below_cg_sense"] for g in sweep.values()),
                                                     np.mean([g[n]["psnr"] for g in sweep.values()])))
    unrolls = {**unrolls, "cg_iterations": cg_iterations}
    print(f"CG iterations per MoDL step on radial data (the rule): {cg_iterations}", flush=True)
    # one fine-tuning run on training subjects of mixed geometries and noise levels (the sweep's and the tables')
    train_geometries = geometries + [(96, 6, 24), (96, 8, 48)] if not args.quick else geometries
    noise_levels = (0.01, 0.02, 0.04)
    train = [radial_slices(seed, "train", *train_geometries[i % len(train_geometries)], 2,
                           noise_level=noise_levels[i % len(noise_levels)]) for i, seed in enumerate(train_seeds)]
    tuned = models.get("modl", weights="brain", operator="nufft", **unrolls)
    start = time.perf_counter()
    losses = fine_tune(tuned, train, args.steps, args.learning_rate)
    print(f"fine-tuning: {args.steps} steps on {len(train)} training subjects × 2 slices ({len(train_geometries)} "
          f"geometries, noise {', '.join(map(str, noise_levels))}) in {time.perf_counter() - start:.0f} s, loss "
          f"{np.mean(losses[:20]):.4f} → {np.mean(losses[-20:]):.4f}", flush=True)
    if args.save:
        save_model_atomic(tuned, args.save)
    zero_shot = models.get("modl", weights="brain", operator="nufft", **unrolls)
    for spokes in args.spokes:
        val, test = split(val_seeds, "val", args, spokes), split(test_seeds, "test", args, spokes)
        classical, validation_psnr = {}, {}
        for method, label, grid, settings in [(cg_sense, "CG-SENSE", sense_grid, sense_settings),
                                              (l1_wavelet, "ℓ1-wavelet", l1_grid, l1_settings)]:
            for options in settings.values():
                setting, lam, score = tune(method, val, grid, options)
                row = f"{label} {describe(setting, lam)}"
                classical[row] = lambda x, method=method, lam=lam, setting=setting: method(x, lam, **setting)
                validation_psnr[row] = (label, score)
        methods = {
            "gridding": lambda x: make_operator(sampling_of(x), x["sensitivities"]).adjoint(x["kspace"]),
            **classical,
            "MoDL zero-shot": lambda x: zero_shot(x),
            f"MoDL radial ({args.steps} steps)": lambda x: tuned(x),
        }
        results = evaluate(methods, test)
        best_sense = max((row for row, (label, _) in validation_psnr.items() if label == "CG-SENSE"),
                         key=lambda row: validation_psnr[row][1])
        reference = results[best_sense][1]
        rate = np.pi / 2 * args.size / spokes
        print(f"\n{args.size}², {args.coils} coils, {spokes} golden-angle spokes × {2 * args.size} "
              f"(≈ R {rate:.1f}); classical λ (and CG iterations) chosen on {len(val_seeds)} validation subjects; "
              f"{len(test_seeds)} test subjects × {args.slices} slices; 'worst slice' against {best_sense} (the "
              f"better CG-SENSE on validation); MoDL: {cg_iterations} CG iterations per step")
        print(f"{'method':<50} {'PSNR dB':>8} {'SSIM':>7} {'NMSE':>8} {'below CG-SENSE':>15} {'worst':>7} "
              f"{'s/slice':>8}")
        for name, (metrics, per_slice, seconds) in results.items():
            difference = np.array(per_slice) - np.array(reference)
            print(f"{name:<50} {metrics['psnr']:8.2f} {metrics['ssim']:7.4f} {metrics['nmse']:8.4f} "
                  f"{int(np.sum(difference < 0)):>7} of {len(difference):<4} {difference.min():+7.2f} {seconds:8.3f}")
            table[f"{spokes} spokes / {name}"] = {**metrics, "below_cg_sense": int(np.sum(difference < 0)),
                                                  "worst_vs_cg_sense": float(difference.min()), "seconds": seconds}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
