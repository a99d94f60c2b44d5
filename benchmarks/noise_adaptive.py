"""Noise-adaptive data consistency for MoDL (and ADMM-Net): ``λ = λ₀ + ν·σ̂²`` with ``σ̂`` estimated from each scan's
k-space.

A MoDL with one learned λ weighs data and prior the same at every noise level: at high noise it passes the noise of
the measured lines through (measured: below CG-SENSE on the noisiest brains). The MAP weighting of
``‖Ex − y‖²/σ² + ‖x − z‖²/τ²`` is ``λ = σ²/τ²``; ``MoDL(noise_lam=ν)`` uses ``λ₀ + ν·σ̂²``
(:func:`tfmri_zoo.physics.kspace_noise_std`, :class:`tfmri_zoo.layers.data_consistency.ProximalL2DC`).

The trained MoDL network (the ``modl``/``brain`` weights) gets the noise-adaptive step without retraining: ``ν`` is
chosen on validation subjects (``recon.select_lam`` over a grid, R=4 and R=8 together, scored against the noise-free
object), then every method is evaluated on test subjects at each noise level, against the noise-free object:

  zero-filled, CG-SENSE and ℓ1-wavelet (λ chosen per noise level and R on that level's validation subject),
  MoDL with a fixed λ (ν = 0: the network as trained) and MoDL with the noise-adaptive step (the chosen ν; the
  shipped ``brain`` weights are this model, ν = 10).

``--model admmnet`` does the same for ADMM-Net's x-updates ``ρ_k = ρ_k,0 + ν·σ̂²`` (one ν for all stages; the shipped
``admmnet``/``brain`` weights are this model with the chosen ν), ``--model pnp`` for plug-and-play ADMM's fixed
penalty ``ρ = ρ₀ + ν·σ̂²`` (the shipped ``pnp``/``brain`` weights likewise).

Data: brain subjects (held-out slabs) at fixed noise levels, 128², 8 coils, ESPIRiT maps, fastMRI random masks.

    python benchmarks/noise_adaptive.py [--quick] [--model modl|admmnet|pnp] [--save out/modl-noise.keras]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.brain import brain_dataset  # noqa: E402
from tfmri_zoo.layers.data_consistency import inverse_softplus  # noqa: E402
from tfmri_zoo.models.pnp import PnP  # noqa: E402
from tfmri_zoo.models.weights import dummy_inputs, transfer_weights, weights_entry  # noqa: E402
from tfmri_zoo.recon import select_lam  # noqa: E402
from tfmri_zoo.training.comparison import compare, evaluation_batches  # noqa: E402
from tfmri_zoo.training import save_model_atomic  # noqa: E402
from report import write_json  # noqa: E402

NOISE_LEVELS = (0.01, 0.05, 0.15, 0.35, 0.5)
NU_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def noise_adaptive_model(name="modl", weights="brain", noise_lam=10.0, **overrides):
    """The shipped ``name`` network (``"modl"``, ``"admmnet"`` or ``"pnp"``) with noise-adaptive data consistency
    (``ν = noise_lam`` where the shipped weights have none); ``overrides``: non-structural configuration (e.g. MoDL's
    ``iterations`` and ``cg_iterations``)."""
    shipped = models.get(name, weights=weights, **overrides)
    config = {**weights_entry(name, weights)["config"], **overrides}
    model = models.get(name, preset=None, **{**config, "noise_lam": config.get("noise_lam") or noise_lam})
    model(dummy_inputs())
    left = transfer_weights(shipped, model)
    assert set(p.split("/")[-1] for p in left) <= {"noise_lam"}, left
    return model


def set_noise_lam(model, value):
    """Sets ν of every noise-adaptive data-consistency step of ``model`` (MoDL's shared step, ADMM-Net's x-updates;
    PnP's ν is a fixed hyperparameter, read at each eager call)."""
    if isinstance(model, PnP):
        model.noise_lam = float(value)
        return
    for step in ([model.dc] if hasattr(model, "dc") else model.steps):
        step.noise_lam.assign(inverse_softplus(float(value)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="32², 4 coils, 1 test subject, two noise levels, two ν "
                        "(MoDL: 2 unrolls × 2 CG iterations)")
    parser.add_argument("--out", default="out/noise_adaptive")
    parser.add_argument("--save", default=None, help="write the tuned noise-adaptive model as a .keras file")
    parser.add_argument("--model", default="modl", choices=["modl", "admmnet", "pnp"])
    args = parser.parse_args(argv)
    shape, levels, grid = ((32, 32), (0.05, 0.35), (3.0, 30.0)) if args.quick else ((128, 128), NOISE_LEVELS, NU_GRID)
    coils, tests = (4, 1) if args.quick else (8, 2)
    lam_grids = {"sense": [1e-3, 1e-1], "l1_wavelet": [1e-3, 1e-2]} if args.quick else None
    iterations = {"l1_wavelet": 10} if args.quick else None
    start = time.time()
    files = {}
    for level in levels:
        folder = os.path.join(args.out, "data", f"noise{level:g}")
        files[level] = brain_dataset(folder, splits={"val": 1, "test": tests}, num_slices=2, seed=21,
                                     shape=shape, coils=coils, noise_level=level)
    unrolls = {"iterations": 2, "cg_iterations": 2} if args.quick and args.model == "modl" else {}  # of 4 (shared)
    model, fixed = noise_adaptive_model(args.model, **unrolls), noise_adaptive_model(args.model, **unrolls)
    set_noise_lam(fixed, 1e-9)                                        # ν = 0: one λ at every noise level
    val = [b for level in levels for r in (4, 8)
           for b in evaluation_batches(files[level]["val"], r, reference="noise_free")]

    def run(inputs, nu):
        set_noise_lam(model, nu)
        return model(inputs, training=False).numpy()

    nu, scores = select_lam(run, val, grid)
    set_noise_lam(model, nu)
    print(f"ν = {nu:g} (chosen on {len(levels)} validation subjects, R=4 and 8, noise-free reference; "
          + ", ".join(f"{k:g}: {v['psnr']:.2f} dB" for k, v in sorted(scores.items())) + ")", flush=True)
    learned = {f"{args.model}_fixed_lam": lambda x: fixed(x, training=False).numpy(),
               f"{args.model}_noise_adaptive": lambda x: model(x, training=False).numpy()}
    results = {}
    for level in levels:
        table = compare(learned, files[level]["val"], files[level]["test"], lam_grids=lam_grids,
                        iterations=iterations, reference="noise_free")
        results[f"{level:g}"] = {key: {n: {k: v for k, v in row.items() if k != "slice_psnr"}
                                       for n, row in rows.items() if n != "_examples"}
                                 for key, rows in table.items()}
        for key, rows in results[f"{level:g}"].items():
            print(f"noise {level:<5g} {key}: " + "  ".join(f"{n} {row['psnr']:.2f}/{row['ssim']:.3f}"
                                                           for n, row in rows.items()), flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "noise_adaptive.json")
    write_json(path, {"noise_lam": nu, "nu_scores": {f"{k:g}": v for k, v in scores.items()}, "levels": results,
                          "seconds": time.time() - start})
    if args.save:
        save_model_atomic(model, args.save)
    print(f"wrote {path} ({time.time() - start:.0f} s)")
    return nu, results


if __name__ == "__main__":
    main()
