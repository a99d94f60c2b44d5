"""Post-hoc choice of a shipped model's data-consistency weight (λ₀, ν) and CG iterations, on training-side
validation subjects at R = 2, 4 and 8.

MoDL's shared step ``x = (EᴴE + λI)⁻¹(Eᴴy + λ·D(x))`` with ``λ = λ₀ + ν·σ̂²`` (σ̂ the scan's k-space noise level) is
the only place where the prior and the data are weighed against each other. Trained at R=4 and 8 only, the shipped
weights learned λ₀ = 0.058 and got ν = 10 after training (``benchmarks/noise_adaptive.py``), with 5 CG iterations:
on well-conditioned, nearly noise-free data (R=2, 8 coils) that caps the PSNR near 44 dB where CG-SENSE reaches 49 dB —
the prior overrides data that need no prior (``benchmarks/generalisation.py --accelerations 2 3``). The MAP weighting
of ``‖Ex − y‖²/σ² + ‖x − D(x)‖²/τ²`` is ``λ = σ²/τ²``: the noise should carry λ (ν), not a constant (λ₀); and a
truncated CG started at ``D(x)`` leaves the prior's error in directions the data do determine. The other shipped
models end with the same kind of step (``final_dc``: ``(EᴴE + λI)⁻¹(Eᴴy + λz)``, ``z`` the network's image; trained
λ₀ ≈ 0.01, ν ≈ 100, 10 CG iterations); ``--model NAME`` sweeps that final step instead (the network runs once per
slice, only the step is repeated).

Grid: λ₀ × ν × CG iterations (MoDL: :data:`GRID`; DEQ's step, shared by its fixed-point iterations: :data:`DEQ_GRID`;
a final step: :data:`FINAL_GRID`), each scored by the mean
per-slice PSNR against the noise-free object over R = 2, 4 and 8 (fastMRI random masks, centre fraction 0.32 / R) on
the **validation** subjects of the training data folders (never a test subject or a generalisation domain). The
network is not retrained.

    python benchmarks/dc_sweep.py [--model modl] [--quick] [--val-files F.h5 ...] [--save runs/modl-dc.keras]
                                  [--out out/dc_sweep]

Default validation files: ``runs/modl-brain/data/val`` and ``runs/modl-brain-stage3/data/val`` (8 brain subjects × 4
slices, matrices 96–256, 4–16 coils, noise 0.005–0.5), written by the training commands of ``models/modl/*.yaml``.
"""
import argparse
import glob
import itertools
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.training.comparison import evaluation_batches, slice_psnr  # noqa: E402
from tfmri_zoo.training import save_model_atomic  # noqa: E402
from tfmri_zoo.training.calibration import set_step_weights  # noqa: E402
from report import write_json  # noqa: E402

GRID = {"lam": (0.058, 0.02, 0.01), "noise_lam": (10.0, 30.0, 50.0), "cg_iterations": (5, 10)}
DEQ_GRID = {"lam": (0.01, 0.005), "noise_lam": (10.0, 30.0), "cg_iterations": (5, 10)}
FINAL_GRID = {"lam": (0.01, 0.003), "noise_lam": (100.0, 300.0, 1000.0, 3000.0), "cg_iterations": (10, 20)}
GRIDS = {"modl": GRID, "deq": DEQ_GRID}
ACCELERATIONS = (2, 4, 8)
DEFAULT_VAL = ("runs/modl-brain/data/val/*.h5", "runs/modl-brain-stage3/data/val/brain*.h5")
# the swept step of each model (tfmri_zoo.training.calibration.calibrated_step): (attribute, the constructor argument
# of its CG iterations); others: the final step
SWEPT = {"modl": ("dc", "cg_iterations"), "deq": ("dc", "cg_iterations")}
FINAL_STEP = ("final_proximal", "final_iterations")


