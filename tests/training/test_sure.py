"""SURE: unbiased for the measurement-domain error without clean data; training on it lowers the true error."""
import keras
import numpy as np
import tensorflow as tf

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.models.base import ReconModel
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.training.sure import sure_loss, train_sure


def _noisy(batch, sigma, seed):
    inputs, target = toy_problem(batch=1)
    rng = np.random.default_rng(seed)
    rep = {k: np.repeat(v, batch, 0) for k, v in inputs.items()}
    noise = sigma * (rng.normal(size=rep["kspace"].shape) + 1j * rng.normal(size=rep["kspace"].shape))
    clean = rep["kspace"].copy()
    rep["kspace"] = ((rep["kspace"] + noise) * rep["mask"]).astype(np.complex64)
    return rep, clean


class _Blur(ReconModel):
    """A fixed non-trivial linear reconstruction (zero-filled, then a 3-tap blur along W)."""

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        x = self.make_operator(mask, sensitivities).adjoint(kspace)
        return 0.5 * x + 0.25 * (tf.roll(x, 1, -1) + tf.roll(x, -1, -1))


def test_sure_is_unbiased_for_the_true_error():
    sigma = 0.05
    inputs, clean = _noisy(256, sigma, 0)
    model = _Blur(normalize=False)
    sure = sure_loss(model, inputs, sigma, epsilon=1e-2, seed=[1, 2]).numpy()
    op = SenseOperator(inputs["sensitivities"], inputs["mask"])
    h = op.forward(model(inputs)).numpy()
    m = np.broadcast_to(inputs["mask"], clean.shape).sum(axis=(1, 2, 3))
    true = np.sum(np.abs(h - clean * inputs["mask"]) ** 2, axis=(1, 2, 3)) / m
    naive = np.sum(np.abs(h - inputs["kspace"]) ** 2, axis=(1, 2, 3)) / m
    stderr = np.std(sure - true) / np.sqrt(len(sure))
    assert abs(np.mean(sure) - np.mean(true)) < 4 * stderr + 1e-3 * np.mean(true), (sure.mean(), true.mean())
    assert abs(np.mean(naive) - np.mean(true)) > 10 * stderr  # the plain data fit is badly biased


def test_sure_training_denoises_below_the_noise_level():
    """Trained on SURE alone (no clean data), the network's true measurement-domain error must fall well below the
    noise of the data themselves (what fitting the noisy k-space would give) and to under half its initial value —
    measured: 0.46× / 0.29× the noise level and 0.11× / 0.33× the initial error for seeds 0 / 1."""
    keras.utils.set_random_seed(0)
    sigma = 0.05
    inputs, clean = _noisy(4, sigma, 3)
    model = ResidualCNN(filters=8)
    op = SenseOperator(inputs["sensitivities"], inputs["mask"])
    measured = clean * inputs["mask"]

    def true_error():
        return float(np.mean(np.abs(op.forward(model(inputs)).numpy() - measured) ** 2))

    model(inputs)
    before = true_error()
    noise_level = float(np.mean(np.abs(inputs["kspace"] - measured) ** 2))
    history = train_sure(model, tf.data.Dataset.from_tensors(inputs).repeat(), sigma, epochs=3,
                         steps_per_epoch=8, learning_rate=3e-3)
    after = true_error()
    assert history[-1] < history[0], history
    assert after < 0.6 * noise_level, (after, noise_level)
    assert after < 0.5 * before, (after, before)
