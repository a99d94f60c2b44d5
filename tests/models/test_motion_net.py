"""motion_net: zoo contract, pinned default size, motion estimator, warping loss, end-to-end gradients."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_cinenet import check_dynamic_zoo_contract, dynamic_problem
from tfmri_zoo import models
from tfmri_zoo.physics.motion import motion_compensated_sense
from tfmri_zoo.physics.warp import warp
from tfmri_zoo.models.motion_net import MotionEstimator, MotionNet, warping_loss

DEFAULT_PARAMS = 1925346  # printed in models/motion_net/README.md


def moving_problem(n=16, frames=4, coils=4):
    """One 2D+t example with known rigid motion, generated analytically (no warp code): frame t is the smooth
    reference image f evaluated at ``p + s_t`` (the fields' convention ``frame_t(p) = x(p + u_t(p))``), k-space by
    numpy's FFT through the maps and the k-t mask of ``toy_problem``.

    Returns ``(inputs, truth complex64 [1, T, n, n], fields float32 [1, T, n, n, 2])``.
    """
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=coils, height=n, width=n, frames=frames, acceleration=4)
    shifts = np.array([[0, 0], [0.8, -0.6], [-0.7, 0.9], [1.1, 0.4]][:frames], np.float32)
    yy, xx = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing="ij")
    c = (n - 1) / 2

    def image(y, x):
        blobs = np.exp(-((y - c) ** 2 + (x - c - 1) ** 2) / 12.0) + 0.6 * np.exp(-((y - c + 3) ** 2 +
                                                                                  (x - c + 3) ** 2) / 6.0)
        return blobs * np.exp(0.3j * (x - c) / n)

    truth = np.stack([image(yy + s[0], xx + s[1]) for s in shifts])[None].astype(np.complex64)
    fields = np.ascontiguousarray(np.broadcast_to(shifts[None, :, None, None, :], (1, frames, n, n, 2)))
    axes = (-2, -1)
    coil_images = truth[:, None] * inputs["sensitivities"]
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coil_images, axes=axes), norm="ortho"), axes=axes)
    return {**inputs, "kspace": (kspace * inputs["mask"]).astype(np.complex64)}, truth, fields


def relative_error(x, truth):
    return float(np.linalg.norm(x - truth) / np.linalg.norm(truth))


def with_fields(model, inputs, fields):
    """Builds ``model`` and makes its motion estimate the given fields (the estimator's output replaced)."""
    model({k: v[..., :1, :, :] if k != "sensitivities" else v for k, v in inputs.items()})  # cheap build, T = 1
    model.estimate_motion = lambda kspace, mask, sensitivities, training=None: (None, tf.constant(fields))
    return model


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


def test_true_fields_reproduce_motion_compensated_sense_and_the_moving_frames():
    """With the true fields in place of the estimate, the model is MC-CG-SENSE and recovers the moving frames;
    zero or sign-flipped fields do not (the fields enter the operator the right way round)."""
    inputs, truth, fields = moving_problem()
    model = with_fields(MotionNet(filters=4, depth=1, sense_iterations=1, cg_iterations=25, lam=1e-4), inputs, fields)
    out = model(inputs).numpy()
    def mc_sense(u):
        return motion_compensated_sense(inputs["kspace"], inputs["mask"], inputs["sensitivities"], u, max_iter=25,
                                        lam=1e-4)

    reference = mc_sense(fields).numpy()
    np.testing.assert_allclose(out, reference, atol=1e-4 * np.abs(reference).max())
    assert relative_error(out, truth) < 0.03
    assert relative_error(mc_sense(-fields).numpy(), truth) > 0.2    # sign-flipped fields fail
