"""Former silent fallbacks, now explicit: a real (RSS) target against a complex prediction, and a best-only
checkpoint whose monitored value is missing or NaN."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.training.callbacks import AtomicModelCheckpoint, save_model_atomic
from tfmri_zoo.training.losses import ComplexL1, ComplexMSE, SSIMLoss


def test_real_target_needs_an_explicit_choice(rng):
    prediction = (rng.standard_normal((2, 8, 8)) + 1j * rng.standard_normal((2, 8, 8))).astype(np.complex64)
    rss = np.abs(prediction).astype(np.float32)         # a magnitude target that |prediction| matches exactly
    with pytest.raises(TypeError, match="y_true: real"):
        ComplexMSE()(rss, prediction)
    assert float(ComplexMSE(real_target="magnitude")(rss, prediction)) == pytest.approx(0.0, abs=1e-10)
    # zero_phase: the complex distance to a zero-phase image, computed here in numpy
    want = np.mean(np.abs(rss - prediction) ** 2)
    assert float(ComplexMSE(real_target="zero_phase")(rss, prediction)) == pytest.approx(want, rel=1e-5)
    want_l1 = np.mean(np.abs(np.abs(prediction) - rss * 1.1))
    assert float(ComplexL1(real_target="magnitude")(rss * 1.1, prediction)) == pytest.approx(want_l1, rel=1e-5)
    # SSIM compares magnitudes anyway: a real target is the natural input, accepted by default.
    assert float(SSIMLoss()(rss, prediction)) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ValueError, match="real_target"):
        ComplexMSE(real_target="phase")
    again = ComplexMSE.from_config(ComplexMSE(real_target="magnitude").get_config())
    assert again.real_target == "magnitude"


def _fit(model, inputs, target, callbacks, epochs=2, validation=False):
    ds = tf.data.Dataset.from_tensors((inputs, target))
    model.fit(ds, epochs=epochs, verbose=0, callbacks=callbacks, validation_data=ds if validation else None)


def test_best_only_checkpoint_without_the_monitored_value_saves_nothing_and_says_so(tmp_path):
    keras.utils.set_random_seed(0)
    inputs, target = toy_problem(batch=1)
    model = ResidualCNN(filters=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ComplexMSE())
    path = str(tmp_path / "best.keras")
    with pytest.warns(UserWarning, match="monitor 'val_loss' is not in the logs"):
        _fit(model, inputs, target, [AtomicModelCheckpoint(path)])
    assert not os.path.exists(path)
    _fit(model, inputs, target, [AtomicModelCheckpoint(path)], epochs=1, validation=True)
    assert os.path.exists(path)


def test_best_only_checkpoint_keeps_the_last_good_file_when_the_loss_turns_nan(tmp_path):
    keras.utils.set_random_seed(0)
    inputs, target = toy_problem(batch=1)
    model = ResidualCNN(filters=4)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ComplexMSE())
    path = str(tmp_path / "best.keras")
    checkpoint = AtomicModelCheckpoint(path, monitor="loss")
    _fit(model, inputs, target, [checkpoint], epochs=1)
    saved = [w.copy() for w in keras.models.load_model(path).get_weights()]
    with pytest.warns(UserWarning, match="loss = nan"):
        checkpoint.on_epoch_end(1, {"loss": float("nan")})
    for got, want in zip(keras.models.load_model(path).get_weights(), saved):
        np.testing.assert_array_equal(got, want)


def test_save_model_atomic_leaves_the_previous_file_when_the_save_is_killed(tmp_path, monkeypatch):
    keras.utils.set_random_seed(0)
    inputs, _ = toy_problem(batch=1)
    model = ResidualCNN(filters=4)
    model(inputs)
    path = str(tmp_path / "out" / "model.keras")
    save_model_atomic(model, path)
    before = open(path, "rb").read()
    assert keras.models.load_model(path).count_params() == model.count_params()

    def killed(self, filepath, overwrite=True, **kwargs):    # writes half a file, then dies
        with open(filepath, "wb") as f:
            f.write(before[: len(before) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_model_atomic(model, path)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path / "out") == ["model.keras"]     # no temporary file left behind
    with pytest.raises(ValueError, match="path: expected a '.keras' path"):
        save_model_atomic(model, str(tmp_path / "model.h5"))
