"""Motion-aware operator E_t = M_t F C W_t and motion-compensated CG-SENSE."""
import numpy as np
import pytest

from tests.conftest import crandn
from tfmri_zoo.physics.warp import warp
from tfmri_zoo.physics.motion import MotionSenseOperator, motion_compensated_sense
from tfmri_zoo.physics.sense import SenseOperator


def _fields(rng, batch, frames, size, amplitude=1.5):
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    u = np.zeros((batch, frames, size, size, 2), np.float32)
    for b in range(batch):
        for t in range(1, frames):
            a = amplitude * t / frames
            u[b, t, ..., 0] = a * rng.uniform(0.5, 1) * np.exp(-2 * (yy ** 2 + xx ** 2)) + 0.5 * a
            u[b, t, ..., 1] = a * rng.uniform(-1, 1) * yy
    return u


def _coils(rng, batch, coils, size):
    s = crandn(rng, batch, coils, 1, size, size)
    return s / np.sqrt(np.sum(np.abs(s) ** 2, axis=1, keepdims=True))


def test_adjoint_identity_and_stages(rng):
    b, c, t, n = 2, 4, 3, 20
    sens, u = _coils(rng, b, c, n), _fields(rng, b, t, n)
    mask = (rng.random((b, 1, t, 1, n)) < 0.4).astype(np.float32)
    op = MotionSenseOperator(sens, mask, u)
    x, y = crandn(rng, b, n, n), crandn(rng, b, c, t, n, n)
    lhs, rhs = np.vdot(y, op.forward(x).numpy()), np.vdot(op.adjoint(y).numpy(), x)
    assert abs(lhs - rhs) / abs(lhs) < 1e-5
    # forward = 2D+t SENSE of the warped frames (the stages are SenseOperator's)
    frames = warp(np.broadcast_to(x[:, None], (b, t, n, n)), u).numpy()
    np.testing.assert_allclose(op.forward(x).numpy(), SenseOperator(sens, mask).forward(frames).numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(op.frames(x).numpy(), frames, atol=1e-6)
    # zero fields: Eᴴ y is the sum over frames of the 2D+t SENSE adjoint
    op0 = MotionSenseOperator(sens, mask, np.zeros_like(u))
    np.testing.assert_allclose(op0.adjoint(y).numpy(), SenseOperator(sens, mask).adjoint(y).numpy().sum(1),
                               atol=1e-4)


def test_motion_compensated_cg_recovers_moving_frames_that_framewise_sense_cannot(rng):
    b, c, t, n = 1, 4, 4, 24
    yy, xx = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    reference = (np.exp(-6 * ((yy - 0.1) ** 2 + xx ** 2)) + 0.5 * np.exp(-20 * ((yy + 0.4) ** 2 + (xx - 0.3) ** 2))
                 ).astype(np.complex64)[None]
    sens, u = _coils(rng, b, c, n), _fields(rng, b, t, n)
    mask = np.zeros((b, 1, t, 1, n), np.float32)
    for f in range(t):
        mask[0, 0, f, 0, f::t] = 1  # R = 4 per frame, complementary lines over time, no calibration region
    op = MotionSenseOperator(sens, mask, u)
    kspace = op.forward(reference).numpy()
    truth = op.frames(reference).numpy()
    mc = motion_compensated_sense(kspace, mask, sens, u, max_iter=30).numpy()
    framewise = motion_compensated_sense(kspace, mask, sens, np.zeros_like(u), max_iter=30).numpy()
    err = lambda z: np.linalg.norm(z - truth) / np.linalg.norm(truth)  # noqa: E731
    assert mc.shape == truth.shape and err(mc) < 0.05, err(mc)
    assert err(framewise) > 3 * err(mc), (err(framewise), err(mc))
    ref = motion_compensated_sense(kspace, mask, sens, u, max_iter=30, return_reference=True).numpy()
    assert ref.shape == (b, n, n)


def test_bad_input_is_named(rng):
    sens, mask = _coils(rng, 1, 2, 8), np.ones((1, 1, 3, 1, 8), np.float32)
    with pytest.raises(ValueError, match="displacements"):
        MotionSenseOperator(sens, mask, np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(TypeError, match="displacements"):
        MotionSenseOperator(sens, mask, np.zeros((1, 3, 8, 8, 2), np.complex64))
    op = MotionSenseOperator(sens, mask, np.zeros((1, 3, 8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="image"):
        op.forward(crandn(rng, 1, 3, 8, 8))
    with pytest.raises(ValueError, match="lam"):
        motion_compensated_sense(np.zeros((1, 2, 3, 8, 8), np.complex64), mask, sens,
                                 np.zeros((1, 3, 8, 8, 2), np.float32), lam=-1.0)
