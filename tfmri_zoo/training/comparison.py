"""Fair comparisons of learned and classical reconstructions on held-out files (used by the main job, the
generalisation benchmark and the model cards).

Fairness rules, applied by :func:`compare`:

* every method sees the same k-space, masks (fastMRI per-volume validation seeds) and coil maps (the files'
  ``sensitivities``, e.g. ESPIRiT);
* each classical method's λ is chosen on the **validation** files (:func:`tfmri_zoo.recon.select_lam`, PSNR; the
  grid is extended past an end when the best λ lies there),
  separately per acceleration, then applied unchanged to the **test** files; the table reports the chosen λ;
* ℓ1-wavelet is the BART-strength solver (:func:`tfmri_zoo.recon.l1_wavelet`, random wavelet shifts).

Metrics: fastMRI SSIM / PSNR / NMSE of magnitudes per volume, averaged over volumes
(:func:`tfmri_zoo.metrics.per_volume_metrics`), plus per-slice PSNR (each slice's own maximum as the
data range) so that "never below CG-SENSE on any slice" can be checked.
"""
import time

import numpy as np
import tensorflow as tf

from tfmri_zoo.metrics import per_volume_metrics

CLASSICAL_ITERATIONS = {"sense": 30, "l1_wavelet": 100}
#: jit_compile per method, chosen by ``benchmarks/xla.py`` (XLA / graph time, 256², 8 coils: ℓ1-wavelet 0.48,
#: CG-SENSE 1.05); README, "XLA per method".
XLA = {"zero_filled": False, "sense": False, "l1_wavelet": True}


def evaluation_batches(files, acceleration, batch_size=4, mask_type="random", reference="measured"):
    """Held-out data at one acceleration with fastMRI's per-volume masks.

    Args:
      files: fastMRI-schema ``.h5`` paths with stored ``sensitivities``.
      acceleration: an int; the centre fraction is :func:`tfmri_zoo.physics.sampling.center_fraction`
        (0.08 at R=4, 0.04 at R=8, else ``0.32 / R``).
      batch_size: slices per batch (only slices of equal shape are batched together).
      mask_type: ``"random"`` (``RandomMaskFunc``) or ``"equispaced"`` (``EquispacedMaskFractionFunc``).
      reference: ``"measured"`` (fully sampled noisy data, fastMRI's convention) or ``"noise_free"`` target
        (simulated files only; :func:`tfmri_zoo.data.pipeline.make_dataset`).

    Returns:
      list of ``(inputs, target, names)``: ``inputs`` a dict of numpy arrays (``kspace`` complex64
      ``[B, C, H, W]``, ``mask`` float32 ``[B, 1, 1, W]``, ``sensitivities``), ``target`` complex64 ``[B, H, W]``,
      ``names`` the file name of each slice.
    """
    from tfmri_zoo.data.pipeline import make_dataset
    from tfmri_zoo.physics.sampling import EquispacedMaskFractionFunc, RandomMaskFunc, center_fraction

    kinds = {"random": RandomMaskFunc, "equispaced": EquispacedMaskFractionFunc}
    if mask_type not in kinds:
        raise ValueError(f"mask_type: expected one of {sorted(kinds)}, got {mask_type!r}.")
    mask_func = kinds[mask_type]([center_fraction(acceleration)], [int(acceleration)])
    batches = []
    for inputs, target, info in make_dataset(files, mask_func=mask_func, batch_size=batch_size, validation=True,
                                             return_info=True, sensitivities="stored", reference=reference):
        batches.append(({k: v.numpy() for k, v in inputs.items()}, target.numpy(),
                        [f.decode() for f in info["fname"].numpy()]))
    return batches


def classical_methods(iterations=None, xla=None):
    """``{name: reconstruct(inputs, lam=None) → complex numpy [B, H, W]}`` for zero-filled, CG-SENSE and ℓ1-wavelet.

    Each ``(method, λ, shape)`` is traced once as a ``tf.function`` (XLA-compiled where :data:`XLA` says it is
    faster). ``iterations`` overrides :data:`CLASSICAL_ITERATIONS` and ``xla`` (``{name: bool}``) :data:`XLA`.
    """
    from tfmri_zoo import recon
    from tfmri_zoo.training.prior_l1 import prior_l1_solver

    iterations = {**CLASSICAL_ITERATIONS, **(iterations or {})}
    xla = {**XLA, **(xla or {})}
    solvers = {
        "zero_filled": lambda k, m, s, lam: recon.zero_filled(k, m, s),
        "sense": lambda k, m, s, lam: recon.sense(k, m, s, lam=lam, max_iter=iterations["sense"]),
    }
    compiled = {}

    def method(name):
        def run(inputs, lam=None):
            key = (name, lam)
            if key not in compiled:
                compiled[key] = tf.function(lambda k, m, s: solvers[name](k, m, s, lam), autograph=False,
                                            jit_compile=xla[name])
            return compiled[key](inputs["kspace"], inputs["mask"], inputs["sensitivities"]).numpy()
        return run

    # ℓ1-wavelet: the prior-image solve without a prior (one compiled λ = 1 solve per shape serves every λ > 0, by
    # 1-homogeneity: l1(y; λ) = λ·l1(y/λ; 1))
    l1 = prior_l1_solver(iterations["l1_wavelet"], xla["l1_wavelet"])
    return {**{name: method(name) for name in solvers},
            "l1_wavelet": lambda inputs, lam=None: l1({k: v for k, v in inputs.items() if k != "prior"}, lam or 0.0)}


