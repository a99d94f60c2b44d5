"""Zero-shot SSL on one tiny scan: the training loss falls, early stopping on the Γ loss ends the run, best weights."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.training.losses import SSDULoss
from tfmri_zoo.training.ssdu import split_mask
from tfmri_zoo.training.targets import pack_kspace_target
from tfmri_zoo.training.zero_shot import zero_shot_adapt, zero_shot_ssl


def test_zero_shot_stops_early_and_keeps_the_best_weights(tmp_path):
    inputs, _ = toy_problem(batch=1, acceleration=2)
    epochs = 60
    result = zero_shot_ssl(lambda: ResidualCNN(filters=8), inputs, epochs=epochs, splits_per_epoch=4, patience=3,
                           learning_rate=1e-2, seed=0)
    losses, val = result.history["loss"], result.history["val_loss"]
    assert result.stopped_early and len(losses) < epochs
    assert len(losses) == result.best_epoch + 3  # stopped exactly `patience` epochs after the best one
    assert min(losses[1:]) < losses[0], losses
    # the returned model holds the best epoch's weights: its Γ loss is the best validation loss
    theta_rest, gamma = split_mask(inputs["mask"], tf.constant([0, 2 ** 20 + 1]), rho=0.2)
    rest = {**inputs, "kspace": inputs["kspace"] * theta_rest.numpy(), "mask": theta_rest}
    target = pack_kspace_target(inputs["kspace"] * gamma.numpy(), gamma, inputs["sensitivities"])
    np.testing.assert_allclose(float(SSDULoss()(target, result.model(rest))), min(val), rtol=1e-4)
    # the final image uses all of Ω
    np.testing.assert_allclose(result.image.numpy(), result.model(inputs).numpy(), rtol=1e-6)
    assert result.image.shape == (1, 32, 32)


def test_zero_shot_starts_from_a_pretrained_model(tmp_path):
    inputs, _ = toy_problem(batch=1, acceleration=2)
    pretrained = ResidualCNN(filters=8)
    pretrained(inputs)
    path = str(tmp_path / "pre.weights.h5")
    pretrained.save_weights(path)
    result = zero_shot_ssl(lambda: ResidualCNN(filters=8), inputs, epochs=1, splits_per_epoch=1, patience=1,
                           learning_rate=0.0, pretrained=path, seed=5)
    for a, b in zip(pretrained.get_weights(), result.model.get_weights()):
        np.testing.assert_allclose(a, b)


def _gamma_loss(model, inputs, seed=0):
    """Γ loss of ``model`` on one scan, computed here from the split definition (independent of the training loop)."""
    theta_rest, gamma = split_mask(inputs["mask"], tf.constant([seed, 2 ** 20 + 1]), rho=0.2)
    rest = {**inputs, "kspace": inputs["kspace"] * theta_rest.numpy(), "mask": theta_rest}
    target = pack_kspace_target(inputs["kspace"] * gamma.numpy(), gamma, inputs["sensitivities"])
    return float(SSDULoss()(target, model(rest)))


def test_zero_shot_keeps_the_starting_weights_when_no_epoch_beats_them():
    inputs, _ = toy_problem(batch=1, acceleration=2)
    trained = zero_shot_ssl(lambda: ResidualCNN(filters=8), inputs, epochs=4, splits_per_epoch=4, patience=4,
                            learning_rate=1e-2, seed=0).model
    start_weights, start_loss = trained.get_weights(), _gamma_loss(trained, inputs)
    # a learning rate that wrecks the network: no epoch beats the starting Γ loss, so nothing is kept
    result = zero_shot_ssl(trained, inputs, epochs=2, splits_per_epoch=3, patience=2, learning_rate=1.0, seed=0)
    assert result.best_epoch == 0 and min(result.history["val_loss"]) > start_loss
    np.testing.assert_allclose(result.history["start_val_loss"], start_loss, rtol=1e-4)
    for a, b in zip(start_weights, result.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_zero_shot_adapt_adapts_each_scan_and_restores_the_weights():
    inputs, _ = toy_problem(batch=2, acceleration=2)
    model = zero_shot_ssl(lambda: ResidualCNN(filters=8), {k: v[:1] for k, v in inputs.items()}, epochs=2,
                          splits_per_epoch=4, patience=2, learning_rate=1e-2, seed=0).model
    trained = model.get_weights()
    settings = {"epochs": 3, "splits_per_epoch": 3, "learning_rate": 3e-3, "patience": 3, "seed": 1}
    result = zero_shot_adapt(model, inputs, **settings)
    for a, b in zip(trained, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert result.image.shape == (2, 32, 32) and len(result.best_epochs) == 2
    assert max(result.best_epochs) > 0, result.best_epochs   # the adaptation did change weights
    for b in range(2):   # the same as adapting a fresh copy of the trained model to scan b alone
        scan = {k: v[b:b + 1] for k, v in inputs.items()}
        copy = ResidualCNN(filters=8)
        copy(scan)
        copy.set_weights(trained)
        alone = zero_shot_ssl(copy, scan, **settings)
        assert alone.best_epoch == result.best_epochs[b]
        np.testing.assert_allclose(result.image.numpy()[b], alone.image.numpy()[0], rtol=1e-4, atol=1e-5)
        # the kept weights lower (or keep) this scan's held-out Γ loss
        assert result.val_loss_change[b] <= 0.0
        assert _gamma_loss(alone.model, scan, seed=1) <= _gamma_loss(copy, scan, seed=1) * 1.0001


def test_zero_shot_adapt_refuses_an_untrained_builder():
    with pytest.raises(TypeError, match="model"):
        zero_shot_adapt(lambda: ResidualCNN(filters=8), toy_problem(batch=1)[0])
