"""Learned parameter mapping (``parameter_mapping``, Eq. 29–30): the untrained model is the variable-projection start
computed in numpy, the k-space term of the loss is the numpy residual of the signal model, supervised and
self-supervised training lower their losses, ``.keras`` and SavedModel round trips, and named errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_modl import check_model_card
from tfmri_zoo import models
from tfmri_zoo.data.relaxometry import relaxometry_volume
from tfmri_zoo.physics import pack_params
from tfmri_zoo.training.mapping import mapping_loss, train_mapping

DEFAULT_PARAMS = 1927395  # printed in models/parameter_mapping/README.md
TIMES = (10.0, 20.0, 40.0, 80.0)


def fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def ifft2c(x):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


@pytest.fixture(scope="module")
def problem():
    """Noise-free T2 series of smooth random maps through the toy problem's coils, a different line set per echo."""
    base, _ = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)
    maps = base["sensitivities"][:, :, None]                                      # [B, C, 1, H, W]
    rng = np.random.default_rng(0)
    yy, xx = np.meshgrid(np.linspace(-1, 1, 32), np.linspace(-1, 1, 32), indexing="ij")
    rho = np.stack([(0.5 + 0.5 * np.exp(-(yy ** 2 + xx ** 2) / 0.3)) * np.exp(1j * 0.3 * xx)] * 2)
    rate = np.stack([1.0 / (60.0 + 40.0 * np.exp(-((yy - c) ** 2 + xx ** 2) / 0.2)) for c in (-0.3, 0.3)])
    series = rho[:, None] * np.exp(-np.asarray(TIMES)[None, :, None, None] * rate[:, None])
    mask = np.zeros((2, 1, len(TIMES), 1, 32), np.float32)
    for t in range(len(TIMES)):
        mask[:, 0, t, 0, rng.integers(0, 2)::2] = 1
        mask[:, 0, t, 0, 13:19] = 1
    kspace = (fft2c(maps * series[:, None]) * mask).astype(np.complex64)
    params = pack_params(rho.astype(np.complex64), rate.astype(np.float32)).numpy()
    return {"kspace": kspace, "mask": mask, "sensitivities": maps.astype(np.complex64)}, params


def test_untrained_model_is_the_log_linear_and_variable_projection_start(problem):
    inputs, _ = problem
    model = models.get("parameter_mapping", preset="small")
    out = model(inputs).numpy()
    series = np.sum(np.conj(inputs["sensitivities"]) * ifft2c(inputs["kspace"]), axis=1)          # [B, T, H, W]
    t = np.asarray(TIMES)[None, :, None, None]
    w = np.abs(series) ** 2 + 1e-12
    log = np.log(np.abs(series) + 1e-12 * np.abs(series).max())
    mean_t, mean_log = np.sum(w * t, 1) / np.sum(w, 1), np.sum(w * log, 1) / np.sum(w, 1)
    slope = np.sum(w * (t - mean_t[:, None]) * (log - mean_log[:, None]), 1) / np.sum(w * (t - mean_t[:, None]) ** 2, 1)
    rate = np.clip(-slope, 0.0, 1.0 / min(TIMES))                      # weighted log-linear fit of the magnitudes
    g = np.exp(-t * rate[:, None])
    rho = np.sum(g * series, axis=1) / np.sum(g ** 2, axis=1)
    np.testing.assert_allclose(out[:, 1].real, rate, atol=1e-5 * rate.max())
    np.testing.assert_allclose(out[:, 0], rho, atol=1e-3 * np.abs(rho).max())


def test_kspace_term_is_the_numpy_residual_of_the_signal_model(problem):
    inputs, params = problem
    model = models.get("parameter_mapping", preset="small")
    assert float(mapping_loss(params, inputs, model.signal_model)) < 1e-8            # the true maps explain y
    wrong = params.copy()
    wrong[:, 1] *= 1.2
    series = wrong[:, 0][:, None] * np.exp(-np.asarray(TIMES)[None, :, None, None] * wrong[:, 1].real[:, None])
    residual = fft2c(inputs["sensitivities"] * series[:, None]) * inputs["mask"] - inputs["kspace"]
    expected = np.mean(np.sum(np.abs(residual) ** 2, axis=(1, 2, 3, 4))
                       / np.sum(np.abs(inputs["kspace"]) ** 2, axis=(1, 2, 3, 4)))
    np.testing.assert_allclose(float(mapping_loss(wrong, inputs, model.signal_model)), expected, rtol=1e-4)
    maps_term = float(mapping_loss(wrong, inputs, model.signal_model, target=params)) - expected
    np.testing.assert_allclose(maps_term, 0.2, rtol=1e-4)                           # ‖0.2 R*‖₁ / ‖R*‖₁, ρ exact


def test_supervised_and_self_supervised_training_lower_the_loss_and_round_trip(problem, tmp_path):
    inputs, params = problem
    keras.utils.set_random_seed(0)
    model = models.get("parameter_mapping", preset="small")
    supervised = train_mapping(model, [(inputs, params, None)], steps=60, learning_rate=3e-3)
    assert min(supervised[-5:]) < 0.6 * supervised[0]        # from the log-linear start, already close
    unsupervised = train_mapping(models.get("parameter_mapping", preset="small"), [(inputs, None, None)], steps=30,
                                 learning_rate=3e-3, tv_weight=0.01)
    assert min(unsupervised[-5:]) < 0.7 * unsupervised[0]
    out = model(inputs).numpy()
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(inputs).numpy(), out, atol=1e-6)
    zoo_contract.check_saved_model_round_trip(model, inputs)


def test_relaxometry_data_follow_the_signal_model():
    volume = relaxometry_volume(2, "test", num_slices=1, shape=(48, 48), coils=4, times=TIMES, noise_level=0.0)
    t2 = 1.0 / volume["params"][0, 1].real[volume["brain"][0]]
    assert 60 < np.median(t2) < 120 and volume["kspace"].shape == (1, 4, 4, 48, 48)
    with pytest.raises(ValueError, match="signal"):
        relaxometry_volume(0, signal="t3")


def test_model_card_and_bad_inputs(problem):
    check_model_card("parameter_mapping", DEFAULT_PARAMS)
    inputs, _ = problem
    default = models.get("parameter_mapping", preset="default")
    with pytest.raises(ValueError, match="times"):
        default(inputs)                                                             # 4 echoes, 8 times
    default({"kspace": np.zeros((1, 1, 8, 16, 16), np.complex64), "mask": np.ones((1, 1, 8, 1, 16), np.float32)})
    assert default.count_params() == DEFAULT_PARAMS
    with pytest.raises(ValueError, match="signal"):
        models.get("parameter_mapping", signal="t3")
