"""RAKI: scan-specific k-space interpolation by a small CNN trained on the scan's own ACS lines.

Akçakaya, Moeller, Weingärtner, Uğurbil, MRM 2019 (review Sec. III-B): GRAPPA's linear kernel
(:mod:`tfmri_zoo.recon.grappa`) becomes a convolutional network with ReLUs, trained on the auto-calibration region of
the very scan it reconstructs — no database, no other subjects. Layout, as in the paper: the acquired lattice columns
(spacing ``R``) of all coils, real and imaginary parts as ``2C`` channels, go through the network (readout × lattice
column; ``same`` along the readout, ``valid`` along the lattice), and each output predicts the ``R − 1`` missing
columns ``w_s + r`` of every coil from the lattice columns ``w_s − R, w_s, w_s + R, w_s + 2R``.

Network: the residual form of RAKI (Zhang et al., "Residual RAKI", NeuroImage 2022) — a linear ``5 × 4``
convolution (GRAPPA's kernel in real form, initialised with the Tikhonov least-squares GRAPPA fit of the same ACS)
plus the paper's non-linear branch ``conv 5 × 2 (filters[0]) → ReLU → conv 1 × 1 (filters[1]) → ReLU → conv 3 × 3``
whose last layer starts at zero. Untrained, it is exactly GRAPPA (a test pins it); training on the ACS (mean squared
error, every lattice phase an example, Adam, k-space scaled by its ACS maximum) adds what a linear kernel cannot
fit. One network predicts all coils (the paper trains one per coil and real/imaginary part). Acquired samples are
kept; missing ones are filled.
"""
import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.recon.grappa import coil_result, grappa_weights, prepare


def to_channels(kspace):
    """Complex ``[C, H, n]`` → real ``[H, n, 2C]`` (real parts, then imaginary parts)."""
    return np.concatenate([kspace.real, kspace.imag], axis=0).transpose(1, 2, 0).astype(np.float32)


def from_channels(values, coils):
    """Real ``[H, n, 2C·(R−1)]`` → complex ``[R−1, C, H, n]`` (channel ``(r−1)·2C + part·C + c``)."""
    h, n, _ = values.shape
    values = values.reshape(h, n, -1, 2, coils).transpose(2, 3, 4, 0, 1)
    return values[:, 0] + 1j * values[:, 1]


def raki_network(coils, acceleration, filters=(32, 8), seed=0):
    """Residual RAKI: real ``[N, H, n, 2C]`` lattice columns → ``[N, H, n − 3, 2C·(R−1)]`` missing columns.

    Output ``l`` sees lattice columns ``l … l + 3`` (offsets ``−R, 0, R, 2R`` around ``w_s``, lattice column
    ``l + 1``) in both branches: the linear one (layer ``"grappa"``, a ``5 × 4`` convolution without bias: GRAPPA's
    kernel in real form, set by :func:`set_grappa_kernel`) and the non-linear one (``5 × 2`` conv, ReLU, ``1 × 1``
    conv, ReLU, ``3 × 3`` conv initialised at zero, so training starts from GRAPPA).
    """
    init = lambda i: keras.initializers.GlorotUniform(seed=seed + i)  # noqa: E731
    outputs = 2 * coils * (acceleration - 1)
    columns = keras.Input((None, None, 2 * coils))
    padded = keras.layers.ZeroPadding2D(((2, 2), (0, 0)))(columns)
    linear = keras.layers.Conv2D(outputs, (5, 4), use_bias=False, name="grappa")(padded)
    x = keras.layers.Conv2D(filters[0], (5, 2), activation="relu", kernel_initializer=init(0))(padded)
    x = keras.layers.Conv2D(filters[1], (1, 1), activation="relu", kernel_initializer=init(1))(x)
    x = keras.layers.ZeroPadding2D(((1, 1), (0, 0)))(x)
    residual = keras.layers.Conv2D(outputs, (3, 3), kernel_initializer="zeros", name="residual")(x)
    return keras.Model(columns, keras.layers.Add()([linear, residual]))


def set_grappa_kernel(network, weights, coils, acceleration):
    """Writes complex GRAPPA weights ``[C·5·4, C·(R−1)]`` (:func:`~tfmri_zoo.recon.grappa.grappa_weights`) into the
    real ``"grappa"`` convolution: ``(a + ib)(x + iy) = (ax − by) + i(bx + ay)`` per coil pair."""
    g = weights.reshape(coils, 5, 4, acceleration - 1, coils)              # (c', dx, j, r − 1, c)
    a, b = g.real.transpose(1, 2, 0, 3, 4), g.imag.transpose(1, 2, 0, 3, 4)  # (dx, j, c', r − 1, c)
    kernel = np.zeros((5, 4, 2, coils, acceleration - 1, 2, coils))         # (dx, j, part in, c', r − 1, part out, c)
    kernel[:, :, 0, :, :, 0] = a
    kernel[:, :, 1, :, :, 0] = -b
    kernel[:, :, 0, :, :, 1] = b
    kernel[:, :, 1, :, :, 1] = a
    network.get_layer("grappa").kernel.assign(kernel.reshape(5, 4, 2 * coils, -1).astype(np.float32))


