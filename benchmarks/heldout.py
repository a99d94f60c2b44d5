"""Every shipped model on the main job's held-out brains, side by side with λ-tuned CG-SENSE and ℓ1-wavelet.

The data and protocol of ``tfmri-zoo quickstart --steps 0`` (``tfmri_zoo.training.quickstart`` defaults): brain
subjects from held-out slabs, 128², 8 coils, ESPIRiT maps, fastMRI random masks at R=4 and R=8; λ of CG-SENSE and of
the ℓ1-wavelet chosen on 3 validation subjects, every method scored on 4 test subjects × 4 slices (fastMRI metrics).
The learned models are used as shipped (no tuning on these subjects). For each method it prints PSNR / SSIM, the
number of test slices below CG-SENSE and the worst slice's margin over CG-SENSE (dB) — the README's "every shipped
model" table.

    python benchmarks/heldout.py [--quick] [--models modl deq ...] [--weights brain] [--out out/heldout]
                                 [--model-files LABEL=FILE.keras ...]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmri_zoo import models  # noqa: E402
from tfmri_zoo.data.brain import brain_dataset  # noqa: E402
from tfmri_zoo.training.comparison import compare, margins  # noqa: E402
from report import model_file_reconstructors, write_json  # noqa: E402


def main_job_data(folder, quick=False):
    """The main job's validation and test files (generated under ``folder`` on first use) and the classical λ grids
    and iteration counts to compare with: ``(files, lam_grids, iterations)``; ``None`` means the package defaults.
    ``quick``: 64², 4 coils, one validation and one test subject, short grids."""
    if quick:
        files = brain_dataset(folder, splits={"val": 1, "test": 1}, num_slices=2, seed=0, shape=(64, 64), coils=4)
        return files, {"sense": [1e-3, 1e-2], "l1_wavelet": [1e-3, 1e-2]}, {"l1_wavelet": 30}
    files = brain_dataset(folder, splits={"train": 6, "val": 3, "test": 4}, num_slices=4, seed=0, shape=(128, 128),
                          coils=8)
    return files, None, None


def slice_rows(table):
    """Per acceleration and method: PSNR, SSIM, chosen λ, slices below CG-SENSE and the worst slice's margin (dB),
    the latter two from :func:`~tfmri_zoo.training.comparison.margins` against ``"sense"``."""
    rows = {}
    for key, methods in table.items():
        for method, row in methods.items():
            if method.startswith("_"):
                continue
            vs_sense = margins({key: methods}, method, baselines=("sense",))[key]["sense"]
            rows.setdefault(key, {})[method] = {"psnr": row["psnr"], "ssim": row["ssim"], "lam": row.get("lam"),
                                                "below_sense": vs_sense["slices_below"], "slices": vs_sense["slices"],
                                                "worst_vs_sense": vs_sense["worst_slice_psnr"]}
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="64², 4 coils, one validation and one test subject")
    parser.add_argument("--models", nargs="+", default=None, help="models with shipped weights (default: all)")
    parser.add_argument("--weights", default="brain")
    parser.add_argument("--out", default="out/heldout")
    parser.add_argument("--model-files", nargs="+", default=[], metavar="LABEL=FILE.keras",
                        help="also evaluate trained .keras files (e.g. a new training stage beside the shipped one)")
    args = parser.parse_args(argv)
    start = time.time()
    names = args.models or [m for m in models.list() if args.weights in models.list_weights(m)]
    if not names:
        raise SystemExit(f"no model ships '{args.weights}' weights: {models.list()}")
    files, lam_grids, iterations = main_job_data(os.path.join(args.out, "data"), args.quick)
    learned = {name: (lambda x, m=models.get(name, weights=args.weights): m(x, training=False).numpy())
               for name in names}
    learned.update(model_file_reconstructors(args.model_files))
    rows = slice_rows(compare(learned, files["val"], files["test"], (4, 8), lam_grids=lam_grids,
                              iterations=iterations))
    for key, methods in rows.items():
        print(f"{key}: method  PSNR dB / SSIM  (slices below CG-SENSE, worst slice vs CG-SENSE)")
        for method, row in methods.items():
            lam = f", λ={row['lam']:g}" if row["lam"] is not None else ""
            print(f"  {method:>12}  {row['psnr']:.2f} / {row['ssim']:.3f}  ({row['below_sense']}/{row['slices']}, "
                  f"{row['worst_vs_sense']:+.2f} dB{lam})", flush=True)
    path = write_json(os.path.join(args.out, "heldout.json"),
                      {"weights": args.weights, "rows": rows, "seconds": time.time() - start})
    print(f"wrote {path} ({time.time() - start:.0f} s)")
    return rows


if __name__ == "__main__":
    main()