def slice_psnr(targets, predictions):
    """PSNR (dB) of each slice's magnitude, with the slice's own maximum as data range: float64 ``[S]``."""
    from tfmri_zoo import metrics

    return np.array([metrics.psnr(np.abs(t)[None], np.abs(p)[None]) for t, p in zip(targets, predictions)])


def run_method(reconstruct, batches, lam=None):
    """Runs ``reconstruct(inputs, lam)`` on every batch.

    Returns:
      ``(predictions, targets, names, seconds)``: lists of ``[H, W]`` slices (sizes may differ between batches),
      the slices' volume names and the wall time.
    """
    start = time.time()
    outputs = [np.asarray(reconstruct(inputs, lam)) for inputs, _, _ in batches]
    seconds = time.time() - start
    targets = [t for _, batch_targets, _ in batches for t in batch_targets]
    names = [n for _, _, batch_names in batches for n in batch_names]
    return [p for batch in outputs for p in batch], targets, names, seconds


def compare(learned, val_files, test_files, accelerations=(4, 8), lam_grids=None, iterations=None, batch_size=4,
            mask_type="random", log=None, reference="measured", calibrated=None, calibration_metric="ssim",
            prior_l1=None, prior_weights=None):
    """Table of learned models against λ-tuned classical baselines on held-out files.

    Args:
      learned: ``{name: callable(inputs) → complex [B, H, W]}`` (e.g. a zoo model with ``training=False``).
      val_files: files on which each baseline's λ is chosen (never the test files).
      test_files: held-out files the table is computed on.
      accelerations: acceleration factors.
      lam_grids: ``{"sense": [...], "l1_wavelet": [...]}``; default :data:`tfmri_zoo.recon.LAM_GRIDS`.
      iterations: classical iteration counts (see :func:`classical_methods`).
      batch_size, mask_type, reference: see :func:`evaluation_batches` (λ is chosen against the same reference).
      log: optional print-like callable.
      calibrated: ``{label: zoo model}``: models whose data-consistency weight ``(λ₀, ν)`` is chosen per
        acceleration on the validation files, as the baselines' λ is, with CG-SENSE as the floor
        (:func:`tfmri_zoo.training.calibration.choose_step_weights`, scored by ``calibration_metric``); each model is
        left at its trained values.
      prior_l1: ``{name: zoo model}``: models that get a row ``NAME+l1``, the model with its prior-image ℓ1 step
        (``prior_l1``: its image as the prior of the ℓ1-wavelet reconstruction; :mod:`tfmri_zoo.training.prior_l1`;
        μ = 0 is the ℓ1-wavelet, μ = ∞ the model alone), ``(λ, μ)`` chosen per acceleration on the validation
        files and the model called with that table, as it is served; each model is left without a table.
      prior_weights: the candidate μ of those rows (default :data:`tfmri_zoo.training.prior_l1.PRIOR_WEIGHTS`).

    Returns:
      ``{"R=4": {method: {"ssim", "psnr", "nmse", "seconds_per_slice", "slice_psnr": [...], "lam"?}}, ...}``
      (a ``calibrated`` row also has ``"step": {"lam", "noise_lam"}``, the chosen point, a ``prior_l1`` row
      ``"prior_l1": {"lam", "weight", "validation_psnr"}``, ``None`` for μ = ∞, the validation PSNR per μ) and,
      per acceleration, ``"_examples"``: ``{method: first test slice complex numpy [H, W]}`` with ``"target"``.
    """
    from tfmri_zoo.recon import LAM_GRIDS, select_lam
    from tfmri_zoo.training.prior_l1 import PRIOR_WEIGHTS, choose_prior_l1, prior_l1_solver, with_prior
    lam_grids = {**{k: LAM_GRIDS[k] for k in ("sense", "l1_wavelet")}, **(lam_grids or {})}
    classical = classical_methods(iterations)
    l1_iterations = {**CLASSICAL_ITERATIONS, **(iterations or {})}["l1_wavelet"]
    solve = prior_l1_solver(l1_iterations, XLA["l1_wavelet"], relative=True)
    table = {}
    for acceleration in accelerations:
        val = evaluation_batches(val_files, acceleration, batch_size, mask_type, reference)
        test = evaluation_batches(test_files, acceleration, batch_size, mask_type, reference)
        lams = {name: select_lam(classical[name], val, lam_grids[name])[0] for name in lam_grids}
        rows, examples = {}, {}
        methods = [(name, classical[name], lams.get(name)) for name in classical]
        methods += [(name, lambda x, lam, f=model: f(x), None) for name, model in learned.items()]
        steps = calibrate_steps(calibrated or {}, val, classical["sense"], lams["sense"], calibration_metric)
        methods += [(name, calibrated_reconstruct(calibrated[name], step), None) for name, step in steps.items()]
        pairs = {f"{name}+l1": choose_prior_l1(solve, with_prior(val, lambda x, m=model: m(x, training=False)),
                                               lam_grids["l1_wavelet"], prior_weights or PRIOR_WEIGHTS)
                 for name, model in (prior_l1 or {}).items()}
        methods += [(f"{name}+l1", prior_l1_reconstruct(model, acceleration, pairs[f"{name}+l1"], l1_iterations),
                     None) for name, model in (prior_l1 or {}).items()]
        for name, reconstruct, lam in methods:
            pred, target, names, seconds = run_method(reconstruct, test, lam)
            row = {**per_volume_metrics(pred, target, names), "seconds_per_slice": seconds / len(names),
                   "slice_psnr": slice_psnr(target, pred).tolist()}
            if lam is not None:
                row["lam"] = lam
            if name in steps:
                row["step"] = steps[name]
            if name in pairs:
                weight = pairs[name]["weight"]
                row["prior_l1"] = {"lam": pairs[name]["lam"], "weight": None if np.isinf(weight) else weight,
                                   "validation_psnr": {str(w): v["psnr"] for w, v in pairs[name]["scores"].items()}}
            rows[name] = row
            examples[name], examples["target"] = pred[0], target[0]
            if log:
                log(f"R={acceleration} {name:>12}: SSIM {row['ssim']:.4f}  PSNR {row['psnr']:.2f} dB  "
                    f"NMSE {row['nmse']:.4f}" + (f"  (λ={lam:g}, chosen on validation)" if lam is not None else "")
                    + (f"  (λ₀={row['step']['lam']:.3g}, ν={row['step']['noise_lam']}, calibrated on validation)"
                       if "step" in row else "")
                    + (f"  (λ={row['prior_l1']['lam']}, μ={row['prior_l1']['weight']}, chosen on validation)"
                       if "prior_l1" in row else ""))
        table[f"R={acceleration}"] = {**rows, "_examples": examples}
    return table


