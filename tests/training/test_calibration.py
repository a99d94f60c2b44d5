"""Calibrating a model's data-consistency weight on validation slices (tfmri_zoo.training.calibration).

Physics the choice must follow, checked against an independent reference (CG-SENSE, ``recon.sense`` with its λ tuned
on the same slices): a network that knows nothing (an untrained U-Net) gives a prior worth less than well-conditioned
data (R=2, 4 coils), so the calibrated step must lower its weights λ₀ and ν well below the trained ones and fall back
to (nearly) the data alone — within 0.5 dB of CG-SENSE on every validation slice, where the trained step is > 2 dB
below it (an uninformed prior cannot beat CG-SENSE's zero prior) — while the model is left at its trained values.
"""
import numpy as np
import pytest

from tfmri_zoo import models
from tfmri_zoo.data.synthetic import default_dataset
from tfmri_zoo.models.weights import dummy_inputs
from tfmri_zoo.training.calibration import (calibrate_data_consistency, calibrated_step, choose_step_weights,
                                            set_calibration, set_step_weights, step_weights)


def untrained_unet(final_dc=True):
    model = models.get("unet", preset="small", final_dc=final_dc, final_lam=0.05, final_noise_lam=100.0)
    model(dummy_inputs())
    return model


@pytest.fixture(scope="module")
def val_files(tmp_path_factory):
    return default_dataset(str(tmp_path_factory.mktemp("calib")), shape=(32, 32), coils=4, num_slices=2,
                           splits={"val": 1})["val"]


def test_an_uninformed_prior_yields_to_the_data(val_files):
    model = untrained_unet()
    before = [w.copy() for w in model.get_weights()]
    result = calibrate_data_consistency(model, val_files, accelerations=(2,))[2]
    assert result["lam"] <= 0.05 / 9 + 1e-9 and result["noise_lam"] <= 100.0 / 9 + 1e-6   # ≥ two ×3 steps down
    assert result["psnr"] > result["trained"]["psnr"] + 2.0
    trained = next(p for p in result["points"] if p["lam"] == pytest.approx(0.05, rel=1e-5)
                   and p["noise_lam"] == pytest.approx(100.0, rel=1e-5))
    assert trained["worst_margin"] < -2.0 and result["worst_margin"] > -0.5    # vs λ-tuned CG-SENSE, per slice
    assert {"lam", "noise_lam", "psnr", "ssim", "nmse", "worst_margin"} <= set(result["points"][0])
    assert result["trained"]["lam"] == pytest.approx(0.05, rel=1e-5)
    for got, want in zip(model.get_weights(), before):  # left at its trained values
        np.testing.assert_array_equal(got, want)


def test_step_weights_set_and_read_back():
    model = untrained_unet()
    assert step_weights(model) == pytest.approx((0.05, 100.0), rel=1e-5)
    set_step_weights(model, 0.003, 20.0)
    assert step_weights(model) == pytest.approx((0.003, 20.0), rel=1e-5)
    assert calibrated_step(model) is model.final_proximal
    modl = models.get("modl", preset="small")
    assert calibrated_step(modl) is modl.dc


def test_bad_arguments_name_what_is_expected(val_files):
    model = untrained_unet()
    with pytest.raises(ValueError, match="lam: expected a positive number"):
        set_step_weights(model, -1.0)
    with pytest.raises(ValueError, match="no proximal data-consistency step"):
        calibrated_step(untrained_unet(final_dc=False))
    with pytest.raises(ValueError, match="metric: expected one of"):
        choose_step_weights(model, [], metric="mse")
    with pytest.raises(ValueError, match="factors: expected increasing positive multiples including 1"):
        choose_step_weights(model, [], factors=(0.5, 2.0))
    with pytest.raises(ValueError, match="val_files"):
        calibrate_data_consistency(model, [])
    fixed = models.get("unet", preset="small", final_dc=True, final_noise_lam=None)
    fixed(dummy_inputs())
    before = step_weights(fixed)
    with pytest.raises(ValueError, match="noise_lam: the step .* has a fixed λ"):
        set_step_weights(fixed, 0.01, 5.0)
    assert step_weights(fixed) == before                     # nothing half-set
    with pytest.raises(ValueError, match="lam: expected a positive number, got None"):
        set_step_weights(model, None)


