"""Zero-shot SSL on one tiny scan: the training loss falls, early stopping on the Γ loss ends the run, best weights."""
import numpy as np
import tensorflow as tf

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.training.losses import SSDULoss
from tfmri_zoo.training.ssdu import split_mask
from tfmri_zoo.training.targets import pack_kspace_target
from tfmri_zoo.training.zero_shot import zero_shot_ssl


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
