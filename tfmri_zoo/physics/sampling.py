"""Cartesian undersampling masks: fastMRI 1D line masks, 2D Poisson-disc and Gaussian masks, k-t masks.

Every mask function is an object called as ``mask_func(shape, offset=None, seed=None)`` where ``shape`` is the
complex k-space shape (no trailing real/imag axis) whose last axis holds the phase-encoding columns ``W``. It returns
``(mask, num_low_frequencies)``: a ``float32`` numpy mask of ones and zeros broadcastable to ``shape`` and the
number of fully sampled central columns (the width of the calibration region along ``W``).

Randomness follows fastMRI's ``subsample.py``: each object owns a ``numpy.random.RandomState(seed)``; a ``seed``
given to a call reseeds that generator for the call only and restores its previous state afterwards, so the same
``seed`` always gives the same mask and unseeded calls continue the object's own stream.

The fastMRI classes (:class:`RandomMaskFunc`, :class:`EquispacedMaskFunc`, :class:`EquispacedMaskFractionFunc`)
draw their random numbers by the same calls in the same order as fastMRI, so they give bit-identical masks for the
same seed. Only the call signature differs: fastMRI samples along ``shape[-2]`` (its k-space has a trailing axis of
2), these sample along ``shape[-1]``; the mask has shape ``[1, ..., 1, W]``.
"""
import contextlib

import numpy as np
import tensorflow as tf

from tfmri_zoo import validation

__all__ = ["MaskFunc", "RandomMaskFunc", "EquispacedMaskFunc", "EquispacedMaskFractionFunc",
           "PoissonDiscMaskFunc", "GaussianMaskFunc", "KtMaskFunc", "acs_mask", "center_slice", "line_masks",
           "CENTER_FRACTIONS", "center_fraction", "mask_acceleration", "acceleration_table_lookup"]

CENTER_FRACTIONS = {4: 0.08, 8: 0.04}


def center_fraction(acceleration):
    """fastMRI's fully sampled centre fraction for a line-mask acceleration: 0.08 at R=4, 0.04 at R=8
    (:data:`CENTER_FRACTIONS`), else ``0.32 / R`` (centre fraction × R = 0.32, as at R=4 and R=8)."""
    return CENTER_FRACTIONS.get(int(acceleration), 0.32 / acceleration)


def line_masks(mask_func, count, width, seed):
    """``count`` line masks of one mask function, each drawn with its own seed ``(seed, i)`` (reproducible).

    Args:
      mask_func: a 1D :class:`MaskFunc` (e.g. ``RandomMaskFunc([0.08], [4])``).
      count: number of masks.
      width: phase-encoding lines ``W``.
      seed: int.

    Returns:
      float32 numpy ``[count, 1, 1, W]``.
    """
    return np.stack([np.asarray(mask_func((1, 1, width), seed=(seed, i))[0], np.float32).reshape(1, 1, width)
                     for i in range(int(count))])


def acs_mask(mask, fallback=None):
    """The auto-calibration region of a 1D Cartesian mask: the contiguous sampled columns around ``W // 2``.

    Args:
      mask: float32 ``[B, 1 or C, 1 or H, W]`` (1 = sampled). A column counts as sampled when all its rows are.
      fallback: what an example without an ACS region (neither column ``W // 2`` nor ``W // 2 − 1`` sampled) gets: ``None`` (default) — an
        error naming ``mask`` (``InvalidArgumentError`` in graph mode, :class:`~tfmri_zoo.validation.InvalidInputError`
        eagerly), since coil maps cannot be calibrated from it; ``"sampled"`` — all its sampled columns.

    Returns:
      float32 ``[B, 1, 1, W]``: 1 on the ACS columns.
    """
    if fallback not in (None, "sampled"):
        raise ValueError(f"fallback: expected None or 'sampled', got {fallback!r}.")
    line = tf.cast(tf.reduce_min(mask, axis=[1, 2]) > 0.5, tf.float32)  # [B, W]
    width = tf.shape(line)[-1]
    centre = width // 2
    right = tf.reduce_sum(tf.math.cumprod(line[:, centre:], axis=-1), axis=-1)  # run length from the centre rightwards
    left = tf.reduce_sum(tf.math.cumprod(tf.reverse(line[:, :centre], axis=[-1]), axis=-1), axis=-1)
    columns = tf.cast(tf.range(width), tf.float32)[None, :]
    centre_f = tf.cast(centre, tf.float32)
    acs = tf.cast((columns >= centre_f - left[:, None]) & (columns < centre_f + right[:, None]), tf.float32)
    found = left + right > 0  # column W//2 or W//2 - 1 is sampled
    if fallback == "sampled":
        acs = tf.where(found[:, None], acs, line)
    else:
        check = validation.require(tf.reduce_all(found), "mask: no auto-calibration (ACS) lines at the k-space centre "
                                   "(column W//2 or W//2-1) for at least one example; the coil maps are estimated from them "
                                   "(acs_mask(..., fallback='sampled') uses all sampled lines instead).")
        if check is not None:
            with tf.control_dependencies([check]):
                acs = tf.identity(acs)
    return acs[:, None, None, :]


