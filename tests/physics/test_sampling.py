"""Sampling masks: bit-identical to a re-derivation of fastMRI's subsample.py; acceleration, centre, seeding."""
import numpy as np
import pytest

from tfmri_zoo.physics.sampling import (EquispacedMaskFractionFunc, EquispacedMaskFunc, GaussianMaskFunc,
                                        KtMaskFunc, PoissonDiscMaskFunc, RandomMaskFunc, center_slice)


# --- independent reference: fastMRI's algorithm written out step by step (fastMRI samples shape[-2]) ---------

def _ref_fastmri(kind, shape_fastmri, center_fractions, accelerations, call_seed, offset=None, any_combo=False,
                 object_seed=None):
    rng = np.random.RandomState(object_seed)
    if call_seed is not None:
        rng.seed(call_seed)
    if any_combo:
        cf = rng.choice(center_fractions)
        acc = rng.choice(accelerations)
    else:
        i = rng.randint(len(center_fractions))
        cf, acc = center_fractions[i], accelerations[i]
    n = shape_fastmri[-2]
    n_low = round(n * cf)
    center = np.zeros(n, dtype=np.float32)
    start = (n - n_low + 1) // 2
    center[start:start + n_low] = 1
    if kind == "random":
        accel = (rng.uniform(size=n) < (n / acc - n_low) / (n - n_low)).astype(np.float32)
    elif kind == "equispaced":
        if offset is None:
            offset = rng.randint(0, high=round(acc))
        accel = np.zeros(n, dtype=np.float32)
        accel[offset::acc] = 1
    else:
        adj = (acc * (n_low - n)) / (n_low * acc - n)
        if offset is None:
            offset = rng.randint(0, high=round(adj))
        accel = np.zeros(n)
        accel[np.around(np.arange(offset, n - 1, adj)).astype(np.uint64)] = 1.0
    mask = np.maximum(center, accel).astype(np.float32)
    out_shape = [1] * len(shape_fastmri)
    out_shape[-2] = n
    return mask.reshape(out_shape), n_low


CLASSES = {"random": RandomMaskFunc, "equispaced": EquispacedMaskFunc, "fraction": EquispacedMaskFractionFunc}


@pytest.mark.parametrize("kind", sorted(CLASSES))
@pytest.mark.parametrize("width", [320, 368, 97])
@pytest.mark.parametrize("cfs,accs", [([0.08], [4]), ([0.08, 0.04], [4, 8]), ([0.16, 0.08, 0.04], [2, 4, 8])])
def test_fastmri_masks_are_bit_identical_to_reference(kind, width, cfs, accs):
    func = CLASSES[kind](cfs, accs)
    for seed in [0, 1, 7, 123, (3, 4), 2**31 - 1]:
        mask, n_low = func((15, 640, width), seed=seed)
        ref, ref_low = _ref_fastmri(kind, (15, 640, width, 2), cfs, accs, seed)
        assert mask.dtype == np.float32 and mask.shape == (1, 1, width)
        assert n_low == ref_low
        np.testing.assert_array_equal(mask.ravel(), ref.ravel())


@pytest.mark.parametrize("kind", sorted(CLASSES))
def test_any_combination_and_explicit_offset_match_reference(kind):
    cfs, accs = [0.08, 0.04, 0.1], [4, 8]
    func = CLASSES[kind](cfs, accs, allow_any_combination=True)
    for seed in range(6):
        for offset in [None, 1]:
            mask, n_low = func((4, 64, 200), offset=offset, seed=seed)
            ref, ref_low = _ref_fastmri(kind, (4, 64, 200, 2), cfs, accs, seed, offset=offset, any_combo=True)
            assert n_low == ref_low
            np.testing.assert_array_equal(mask.ravel(), ref.ravel())
    with pytest.raises(ValueError, match="allow_any_combination"):
        CLASSES[kind](cfs, accs)


def test_object_seed_and_state_restoration_follow_fastmri():
    # unseeded calls continue the object's RandomState(seed) stream; a seeded call leaves that stream untouched
    func = RandomMaskFunc([0.08, 0.04], [4, 8], seed=42)
    first, _ = func((1, 128))
    func.rng.seed(42)
    again, _ = func((1, 128))
    np.testing.assert_array_equal(first, again)
    ref, _ = _ref_fastmri("random", (1, 128, 2), [0.08, 0.04], [4, 8], None, object_seed=42)
    np.testing.assert_array_equal(first.ravel(), ref.ravel())
    state = func.rng.get_state()[1].copy()
    seeded_a, _ = func((1, 128), seed=5)
    np.testing.assert_array_equal(func.rng.get_state()[1], state)
    seeded_b, _ = RandomMaskFunc([0.08, 0.04], [4, 8], seed=999)((1, 128), seed=5)
    np.testing.assert_array_equal(seeded_a, seeded_b)


def test_measured_acceleration_and_centre_width():
    width = 368
    func = RandomMaskFunc([0.08], [4])
    rates = []
    for seed in range(200):
        mask, n_low = func((1, 640, width), seed=seed)
        assert n_low == round(width * 0.08) == 29
        assert np.all(mask.ravel()[center_slice(width, n_low)] == 1)
        rates.append(mask.sum() / width)
    assert abs(np.mean(rates) - 1 / 4) < 0.005          # expected fraction of sampled columns is exactly 1/R
    mask, n_low = EquispacedMaskFractionFunc([0.08], [4])((1, 640, width), seed=0)
    assert abs(width / mask.sum() - 4) < 0.1            # the fraction variant hits R almost exactly
    mask, n_low = EquispacedMaskFunc([0.08], [4])((1, 640, width), offset=0)
    lines = mask.ravel()
    assert np.all(lines[0::4] == 1) and np.all(lines[center_slice(width, n_low)] == 1)
    assert lines.sum() == len(set(range(0, width, 4)) | set(range(width)[center_slice(width, n_low)]))
    # even width: the k-space centre column W//2 lies inside the fully sampled block
    assert width // 2 in range(width)[center_slice(width, n_low)]