def calibrate_steps(models, val, sense, sense_lam, metric="ssim"):
    """``{label: {"lam", "noise_lam"}}``: each model's step chosen on the validation batches ``val`` by ``metric``
    with CG-SENSE (``sense`` at ``sense_lam``) as the per-slice floor."""
    from tfmri_zoo.training.calibration import cg_sense_floor, choose_step_weights

    if not models:
        return {}
    floor = cg_sense_floor(val, sense_lam, sense)
    chosen = {name: choose_step_weights(model, val, floor, metric=metric) for name, model in models.items()}
    return {name: {"lam": c["lam"], "noise_lam": c["noise_lam"]} for name, c in chosen.items()}


def calibrated_reconstruct(model, step):
    """``reconstruct(inputs, lam) → complex numpy``: ``model`` with its step at ``step`` (``{"lam", "noise_lam"}``)
    for the call, then back at its trained values."""
    from tfmri_zoo.training.calibration import set_step_weights, step_weights

    def reconstruct(inputs, lam=None):
        trained = step_weights(model)
        set_step_weights(model, step["lam"], step["noise_lam"])
        try:
            return model(inputs, training=False).numpy()
        finally:
            set_step_weights(model, *trained)
    return reconstruct


def prior_l1_reconstruct(model, acceleration, choice, iterations):
    """``reconstruct(inputs, lam) → complex numpy``: ``model`` called with the prior-image ℓ1 step of ``choice``
    (``{"lam", "weight"}``, relative λ) at ``acceleration`` and ``iterations`` FISTA iterations, then without it."""
    from tfmri_zoo.training.prior_l1 import prior_l1_table

    def reconstruct(inputs, lam=None):
        saved = model.prior_l1_iterations
        model.prior_l1_iterations = iterations
        model.set_prior_l1(prior_l1_table({acceleration: choice}))
        try:
            return model(inputs, training=False).numpy()
        finally:
            model.prior_l1_iterations = saved
            model.set_prior_l1(None)
    return reconstruct


def margins(table, model, baselines=("l1_wavelet", "sense")):
    """Per acceleration: the model's PSNR/SSIM margins over each baseline, its worst per-slice PSNR margin and the
    number of slices on which it is below the baseline (per-slice PSNR lower).

    Returns:
      ``{"R=4": {"l1_wavelet": {"psnr": dB, "ssim": Δ, "worst_slice_psnr": dB, "slices_below": int, "slices": int},
      ...}, ...}``.
    """
    out = {}
    for key, rows in table.items():
        out[key] = {}
        for base in baselines:
            diff = np.asarray(rows[model]["slice_psnr"]) - np.asarray(rows[base]["slice_psnr"])
            out[key][base] = {"psnr": rows[model]["psnr"] - rows[base]["psnr"],
                              "ssim": rows[model]["ssim"] - rows[base]["ssim"],
                              "worst_slice_psnr": float(diff.min()), "slices_below": int(np.sum(diff < 0)),
                              "slices": int(diff.size)}
    return out
