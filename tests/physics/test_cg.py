import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.physics import SenseOperator, conjugate_gradient


def hpd_batch(rng, batch, n):
    a = crandn(rng, batch, n, n, dtype=np.complex128)
    return a @ np.conj(np.swapaxes(a, 1, 2)) + n * np.eye(n)


def test_cg_solves_batched_hermitian_systems(rng):
    a = hpd_batch(rng, 3, 12)
    b = crandn(rng, 3, 12, dtype=np.complex128)
    op = lambda x: tf.linalg.matvec(tf.constant(a), x)  # noqa: E731
    x = conjugate_gradient(op, b, max_iter=12)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b[..., None])[..., 0], atol=1e-8)


def test_cg_tolerance_stops_early_and_converges(rng):
    a = hpd_batch(rng, 2, 20)
    b = crandn(rng, 2, 20, dtype=np.complex128)
    calls = []
    op = lambda x: (calls.append(1), tf.linalg.matvec(tf.constant(a), x))[1]  # noqa: E731
    x = conjugate_gradient(op, b, max_iter=200, tol=1e-10)
    ref = np.linalg.solve(a, b[..., None])[..., 0]
    assert np.linalg.norm(x.numpy() - ref) <= 1e-8 * np.linalg.norm(ref)


def test_cg_sense_recovers_image_and_handles_zero_rhs(rng):
    sens = crandn(rng, 1, 4, 16, 16)
    mask = np.zeros((1, 1, 1, 16), np.float32)
    mask[..., ::2] = 1
    mask[..., 6:10] = 1
    op = SenseOperator(sens, mask)
    x = crandn(rng, 1, 16, 16)
    rhs = op.adjoint(op.forward(x))
    est = conjugate_gradient(op.normal, rhs, max_iter=100, tol=1e-7)
    assert np.linalg.norm(est.numpy() - x) <= 1e-3 * np.linalg.norm(x)
    zero = conjugate_gradient(op.normal, tf.zeros_like(rhs), max_iter=5)
    assert np.all(zero.numpy() == 0)


def test_cg_gradient_matches_finite_differences(rng):
    a = tf.constant(hpd_batch(rng, 1, 6))
    b = tf.Variable(crandn(rng, 1, 6, dtype=np.complex128))
    loss = lambda: tf.reduce_sum(tf.abs(conjugate_gradient(lambda x: tf.linalg.matvec(a, x), b, max_iter=6)) ** 2)  # noqa
    with tf.GradientTape() as tape:
        value = loss()
    grad = tape.gradient(value, b).numpy()
    direction = crandn(rng, 1, 6, dtype=np.complex128)
    eps = 1e-6
    b0 = b.numpy()
    b.assign(b0 + eps * direction)
    plus = loss().numpy()
    b.assign(b0 - eps * direction)
    minus = loss().numpy()
    numeric = (plus - minus) / (2 * eps)
    analytic = np.real(np.vdot(grad, direction))  # TF: grad = conj(dL/dz*)·2 convention → Re⟨g, d⟩
    np.testing.assert_allclose(analytic, numeric, rtol=1e-3)


def test_cg_rejects_bad_arguments():
    with pytest.raises(TypeError, match="rhs"):
        conjugate_gradient(lambda x: x, tf.zeros([2, 3]))
    with pytest.raises(ValueError, match="max_iter"):
        conjugate_gradient(lambda x: x, tf.zeros([2, 3], tf.complex64), max_iter=-1)
