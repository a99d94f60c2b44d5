"""Calibrating a trained model's data-consistency weight on the user's own validation slices, per acceleration.

Every comparison in this project chooses the classical baselines' λ per acceleration on validation slices of the data
at hand (:func:`tfmri_zoo.recon.select_lam`). A learned model has one explicit trade-off between its prior and the
data — the proximal step ``x = (EᴴE + λI)⁻¹(Eᴴy + λz)`` with ``λ = λ₀ + ν·σ̂²`` (Eq. 8; MoDL's and DEQ's shared
step, every other model's final step) — and training fixed it on the project's data at R = 4 and 8.
:func:`calibrate_data_consistency` chooses ``(λ₀, ν)`` the same way the baselines' λ is chosen; the network is not
changed:

* **grid**: the trained ``(λ₀, ν)`` times :data:`FACTORS` each (9 points; the trained point is one of them);
* **score**: the mean per-volume fastMRI SSIM on the validation slices (``metric="psnr"`` or ``"nmse"`` instead, as
  :func:`tfmri_zoo.recon.select_lam` offers). SSIM by default, measured: on two validation slices, PSNR-scored
  choices lowered λ too far for the test slices of MNI-built domains (noisier images; mean SSIM −0.003 … −0.011,
  single rows down to −1.3 dB), SSIM-scored ones gained in both on average (README, "Calibrating the
  data-consistency weight"; on the real scan PSNR scoring did better);
* **floor — never below CG-SENSE**: a point is eligible only if each validation slice's PSNR is at least CG-SENSE's
  (``floor``: CG-SENSE's per-slice PSNR, its λ chosen on the same slices); when no point is, the one whose worst
  slice margin is largest.

The result is a setting per acceleration. :func:`set_calibration` puts the table of all of them into the model's
step (its config: it round-trips through ``.keras`` and serves from one SavedModel), which then reads each call's
weights at the mask's acceleration ``R = 1/(sampled fraction)`` — power law between the calibrated accelerations,
the end values beyond them (``tfmri-zoo calibrate --acceleration 2 4 8``); :func:`set_step_weights` sets one point.
Measured in the README ("Calibrating the data-consistency weight").
"""
import numpy as np

#: Multiples of the trained λ₀ and ν that :func:`choose_step_weights` scores.
FACTORS = (1.0 / 3.0, 1.0, 3.0)


def calibrated_step(model):
    """The proximal step of ``model`` that calibration sets: its final step (``final_dc``) when it has one, else
    its shared step ``model.dc`` (MoDL, DEQ).

    Raises:
      ValueError: the model has neither (e.g. a model built with ``final_dc=False`` and no shared proximal step).
    """
    from tfmri_zoo.layers.data_consistency import ProximalL2DC

    step = getattr(model, "final_proximal", None) or getattr(model, "dc", None)
    if not isinstance(step, ProximalL2DC):
        raise ValueError(f"model: {type(model).__name__} has no proximal data-consistency step to calibrate (build it "
                         "with final_dc=True, or use MoDL / DEQ).")
    return step


def step_weights(model):
    """``(λ₀, ν)`` of :func:`calibrated_step` as Python floats (``ν`` is ``None`` for a fixed-λ step)."""
    step = calibrated_step(model)
    value = lambda variable: float(np.real(step.nonnegative(variable).numpy()))  # noqa: E731
    return value(step.lam), (value(step.noise_lam) if step.noise_lam_init is not None else None)


