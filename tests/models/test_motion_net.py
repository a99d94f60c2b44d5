"""motion_net: zoo contract, pinned default size, motion estimator, warping loss, end-to-end gradients."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_cinenet import check_dynamic_zoo_contract, dynamic_problem
from tfmri_zoo import models
from tfmri_zoo.physics.warp import warp
from tfmri_zoo.models.motion_net import MotionEstimator, MotionNet, warping_loss

DEFAULT_PARAMS = 1925346  # printed in models/motion_net/README.md


@pytest.fixture(scope="module")
def problem():
    return dynamic_problem()


def test_small_preset_meets_the_zoo_contract(problem):
    inputs, target = problem
    check_dynamic_zoo_contract("motion_net", MotionNet, inputs, target, sense_iterations=1, cg_iterations=2)


def test_default_size(problem):
    inputs, _ = problem
    model = models.get("motion_net", preset="default")
    model({k: v[:1] for k, v in inputs.items()})
    assert model.count_params() == DEFAULT_PARAMS
    assert model.estimator.diffeomorphic and model.cg_iterations == 20


def test_estimator_fields_and_warping_loss(rng):
    yy, xx = np.meshgrid(np.linspace(-1, 1, 16), np.linspace(-1, 1, 16), indexing="ij")
    reference = np.exp(-5 * (yy ** 2 + xx ** 2)).astype(np.complex64)
    true = np.zeros((1, 3, 16, 16, 2), np.float32)
    true[0, 1, ..., 0], true[0, 2, ..., 1] = 1.0, -1.5 * np.exp(-2 * xx ** 2)
    frames = warp(np.broadcast_to(reference, (1, 3, 16, 16)), true).numpy()
    assert warping_loss(frames, true, smoothness=0.0) < 1e-10
    assert warping_loss(frames, np.zeros_like(true), smoothness=0.0) > 1e-3
    estimator = MotionEstimator(filters=4, depth=1, reference=1, max_displacement=3.0, diffeomorphic=True)
    fields = estimator(frames).numpy()
    assert fields.shape == (1, 3, 16, 16, 2) and np.all(fields[:, 1] == 0)
    assert np.abs(fields).max() <= 3.0 * 1.5  # tanh bound, composed by scaling and squaring at most ~doubles


def test_gradients_reach_the_estimator_through_the_cg_and_the_warping_loss(problem):
    inputs, target = problem
    model = MotionNet(filters=4, depth=1, sense_iterations=1, cg_iterations=2, warp_loss_weight=1.0)
    model(inputs)
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        loss = tf.reduce_mean(tf.abs(out - target) ** 2)
        assert len(model.losses) == 1 and float(model.losses[0]) > 0
    grads = tape.gradient(loss, model.estimator.trainable_variables)
    assert all(g is not None for g in grads) and max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 0
