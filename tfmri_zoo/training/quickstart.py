"""The main job (``tfmri-zoo quickstart``): a learned reconstruction on realistic brain data against λ-tuned classical
baselines at R = 4 and R = 8, a figure, a metrics table and a TF-Serving export.

Steps:
  1. Generate the embedded brain data (:mod:`tfmri_zoo.data.brain`: MNI ICBM152 anatomy, random contrast,
     deformation, coils, noise; ESPIRiT maps; seeded; train/val/test subjects from disjoint slabs).
  2. The model: by default MoDL with the shipped ``brain`` weights (``models.get("modl", weights="brain")``),
     fine-tuned for ``steps`` batches on the train split; with ``weights=None`` a model trained from scratch.
     Training goes through :func:`tfmri_zoo.training.train` (the CLI's trainer) with a complex ℓ1 loss on fastMRI
     random and equispaced masks, R ∈ {4, 8}, a new mask per example and epoch.
  3. :func:`tfmri_zoo.training.comparison.compare`: CG-SENSE and the BART-strength ℓ1-wavelet with λ chosen on the
     validation split per acceleration, then every method on the held-out test split with fastMRI's per-volume
     masks; fastMRI SSIM / PSNR / NMSE per volume and PSNR per slice.
  4. Write ``metrics.json`` (with the margins over ℓ1-wavelet and CG-SENSE, worst slice included),
     ``figure.png`` and ``export/<model>/<version>/`` (TF-Serving SavedModel).
"""
import json
import os
import time

import numpy as np

ACCELERATIONS = (4, 8)
DEFAULT_SPLITS = {"train": 6, "val": 3, "test": 4}


