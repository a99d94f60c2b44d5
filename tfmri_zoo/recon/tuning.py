"""λ selection for classical baselines on held-out validation data (one helper used by every comparison).

A fair comparison tunes each baseline's regularisation weight on validation slices that are disjoint from the test
slices, with the same masks and coil maps as the learned model sees, and reports the chosen λ with the table.

Example::

    from tfmri_zoo import recon
    best, scores = recon.select_lam(lambda x, lam: recon.l1_wavelet(x["kspace"], x["mask"], x["sensitivities"],
                                                                     lam=lam),
                                    validation_batches, grid=recon.LAM_GRIDS["l1_wavelet"])
"""
import numpy as np

from tfmri_zoo.metrics import per_volume_metrics

# Default grids of absolute λ (data normalised so that max|Eᴴy| ≈ 1, as the pipeline's ``zero_filled_max``).
LAM_GRIDS = {
    "sense": (0.0, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
    "l1_wavelet": (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2),
    "tv": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
}
METRICS = ("ssim", "psnr", "nmse")


def select_lam(reconstruct, batches, grid, metric="psnr", extend=4):
    """Chooses λ from ``grid`` by the mean per-volume fastMRI ``metric`` on validation ``batches``.

    A best λ at an end of the grid means the optimum may lie beyond it (e.g. high noise needs a larger λ than any of
    the default grid): the grid is then extended geometrically past that end (by its own end ratio, at least ×3)
    until the score stops improving, at most ``extend`` times per end. A smallest grid value of 0 is not extended,
    and a grid of a single value is a fixed λ (it is scored, never extended).

    Args:
      reconstruct: callable ``(inputs: dict, lam: float) → complex [B, H, W]`` (numpy or tensor); ``inputs`` holds
        ``"kspace"`` complex64 ``[B, C, H, W]``, ``"mask"`` float32 and ``"sensitivities"`` complex64.
      batches: iterable of ``(inputs, target, names)``: ``target`` complex or real ``[B, H, W]`` numpy, ``names`` the
        volume name of each slice (metrics are averaged per volume, then over volumes, as fastMRI does).
      grid: candidate λ values (non-negative numbers).
      metric: ``"psnr"`` or ``"ssim"`` (higher is better) or ``"nmse"`` (lower is better).
      extend: the most extensions past each end of the grid (0: the grid only).

    Returns:
      ``(best_lam, scores)``: the chosen λ (float) and ``{lam: {"ssim", "psnr", "nmse"}}`` for every candidate tried
      (grid and extensions).

    Raises:
      ValueError: an empty grid or batches, a negative λ, or an unknown metric.
    """
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {METRICS}, got {metric!r}.")
    grid = [float(lam) for lam in grid]
    if not grid or min(grid) < 0:
        raise ValueError(f"grid: expected a non-empty list of non-negative numbers, got {grid!r}.")
    batches = list(batches)
    if not batches:
        raise ValueError("batches: expected at least one (inputs, target, names) validation batch.")
    targets = [t for _, batch_targets, _ in batches for t in np.asarray(batch_targets)]
    names = [n for _, _, batch_names in batches for n in batch_names]
    scores = {}
    sign = -1.0 if metric == "nmse" else 1.0

    def score(lam):
        if lam not in scores:
            predictions = [p for inputs, _, _ in batches for p in np.asarray(reconstruct(inputs, lam))]
            scores[lam] = per_volume_metrics(predictions, targets, names)
        return sign * scores[lam][metric]

    for lam in grid:
        score(lam)
    best = max(scores, key=score)
    positive = sorted(lam for lam in grid if lam > 0)
    if len(set(grid)) > 1 and positive:
        up = max(3.0, positive[-1] / positive[-2]) if len(positive) > 1 else 3.0
        down = max(3.0, positive[1] / positive[0]) if len(positive) > 1 else 3.0
        for end, factor in ((max(grid), up), (min(grid), 1.0 / down)):
            lam = end
            for _ in range(int(extend) if best == end and end > 0 else 0):
                lam = lam * factor
                if score(lam) <= score(best):
                    break
                best = lam
    return best, scores
