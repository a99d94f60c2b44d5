"""Every 2D zoo model trained the same way on the embedded synthetic data, evaluated at R = 4 and R = 8.

    python benchmarks/zoo.py [--quick] [--models modl vn ...] [--steps 400] [--out out/zoo]

Each model is built with its ``small`` preset (CPU-sized), trained with Adam (lr 1e-3) and a complex ℓ1 loss on
random R ∈ {4, 8} fastMRI masks for ``--steps`` batches of 4, then evaluated on the held-out test split with
fastMRI's per-volume validation masks (SSIM / PSNR / NMSE of magnitudes per volume, fastMRI definitions). The same
split gives the zero-filled baseline. Prints one table row per model and writes ``OUT/zoo.json``.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.synthetic import default_dataset  # noqa: E402
from tfmri_zoo.physics.sampling import RandomMaskFunc  # noqa: E402
from tfmri_zoo.data.pipeline import make_dataset  # noqa: E402
from tfmri_zoo.physics.sampling import CENTER_FRACTIONS  # noqa: E402
from tfmri_zoo.training.comparison import classical_methods, evaluation_batches  # noqa: E402
from tfmri_zoo.training.comparison import run_method  # noqa: E402
from tfmri_zoo.metrics import per_volume_metrics  # noqa: E402
from tfmri_zoo.training.losses import ComplexL1  # noqa: E402

ACCELERATIONS = dict(CENTER_FRACTIONS)

MODELS_2D = ["modl", "vn", "varnet", "proxgrad", "admmnet", "primal_dual", "unet", "pnp"]


def evaluate(method, test_sets):
    row = {}
    for acc, batches in test_sets.items():
        pred, target, names, _ = run_method(lambda x, lam: method(x), batches)
        row[f"R={acc}"] = per_volume_metrics(pred, target, names)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 models, 32x32, 5 steps (a smoke test)")
    parser.add_argument("--models", nargs="+", default=MODELS_2D)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--out", default="out/zoo")
    args = parser.parse_args(argv)
    shape, coils, steps, names = ((32, 32), 4, 5, args.models[:2]) if args.quick else ((64, 64), 8, args.steps,
                                                                                         args.models)
    os.makedirs(args.out, exist_ok=True)
    splits = default_dataset(os.path.join(args.out, "data"), shape=shape, coils=coils,
                             splits={"train": 2, "val": 1, "test": 1} if args.quick else None)
    test_sets = {acc: evaluation_batches(splits["test"], acc) for acc in ACCELERATIONS}
    results = {"zero_filled": evaluate(classical_methods()["zero_filled"], test_sets)}
    for name in names:
        keras.utils.set_random_seed(0)
        train = make_dataset(splits["train"], mask_func=RandomMaskFunc(list(ACCELERATIONS.values()),
                                                                       list(ACCELERATIONS), seed=0),
                             batch_size=4, shuffle=True, seed=0, sensitivities="stored")
        model = models.get(name, preset="small")
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ComplexL1())
        t0 = time.time()
        history = model.fit(train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
        seconds = time.time() - t0
        row = evaluate(lambda x, m=model: m(x, training=False).numpy(), test_sets)
        row.update(parameters=int(model.count_params()), train_seconds=seconds,
                   final_loss=float(np.asarray(history.history["loss"][-1])))
        results[name] = row
        with open(os.path.join(args.out, "zoo.json"), "w") as f:
            json.dump({"steps": steps, "shape": list(shape), "coils": coils, "results": results}, f, indent=2)
    print(f"{len(names)} models, small presets, {steps} steps, {shape[0]}x{shape[1]}, {coils} coils, test split")
    print(f"{'model':>12} {'params':>9} {'train s':>8} | {'R=4 SSIM':>8} {'PSNR':>6} | {'R=8 SSIM':>8} {'PSNR':>6}")
    for name, row in results.items():
        print(f"{name:>12} {row.get('parameters', 0):>9} {row.get('train_seconds', 0):>8.0f} | "
              f"{row['R=4']['ssim']:>8.4f} {row['R=4']['psnr']:>6.2f} | {row['R=8']['ssim']:>8.4f} "
              f"{row['R=8']['psnr']:>6.2f}")
    return results


if __name__ == "__main__":
    main()
