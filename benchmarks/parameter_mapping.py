"""Learned T2 mapping (``parameter_mapping``) against model-based Gauss-Newton (Eq. 12) and voxel-wise fitting.

Multi-echo spin-echo brain data (``data.relaxometry``: MNI anatomy, literature T2/PD per tissue at 3 T with
per-subject and spatial variation, 8 echoes 10–80 ms, 8 coils, noise 0.01, ESPIRiT maps from echo 1; train /
validation / test subjects from disjoint slabs), undersampled with a different fastMRI random mask per echo at R=4
(centre 0.08) and R=8 (centre 0.04). Compared on the test slices, inside the brain (GM + WM + CSF ≥ 50 %):

  zero-filled + fit   voxel-wise Gauss-Newton fit (Eq. 11) of the zero-filled series
  CG-SENSE + fit      the same fit of per-echo CG-SENSE images (λ chosen on the validation subjects)
  model-based         Gauss-Newton on k-space through E·M(ϑ) (Eq. 12, 15 iterations)
  learned, Eq. 29     the network trained on maps + k-space consistency (R ∈ {4, 8} mixed)
  learned, Eq. 30     the network trained from k-space alone + total variation on the maps

Metrics: NRMSE (%) of T2 (clipped to 0–300 ms, CSF-dominated voxels beyond the echo range count at 300 ms) and of
|ρ|, and seconds per slice.

    python benchmarks/parameter_mapping.py [--quick] [--steps 1500]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.relaxometry import relaxometry_volume  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc, line_masks  # noqa: E402
from tfmri_zoo.physics.sense import SenseOperator  # noqa: E402
from tfmri_zoo.recon import fit_parametric, model_based_reconstruction, sense  # noqa: E402
from tfmri_zoo.training.mapping import train_mapping  # noqa: E402
from report import write_json  # noqa: E402

CENTRES = {4: 0.08, 8: 0.04}


def subjects(split, count, shape, seed, times, num_slices=4, coils=8):
    volumes = [relaxometry_volume(seed + n, split, num_slices=num_slices, shape=shape, coils=coils, times=times)
               for n in range(count)]
    return {key: np.concatenate([v[key] for v in volumes]) for key in ("kspace", "sensitivities", "params", "brain")}


def masked(data, acceleration, seed):
    """Inputs with a different random line mask per echo (and per slice)."""
    slices, _, echoes, _, width = data["kspace"].shape
    func = RandomMaskFunc([CENTRES[acceleration]], [acceleration])
    mask = line_masks(func, slices * echoes, width, seed).reshape(slices, 1, echoes, 1, width)
    return {"kspace": (data["kspace"] * mask).astype(np.complex64), "mask": mask,
            "sensitivities": data["sensitivities"]}


def t2_ms(params):
    rate = np.real(np.asarray(params)[:, 1])
    return np.clip(np.where(rate > 0, 1.0 / np.maximum(rate, 1e-9), 300.0), 0.0, 300.0)


def scores(params, reference, brain):
    nrmse = lambda a, b: 100 * np.linalg.norm((a - b)[brain]) / np.linalg.norm(b[brain])  # noqa: E731
    return {"t2_nrmse_percent": float(nrmse(t2_ms(params), t2_ms(reference))),
            "rho_nrmse_percent": float(nrmse(np.abs(np.asarray(params)[:, 0]), np.abs(reference[:, 0])))}


def cg_sense_series(inputs, lam, max_iter=30):
    kspace = np.moveaxis(inputs["kspace"], 2, 1)                                   # [B, T, C, H, W]
    mask = np.moveaxis(inputs["mask"], 2, 1)
    out = [sense(kspace[:, t], mask[:, t], inputs["sensitivities"][:, :, 0], lam=lam, max_iter=max_iter).numpy()
           for t in range(kspace.shape[1])]
    return np.stack(out, axis=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="32², 4 echoes, 4 coils, 2 slices per subject; few subjects, steps, λ and iterations")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--tv-weight", type=float, default=0.01)
    parser.add_argument("--out", default="out/parameter_mapping")
    args = parser.parse_args(argv)
    start = time.time()
    if args.quick:
        shape, counts, steps, times, preset = (32, 32), {"train": 2, "val": 1, "test": 1}, 4, (10., 20., 40., 80.), \
            "small"
        slices_coils, lam_grid, cg_iterations, gauss_newton_iterations = (2, 4), (1e-3, 1e-2), 10, 5
    else:
        shape, counts, steps, preset = (64, 64), {"train": 24, "val": 2, "test": 4}, args.steps, "default"
        times = tuple(models.presets("parameter_mapping")["default"]["times"])
        slices_coils, lam_grid, cg_iterations, gauss_newton_iterations = (4, 8), (1e-3, 1e-2, 1e-1), 30, 15
    data = {split: subjects(split, n, shape, 500 + 100 * i, times, *slices_coils)
            for i, (split, n) in enumerate(counts.items())}
    config = {**models.presets("parameter_mapping")[preset], "times": list(times)}
    print(f"data: {[len(d['kspace']) for d in data.values()]} train/val/test slices {shape} "
          f"({time.time() - start:.0f} s)", flush=True)

    train = data["train"]
    batches = []
    for r, acceleration in enumerate((4, 8, 4, 8)):                                  # masks differ per copy
        inputs = masked(train, acceleration, seed=10 + r)
        for i in range(0, len(train["kspace"]), 4):
            batches.append(({k: v[i:i + 4] for k, v in inputs.items()}, train["params"][i:i + 4],
                            train["brain"][i:i + 4]))
    np.random.default_rng(0).shuffle(batches)
    learned = {}
    for name, loss_args, supervised in (("learned, Eq. 29", {"map_weight": 1.0}, True),
                                        ("learned, Eq. 30", {"tv_weight": args.tv_weight}, False)):
        keras.utils.set_random_seed(0)
        model = models.get("parameter_mapping", preset=None, **config)
        tick = time.time()
        losses = train_mapping(model, [(x, t if supervised else None, b if supervised else None)
                                       for x, t, b in batches], steps, learning_rate=1e-3, **loss_args)
        learned[name] = model
        print(f"{name}: {steps} steps in {time.time() - tick:.0f} s, loss {np.mean(losses[:10]):.4f} → "
              f"{np.mean(losses[-10:]):.4f}", flush=True)

    signal = learned["learned, Eq. 29"].signal_model
    val = masked(data["val"], 4, seed=2)
    lam = min(lam_grid, key=lambda l: scores(fit_parametric(cg_sense_series(val, l, cg_iterations), signal).numpy(),
                                                       data["val"]["params"], data["val"]["brain"])["t2_nrmse_percent"])
    rows = []
    for acceleration in (4, 8):
        test = masked(data["test"], acceleration, seed=3 + acceleration)
        reference, brain = data["test"]["params"], data["test"]["brain"]
        operator = SenseOperator(test["sensitivities"], test["mask"])
        methods = {
            "zero-filled + fit": lambda: fit_parametric(operator.adjoint(test["kspace"]), signal),
            f"CG-SENSE (λ={lam:g}) + fit": lambda: fit_parametric(cg_sense_series(test, lam, cg_iterations), signal),
            "model-based (Eq. 12)": lambda: model_based_reconstruction(test["kspace"], test["mask"],
                                                                       test["sensitivities"], signal,
                                                                       max_iter=gauss_newton_iterations),
            **{name: (lambda m=model: m.predict(test, batch_size=4, verbose=0)) for name, model in learned.items()},
        }
        for name, run in methods.items():
            tick = time.time()
            params = np.asarray(run())
            row = {"R": acceleration, "method": name, **scores(params, reference, brain),
                   "seconds_per_slice": (time.time() - tick) / len(reference)}
            rows.append(row)
            print(f"R={acceleration} {name:>26}: T2 NRMSE {row['t2_nrmse_percent']:.1f} %  |ρ| NRMSE "
                  f"{row['rho_nrmse_percent']:.1f} %  ({row['seconds_per_slice']:.2f} s/slice)", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "parameter_mapping.json")
    write_json(path, {"rows": rows, "shape": shape, "slices": {k: len(v["kspace"]) for k, v in data.items()},
                          "steps": steps, "times": times, "tv_weight": args.tv_weight, "cg_sense_lam": lam,
                          "seconds": round(time.time() - start, 1)})
    print(f"wrote {path} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