def training_pairs(calibration, acceleration):
    """Inputs ``[R, H, n, 2C]`` and targets ``[R, H, n − 3, 2C·(R−1)]`` from ACS k-space ``[C, H, Wa]``: one example
    per lattice phase ``p`` (columns ``p, p + R, …``), all cropped to the same number of lattice columns ``n``."""
    width = calibration.shape[-1]
    n = min(len(range(p, width, acceleration)) for p in range(acceleration))
    inputs, targets = [], []
    for p in range(acceleration):
        lattice = p + acceleration * np.arange(n)
        inputs.append(to_channels(calibration[:, :, lattice]))
        bases = lattice[1:-2]
        gaps = [to_channels(calibration[:, :, bases + r]) for r in range(1, acceleration)]
        targets.append(np.concatenate(gaps, axis=-1))
    return np.stack(inputs), np.stack(targets)


def raki(kspace, mask, *, filters=(32, 8), steps=500, learning_rate=1e-3, lam=1e-3, acceleration=None, seed=0):
    """RAKI reconstruction of 2D multi-coil Cartesian k-space (module docstring), one network per example.

    Args:
      kspace: complex ``[B, C, H, W]`` undersampled k-space (zeros where not acquired).
      mask: float/bool broadcastable to ``kspace``: equispaced lines along ``W`` plus a fully sampled centre block.
      filters: channels of the first two convolutions.
      steps: Adam steps on the ACS (full batch).
      learning_rate: Adam learning rate.
      lam: relative Tikhonov weight of the GRAPPA fit that initialises the linear branch.
      acceleration: ``R``; default inferred per example from the lines outside the ACS.
      seed: seed of the weight initialisation (the result is deterministic for a seed on one machine).

    Returns:
      :class:`~tfmri_zoo.recon.grappa.CoilReconstruction`: filled coil k-space ``[B, C, H, W]`` (acquired samples
      kept) and its RSS image ``[B, H, W]``.

    Raises:
      ValueError: a mask without ACS, an ACS with fewer than ``4R`` lines (four lattice columns in every phase; the
        message says how many are needed), or lines that are not equispaced outside the ACS.
    """
    data, line, geometries = prepare(kspace, mask, acceleration)
    steps = validation.as_int(steps, "steps", minimum=1)
    learning_rate = validation.as_float(learning_rate, "learning_rate", minimum=0.0, exclusive=True)
    lam = validation.as_float(lam, "lam", minimum=0.0)
    out = np.empty_like(data)
    for b, geometry in enumerate(geometries):
        r_acc = geometry.acceleration
        if r_acc == 1:
            out[b] = data[b]
            continue
        width = geometry.acs_stop - geometry.acs_start
        if width < 4 * r_acc:
            raise ValueError(f"mask: the ACS has {width} lines; RAKI at R = {r_acc} needs at least {4 * r_acc} ACS "
                             f"lines (four lattice columns in every phase).")
        calibration = data[b][:, :, geometry.acs_start:geometry.acs_stop]
        scale = float(np.abs(calibration).max()) or 1.0
        scaled = data[b] / scale
        inputs, targets = training_pairs(calibration / scale, r_acc)
        network = raki_network(data.shape[1], r_acc, filters, seed)
        set_grappa_kernel(network, grappa_weights(calibration / scale, r_acc, (5, 4), lam), data.shape[1], r_acc)
        network.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        network.fit(inputs, targets, batch_size=len(inputs), epochs=steps, verbose=0, shuffle=False)
        out[b] = fill(scaled, line[b], geometry, network) * scale
    return coil_result(out)


def fill(kspace, line, geometry, network):
    """Fills the missing columns of one example's coil k-space ``[C, H, W]`` with a trained RAKI ``network``."""
    c, _, w = kspace.shape
    r_acc = geometry.acceleration
    first = geometry.offset - 2 * r_acc                          # two virtual (zero) lattice columns on each side
    lattice = np.arange(first, w + 2 * r_acc, r_acc)
    inside = (lattice >= 0) & (lattice < w)
    columns = np.zeros((c, kspace.shape[1], len(lattice)), kspace.dtype)
    columns[:, :, inside] = kspace[:, :, lattice[inside]]
    predicted = network(tf.constant(to_channels(columns)[None]), training=False).numpy()[0]
    values = from_channels(predicted, c)                        # [R−1, C, H, n − 3], base w_s = lattice[1:-2]
    out = kspace.copy()
    bases = lattice[1:-2]
    for r in range(1, r_acc):
        targets = bases + r
        keep = (targets >= 0) & (targets < w)
        keep[keep] &= ~line[targets[keep]]
        out[:, :, targets[keep]] = values[r - 1][:, :, keep]
    return out
