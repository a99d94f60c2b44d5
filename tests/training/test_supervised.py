"""Supervised training through model.fit: loss falls, TensorBoard/checkpoints written, a killed run resumes exactly."""
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.metrics import SSIMMetric
from tfmri_zoo.training.supervised import train


@pytest.fixture(scope="module")
def datasets():
    inputs, target = toy_problem(batch=4)
    data = tf.data.Dataset.from_tensor_slices((inputs, target)).batch(2)
    return data, inputs, target


def test_supervised_training_lowers_loss_and_writes_artifacts(datasets, tmp_path):
    data, inputs, target = datasets
    model, history = train(lambda: ResidualCNN(filters=16), data.repeat(), data, str(tmp_path), epochs=4,
                           steps_per_epoch=10, learning_rate=3e-3, seed=0, verbose=0, metrics=[SSIMMetric()])
    losses = history.history["loss"]
    assert losses[-1] < 0.6 * losses[0], losses
    assert history.history["val_ssim"][-1] > history.history["val_ssim"][0]
    assert glob.glob(str(tmp_path / "logs" / "train" / "events*"))
    assert glob.glob(str(tmp_path / "logs" / "images" / "events*"))
    assert not os.path.exists(tmp_path / "backup")  # removed after a finished run
    reloaded = keras.saving.load_model(str(tmp_path / "final.keras"))
    np.testing.assert_allclose(reloaded(inputs).numpy(), model(inputs).numpy(), atol=1e-5)
    assert os.path.exists(tmp_path / "best.keras")
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


class _Kill(keras.callbacks.Callback):
    """Simulates a killed job right after the end of epoch ``after`` (the backup of that epoch is written)."""

    def __init__(self, after):
        super().__init__()
        self.after = after

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after:
            raise KeyboardInterrupt(f"killed after epoch {self.after}")


def test_interrupted_run_resumes_to_the_same_weights(datasets, tmp_path):
    data, _, _ = datasets
    kwargs = dict(epochs=4, steps_per_epoch=4, learning_rate=3e-3, seed=1, verbose=0, tensorboard=False)
    full, full_history = train(lambda: ResidualCNN(filters=8), data.repeat(), data, str(tmp_path / "a"), **kwargs)
    with pytest.raises(KeyboardInterrupt):
        train(lambda: ResidualCNN(filters=8), data.repeat(), data, str(tmp_path / "b"), callbacks=[_Kill(2)],
              **kwargs)
    assert os.path.exists(tmp_path / "b" / "backup")
    # a fresh process would start from other weights: use another seed to prove they are restored
    resumed, history = train(lambda: ResidualCNN(filters=8), data.repeat(), data, str(tmp_path / "b"),
                             **{**kwargs, "seed": 99})
    assert len(history.history["loss"]) == 2  # only epochs 3 and 4 ran
    np.testing.assert_allclose(history.history["loss"], full_history.history["loss"][2:], rtol=1e-5)
    for a, b in zip(full.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(full.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
