"""The final noise-adaptive proximal data-consistency step (``ReconModel(final_dc=True)``): ablation on brains.

A network trained on noise levels 0.005–0.2 smooths the fine detail that clean, well-conditioned data carry: from
CG-SENSE at R=4, the shipped VN, U-Net and VarNet without a final step fell below CG-SENSE on 2, 4 and 6 of 16 main-job
test slices. ``final_dc=True`` ends the model with ``x = (EᴴE + λI)⁻¹(Eᴴy + λz)``, ``λ = λ₀ + ν·σ̂²``, ``z`` the
network's image: where the data are clean they win over the prior, and the noisier the data, the more ``z`` is
trusted (the MAP weighting of ``‖Ex − y‖²/σ² + ‖x − z‖²/τ²``).

For each shipped model this prints, on the main job's data (``tfmri-zoo quickstart``: brain subjects from held-out
slabs, 128², 8 coils, ESPIRiT maps, fastMRI random masks; λ of CG-SENSE and ℓ1-wavelet chosen on the validation
subjects, scored on the test subjects):

  network         the network's image ``z`` (the model without its final step)
  network + DC    the shipped model (``z`` → the final step with its trained λ₀, ν)

and the number of test slices below CG-SENSE. ``--sweep`` adds the post-hoc sweep that chose the defaults
``final_lam=0.01``, ``final_noise_lam=100``: the network's ``z`` → a fixed ``(λ₀, ν)``, mean PSNR on the validation
and test subjects.

    python benchmarks/final_dc.py [--quick] [--models vn unet varnet] [--sweep] [--out out/final_dc]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.training.calibration import set_step_weights  # noqa: E402
from tfmri_zoo.models.weights import manifest  # noqa: E402
from tfmri_zoo.training.comparison import compare, evaluation_batches, slice_psnr  # noqa: E402
from heldout import main_job_data, slice_rows  # noqa: E402
from report import write_json  # noqa: E402

SWEEP = [(lam, nu) for lam in (0.003, 0.01, 0.03, 0.1) for nu in (0.0, 10.0, 100.0, 1000.0)]


def network_image(model, inputs):
    """The image ``z`` of ``model``'s network, before its final step: complex numpy ``[B, H, W]``."""
    stage = model.network_stage(inputs, training=False)
    return (stage["image"] if stage["scale"] is None else stage["image"] * stage["scale"]).numpy()


def set_final_step(model, lam, nu):
    """Sets ``model``'s final step's λ₀, ν to ``lam``, ``nu`` (``nu = 0``: a fixed λ₀)."""
    if nu and model.final_proximal.noise_lam_init is None:
        raise ValueError(f"nu: {model.name}'s final step has a fixed λ₀ (final_noise_lam=None); sweep λ₀ only.")
    adaptive = model.final_proximal.noise_lam_init is not None
    set_step_weights(model, lam, max(nu, 1e-9) if adaptive else None)


def sweep(model, files, accelerations):
    """Mean test and validation PSNR of every ``(λ₀, ν)`` of :data:`SWEEP` per acceleration (the trained values are
    restored afterwards); the network runs once per slice (``network_stage``), only the final step per point."""
    saved = [v.numpy() for v in model.final_proximal.weights]
    rows = {}
    for r in accelerations:
        stages = {split: [(model.network_stage(inputs, training=False), batch)
                          for inputs, batch, _ in evaluation_batches(files[split], r)] for split in ("val", "test")}
        for lam, nu in SWEEP:
            set_final_step(model, lam, nu)
            for split, data in stages.items():
                predictions = [p for stage, _ in data for p in model.final_stage(stage).numpy()]
                targets = [t for _, batch in data for t in batch]
                rows.setdefault(f"R={r}", {}).setdefault(f"{lam:g}/{nu:g}", {})[split] = float(
                    np.mean(slice_psnr(targets, predictions)))
    for variable, value in zip(model.final_proximal.weights, saved):
        variable.assign(value)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64², 4 coils, one validation and one test subject")
    parser.add_argument("--models", nargs="+", default=None, help="shipped models with final_dc (default: all)")
    parser.add_argument("--sweep", action="store_true", help="also the post-hoc (λ₀, ν) sweep")
    parser.add_argument("--out", default="out/final_dc")
    args = parser.parse_args(argv)
    start = time.time()
    files, lam_grids, iterations = main_job_data(os.path.join(args.out, "data"), args.quick)
    names = args.models or [n for n, sets in manifest().items()
                            if sets.get("brain", {}).get("config", {}).get("final_dc")]
    accelerations = (4, 8)
    results = {}
    for name in names:
        model = models.get(name, weights="brain")
        if not model.final_dc:
            raise ValueError(f"--models: the shipped '{name}' weights have no final step (final_dc=False).")
        learned = {"network": lambda x, m=model: network_image(m, x),
                   "network + DC": lambda x, m=model: m(x, training=False).numpy()}
        table = compare(learned, files["val"], files["test"], accelerations, lam_grids=lam_grids,
                        iterations=iterations)
        lam0 = float(tf.math.softplus(model.final_proximal.lam))
        nu = float(tf.math.softplus(model.final_proximal.noise_lam))
        results[name] = {"lam0": lam0, "nu": nu}
        print(f"{name}: final step λ₀ = {lam0:.4g}, ν = {nu:.4g}")
        for key, methods in slice_rows(table).items():
            results[name][key] = {m: methods[m] for m in ("sense", "l1_wavelet", "network", "network + DC")}
            cells = [f"{m} {row['psnr']:.2f}/{row['ssim']:.3f}" + (
                "" if m == "sense" else f" (below CG-SENSE on {row['below_sense']}/{row['slices']}, "
                                        f"worst {row['worst_vs_sense']:+.2f} dB)")
                     for m, row in results[name][key].items()]
            print(f"  {key}: " + "; ".join(cells), flush=True)
        if args.sweep:
            results[name]["sweep"] = sweep(model, files, accelerations)
            for key, rows in results[name]["sweep"].items():
                print(f"  sweep {key} (λ₀/ν: val, test): " + "  ".join(
                    f"{k} {v['val']:.2f}, {v['test']:.2f}" for k, v in rows.items()), flush=True)
    path = write_json(os.path.join(args.out, "final_dc.json"), {"results": results, "seconds": time.time() - start})
    print(f"wrote {path} ({time.time() - start:.0f} s)")
    return results


if __name__ == "__main__":
    main()