def two_accelerations():
    """One batch of two examples, the first sampled at R=2, the second at R=4 (equispaced lines, 32 columns)."""
    from tests.models.zoo_contract import toy_problem
    from tfmri_zoo.physics import SenseOperator

    inputs, images = toy_problem(batch=2, coils=4, height=32, width=32)
    mask = np.zeros((2, 1, 1, 32), np.float32)
    mask[0, ..., ::2], mask[1, ..., 1::4] = 1.0, 1.0
    mask[1, ..., 15:17] = 1.0          # two centre lines in place of two others: still 8 of 32
    mask[1, ..., [5, 29]] = 0.0
    kspace = SenseOperator(inputs["sensitivities"], mask).forward(images).numpy()
    return {"kspace": kspace, "mask": mask, "sensitivities": inputs["sensitivities"]}


@pytest.mark.parametrize("name, adaptive", [("unet", True), ("modl", False)])
def test_one_model_serves_every_acceleration_with_its_calibrated_step(name, adaptive, tmp_path):
    """The reference for each example: the same model without a table, its step set to that acceleration's
    weights; the table survives .keras and a served SavedModel (one model for R=2 and R=4 in one batch)."""
    import keras
    import tensorflow as tf

    from tfmri_zoo.export import export_saved_model

    keras.utils.set_random_seed(1)
    model = untrained_unet() if name == "unet" else models.get("modl", preset="small")
    model(dummy_inputs())
    inputs = two_accelerations()
    choices = {4: {"lam": 0.002, "noise_lam": 300.0 if adaptive else None},
               2: {"lam": 0.4, "noise_lam": 3.0 if adaptive else None}}
    reference = []
    for b, rate in enumerate((2, 4)):
        set_step_weights(model, choices[rate]["lam"], choices[rate]["noise_lam"])
        reference.append(model(inputs, training=False).numpy()[b])
    reference = np.stack(reference)
    single = model(inputs, training=False).numpy()             # both rows at R=4's weights
    set_calibration(model, choices)
    got = model(inputs, training=False).numpy()
    scale = np.abs(reference).max()
    np.testing.assert_allclose(got, reference, atol=1e-5 * scale)
    assert np.abs(single[0] - reference[0]).max() > 1e-2 * scale   # the R=2 row's own weights matter
    path = str(tmp_path / "calibrated.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded(inputs, training=False).numpy(), got, atol=1e-6 * scale)
    served = tf.saved_model.load(export_saved_model(model, str(tmp_path / "serving"), warmup=False))
    out = served.signatures["complex"](kspace=tf.constant(inputs["kspace"]),
                                       mask=tf.constant(np.broadcast_to(inputs["mask"][:, 0], got.shape)),
                                       sensitivities=tf.constant(inputs["sensitivities"]))["image"].numpy()
    np.testing.assert_allclose(out, got, atol=1e-5 * scale)
    with pytest.raises(ValueError, match="calibration table"):
        set_step_weights(model, 0.1)                           # one point would be ignored: refused
    set_calibration(model, None)
    assert calibrated_step(model).calibration is None


def test_bad_calibration_choices_are_refused():
    model = untrained_unet()
    for choices in ({}, {4: 0.1}, {"four": {"lam": 0.1, "noise_lam": 1.0}}, [0.1]):
        with pytest.raises(ValueError, match="choices: "):
            set_calibration(model, choices)
    with pytest.raises(ValueError, match="calibration: expected"):     # ν missing for a noise-adaptive step
        set_calibration(model, {4: {"lam": 0.1, "noise_lam": None}})
    assert calibrated_step(model).calibration is None