def _figure(path, table, model_name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(table)
    columns = ["target", "zero_filled", "sense", "l1_wavelet", model_name]
    fig, axes = plt.subplots(len(keys), len(columns), figsize=(2.4 * len(columns), 2.6 * len(keys)), squeeze=False)
    for r, key in enumerate(keys):
        examples = table[key]["_examples"]
        vmax = np.abs(examples["target"]).max()
        for c, name in enumerate(columns):
            axes[r, c].imshow(np.abs(examples[name]), cmap="gray", vmin=0, vmax=vmax)
            label = "" if name == "target" else (f"\nPSNR {table[key][name]['slice_psnr'][0]:.1f} dB"
                                                 + (f", λ={table[key][name]['lam']:g}" if "lam" in table[key][name]
                                                    else ""))
            axes[r, c].set_title(f"{name}{label}", fontsize=8)
            axes[r, c].axis("off")
        axes[r, 0].text(-0.08, 0.5, key, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def training_dataset(files, batch_size, seed, crop=None):
    """The main job's training pipeline: fastMRI random and equispaced masks, R ∈ {4, 8}, stored (ESPIRiT) maps."""
    from tfmri_zoo.data.pipeline import make_dataset
    from tfmri_zoo.physics.sampling import EquispacedMaskFractionFunc, MixedMaskFunc, RandomMaskFunc

    fractions, accelerations = [0.08, 0.04], list(ACCELERATIONS)
    mask_func = MixedMaskFunc([RandomMaskFunc(fractions, accelerations, seed=seed),
                               EquispacedMaskFractionFunc(fractions, accelerations, seed=seed)], seed=seed)
    return make_dataset(files, mask_func=mask_func, batch_size=batch_size, shuffle=True, seed=seed, crop=crop,
                        sensitivities="stored", drop_remainder=True).repeat()


def run(out, model_name="modl", weights="brain", steps=100, batch_size=4, learning_rate=5e-5, seed=0,
        data_dir=None, shape=(128, 128), coils=8, num_slices=4, splits=None, lam_grid=None,
        classical_iterations=None, preset="small", log=print, **model_config):
    """Runs the main job; returns the metrics dict written to ``out/metrics.json``.

    Args:
      out: output folder.
      model_name: a zoo model name.
      weights: a shipped weight set to start from (``models.list_weights(model_name)``), or ``None`` to train
        from scratch (``preset`` and ``model_config`` then build the model).
      steps: training (fine-tuning) steps; 0 evaluates the shipped weights as they are.
      batch_size, learning_rate: Adam training settings.
      seed: seed of data generation, masks and initial weights.
      data_dir: where the brain data is generated (default ``out/data``; existing files are reused).
      shape, coils, num_slices: brain data matrix, coils and slices per subject.
      splits: subjects per split (default :data:`DEFAULT_SPLITS`).
      lam_grid: ``{"sense": [...], "l1_wavelet": [...]}`` λ candidates (default ``recon.LAM_GRIDS``).
      classical_iterations: ``{"sense": n, "l1_wavelet": n}`` (default ``comparison.CLASSICAL_ITERATIONS``).
      preset, **model_config: the model when ``weights`` is None.
      log: a print-like callable.
    """
    import keras

    from tfmri_zoo import models
    from tfmri_zoo.data.brain import brain_dataset
    from tfmri_zoo.export import export_saved_model
    from tfmri_zoo.training.comparison import compare, margins
    from tfmri_zoo.training.supervised import train

    os.makedirs(out, exist_ok=True)
    started = time.time()
    splits = brain_dataset(data_dir or os.path.join(out, "data"), splits=splits or DEFAULT_SPLITS,
                           num_slices=num_slices, seed=seed, shape=tuple(shape), coils=coils)
    log(f"brain data: {', '.join(f'{k}: {len(v)} subjects' for k, v in sorted(splits.items()))} "
        f"({shape[0]}x{shape[1]}, {coils} coils, {num_slices} slices each) in {time.time() - started:.0f} s")
    keras.utils.set_random_seed(seed)
    if weights is not None:
        model = models.get(model_name, weights=weights)
        mode = f"fine-tuned the shipped '{weights}' weights for {steps} steps" if steps else \
            f"evaluated the shipped '{weights}' weights as they are (no training)"
    else:
        model = models.get(model_name, preset=preset, **model_config)
        mode = f"trained from scratch for {steps} steps"
    train_seconds, final_loss = 0.0, None
    if steps:
        t0 = time.time()
        epochs = max(1, min(10, steps // 10))
        model, history = train(model, training_dataset(splits["train"], batch_size, seed),
                               out_dir=os.path.join(out, "train"), epochs=epochs,
                               steps_per_epoch=max(1, steps // epochs), learning_rate=learning_rate, seed=None,
                               tensorboard=False, image_panels=False, checkpoint=False, backup=False, verbose=0,
                               callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: log(
                                   f"  epoch {e + 1}/{epochs}: loss {logs['loss']:.4f}"))])
        train_seconds, final_loss = time.time() - t0, float(history.history["loss"][-1])
    log(f"{model_name} ({model.count_params()} parameters): {mode}" + (f" in {train_seconds:.0f} s" if steps else ""))

    table = compare({model_name: lambda x: model(x, training=False).numpy()}, splits["val"], splits["test"],
                    ACCELERATIONS, lam_grids=lam_grid, iterations=classical_iterations, log=log)
    figure = os.path.join(out, "figure.png")
    _figure(figure, table, model_name)
    results = {key: {name: row for name, row in rows.items() if name != "_examples"} for key, rows in table.items()}
    edge = margins(results, model_name)
    for key, row in edge.items():
        log(f"{key}: {model_name} − ℓ1-wavelet {row['l1_wavelet']['psnr']:+.2f} dB / {row['l1_wavelet']['ssim']:+.3f} "
            f"SSIM; − CG-SENSE {row['sense']['psnr']:+.2f} dB (worst test slice {row['sense']['worst_slice_psnr']:+.2f} dB)")
    export_path = export_saved_model(model, os.path.join(out, "export"), model_name=model_name)
    summary = {
        "model": model_name, "weights": weights, "training": mode, "parameters": int(model.count_params()),
        "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "train_seconds": train_seconds,
        "final_loss": final_loss,
        "data": {"generator": "tfmri_zoo.data.brain", "shape": list(shape), "coils": coils, "seed": seed,
                 "subjects": {k: len(v) for k, v in splits.items()}, "slices_per_subject": num_slices},
        "results": results, "margins": edge, "figure": figure, "export": export_path,
        "total_seconds": time.time() - started,
    }
    tmp = os.path.join(out, "metrics.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(tmp, os.path.join(out, "metrics.json"))
    log(f"wrote {figure}, {os.path.join(out, 'metrics.json')} and {export_path} in {summary['total_seconds']:.0f} s")
    return summary