def set_step_weights(model, lam, noise_lam=None):
    """Sets ``λ₀ = lam`` (and ``ν = noise_lam`` of a noise-adaptive step) of :func:`calibrated_step`; returns
    ``model``.

    Raises:
      ValueError: ``lam`` or ``noise_lam`` not a positive number, or ``noise_lam`` given for a fixed-λ step.
    """
    from tfmri_zoo.layers.data_consistency import inverse_softplus

    step = calibrated_step(model)
    if step.calibration is not None:
        raise ValueError(f"model: the step of {type(model).__name__} reads its weights from a calibration table "
                         "(per acceleration); remove it first: set_calibration(model, None).")
    for name, value in (("lam", lam), ("noise_lam", noise_lam)):
        if (value is not None or name == "lam") and not (
                isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    if noise_lam is not None and step.noise_lam_init is None:
        raise ValueError(f"noise_lam: the step of {type(model).__name__} has a fixed λ (no ν); give lam only.")
    step.lam.assign(inverse_softplus(float(lam)))
    if noise_lam is not None:
        step.noise_lam.assign(inverse_softplus(float(noise_lam)))
    return model


def set_calibration(model, choices):
    """Puts a table of step weights per acceleration into the model's step (:func:`calibrated_step`): each call
    then uses the weights at its mask's acceleration (power law in ``R`` between entries, the end values beyond);
    returns ``model``. The table is part of the model's config (``final_calibration``, or ``calibration`` of MoDL /
    DEQ), so it is saved in ``.keras`` files and traced into SavedModels; the trained ``(λ₀, ν)`` stay, unused.

    Args:
      model: a zoo model with a proximal step.
      choices: ``{acceleration: {"lam": λ₀, "noise_lam": ν or None, ...}}`` (e.g. the result of
        :func:`calibrate_data_consistency`), or ``None`` to remove the table.

    Raises:
      ValueError: ``choices`` not such a mapping (accelerations > 0; weights > 0, ``ν`` exactly for a
        noise-adaptive step), or a model whose config does not carry the table.
    """
    step = calibrated_step(model)
    key = "final_calibration" if step is getattr(model, "final_proximal", None) else "calibration"
    if key not in model.get_config():
        raise ValueError(f"model: {type(model).__name__} does not save a calibration table in its config.")
    table = None
    if choices is not None:
        if not isinstance(choices, dict) or not choices or not all(
                isinstance(c, dict) and "lam" in c and "noise_lam" in c for c in choices.values()):
            raise ValueError('choices: expected {acceleration: {"lam": ..., "noise_lam": ...}} (the result of '
                             f"calibrate_data_consistency), got {choices!r}.")
        try:
            order = sorted(choices, key=float)
        except (TypeError, ValueError):
            raise ValueError(f"choices: accelerations must be numbers, got {list(choices)!r}.") from None
        nus = [choices[r]["noise_lam"] for r in order]
        table = {"accelerations": [float(r) for r in order], "lam": [choices[r]["lam"] for r in order],
                 "noise_lam": None if all(nu is None for nu in nus) else nus}
    step.set_calibration(table)
    for name in ("predict_function", "test_function", "train_function"):   # drop traces made with the old weights
        if getattr(model, name, None) is not None:
            setattr(model, name, None)
    return model


def step_outputs(model, batches):
    """``outputs(lam, noise_lam) → list of complex numpy [B, H, W]`` on ``batches`` (``(inputs, target, names)``):
    the model with its step at ``(λ₀, ν)``. A final step is repeated on the network's images, computed once."""
    final = getattr(model, "final_proximal", None) is not None
    stages = [model.network_stage(inputs, training=False) for inputs, _, _ in batches] if final else None

    def outputs(lam, noise_lam):
        set_step_weights(model, lam, noise_lam)
        if final:
            return [model.final_stage(stage).numpy() for stage in stages]
        return [model(inputs, training=False).numpy() for inputs, _, _ in batches]
    return outputs


def choose_step_weights(model, batches, floor=None, factors=FACTORS, extend=3, metric="ssim"):
    """The ``(λ₀, ν)`` of the model's step best on validation ``batches``; leaves the model at its trained values.

    The trained ``(λ₀, ν)`` times ``factors`` each are scored; while the best point lies at an end of the grid in
    λ₀ or ν, the grid is extended past that end by the factors' ratio (at most ``extend`` times), as
    :func:`tfmri_zoo.recon.select_lam` extends a baseline's λ grid.

    Args:
      model: a zoo model with a proximal step (:func:`calibrated_step`).
      batches: ``[(inputs, target, names)]`` validation data at one acceleration
        (:func:`tfmri_zoo.training.comparison.evaluation_batches`).
      floor: optional per-slice PSNR (dB) that each slice must reach (CG-SENSE's; see the module docstring), in
        the order of the batches' slices.
      factors: increasing multiples of the trained λ₀ and ν to score first (1 among them).
      extend: the most grid extensions.
      metric: the score, ``"psnr"`` or ``"ssim"`` (higher is better) or ``"nmse"`` (lower is better), per volume.

    Returns:
      ``{"lam", "noise_lam", "psnr", "ssim", "nmse", "worst_margin", "trained": {"lam", "noise_lam", "psnr", "ssim",
      "nmse"}, "points"}``: the chosen point, its validation metrics and worst per-slice PSNR margin over ``floor``
      (``None`` without one), the trained point and every scored point (``[{"lam", "noise_lam", "psnr", "ssim",
      "nmse", "worst_margin"}]``).

    Raises:
      ValueError: bad ``factors`` or ``metric``.
    """
    from tfmri_zoo.recon.tuning import METRICS

    from tfmri_zoo.metrics import per_volume_metrics
    from tfmri_zoo.training.comparison import slice_psnr

    factors = [float(f) for f in factors]
    if 1.0 not in factors or factors != sorted(set(factors)) or factors[0] <= 0:
        raise ValueError(f"factors: expected increasing positive multiples including 1, got {factors!r}.")
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}.")
    sign = -1.0 if metric == "nmse" else 1.0
    trained = step_weights(model)
    targets = [t for _, batch_targets, _ in batches for t in batch_targets]
    names = [n for _, _, batch_names in batches for n in batch_names]
    outputs = step_outputs(model, batches)
    axes = [list(factors), list(factors) if trained[1] is not None else [1.0]]
    ratio = factors[-1] / factors[-2] if len(factors) > 1 else 3.0
    points = {}

    def best():
        eligible = [p for p in points.values() if p["worst_margin"] is None or p["worst_margin"] >= 0]
        return (max(eligible, key=lambda p: sign * p[metric]) if eligible
                else max(points.values(), key=lambda p: p["worst_margin"]))

    try:
        for step in range(int(extend) + 1):
            for key in ((a, b) for a in axes[0] for b in axes[1] if (a, b) not in points):
                lam, nu = trained[0] * key[0], (None if trained[1] is None else trained[1] * key[1])
                predictions = [p for batch in outputs(lam, nu) for p in batch]
                margin = (None if floor is None else
                          float(np.min(slice_psnr(targets, predictions) - np.asarray(floor, np.float64))))
                scores = per_volume_metrics(predictions, targets, names)
                points[key] = {"lam": lam, "noise_lam": nu, "worst_margin": margin, "key": key,
                               **{m: float(scores[m]) for m in METRICS}}
            grown = False
            for axis, value in zip(axes, best()["key"]):
                if len(axis) > 1 and value == axis[0]:
                    axis.insert(0, axis[0] / ratio)
                    grown = True
                elif len(axis) > 1 and value == axis[-1]:
                    axis.append(axis[-1] * ratio)
                    grown = True
            if not grown or step == extend:
                break
    finally:
        set_step_weights(model, *trained)
    strip = lambda point: {k: v for k, v in point.items() if k != "key"}  # noqa: E731
    return {**strip(best()), "trained": {k: v for k, v in strip(points[(1.0, 1.0)]).items() if k != "worst_margin"},
            "points": [strip(p) for p in points.values()]}