def mask_acceleration(mask):
    """The acceleration ``R = 1 / (sampled fraction)`` of each example's Cartesian mask.

    fastMRI's line masks sample ``W / R`` of the ``W`` columns (their centre included), so ``R`` is the nominal
    acceleration of an equispaced-fraction mask and, on average, of a random one.

    Args:
      mask: float32/bool ``[B, ...]`` (1 = sampled), broadcastable to the k-space (e.g. ``[B, 1, 1, W]``): the mean
        over a broadcast axis of size 1 equals the mean over the full k-space.

    Returns:
      float32 ``[B]`` (``inf`` for an empty mask).
    """
    mask = tf.cast(tf.convert_to_tensor(mask), tf.float32)
    fraction = tf.reduce_mean(tf.reshape(mask, [tf.shape(mask)[0], -1]), axis=-1)
    return tf.math.reciprocal(fraction)


def acceleration_table_lookup(acceleration, accelerations, values):
    """Values tabulated at accelerations, at the given accelerations: piecewise linear in ``log R`` of ``log v``
    (a power law between neighbouring entries), held at the first/last value outside the table.

    Args:
      acceleration: float32 ``[B]`` (e.g. :func:`mask_acceleration`).
      accelerations: increasing positive Python floats ``[K]``.
      values: positive Python floats ``[K]``.

    Returns:
      float32 ``[B]``.
    """
    if len(accelerations) == 1:
        return tf.fill(tf.shape(acceleration), tf.constant(values[0], tf.float32))
    knots = tf.math.log(tf.constant(accelerations, tf.float32))
    logs = tf.math.log(tf.constant(values, tf.float32))
    x = tf.clip_by_value(tf.math.log(tf.cast(acceleration, tf.float32)), knots[0], knots[-1])
    low = tf.reduce_sum(tf.cast(x[:, None] >= knots[None, 1:-1], tf.int32), axis=-1)  # segment of each x
    x0, x1 = tf.gather(knots, low), tf.gather(knots, low + 1)
    t = (x - x0) / (x1 - x0)
    return tf.exp((1.0 - t) * tf.gather(logs, low) + t * tf.gather(logs, low + 1))


def center_slice(num_cols, num_low_frequencies):
    """The slice of the ``num_low_frequencies`` central columns among ``num_cols`` (fastMRI's placement).

    The block starts at ``(num_cols - num_low_frequencies + 1) // 2``, so for even ``num_cols`` it covers the
    k-space centre ``num_cols // 2`` of a centred FFT.
    """
    start = (num_cols - num_low_frequencies + 1) // 2
    return slice(start, start + num_low_frequencies)


def _check_shape(shape, min_rank, what):
    shape = tuple(int(s) for s in shape)
    if len(shape) < min_rank or any(s < 1 for s in shape):
        raise ValueError(f"shape: expected a k-space shape with at least {min_rank} positive axes {what}, "
                         f"got {shape}.")
    return shape


def _broadcast_shape(shape, axes):
    """``[1, ..., 1]`` of ``len(shape)`` with the sizes of ``shape`` kept at ``axes``."""
    out = [1] * len(shape)
    for axis in axes:
        out[axis] = shape[axis]
    return out


class _SeededMaskFunc:
    """Base: owns a ``RandomState`` and applies fastMRI's temporary-reseed rule to each call."""

    def __init__(self, seed=None):
        self.rng = np.random.RandomState(seed)

    @contextlib.contextmanager
    def _temp_seed(self, seed):
        if seed is None:
            yield
            return
        state = self.rng.get_state()
        self.rng.seed(seed)
        try:
            yield
        finally:
            self.rng.set_state(state)

    def __call__(self, shape, offset=None, seed=None):
        """Samples a mask.

        Args:
            shape: complex k-space shape; the last axis holds the phase-encoding columns.
            offset: first sampled column of equispaced patterns (``None``: drawn at random). Ignored by purely
                random patterns.
            seed: int or tuple of ints reseeding the generator for this call only.

        Returns:
            ``(mask, num_low_frequencies)``: ``float32`` mask broadcastable to ``shape`` and the int number of
            fully sampled central columns.
        """
        shape = self._validate(shape)
        with self._temp_seed(seed):
            return self._sample(shape, offset)

    def _validate(self, shape):
        return _check_shape(shape, 1, "(last axis = phase-encoding columns)")

    def _sample(self, shape, offset):
        raise NotImplementedError


