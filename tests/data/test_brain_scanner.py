"""The brain generator's ``texture="scanner"``: the scanner's finite resolution checked in numpy's k-space, a lower
GM–WM contrast than the same subject rendered from the atlas, and atlas subjects unchanged by the option."""
import numpy as np
import pytest

from tfmri_zoo.data import brain, brain_anatomy


def centred_kspace(image):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_scanner_image_is_band_limited_to_a_centred_box(seed):
    shape = (72, 60)
    magnitude = np.zeros(shape)
    magnitude[12:60, 10:50] = 1.0
    phase = np.linspace(0, 1, shape[1])[None] * np.ones(shape)
    image = brain_anatomy.scanner_appearance(np.random.default_rng(seed), magnitude, phase)
    assert image.shape == shape and np.iscomplexobj(image)
    energy = np.abs(centred_kspace(image)) ** 2
    for axis in (0, 1):
        profile = energy.sum(axis=1 - axis)
        kept = np.flatnonzero(profile > 1e-20 * profile.max())
        n = shape[axis]
        assert 0.65 * n - 1 <= kept.size <= n                        # 65–100 % of the extent kept
        assert abs((kept[0] + kept[-1]) / 2 - n // 2) <= 1             # centred on k = 0 (index n // 2)
        assert np.all(np.diff(kept) == 1)                              # one contiguous band
    # the object's own k-space has energy everywhere: the zeros come from the truncation
    assert np.all(np.abs(centred_kspace(magnitude * np.exp(1j * phase))).sum(axis=0) > 0)


def tissue_contrast(volume):
    image, labels = np.abs(volume["image"][0]), volume["labels"][0]
    gm = image[labels == brain_anatomy.LABELS["gm"]].mean()
    wm = image[labels == brain_anatomy.LABELS["wm"]].mean()
    return abs(gm - wm) / (gm + wm)


@pytest.mark.parametrize("seed", [4, 9])
def test_scanner_texture_lowers_the_grey_white_contrast_of_the_same_subject(seed):
    kwargs = {"num_slices": 1, "shape": (96, 96), "coils": 4, "noise_level": 0.0, "contrast": "t1w",
              "orientation": "axial"}
    atlas = brain.brain_volume(seed, "test", **kwargs)
    scanner = brain.brain_volume(seed, "test", texture="scanner", **kwargs)
    np.testing.assert_array_equal(atlas["labels"], scanner["labels"])  # same anatomy and placement
    assert scanner["attrs"]["texture"] == "scanner" and atlas["attrs"]["texture"] == "atlas"
    ratio = tissue_contrast(scanner) / tissue_contrast(atlas)
    assert 0.3 < ratio < 1.05
    # fine texture: more pixel-scale variation (Laplacian) inside white matter (2 px from its border) than the
    # atlas's mild texture, even after the scanner's resolution has smoothed it
    from scipy import ndimage

    inner = ndimage.binary_erosion(atlas["labels"][0] == brain_anatomy.LABELS["wm"], iterations=2)
    rough = [np.std(ndimage.laplace(np.abs(v["image"][0]))[inner]) for v in (atlas, scanner)]
    assert inner.sum() > 100 and rough[1] > 1.2 * rough[0]


def test_mixed_texture_draws_both_and_leaves_atlas_subjects_unchanged():
    kwargs = {"num_slices": 1, "shape": (40, 40), "coils": 4}
    kinds = {seed: brain.brain_volume(seed, "val", texture="mixed", **kwargs) for seed in range(8)}
    textures = {seed: v["attrs"]["texture"] for seed, v in kinds.items()}
    assert set(textures.values()) == {"atlas", "scanner"}
    seed = next(s for s, t in textures.items() if t == "atlas")
    np.testing.assert_array_equal(kinds[seed]["kspace"], brain.brain_volume(seed, "val", **kwargs)["kspace"])
    with pytest.raises(ValueError, match="texture: expected one of"):
        brain.brain_volume(0, "val", texture="real", **kwargs)