def test_mask_broadcasts_to_kspace_and_bad_input_raises():
    mask, _ = RandomMaskFunc([0.08], [4])((2, 4, 32, 48), seed=0)
    assert mask.shape == (1, 1, 1, 48)
    np.broadcast_shapes(mask.shape, (2, 4, 32, 48))
    with pytest.raises(ValueError, match="center_fractions"):
        RandomMaskFunc([0.08], [4, 8])
    with pytest.raises(ValueError, match="shape"):
        RandomMaskFunc([0.08], [4])((0, 32))


def test_poisson_disc_mask_hits_acceleration_and_is_variable_density():
    func = PoissonDiscMaskFunc(acceleration=4, calib=(8, 8), density=2.0)
    mask, calib_w = func((2, 4, 48, 48), seed=3)
    assert mask.shape == (1, 1, 48, 48) and mask.dtype == np.float32 and calib_w == 8
    m = mask[0, 0]
    assert abs(m.size / m.sum() - 4) < 0.25
    assert np.all(m[center_slice(48, 8), center_slice(48, 8)] == 1)
    ky, kx = np.meshgrid(np.arange(48) - 24, np.arange(48) - 24, indexing="ij")
    r = np.sqrt(ky ** 2 + kx ** 2)
    inner, outer = m[(r > 6) & (r < 12)].mean(), m[r > 18].mean()
    assert inner > 1.5 * outer                        # denser near the centre
    # Poisson-disc property: no two samples outside the calibration block are adjacent in the outer region
    outer_pts = np.argwhere((m == 1) & (r > 18))
    d = np.sqrt(((outer_pts[:, None, :] - outer_pts[None, :, :]) ** 2).sum(-1))
    assert d[np.triu_indices(len(outer_pts), 1)].min() >= 1.5
    again, _ = func((48, 48), seed=3)
    np.testing.assert_array_equal(again[None, None], mask)
    other, _ = func((48, 48), seed=4)
    assert np.any(other != again)
    for acceleration in (2, 8):
        m, _ = PoissonDiscMaskFunc(acceleration, calib=6)((40, 56), seed=0)
        assert abs(m.size / m.sum() / acceleration - 1) < 0.06


@pytest.mark.parametrize("ndim", [1, 2])
def test_gaussian_mask_exact_count_centre_and_density(ndim):
    func = GaussianMaskFunc(acceleration=4, center_fraction=0.1, sigma=0.4, ndim=ndim)
    shape = (3, 40, 64)
    mask, n_low = func(shape, seed=0)
    assert n_low == round(64 * 0.1)
    if ndim == 1:
        assert mask.shape == (1, 1, 64)
        lines = mask.ravel()
        assert lines.sum() == round(64 / 4)
        assert np.all(lines[center_slice(64, n_low)] == 1)
    else:
        assert mask.shape == (1, 40, 64)
        assert mask.sum() == round(40 * 64 / 4)
        assert np.all(mask[0][center_slice(40, 4), center_slice(64, n_low)] == 1)
    # density falls off: over many seeds the central quarter is sampled more often than the outer quarters
    mean = np.mean([func(shape, seed=s)[0] for s in range(30)], axis=0).reshape(-1, 64).mean(0)
    assert mean[24:40].mean() > 2 * np.concatenate([mean[:8], mean[-8:]]).mean()


def test_kt_lattice_mask_shifts_per_frame_and_covers_all_lines():
    func = KtMaskFunc(acceleration=4, center_fraction=0.0, pattern="lattice", shift=1)
    mask, n_low = func((2, 3, 8, 16, 32), offset=0)
    assert mask.shape == (1, 1, 8, 1, 32) and n_low == 0
    lines = mask[0, 0, :, 0, :]
    for t in range(8):
        np.testing.assert_array_equal(np.flatnonzero(lines[t]), np.arange(t % 4, 32, 4))
    assert np.all(lines[:4].sum(0) == 1)                # R consecutive frames sample every column exactly once
    mask, n_low = KtMaskFunc(acceleration=4, center_fraction=0.125)((1, 4, 6, 8, 32), seed=1)
    assert np.all(mask[0, 0, :, 0, center_slice(32, n_low)] == 1) and n_low == 4
    assert KtMaskFunc.default_shift(4) == 1 and KtMaskFunc.default_shift(8) == 3


def test_kt_random_mask_differs_per_frame_with_right_rate():
    func = KtMaskFunc(acceleration=4, center_fraction=0.08, pattern="random")
    mask, n_low = func((1, 2, 200, 4, 100), seed=0)
    lines = mask[0, 0, :, 0, :]
    assert not np.all(lines[0] == lines[1])
    assert abs(lines.mean() - 0.25) < 0.01
    assert np.all(lines[:, center_slice(100, n_low)] == 1)
    with pytest.raises(ValueError, match="pattern"):
        KtMaskFunc(4, pattern="spiral")


def test_center_fraction_follows_fastmri_and_keeps_fraction_times_r():
    from tfmri_zoo.physics import center_fraction

    assert center_fraction(4) == 0.08 and center_fraction(8) == 0.04      # fastMRI's knee/brain challenge pairs
    for r in (2, 3, 6, 12):
        assert abs(center_fraction(r) * r - 0.32) < 1e-12