class MaskFunc(_SeededMaskFunc):
    """fastMRI-style 1D line mask: a fully sampled centre plus an acceleration pattern on the outer columns.

    Args:
        center_fractions: fractions of columns fully sampled in the centre; one is chosen per call.
        accelerations: acceleration factors, paired with ``center_fractions`` (same length) unless
            ``allow_any_combination``.
        allow_any_combination: choose the centre fraction and the acceleration independently.
        seed: seed of the object's ``RandomState``.
    """

    def __init__(self, center_fractions, accelerations, allow_any_combination=False, seed=None):
        center_fractions = list(center_fractions)
        accelerations = list(accelerations)
        if not center_fractions or not accelerations:
            raise ValueError("center_fractions, accelerations: expected non-empty sequences.")
        if len(center_fractions) != len(accelerations) and not allow_any_combination:
            raise ValueError(f"center_fractions, accelerations: lengths {len(center_fractions)} and "
                             f"{len(accelerations)} must match unless allow_any_combination=True.")
        if any(not 0 <= c <= 1 for c in center_fractions):
            raise ValueError(f"center_fractions: expected values in [0, 1], got {center_fractions}.")
        if any(a <= 0 for a in accelerations):
            raise ValueError(f"accelerations: expected positive values, got {accelerations}.")
        super().__init__(seed)
        self.center_fractions = center_fractions
        self.accelerations = accelerations
        self.allow_any_combination = allow_any_combination

    def choose_acceleration(self):
        """Draws ``(center_fraction, acceleration)`` with fastMRI's generator calls."""
        if self.allow_any_combination:
            return self.rng.choice(self.center_fractions), self.rng.choice(self.accelerations)
        choice = self.rng.randint(len(self.center_fractions))
        return self.center_fractions[choice], self.accelerations[choice]

    def _sample(self, shape, offset):
        num_cols = shape[-1]
        center_fraction, acceleration = self.choose_acceleration()
        num_low_frequencies = int(round(num_cols * center_fraction))
        lines = self._acceleration_lines(num_cols, acceleration, offset, num_low_frequencies)
        lines = np.asarray(lines, dtype=np.float32)
        lines[center_slice(num_cols, num_low_frequencies)] = 1.0
        return lines.reshape(_broadcast_shape(shape, [-1])), num_low_frequencies

    def _acceleration_lines(self, num_cols, acceleration, offset, num_low_frequencies):
        """Returns the ``[num_cols]`` 0/1 pattern outside the centre (the centre is added afterwards)."""
        raise NotImplementedError


class RandomMaskFunc(MaskFunc):
    """Random columns: each outer column is kept with probability ``(N/R - N_low) / (N - N_low)``.

    ``N`` columns, acceleration ``R``, ``N_low = round(N * center_fraction)`` central columns always kept. The
    expected number of sampled columns is ``N / R`` (``N_low`` central plus, on average, ``N/R - N_low`` outer;
    the random draws over the central columns are discarded as in fastMRI).
    """

    def _acceleration_lines(self, num_cols, acceleration, offset, num_low_frequencies):
        prob = (num_cols / acceleration - num_low_frequencies) / (num_cols - num_low_frequencies)
        return self.rng.uniform(size=num_cols) < prob


class EquispacedMaskFunc(MaskFunc):
    """Equispaced columns ``offset, offset + R, offset + 2R, ...`` plus the fully sampled centre.

    fastMRI's ``EquiSpacedMaskFunc``: the true acceleration is below ``R`` because the centre adds lines.
    ``offset=None`` draws ``offset = randint(0, round(R))``. ``R`` must be an integer.
    """

    def _acceleration_lines(self, num_cols, acceleration, offset, num_low_frequencies):
        if offset is None:
            offset = self.rng.randint(0, high=round(acceleration))
        lines = np.zeros(num_cols, dtype=np.float32)
        lines[int(offset)::int(acceleration)] = 1.0
        return lines


