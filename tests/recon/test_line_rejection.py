"""Motion-corrupted line simulation and rejection: the rigid field against its formula and np.roll, the simulated
k-space against numpy's FFT, and the rejection against the known set of corrupted lines (and the reconstruction from
the truly clean lines)."""
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.data.brain import brain_volume
from tfmri_zoo.data.line_motion import corrupt_lines
from tfmri_zoo.physics import rigid_displacement, warp
from tfmri_zoo.recon import reject_corrupted_lines, sense


def numpy_kspace(maps, image):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(maps * image, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def psnr(x, reference):
    x, reference = np.abs(x), np.abs(reference)
    return 10 * np.log10(reference.max() ** 2 / np.mean((x - reference) ** 2))


def test_rigid_displacement_is_the_rotation_formula_and_an_integer_shift_is_a_roll(rng):
    field = rigid_displacement((6, 8), np.deg2rad(90.0), (1.0, -2.0))
    # pixel (row 4, col 6) is (1, 2) from the centre (3, 4): rotated by 90° → (−2, 1), back at the centre and
    # shifted by (1, −2) → (3 − 2 + 1, 4 + 1 − 2)
    np.testing.assert_allclose((4, 6) + field[4, 6], (2, 3), atol=1e-5)
    image = (rng.standard_normal((1, 10, 12)) + 1j * rng.standard_normal((1, 10, 12))).astype(np.complex64)
    moved = warp(tf.constant(image), tf.constant(rigid_displacement((10, 12), 0.0, (2.0, -3.0))[None])).numpy()
    np.testing.assert_allclose(moved[0, :8, 3:], np.roll(image[0], (-2, 3), axis=(0, 1))[:8, 3:], atol=1e-6)
    with pytest.raises(ValueError, match="shift"):
        rigid_displacement((4, 4), 0.0, (1.0,))


@pytest.fixture(scope="module")
def slice_and_maps():
    volume = brain_volume(4, "test", num_slices=1, shape=(64, 64), coils=8, noise_level=0.0, contrast="t1w")
    return volume["image"][0], volume["sensitivities_true"][0]


def test_corrupted_lines_are_the_moved_object_and_the_others_are_untouched(slice_and_maps):
    image, maps = slice_and_maps
    kspace, corrupted = corrupt_lines(image, maps, np.random.default_rng(1), lines_per_event=3, events=2,
                                      max_shift=4.0, ordering="linear")
    reference = numpy_kspace(maps, image)
    assert corrupted.sum() == 6 and np.count_nonzero(np.diff(corrupted.astype(int))) <= 4   # two blocks
    np.testing.assert_allclose(kspace[..., ~corrupted], reference[..., ~corrupted], atol=1e-4 * np.abs(reference).max())
    change = np.linalg.norm(kspace[..., corrupted] - reference[..., corrupted], axis=(0, 1))
    assert np.all(change > 1e-3 * np.linalg.norm(reference[..., corrupted], axis=(0, 1)))
    with pytest.raises(ValueError, match="ordering"):
        corrupt_lines(image, maps, np.random.default_rng(0), ordering="spiral")


def test_rejection_finds_scattered_corrupted_lines_and_recovers_the_clean_reconstruction(slice_and_maps):
    image, maps = slice_and_maps
    rng = np.random.default_rng(3)
    kspace, corrupted = corrupt_lines(image, maps, rng, lines_per_event=4, events=2, max_shift=3.0, ordering="random")
    sigma = 0.01 * np.abs(image).max()
    kspace = (kspace + sigma / np.sqrt(2) * (rng.standard_normal(kspace.shape)
                                             + 1j * rng.standard_normal(kspace.shape))).astype(np.complex64)
    mask = np.ones((1, 1, 1, 64), np.float32)
    result = reject_corrupted_lines(kspace[None], mask, maps[None])
    dropped = result.mask.numpy()[0, 0, 0] == 0
    assert dropped.shape == corrupted.shape and result.rounds >= 1
    # the lines that matter are found: the ones whose change is above the noise of a line
    reference = numpy_kspace(maps, image)
    harmful = corrupted & (np.linalg.norm(kspace - reference, axis=(0, 1)) > 3 * sigma * np.sqrt(8 * 64))
    assert harmful.sum() >= 3 and np.all(dropped[harmful])
    assert np.sum(dropped & ~corrupted) <= 4          # few clean lines lost (neighbours of corrupted ones)
    oracle = sense(kspace[None], (~corrupted).astype(np.float32)[None, None, None], maps[None], lam=1e-3,
                   max_iter=30).numpy()[0]
    naive = sense(kspace[None], mask, maps[None], lam=1e-3, max_iter=30).numpy()[0]
    rejected = result.image.numpy()[0]
    assert psnr(rejected, image) > psnr(naive, image) + 5.0
    assert psnr(rejected, image) > psnr(oracle, image) - 1.5


def test_motion_free_data_keeps_its_lines_and_bad_arguments_are_named(slice_and_maps):
    image, maps = slice_and_maps
    rng = np.random.default_rng(5)
    kspace = numpy_kspace(maps, image)
    kspace = (kspace + 0.01 * np.abs(image).max() * (rng.standard_normal(kspace.shape)
                                                      + 1j * rng.standard_normal(kspace.shape))).astype(np.complex64)
    mask = np.zeros((1, 64), np.float32)
    mask[:, ::2] = 1
    mask[:, 26:38] = 1
    result = reject_corrupted_lines(kspace[None] * mask[:, None, None], mask, maps[None])
    assert np.sum(result.mask.numpy()[0, 0, 0] != mask[0]) <= 1
    with pytest.raises(ValueError, match="mask"):
        reject_corrupted_lines(kspace[None], np.ones((1, 1, 64, 64), np.float32), maps[None])
    with pytest.raises(ValueError, match="groups"):
        reject_corrupted_lines(kspace[None], mask, maps[None], groups=1)
