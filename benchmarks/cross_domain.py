"""Cross-domain training (review Sec. V, Fig. 4): one architecture trained on brains, one on phantoms, equal budgets;
each tested on both domains against λ-tuned CG-SENSE and ℓ1-wavelet.

    python benchmarks/cross_domain.py [--quick] [--model modl] [--steps 600] [--data runs/modl-brain-stage3/data]
                                      [--out out/cross_domain]

Data: the folder MoDL's stage 3 generates (``models/modl/brain-stage3.yaml``; generated here if absent): brain
subjects in ``train/ val/ test/`` (MNI ICBM152 anatomy, domain-randomised contrast, 96–256 matrices, 4–16 coils,
noise 0.005–0.2) and phantom-generator volumes in ``phantom/{train,val,test}`` (96², 8 coils). Both models: the
architecture of the shipped ``modl``/``brain`` weights (4 unrolls, 5 CG iterations, residual U-Net 16 filters, 3
poolings), trained from scratch with the same seed, optimiser (Adam 1e-3, complex ℓ1), batch 4, 96² crops, fastMRI
random + equispaced masks at R=4 and 8, for ``--steps`` steps each — only the training domain differs.

Tests: the first ``--test-files`` test and validation files of each domain at full size; λ of the baselines chosen per
domain and acceleration on that domain's validation files; fastMRI random masks; scored against the noise-free
object. Writes ``OUT/cross_domain.json`` and prints one line per (domain, R).
"""
import argparse
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmri_zoo.training.comparison import compare  # noqa: E402
from tfmri_zoo.training.config import train_from_config  # noqa: E402
from report import write_json  # noqa: E402

ARCHITECTURES = {
    "modl": {"iterations": 4, "cg_iterations": 5, "lam": 0.05, "regularizer": {"name": "unet", "filters": 16,
                                                                                 "depth": 3}},
    "vn": {"iterations": 8, "num_filters": 16, "kernel_size": 7, "num_nodes": 31},
}


def make_data(folder, quick):
    """Brain and phantom folders with train/val/test splits (generated on first use)."""
    from tfmri_zoo.data.brain import brain_dataset
    from tfmri_zoo.data.synthetic import default_dataset

    if quick:
        brain_dataset(folder, splits={"train": 2, "val": 1, "test": 1}, num_slices=2, seed=2, shape=(32, 32),
                      coils=4)
        default_dataset(os.path.join(folder, "phantom"), shape=(32, 32), coils=4, num_slices=2,
                        splits={"train": 2, "val": 1, "test": 1}, seed=2)
    elif not glob.glob(os.path.join(folder, "train", "*.h5")):
        from tfmri_zoo.training.config import load_config

        data = load_config("models/modl/brain-stage3.yaml")["data"]
        brain_dataset(folder, splits=data["splits"], num_slices=data["num_slices"], seed=data["seed"],
                      noise_range=tuple(data["noise_range"]))
        default_dataset(os.path.join(folder, "phantom"), shape=tuple(data["phantom_shape"]),
                        coils=data["phantom_coils"], num_slices=data["num_slices"], splits=data["phantom_splits"],
                        seed=data["seed"])
    return {"brain": folder, "phantom": os.path.join(folder, "phantom")}


def split_files(folder, split, count):
    return sorted(glob.glob(os.path.join(folder, split, "*.h5")))[:count]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="32² data, 2 unrolls (2 CG iterations), 2 steps per model, one λ per baseline")
    parser.add_argument("--model", default="modl", choices=sorted(ARCHITECTURES))
    parser.add_argument("--steps", type=int, default=600, help="training steps per model (batch 4)")
    parser.add_argument("--data", default="runs/modl-brain-stage3/data")
    parser.add_argument("--test-files", type=int, default=2, help="test (and validation) files per domain")
    parser.add_argument("--out", default="out/cross_domain")
    args = parser.parse_args(argv)
    data_dir = os.path.join(args.out, "data") if args.quick else args.data
    folders = make_data(data_dir, args.quick)
    steps_per_epoch = 1 if args.quick else 25
    epochs = 2 if args.quick else max(1, args.steps // steps_per_epoch)
    crop = None if args.quick else [96, 96]
    architecture = dict(ARCHITECTURES[args.model])
    if args.quick:                                             # the same network, 2 unrolls (and 2 CG iterations)
        architecture.update({"iterations": 2}, **({"cg_iterations": 2} if "cg_iterations" in architecture else {}))
    trained, curves = {}, {}
    for domain, folder in folders.items():
        t0 = time.time()
        config = {"model": {"name": args.model, "preset": None, "config": architecture},
                  "data": {"source": "files", "batch_size": 2 if args.quick else 4, "crop": crop},
                  "masks": {"type": "mixed"},
                  "training": {"epochs": epochs, "steps_per_epoch": steps_per_epoch, "seed": 0, "verbose": 2},
                  "evaluate": {"accelerations": []}}
        model, history, _ = train_from_config(config, data_dir=folder, out_dir=os.path.join(args.out, domain))
        trained[f"{args.model} ({domain}-trained)"] = lambda x, m=model: m(x, training=False).numpy()
        curves[domain] = {"loss": history.history.get("loss", []), "val_loss": history.history.get("val_loss", []),
                          "seconds": time.time() - t0}
        print(f"trained on {domain}: {epochs * steps_per_epoch} steps, {curves[domain]['seconds']:.0f} s, "
              f"val_loss {curves[domain]['val_loss'][-1] if curves[domain]['val_loss'] else float('nan'):.4f}",
              flush=True)
    lam_grids = {"sense": [1e-2], "l1_wavelet": [3e-3]} if args.quick else None      # quick: one λ, not extended
    iterations = {"l1_wavelet": 10} if args.quick else None
    results = {}
    for domain, folder in folders.items():
        val, test = split_files(folder, "val", args.test_files), split_files(folder, "test", args.test_files)
        table = compare(trained, val, test, lam_grids=lam_grids, iterations=iterations, reference="noise_free")
        results[domain] = {key: {n: row for n, row in rows.items() if n != "_examples"} for key, rows in table.items()}
        for key, rows in results[domain].items():
            line = "  ".join(f"{n} {row['psnr']:.2f}/{row['ssim']:.3f}" for n, row in rows.items())
            print(f"test {domain:>8} {key}: {line}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "cross_domain.json")
    write_json(path, {"model": args.model, "steps": epochs * steps_per_epoch, "curves": curves, "tests": results})
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