class EquispacedMaskFractionFunc(MaskFunc):
    """Approximately equispaced columns whose spacing is adjusted so that the total acceleration is ``R``.

    fastMRI's ``EquispacedMaskFractionFunc``: spacing ``R' = R (N_low - N) / (N_low R - N)``, columns
    ``round(offset + k R')`` for ``offset + k R' < N - 1``; ``offset=None`` draws ``randint(0, round(R'))``.
    """

    def _acceleration_lines(self, num_cols, acceleration, offset, num_low_frequencies):
        adjusted = (acceleration * (num_low_frequencies - num_cols)) / (num_low_frequencies * acceleration - num_cols)
        if offset is None:
            offset = self.rng.randint(0, high=round(adjusted))
        lines = np.zeros(num_cols, dtype=np.float32)
        lines[np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)] = 1.0
        return lines


def _calibration_box(shape2d, calib):
    """Boolean ``[H, W]`` with the central ``calib = (ch, cw)`` block set (fastMRI centre placement per axis)."""
    box = np.zeros(shape2d, dtype=bool)
    box[center_slice(shape2d[0], calib[0]), center_slice(shape2d[1], calib[1])] = True
    return box


def _normalised_radius(shape2d):
    """Elliptical distance from the k-space centre ``(H//2, W//2)``, 1 at the edge midpoints, ``[H, W]``."""
    ky = (np.arange(shape2d[0]) - shape2d[0] // 2) / max(shape2d[0] / 2, 1)
    kx = (np.arange(shape2d[1]) - shape2d[1] // 2) / max(shape2d[1] / 2, 1)
    return np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


def _as_calib(calib, shape2d):
    if isinstance(calib, (int, np.integer)):
        calib = (calib, calib)
    calib = tuple(int(c) for c in calib)
    if len(calib) != 2 or any(c < 0 for c in calib) or calib[0] > shape2d[0] or calib[1] > shape2d[1]:
        raise ValueError(f"calib: expected (height, width) of the calibration region within {shape2d}, got {calib}.")
    return calib


class PoissonDiscMaskFunc(_SeededMaskFunc):
    """2D variable-density Poisson-disc mask over the last two axes ``[H, W]`` (e.g. ``ky``-``kz`` or 2D k-space).

    Samples are grid points visited in a random order; a point is accepted unless it lies within the exclusion
    radius ``r(p) = scale * (1 + density * rho(p))`` of an accepted point ``p`` (``rho``: elliptical distance from
    the centre, 1 at the edge), so samples are denser in the centre. ``scale`` is found by bisection so that the
    number of samples, including the fully sampled ``calib`` block, is ``H * W / acceleration`` (within the grid
    granularity: a few percent).

    Args:
        acceleration: target acceleration ``H * W / number of samples`` (> 1).
        calib: int or ``(ch, cw)``: fully sampled central block.
        density: variable-density strength (0: uniform Poisson disc).
        seed: seed of the object's ``RandomState``.

    Returns of a call: ``(mask [1, ..., 1, H, W] float32, cw)``.
    """

    def __init__(self, acceleration, calib=(12, 12), density=2.0, seed=None):
        if acceleration <= 1:
            raise ValueError(f"acceleration: expected > 1, got {acceleration}.")
        if density < 0:
            raise ValueError(f"density: expected >= 0, got {density}.")
        super().__init__(seed)
        self.acceleration = float(acceleration)
        self.calib = calib
        self.density = float(density)

    def _validate(self, shape):
        return _check_shape(shape, 2, "(last two axes = H, W)")

    def _dart_throw(self, order, rho, scale, calib_box):
        h, w = rho.shape
        blocked = np.zeros((h, w), dtype=bool)
        mask = calib_box.copy()
        for flat in order:
            y, x = divmod(int(flat), w)
            if blocked[y, x] or mask[y, x]:
                continue
            mask[y, x] = True
            r = scale * (1.0 + self.density * rho[y, x])
            ri = int(np.ceil(r))
            y0, y1, x0, x1 = max(y - ri, 0), min(y + ri + 1, h), max(x - ri, 0), min(x + ri + 1, w)
            dy = np.arange(y0, y1)[:, None] - y
            dx = np.arange(x0, x1)[None, :] - x
            blocked[y0:y1, x0:x1] |= dy * dy + dx * dx < r * r
        return mask

    def _sample(self, shape, offset):
        shape2d = shape[-2:]
        calib = _as_calib(self.calib, shape2d)
        calib_box = _calibration_box(shape2d, calib)
        rho = _normalised_radius(shape2d)
        order = self.rng.permutation(shape2d[0] * shape2d[1])
        target = shape2d[0] * shape2d[1] / self.acceleration
        # at scale >= 2 sqrt(R) the discs of radius r/2 are disjoint, so the density is below 1/R: a safe bracket
        lo, hi = 0.0, 2.0 * np.sqrt(self.acceleration) + 1.0
        best = None
        for _ in range(20):
            mid = 0.5 * (lo + hi)
            mask = self._dart_throw(order, rho, mid, calib_box)
            count = mask.sum()
            if best is None or abs(count - target) < abs(best.sum() - target):
                best = mask
            if count > target:
                lo = mid
            else:
                hi = mid
            if abs(count - target) <= 0.005 * target:
                break
        return best.astype(np.float32).reshape(_broadcast_shape(shape, [-2, -1])), calib[1]


class GaussianMaskFunc(_SeededMaskFunc):
    """Variable-density Gaussian mask, 1D (columns of ``W``) or 2D (points of ``[H, W]``).

    Outside the fully sampled centre, exactly ``round(N / acceleration) - N_calib`` locations are drawn without
    replacement with probability proportional to ``exp(-k^2 / (2 sigma^2))``, ``k`` the distance from the
    k-space centre normalised to 1 at the edge (elliptical in 2D). ``N`` is ``W`` (1D) or ``H * W`` (2D).

    Args:
        acceleration: acceleration ``N / number of samples`` (> 1).
        center_fraction: fraction of each sampled axis fully sampled in the centre.
        sigma: standard deviation of the density, relative to the half-width of k-space.
        ndim: 1 for lines along ``W`` (mask ``[1, ..., W]``), 2 for points in ``[H, W]`` (mask ``[1, ..., H, W]``).
        seed: seed of the object's ``RandomState``.
    """

    def __init__(self, acceleration, center_fraction=0.08, sigma=0.5, ndim=1, seed=None):
        if acceleration <= 1:
            raise ValueError(f"acceleration: expected > 1, got {acceleration}.")
        if not 0 <= center_fraction < 1:
            raise ValueError(f"center_fraction: expected in [0, 1), got {center_fraction}.")
        if sigma <= 0:
            raise ValueError(f"sigma: expected > 0, got {sigma}.")
        if ndim not in (1, 2):
            raise ValueError(f"ndim: expected 1 or 2, got {ndim}.")
        super().__init__(seed)
        self.acceleration = float(acceleration)
        self.center_fraction = float(center_fraction)
        self.sigma = float(sigma)
        self.ndim = ndim

    def _validate(self, shape):
        return _check_shape(shape, self.ndim, "(last axes = [H,] W)")

    def _sample(self, shape, offset):
        shape2d = (1,) + shape[-1:] if self.ndim == 1 else shape[-2:]
        calib = (int(round(shape2d[0] * self.center_fraction)) if self.ndim == 2 else 1,
                 int(round(shape2d[1] * self.center_fraction)))
        mask = _calibration_box(shape2d, calib)
        if self.ndim == 1:
            rho = np.abs(np.arange(shape2d[1]) - shape2d[1] // 2)[None, :] / max(shape2d[1] / 2, 1)
        else:
            rho = _normalised_radius(shape2d)
        total = shape2d[0] * shape2d[1]
        num_draw = max(int(round(total / self.acceleration)) - int(mask.sum()), 0)
        weights = np.exp(-rho ** 2 / (2 * self.sigma ** 2)).ravel()
        weights[mask.ravel()] = 0.0
        num_draw = min(num_draw, int(np.count_nonzero(weights)))
        if num_draw:
            picks = self.rng.choice(total, size=num_draw, replace=False, p=weights / weights.sum())
            mask.ravel()[picks] = True
        axes = [-1] if self.ndim == 1 else [-2, -1]
        return mask.astype(np.float32).reshape(_broadcast_shape(shape, axes)), calib[1]


class KtMaskFunc(_SeededMaskFunc):
    """k-t line masks for dynamic Cartesian data: a different set of phase-encoding lines in every frame.

    ``shape`` is the dynamic k-space shape with time at ``time_axis`` (default ``-3``: the zoo's
    ``[B, C, T, H, W]``) and columns at ``-1``; the mask has shape ``[1, ..., T, ..., 1, W]``, e.g.
    ``[1, 1, T, 1, W]``. Every frame has the central ``round(W * center_fraction)`` columns.

    Patterns:
        ``"lattice"``: equispaced lines with spacing ``R`` whose offset moves by ``shift`` each frame,
            ``offset_t = (offset + t * shift) mod R`` (k-t sheared lattice; ``offset=None`` draws
            ``randint(0, R)``; ``shift=None`` uses 1 for ``R <= 2``, else the integer closest to ``R / 2``
            that is coprime with ``R``, so that every column is visited once in ``R`` frames).
        ``"random"``: each frame is an independent fastMRI random mask (probability
            ``(W/R - N_low)/(W - N_low)`` outside the centre).

    Args:
        acceleration: acceleration ``R`` (an integer for ``"lattice"``).
        center_fraction: fraction of columns fully sampled in every frame.
        pattern: ``"lattice"`` or ``"random"``.
        shift: per-frame offset increment of ``"lattice"``.
        time_axis: axis of ``shape`` holding the frames.
        seed: seed of the object's ``RandomState``.
    """

    def __init__(self, acceleration, center_fraction=0.08, pattern="lattice", shift=None, time_axis=-3, seed=None):
        if pattern not in ("lattice", "random"):
            raise ValueError(f"pattern: expected 'lattice' or 'random', got {pattern!r}.")
        if acceleration < 1 or (pattern == "lattice" and int(acceleration) != acceleration):
            raise ValueError(f"acceleration: expected >= 1 (an integer for 'lattice'), got {acceleration}.")
        if not 0 <= center_fraction <= 1:
            raise ValueError(f"center_fraction: expected in [0, 1], got {center_fraction}.")
        super().__init__(seed)
        self.acceleration = acceleration
        self.center_fraction = float(center_fraction)
        self.pattern = pattern
        self.shift = shift
        self.time_axis = time_axis

    def _validate(self, shape):
        shape = _check_shape(shape, 2, "(time axis and last axis = W)")
        axis = self.time_axis % len(shape)
        if axis == len(shape) - 1:
            raise ValueError(f"time_axis: must differ from the column axis -1, got {self.time_axis}.")
        return shape

    @staticmethod
    def default_shift(r):
        """The frame-to-frame shift used when ``shift`` is ``None``: an int coprime with the acceleration ``r``
        near ``r / 2``, so that consecutive frames interleave (1 for ``r <= 2``)."""
        if r <= 2:
            return 1
        candidates = sorted(range(1, r), key=lambda s: (abs(s - r / 2), s))
        return next(s for s in candidates if np.gcd(s, r) == 1)

    def _sample(self, shape, offset):
        num_frames, num_cols = shape[self.time_axis], shape[-1]
        num_low = int(round(num_cols * self.center_fraction))
        lines = np.zeros((num_frames, num_cols), dtype=np.float32)
        if self.pattern == "lattice":
            r = int(self.acceleration)
            shift = self.default_shift(r) if self.shift is None else int(self.shift)
            if offset is None:
                offset = self.rng.randint(0, r)
            for t in range(num_frames):
                lines[t, (int(offset) + t * shift) % r::r] = 1.0
        else:
            prob = (num_cols / self.acceleration - num_low) / max(num_cols - num_low, 1)
            lines[:] = self.rng.uniform(size=(num_frames, num_cols)) < prob
        lines[:, center_slice(num_cols, num_low)] = 1.0
        out_shape = _broadcast_shape(shape, [self.time_axis, -1])
        return lines.reshape(out_shape), num_low


class MixedMaskFunc(_SeededMaskFunc):
    """Chooses one of several mask functions per call (e.g. fastMRI random and equispaced-fraction masks in one
    training run, so that one model serves both).

    Args:
        mask_funcs: non-empty list of mask functions (``__call__(shape, offset, seed)``).
        seed: seed of the choice's ``RandomState``.

    The choice uses this object's generator, reseeded by the call's ``seed`` like every fastMRI mask function, then the
    chosen function is called with the same ``seed`` and ``offset``: reproducible per example.
    """

    def __init__(self, mask_funcs, seed=None):
        mask_funcs = list(mask_funcs)
        if not mask_funcs or not all(callable(f) for f in mask_funcs):
            raise ValueError("mask_funcs: expected a non-empty list of mask functions.")
        super().__init__(seed)
        self.mask_funcs = mask_funcs

    def __call__(self, shape, offset=None, seed=None):
        with self._temp_seed(seed):
            choice = self.rng.randint(len(self.mask_funcs))
        return self.mask_funcs[choice](shape, offset=offset, seed=seed)