def cg_sense_floor(batches, lam, sense=None):
    """The floor of :func:`choose_step_weights`: CG-SENSE's per-slice PSNR (dB, float64 ``[S]``) on ``batches`` at
    ``lam`` (``sense``: the compiled CG-SENSE of :func:`tfmri_zoo.training.comparison.classical_methods`, built when
    not given)."""
    from tfmri_zoo.training.comparison import classical_methods, run_method, slice_psnr

    predictions, targets, _, _ = run_method(sense or classical_methods()["sense"], batches, lam)
    return slice_psnr(targets, predictions)


def calibrate_data_consistency(model, val_files, accelerations=(4, 8), mask_type="random", reference="measured",
                               batch_size=4, sense_lam_grid=None, metric="ssim", log=None):
    """Chooses the model's ``(λ₀, ν)`` per acceleration on the validation files (see the module docstring).

    Args:
      model: a zoo model with a proximal step (:func:`calibrated_step`); left at its trained values.
      val_files: fastMRI-schema ``.h5`` files with stored ``sensitivities`` (validation slices of the target data:
        never the slices the result is reported on).
      accelerations: acceleration factors (fastMRI masks and centre fractions as
        :func:`tfmri_zoo.training.comparison.evaluation_batches`).
      mask_type, reference, batch_size: see :func:`tfmri_zoo.training.comparison.evaluation_batches`.
      sense_lam_grid: λ grid of the CG-SENSE floor (default :data:`tfmri_zoo.recon.LAM_GRIDS` ``["sense"]``).
      metric: the score (see :func:`choose_step_weights`; the floor is always per-slice PSNR).
      log: optional print-like callable.

    Returns:
      ``{acceleration: choose_step_weights(...) result, with "sense_lam"}``.

    Raises:
      ValueError: no validation files, or a model without a proximal step.
    """
    from tfmri_zoo.recon import LAM_GRIDS, select_lam
    from tfmri_zoo.training.comparison import classical_methods, evaluation_batches

    calibrated_step(model)
    if not val_files:
        raise ValueError("val_files: expected at least one fastMRI-schema .h5 validation file.")
    sense = classical_methods()["sense"]
    result = {}
    for acceleration in accelerations:
        batches = evaluation_batches(val_files, acceleration, batch_size, mask_type, reference)
        lam = select_lam(sense, batches, sense_lam_grid or LAM_GRIDS["sense"])[0]
        choice = choose_step_weights(model, batches, floor=cg_sense_floor(batches, lam, sense), metric=metric)
        result[acceleration] = {**choice, "sense_lam": lam}
        if log:
            log(f"R={acceleration}: λ₀ {choice['trained']['lam']:.4g} → {choice['lam']:.4g}, ν "
                f"{choice['trained']['noise_lam']} → {choice['noise_lam']}; validation PSNR "
                f"{choice['trained']['psnr']:.2f} → {choice['psnr']:.2f} dB, SSIM {choice['trained']['ssim']:.4f} → "
                f"{choice['ssim']:.4f}")
    return result
