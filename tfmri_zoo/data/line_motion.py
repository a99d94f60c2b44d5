"""Rigid motion during a 2D Cartesian acquisition: k-space whose phase-encoding lines see different object positions.

A 2D Cartesian scan acquires one phase-encoding line (a column ``W`` of k-space ``[C, H, W]``, the axis the zoo's masks
``[B, 1, 1, W]`` select) per repetition. If the subject moves during a few repetitions, the lines acquired then are
those of the moved object ``x_s = W_s x`` (:func:`tfmri_zoo.physics.rigid_displacement`, bilinear warp) seen by the
*static* coils: ``y_j = [F C W_s x]_j`` for a line ``j`` acquired in motion state ``s``, and ``[F C x]_j`` otherwise —
the motion-aware operator ``Σ_s M_s F C W_s`` (:class:`tfmri_zoo.physics.MotionSenseOperator`) with one state per
event plus the reference.

``ordering="random"``: lines are acquired in a random order, so each motion event corrupts lines scattered over
k-space; ``"linear"``: lines are acquired left to right, so each event corrupts a contiguous block.
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo.physics.motion import MotionSenseOperator, rigid_displacement

ORDERINGS = ("random", "linear")


def corrupt_lines(image, sensitivities, rng, lines_per_event=4, events=2, max_shift=3.0, max_angle=3.0,
                  ordering="random"):
    """Noise-free multi-coil k-space of one slice whose subject moved during ``events`` short events.

    Args:
      image: complex ``[H, W]`` object.
      sensitivities: complex ``[C, H, W]`` coil maps (they do not move).
      rng: ``numpy.random.Generator``.
      lines_per_event: phase-encoding lines acquired during each event.
      events: number of motion events; each has its own rigid transform, uniform in ``±max_shift`` pixels per axis
        and ``±max_angle`` degrees, and the subject returns to the reference position after it.
      max_shift: the largest translation per axis (pixels).
      max_angle: the largest rotation (degrees).
      ordering: ``"random"`` or ``"linear"`` (see the module docstring).

    Returns:
      ``(kspace, corrupted)``: complex64 ``[C, H, W]`` and bool ``[W]`` (True for the lines acquired in motion).

    Raises:
      ValueError: shapes that do not match, an unknown ordering, or more corrupted lines than the image has.
    """
    image = np.asarray(image, np.complex64)
    sensitivities = np.asarray(sensitivities, np.complex64)
    if image.ndim != 2 or sensitivities.ndim != 3 or sensitivities.shape[1:] != image.shape:
        raise ValueError(f"image / sensitivities: expected [H, W] and [C, H, W] of the same H, W, got "
                         f"{image.shape} and {sensitivities.shape}.")
    if ordering not in ORDERINGS:
        raise ValueError(f"ordering: expected one of {ORDERINGS}, got {ordering!r}.")
    height, width = image.shape
    if lines_per_event * events > width:
        raise ValueError(f"lines_per_event * events: {lines_per_event * events} corrupted lines exceed the {width} "
                         f"phase-encoding lines.")
    order = rng.permutation(width) if ordering == "random" else np.arange(width)   # line acquired at time t
    starts = np.sort(rng.choice(width // lines_per_event, size=events, replace=False)) * lines_per_event
    # motion states: 0 = the reference position, e = event e; each state acquires its lines (E = Σ_t M_t F C W_t)
    fields = np.zeros((1, events + 1, height, width, 2), np.float32)
    masks = np.zeros((1, 1, events + 1, 1, width), np.float32)
    masks[..., 0, 0, :] = 1.0
    for event, start in enumerate(starts, start=1):
        lines = order[start:start + lines_per_event]
        angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
        fields[0, event] = rigid_displacement((height, width), angle, rng.uniform(-max_shift, max_shift, size=2))
        masks[0, 0, event, 0, lines], masks[0, 0, 0, 0, lines] = 1.0, 0.0
    operator = MotionSenseOperator(sensitivities[None, :, None], masks, fields)
    kspace = tf.reduce_sum(operator.forward(image[None]), axis=2).numpy()[0]          # [C, H, W]
    corrupted = masks[0, 0, 0, 0] == 0
    return kspace.astype(np.complex64), corrupted
