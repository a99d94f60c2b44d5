"""Synthetic data: determinism, coil-map normalisation, the signal model, noise covariance, series, default data."""
import os

import numpy as np

from tfmri_zoo.data.fastmri import SliceDataset
from tfmri_zoo.data.synthetic import default_dataset, synthetic_volume
from tfmri_zoo.data.synthetic_phantom import TISSUES, Phantom
from tfmri_zoo.data.synthetic_series import cine_series
from tfmri_zoo.physics.warp import warp
from tfmri_zoo.physics.fft import fft2c


def test_volume_is_a_deterministic_function_of_the_seed():
    a = synthetic_volume(2, (32, 32), 4, seed=3)
    b = synthetic_volume(2, (32, 32), 4, seed=3)
    c = synthetic_volume(2, (32, 32), 4, seed=4)
    np.testing.assert_array_equal(a["kspace"], b["kspace"])
    assert not np.allclose(a["kspace"], c["kspace"])
    assert a["kspace"].shape == (2, 4, 32, 32) and a["kspace"].dtype == np.complex64


def test_maps_are_normalised_smooth_and_the_signal_model_holds():
    vol = synthetic_volume(2, (48, 40), 6, seed=1, noise_level=0.0)
    sens, image = vol["sensitivities"], vol["image"]
    support = vol["labels"] > 0
    np.testing.assert_allclose(np.sum(np.abs(sens) ** 2, axis=1)[support], 1.0, atol=1e-4)
    # inside the object each map varies slowly: neighbouring voxels differ by far less than the map's range
    both = support[0, :, 1:] & support[0, :, :-1]
    step = np.abs(np.diff(sens[0], axis=-1))[:, both].max(axis=-1)
    assert np.all(step < 0.1 * np.abs(sens[0]).max(axis=(-2, -1)))
    np.testing.assert_allclose(vol["kspace"], fft2c(sens * image[:, None]).numpy(), atol=1e-5)
    # structure at several scales: several tissues, and an image that is not piecewise constant (texture)
    assert len(np.unique(vol["labels"])) >= 4
    fat = vol["labels"][0] == TISSUES["fat"][0]
    assert np.std(np.abs(image[0][fat])) > 0.01 * np.mean(np.abs(image[0][fat]))


def test_coil_noise_has_the_stored_covariance():
    vol = synthetic_volume(1, (96, 96), 4, seed=5, noise_level=0.05)
    clean = fft2c(vol["sensitivities"] * vol["image"][:, None]).numpy()
    noise = (vol["kspace"] - clean)[0].reshape(4, -1)
    empirical = noise @ noise.conj().T / noise.shape[1]
    expected = vol["noise_covariance"][0]
    scale = np.real(np.trace(empirical)) / np.real(np.trace(expected))
    np.testing.assert_allclose(empirical / scale, expected, atol=0.05)


def test_cine_contracts_the_heart_with_the_stored_displacement():
    rng = np.random.default_rng(0)
    slice_ = Phantom(rng).render((64, 64))
    cine = cine_series(slice_, 8, rng, respiratory=False)
    np.testing.assert_allclose(cine["frames"][0], cine["reference"], atol=1e-6)  # s(0) = 1: no motion
    for t in (2, 4):
        expected = warp(cine["reference"][None], cine["displacement"][t][None]).numpy()[0]
        np.testing.assert_allclose(cine["frames"][t], expected, atol=1e-6)
    blood = TISSUES["blood"][0]
    ratio = np.sum(cine["labels"][4] == blood) / np.sum(cine["labels"][0] == blood)
    assert 0.4 < ratio < 0.8  # area scales with s² and s(T/2) = 1 - a, a in [0.15, 0.3]
    breathing = cine_series(slice_, 8, np.random.default_rng(1), cardiac=False)
    shifts = breathing["displacement"][:, 0, 0, 0]
    assert np.ptp(shifts) > 1.0 and np.allclose(breathing["displacement"][..., 1], 0)


def test_relaxometry_series_follow_the_signal_equations():
    echo_times, inversion_times = (10.0, 40.0, 90.0), (100.0, 600.0, 2500.0)
    t2 = synthetic_volume(1, (32, 32), 2, seed=2, series="t2", echo_times=echo_times, noise_level=0.0)
    t1 = synthetic_volume(1, (32, 32), 2, seed=2, series="t1", inversion_times=inversion_times, noise_level=0.0)
    assert t2["kspace"].shape == (1, 2, 3, 32, 32) and t2["image"].shape == (1, 3, 32, 32)
    inside = t2["labels"][0] > 0
    decay = np.abs(t2["image"][0, 2][inside]) / np.abs(t2["image"][0, 0][inside])
    fitted = -(echo_times[2] - echo_times[0]) / np.log(decay)
    np.testing.assert_allclose(fitted, t2["t2_map"][0][inside], rtol=1e-3)
    expected = t1["pd_map"][0] * (1 - 2 * np.exp(-inversion_times[1] / np.maximum(t1["t1_map"][0], 1)))
    np.testing.assert_allclose(np.abs(t1["image"][0, 1])[inside], np.abs(expected)[inside], atol=1e-5)


def test_default_dataset_is_quick_reused_and_readable(tmp_path):
    splits = default_dataset(tmp_path, splits={"train": 2, "val": 1, "test": 1})
    assert {k: len(v) for k, v in splits.items()} == {"train": 2, "val": 1, "test": 1}
    first = os.path.getmtime(splits["train"][0])
    assert default_dataset(tmp_path, splits={"train": 2, "val": 1, "test": 1}) == splits
    assert os.path.getmtime(splits["train"][0]) == first
    data = SliceDataset(splits["train"])
    item = data[0]
    assert len(data) == 8 and item["kspace"].shape == (8, 64, 64) and item["sensitivities"].shape == (8, 64, 64)
    assert item["target"].shape == (64, 64) and item["attrs"]["acquisition"].startswith("SYNTHETIC")
    assert set(splits["val"]).isdisjoint(splits["train"])
