"""Image series over time or contrast for the synthetic data: cine with known motion, multi-echo T2, IR T1.

Cine: a beating "heart" (a myocardium ring around a blood pool) is painted into the reference slice; frame ``t`` is
the reference pulled through a known displacement field, ``frame_t(p) = reference(p + u_t(p))``, computed with the
zoo's own warp :func:`tfmri_zoo.layers.warp.warp` (bilinear, zero outside), so a motion-aware model's operator
reproduces the frames exactly from the stored field. ``u_t`` is in pixels, ``[T, H, W, 2]`` with (row, column)
components (the layout of :mod:`tfmri_zoo.layers.warp`). The field is the sum of

  cardiac      ``w(p) (1/s(t) − 1) (p − c)``: an isotropic contraction about the heart centre ``c`` by the scale
               ``s(t) = 1 − a (1 − cos 2πt/T) / 2`` (end-systole at mid-cycle), confined by a smooth weight ``w``
               that is 1 inside the heart and decays as a Gaussian outside;
  respiratory  ``−d(t)`` along the rows, a rigid translation ``d(t) = A sin(2π f t / T + φ)``.

Relaxometry (spin-echo / inversion-recovery signal equations, full relaxation between shots):

  multi-echo T2   ``S(TE) = PD · exp(−TE / T2) · e^{iφ}``
  IR T1           ``S(TI) = PD · (1 − 2 exp(−TI / T1)) · e^{iφ}``  (signed, so the null crossing is kept)
"""
import numpy as np

from tfmri_zoo.data.synthetic_phantom import TISSUES, WEIGHTINGS
from tfmri_zoo.physics.warp import warp


def _signal(tissue, weighting):
    _, pd, t1, t2 = TISSUES[tissue]
    tr, te = WEIGHTINGS[weighting]
    return pd * (1 - np.exp(-tr / t1)) * np.exp(-te / t2)


def cine_series(slice_, num_frames, rng, weighting="pd", cardiac=True, respiratory=True):
    """Cine frames with known displacement fields.

    Args:
      slice_: a :meth:`tfmri_zoo.data.synthetic_phantom.Phantom.render` dict (``image``, ``labels``, ``support``).
      num_frames: ``T``.
      rng: ``numpy.random.Generator``.
      weighting: contrast of the painted heart (``"pd"``, ``"t1"``, ``"t2"``).
      cardiac: include the contracting heart.
      respiratory: include the rigid respiratory translation.

    Returns:
      dict: ``frames`` complex64 ``[T, H, W]``, ``displacement`` float32 ``[T, H, W, 2]``, ``labels`` uint8
      ``[T, H, W]`` (warped with nearest neighbours), ``reference`` complex64 ``[H, W]``.
    """
    image = slice_["image"].copy()
    labels = slice_["labels"].copy()
    height, width = image.shape
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    support_rows, support_cols = np.nonzero(slice_["support"])
    centre = np.array([np.mean(support_rows), np.mean(support_cols)]) if support_rows.size else \
        np.array([height / 2, width / 2])
    centre = centre + rng.uniform(-0.05, 0.05, 2) * np.array([height, width])
    radius = 0.15 * min(height, width) * rng.uniform(0.8, 1.2)
    dist = np.hypot(rows - centre[0], cols - centre[1])
    phase = np.exp(1j * np.angle(image + (image == 0)))
    if cardiac:
        ring = (dist <= radius) & (dist > 0.6 * radius)
        pool = dist <= 0.6 * radius
        image[ring] = _signal("muscle", weighting) * phase[ring]
        image[pool] = _signal("blood", weighting) * phase[pool]
        labels[ring], labels[pool] = TISSUES["muscle"][0], TISSUES["blood"][0]
    weight = np.exp(-np.maximum(dist - radius, 0) ** 2 / (2 * (0.3 * radius) ** 2))
    amplitude = rng.uniform(0.15, 0.3)
    shift = rng.uniform(0.02, 0.05) * height
    frequency, offset = rng.uniform(0.3, 0.6), rng.uniform(0, 2 * np.pi)
    fields, frame_labels = [], []
    for t in range(num_frames):
        u = np.zeros((2, height, width))
        if cardiac:
            scale = 1 - amplitude * (1 - np.cos(2 * np.pi * t / num_frames)) / 2
            u[0] += weight * (1 / scale - 1) * (rows - centre[0])
            u[1] += weight * (1 / scale - 1) * (cols - centre[1])
        if respiratory:
            u[0] -= shift * np.sin(2 * np.pi * frequency * t / num_frames + offset)
        fields.append(np.moveaxis(u, 0, -1))
        near_r = np.clip(np.rint(rows + u[0]), 0, height - 1).astype(int)
        near_c = np.clip(np.rint(cols + u[1]), 0, width - 1).astype(int)
        frame_labels.append(labels[near_r, near_c])
    fields = np.stack(fields).astype(np.float32)
    frames = warp(np.broadcast_to(image.astype(np.complex64), (num_frames,) + image.shape), fields).numpy()
    return {"frames": frames, "displacement": fields,
            "labels": np.stack(frame_labels).astype(np.uint8), "reference": image.astype(np.complex64)}


def t2_series(slice_, echo_times):
    """Multi-echo spin-echo images ``[E, H, W]`` complex64 from ``pd``, ``t2`` (ms), ``phase`` maps; TE in ms."""
    support = slice_["support"]
    t2 = np.where(support, slice_["t2"], 1.0)
    decay = np.exp(-np.asarray(echo_times, np.float64)[:, None, None] / t2)
    return (slice_["pd"] * decay * np.exp(1j * slice_["phase"]) * support).astype(np.complex64)


def ir_series(slice_, inversion_times):
    """Inversion-recovery images ``[I, H, W]`` complex64 (signed recovery) from ``pd``, ``t1`` (ms), ``phase``."""
    support = slice_["support"]
    t1 = np.where(support, slice_["t1"], 1.0)
    recovery = 1 - 2 * np.exp(-np.asarray(inversion_times, np.float64)[:, None, None] / t1)
    return (slice_["pd"] * recovery * np.exp(1j * slice_["phase"]) * support).astype(np.complex64)