def sweep(name, weights, grid, batches):
    """Every ``(λ₀, ν, CG)`` of ``grid`` for the shipped ``name``/``weights``: ``(rows, variants)`` — a row per
    grid point with the mean per-slice PSNR per acceleration, and ``{CG iterations: model}`` (one build per CG
    count; λ₀, ν re-assigned per point). A final step is swept on the network images computed once."""
    attribute, cg_argument = SWEPT.get(name, FINAL_STEP)
    variants = {cg: models.get(name, weights=weights, **{cg_argument: int(cg)}) for cg in grid["cg_iterations"]}
    first = variants[grid["cg_iterations"][0]]
    if attribute == "final_proximal":
        if first.final_proximal is None or first.final_noise_lam is None:
            raise ValueError(f"--model: the '{name}/{weights}' weights have no noise-adaptive final step to sweep.")
        stages = {r: [(first.network_stage(x, training=False), t) for x, t, _ in bs] for r, bs in batches.items()}
        outputs = lambda model, r: [(model.final_stage(stage).numpy(), t) for stage, t in stages[r]]
    else:
        outputs = lambda model, r: [(model(x, training=False).numpy(), t) for x, t, _ in batches[r]]
    rows = []
    for lam, nu, cg in itertools.product(grid["lam"], grid["noise_lam"], grid["cg_iterations"]):
        model = set_step_weights(variants[cg], lam, nu)
        per_r = {r: float(np.mean(np.concatenate([slice_psnr(t, p) for p, t in outputs(model, r)])))
                 for r in batches}
        rows.append({"lam": lam, "noise_lam": nu, "cg_iterations": cg, "psnr": per_r,
                     "mean": float(np.mean(list(per_r.values())))})
        print(f"λ₀={lam:<6g} ν={nu:<4g} CG={cg:<3d} " + "  ".join(f"R={r} {v:.3f}" for r, v in per_r.items())
              + f"  mean {rows[-1]['mean']:.3f} dB", flush=True)
    return rows, variants


def quick_files(out):
    from tfmri_zoo.data.brain import brain_dataset

    return brain_dataset(os.path.join(out, "data"), splits={"val": 1}, num_slices=1, seed=31, shape=(48, 48),
                         coils=4)["val"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="modl", help="a shipped model: MoDL's and DEQ's shared step, else its "
                        "final step")
    parser.add_argument("--weights", default="brain")
    parser.add_argument("--quick", action="store_true", help="one 48² validation slice, a 2 × 1 × 1 grid")
    parser.add_argument("--val-files", nargs="+", default=None, help="validation files (default: see above)")
    parser.add_argument("--save", default=None, help="write the chosen model as a .keras file")
    parser.add_argument("--out", default="out/dc_sweep")
    args = parser.parse_args(argv)
    start = time.time()
    grid = GRIDS.get(args.model, FINAL_GRID)
    if args.quick:
        grid = {"lam": grid["lam"][:2], "noise_lam": grid["noise_lam"][1:2], "cg_iterations": grid["cg_iterations"][:1]}
        files = quick_files(args.out)
    else:
        files = sorted(f for pattern in (args.val_files or DEFAULT_VAL) for f in glob.glob(pattern))
        if not files:
            raise SystemExit(f"no validation files: {args.val_files or DEFAULT_VAL} (run the training commands)")
    batches = {r: evaluation_batches(files, r, reference="noise_free") for r in ACCELERATIONS}
    rows, variants = sweep(args.model, args.weights, grid, batches)
    best = max(rows, key=lambda row: row["mean"])
    print(f"{args.model}: chosen on {len(files)} validation files: λ₀ = {best['lam']:g}, ν = {best['noise_lam']:g}, "
          f"{best['cg_iterations']} CG iterations ({best['mean']:.3f} dB)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"dc_sweep-{args.model}.json")
    write_json(path, {"model": args.model, "weights": args.weights, "files": files,
                      "accelerations": list(ACCELERATIONS), "rows": rows, "chosen": best,
                      "seconds": time.time() - start})
    if args.save:
        save_model_atomic(set_step_weights(variants[best["cg_iterations"]], best["lam"], best["noise_lam"]), args.save)
    print(f"wrote {path} ({time.time() - start:.0f} s)")
    return best


if __name__ == "__main__":
    main()
