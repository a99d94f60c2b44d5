"""Rejection of motion-corrupted phase-encoding lines by cross-validated data consistency (review Sec. IV-C-4).

Lines acquired while the subject moved (:mod:`tfmri_zoo.data.line_motion`) are inconsistent with the rest of the
scan: the coils did not move with the object. Each line is predicted from the *other* lines, as coil-sensitivity
regeneration does (Bydder et al., MRM 2002): the acquired lines are split into ``groups`` interleaved groups; for
each group, CG-SENSE reconstructs ``x̂`` from the lines outside it and ``E x̂`` predicts the group's lines. A line's
score is its prediction error relative to what a consistent line would show,

    z_j = ‖y_j − [F C x̂]_j‖² / (ε ‖[F C x̂]_j‖² + n_j σ̂²),

with ``σ̂`` the k-space noise level (:func:`tfmri_zoo.physics.kspace_noise_std`), ``n_j`` the line's samples and
``ε`` (``relative_floor``) the model error of a high-signal line (imperfect maps, finite CG). Lines whose score exceeds
``threshold`` × the median score of the kept lines, and half the largest score, are dropped; the rounds repeat
until none is dropped. The returned mask is the one a data-consistency step (CG-SENSE, MoDL, ...) should use.

Limits (measured, ``benchmarks/line_rejection.py``): dropping lines only helps when the rest of k-space can fill them
— corrupted lines scattered over k-space (random or interleaved ordering) at full sampling or mild acceleration. A
contiguous block of corrupted *central* lines (linear ordering) leaves a hole that coil sensitivities cannot fill;
then motion has to be estimated and corrected (:func:`tfmri_zoo.physics.motion_compensated_sense`), not rejected.
"""
import collections

import numpy as np
import tensorflow as tf

from tfmri_zoo.physics.noise import kspace_noise_std
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.recon.sense import sense

LineRejection = collections.namedtuple("LineRejection", ["mask", "image", "scores", "rounds"])
LineRejection.__doc__ = """Result of :func:`reject_corrupted_lines`.

Attributes:
  mask: float32 ``[B, 1, 1, W]``: the acquired lines that were kept.
  image: complex64 ``[B, H, W]``: CG-SENSE from the kept lines.
  scores: float32 ``[B, W]``: each acquired line's last score ``z_j`` (0 for lines never acquired).
  rounds: the number of rounds run.
"""


def _line_mask(mask, batch, width):
    mask = np.asarray(mask, np.float32)
    if mask.ndim == 2:
        mask = mask[:, None, None, :]
    if mask.ndim != 4 or mask.shape[1:3] != (1, 1) or mask.shape[0] not in (1, batch) or mask.shape[3] != width:
        raise ValueError(f"mask: expected phase-encoding lines [B, 1, 1, W] or [B, W] with W = {width}, got shape "
                         f"{mask.shape}.")
    return np.broadcast_to(mask, (batch, 1, 1, width)).copy()


def cross_validated_line_scores(kspace, mask, sensitivities, groups=4, relative_floor=0.05, lam=1e-3, max_iter=30):
    """Scores ``z_j`` (module docstring) of every acquired line: float32 ``[B, W]``, 0 where nothing was acquired.

    Args: as :func:`reject_corrupted_lines`.
    """
    kspace = tf.convert_to_tensor(kspace, tf.complex64)
    batch, _, height, width = kspace.shape
    mask = _line_mask(mask, batch, width)
    acquired = mask[:, 0, 0] > 0
    sigma = kspace_noise_std(kspace, tf.constant(mask)).numpy().reshape(-1, 1)
    order = np.cumsum(acquired, axis=1) - 1                              # each line's rank among the acquired
    full = SenseOperator(sensitivities, None)
    scores = np.zeros((batch, width), np.float32)
    for group in range(groups):
        held_out = acquired & (order % groups == group)
        image = sense(kspace, mask * ~held_out[:, None, None, :], sensitivities, lam=lam, max_iter=max_iter)
        prediction = full.forward(image)
        error = tf.reduce_sum(tf.abs(kspace - prediction) ** 2, axis=(1, 2)).numpy()
        energy = tf.reduce_sum(tf.abs(prediction) ** 2, axis=(1, 2)).numpy()
        samples = kspace.shape[1] * height
        score = error / (relative_floor * energy + samples * np.maximum(sigma, 1e-12) ** 2)
        scores[held_out] = score[held_out]
    return scores


def reject_corrupted_lines(kspace, mask, sensitivities, *, groups=4, threshold=3.0, relative_floor=0.05,
                           max_rounds=8, lam=1e-3, max_iter=30):
    """Finds phase-encoding lines inconsistent with the rest of the scan and drops them from the mask.

    Args:
      kspace: complex64 ``[B, C, H, W]`` (zero where not acquired), lines along the last axis.
      mask: float32/bool ``[B, 1, 1, W]`` or ``[B, W]``: the acquired lines.
      sensitivities: complex64 ``[B, C, H, W]`` coil maps.
      groups: interleaved groups of the cross-validation (≥ 2; each is predicted from the others).
      threshold: a line is dropped when its score exceeds ``threshold`` × the median score of the kept lines (and
        half the round's largest score, so that a round drops only the clearly worst lines).
      relative_floor: ``ε``, the relative model error of a consistent high-signal line.
      max_rounds: the most rounds of scoring and dropping.
      lam, max_iter: the CG-SENSE of the predictions and of the returned image.

    Returns:
      :data:`LineRejection` ``(mask, image, scores, rounds)``.

    Raises:
      ValueError: a mask that is not one value per phase-encoding line, ``groups < 2`` or ``threshold <= 1``.
    """
    if int(groups) < 2:
        raise ValueError(f"groups: expected at least 2 interleaved groups, got {groups!r}.")
    if not float(threshold) > 1.0:
        raise ValueError(f"threshold: expected a factor above 1 (× the median score), got {threshold!r}.")
    kspace = tf.convert_to_tensor(kspace, tf.complex64)
    if kspace.shape.rank != 4:
        raise ValueError(f"kspace: expected complex64 [B, C, H, W], got shape {kspace.shape}.")
    kept = _line_mask(mask, kspace.shape[0], kspace.shape[-1])
    rounds = 0
    scores = np.zeros(kept.shape[::3], np.float32)
    for rounds in range(1, int(max_rounds) + 1):
        scores = cross_validated_line_scores(kspace, kept, sensitivities, groups, relative_floor, lam, max_iter)
        dropped = False
        for b in range(kept.shape[0]):
            acquired = kept[b, 0, 0] > 0
            if acquired.sum() <= groups:
                continue
            candidate = np.where(acquired, scores[b], 0.0)
            limit = max(threshold * float(np.median(scores[b][acquired])), 0.5 * float(candidate.max()))
            bad = candidate > limit
            if bad.any():
                kept[b, 0, 0, bad] = 0.0
                dropped = True
        if not dropped:
            break
    image = sense(kspace, kept, sensitivities, lam=lam, max_iter=max_iter)
    return LineRejection(tf.constant(kept), image, tf.constant(scores), rounds)
