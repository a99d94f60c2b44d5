"""SSDU (Eq. 24): the Θ/Λ split, the network never sees Λ, and training without a target lowers the loss."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.training.losses import SSDULoss
from tfmri_zoo.training.ssdu import split_mask, ssdu_dataset, ssdu_split_example
from tfmri_zoo.training.supervised import train


@pytest.fixture(scope="module")
def problem():
    return toy_problem(batch=2, acceleration=2)


@pytest.mark.parametrize("shape", [(3, 1, 1, 64), (2, 1, 24, 32)])
@pytest.mark.parametrize("selection", ["uniform", "gaussian"])
def test_split_is_a_partition_with_protected_centre(shape, selection):
    rng = np.random.default_rng(0)
    omega = (rng.uniform(size=shape) < 0.5).astype(np.float32)
    centre = [slice(None), slice(None)] + [slice(n // 2 - 2, n // 2 + 2) if n > 1 else slice(None) for n in shape[2:]]
    omega[tuple(centre)] = 1
    theta, lam = (m.numpy() for m in split_mask(omega, tf.constant([4, 2]), rho=0.4, selection=selection))
    np.testing.assert_array_equal(theta + lam, omega)
    assert np.all(theta * lam == 0)
    assert np.all(lam[tuple(centre)] == 0) and np.all(theta[tuple(centre)] == 1)
    per_example = omega.reshape(shape[0], -1).sum(1)
    np.testing.assert_array_equal(lam.reshape(shape[0], -1).sum(1), np.round(0.4 * per_example))
    other = split_mask(omega, tf.constant([5, 2]), rho=0.4, selection=selection)[1].numpy()
    assert not np.array_equal(other, lam)  # a new seed gives a new split


def test_gaussian_selection_prefers_the_centre():
    omega = np.ones((64, 1, 1, 64), np.float32)
    distance = np.abs(np.arange(64) - 32)
    mean = {}
    for selection in ("uniform", "gaussian"):
        lam = split_mask(omega, tf.constant([1, 1]), selection=selection, std=0.15)[1].numpy()
        mean[selection] = np.sum(lam[:, 0, 0] * distance) / lam.sum()
    assert mean["gaussian"] < 0.7 * mean["uniform"], mean


def test_network_never_sees_lambda(problem):
    """Gradient and perturbation: the output through transform + MoDL does not depend on k-space on Λ."""
    from tfmri_zoo.models.modl import MoDL

    inputs, target = problem
    model = MoDL(iterations=2, cg_iterations=3, regularizer={"name": "dncnn", "filters": 8, "layers": 2})
    seed = tf.constant([3, 7])
    kspace = tf.constant(inputs["kspace"])
    with tf.GradientTape() as tape:
        tape.watch(kspace)
        new_inputs, packed = ssdu_split_example({**inputs, "kspace": kspace}, target, seed)
        out = model(new_inputs)
        energy = tf.reduce_sum(tf.abs(out) ** 2)
    grad = np.abs(tape.gradient(energy, kspace).numpy())
    lam = split_mask(inputs["mask"], seed)[1].numpy()
    theta = new_inputs["mask"].numpy()
    on_lambda = np.broadcast_to(lam > 0, grad.shape)
    on_theta = np.broadcast_to(theta > 0, grad.shape)
    assert on_lambda.any() and grad[on_theta].max() > 0
    assert grad[on_lambda].max() == 0.0
    noise = (np.random.default_rng(1).normal(size=kspace.shape) * 10).astype(np.complex64) * (lam > 0)
    again = model(ssdu_split_example({**inputs, "kspace": inputs["kspace"] + noise}, target, seed)[0])
    np.testing.assert_array_equal(again.numpy(), out.numpy())
    # the loss, on the other hand, sees exactly Λ
    np.testing.assert_array_equal(np.real(packed.numpy()[:, 1:2]) > 0, np.broadcast_to(lam > 0, packed[:, 1:2].shape))


def test_ssdu_training_without_target_lowers_loss(problem, tmp_path):
    inputs, _ = problem
    no_target = np.zeros((2, 32, 32), np.float32)  # SSDU never needs a fully sampled image
    data = ssdu_dataset(tf.data.Dataset.from_tensors((inputs, no_target)).repeat(), seed=0)
    model, history = train(lambda: ResidualCNN(filters=16), data, out_dir=str(tmp_path), epochs=3,
                           steps_per_epoch=15, loss=SSDULoss(), learning_rate=3e-3, seed=0, verbose=0,
                           tensorboard=False, checkpoint=False)
    first, last = history.history["loss"][0], history.history["loss"][-1]
    assert last < 0.8 * first, history.history["loss"]
    # inference uses all of Ω: the ordinary inputs
    out = model(inputs).numpy()
    assert out.shape == (2, 32, 32) and np.all(np.isfinite(out))
