"""Scan-specific adaptation: shipped weights fine-tuned by ZS-SSL on each test scan, against λ-tuned baselines.

    python benchmarks/adaptation.py [--quick] [--models varnet vn] [--only brain-128 brain-t2w] [--test-subjects 6]
                                    [--test-files NAME ...] [--reference noise_free] [--epochs 12] [--splits 10]
                                    [--learning-rate 1e-4] [--out out/generalisation-wide]

The domains are :mod:`generalisation`'s (the same files when ``--out`` is the folder a generalisation run wrote).
Each learned model is evaluated twice on every test slice: as shipped, and after
:func:`tfmri_zoo.training.zero_shot_adapt` (ZS-SSL with transfer learning, Yaman et al. 2022: the slice's own
k-space split into Θ/Λ and a held-out Γ; fine-tuning stops when the Γ loss stops falling and an epoch is kept only
if it beats the shipped weights' Γ loss). No fully sampled data is used by the adaptation. CG-SENSE and ℓ1-wavelet
get their λ on the domain's validation subject as in ``generalisation.py``. Prints, per domain and acceleration,
PSNR/SSIM of every method, the slices below CG-SENSE, the scans the adaptation changed and its time per slice;
writes ``OUT/adaptation.json``.
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.training.zero_shot import zero_shot_adapt  # noqa: E402
from generalisation import compare_domain, domains  # noqa: E402
from report import write_json  # noqa: E402


def adapted_reconstructor(model, log, **kwargs):
    """``inputs → complex numpy [B, H, W]``: :func:`zero_shot_adapt` of ``model``; appends each scan's best epoch to
    ``log["best_epochs"]`` and its time to ``log["seconds"]``."""
    def reconstruct(inputs):
        start = time.time()
        result = zero_shot_adapt(model, inputs, **kwargs)
        log["best_epochs"] += list(result.best_epochs)
        log["seconds"] += [(time.time() - start) / len(result.best_epochs)] * len(result.best_epochs)
        return result.image.numpy()
    return reconstruct


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="48² data, one slice at R=4, two short epochs")
    parser.add_argument("--models", nargs="+", default=["varnet"], help="zoo models with shipped weights")
    parser.add_argument("--weights", default="brain")
    parser.add_argument("--only", nargs="+", default=None, metavar="DOMAIN", help="run these domains only")
    parser.add_argument("--test-subjects", type=int, default=1)
    parser.add_argument("--test-files", nargs="+", default=None, metavar="NAME",
                        help="evaluate only these test files (base names) of each domain, e.g. the scans on which "
                             "the shipped weights fell below CG-SENSE")
    parser.add_argument("--reference", choices=["measured", "noise_free"], default="noise_free")
    parser.add_argument("--accelerations", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--splits", type=int, default=10, help="Θ/Λ splits (steps) per epoch")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--out", default="out/adaptation")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.splits, args.patience, args.accelerations = 2, 2, 1, [4]
    settings = {"epochs": args.epochs, "splits_per_epoch": args.splits, "learning_rate": args.learning_rate,
                "patience": args.patience}
    results = {}
    only = args.only or (["brain-48"] if args.quick else None)
    for domain, (val, test) in domains(args.out, args.quick, args.test_subjects, only).items():
        if args.test_files:
            test = [path for path in test if os.path.basename(path) in args.test_files]
        learned, logs = {}, {}
        for name in args.models:
            model = models.get(name, weights=args.weights)
            logs[name] = {"best_epochs": [], "seconds": []}
            learned[name] = lambda x, m=model: m(x, training=False).numpy()
            learned[f"{name}_adapted"] = adapted_reconstructor(model, logs[name], **settings)
        results[domain] = compare_domain(learned, domain, val, test, args.quick, args.reference, args.accelerations)
        results[domain]["adaptation"] = logs
        reference, table = results[domain]["reference"], results[domain]["table"]
        for key, rows in table.items():
            line = "  ".join(f"{n} {row['psnr']:.2f}/{row['ssim']:.3f}" for n, row in rows.items())
            print(f"{domain} ({reference}) {key}: {line}", flush=True)
            cg = np.asarray(rows["sense"]["slice_psnr"])
            for name in args.models:
                shipped, adapted = (np.asarray(rows[n]["slice_psnr"]) for n in (name, f"{name}_adapted"))
                count = len(cg)
                print(f"    {name}: slices below CG-SENSE shipped {int((shipped < cg).sum())}/{count} "
                      f"(worst {float((shipped - cg).min()):+.2f} dB), adapted {int((adapted < cg).sum())}/{count} "
                      f"(worst {float((adapted - cg).min()):+.2f} dB); adaptation vs shipped mean "
                      f"{float((adapted - shipped).mean()):+.2f} dB, worst {float((adapted - shipped).min()):+.2f} dB",
                      flush=True)
        for name in args.models:
            epochs, seconds = logs[name]["best_epochs"], logs[name]["seconds"]
            print(f"    {name} adaptation: {sum(e > 0 for e in epochs)}/{len(epochs)} scans changed, "
                  f"{np.mean(seconds):.1f} s per slice", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "adaptation.json")
    write_json(path, {"weights": args.weights, "models": args.models, "settings": settings, "domains": results})
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
