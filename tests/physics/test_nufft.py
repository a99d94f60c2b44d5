"""NUFFT: exact adjoint, accuracy against an exact non-uniform DFT (numpy), Cartesian limit, batching, errors."""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.physics.fft import fftnc
from tfmri_zoo.physics.nufft import NUFFT, kaiser_bessel_beta, nufft, nufft_adjoint


def ndft_matrix(points, image_shape):
    """Exact type-2 DFT matrix ``[M, prod N]``: exp(-i⟨k, n⟩)/sqrt(N), n centred (i - N//2), float64."""
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in image_shape], indexing="ij")
    coords = np.stack([g.ravel() for g in grids], -1)
    return np.exp(-1j * points @ coords.T) / np.sqrt(np.prod(image_shape))


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("image_shape", [(16, 20), (8, 10, 12)])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_adjoint_identity(rng, image_shape, dtype):
    points = rng.uniform(-np.pi, np.pi, (200, len(image_shape)))
    op = NUFFT(points, image_shape, dtype=dtype)
    x = crandn(rng, 2, 3, *image_shape, dtype=dtype)
    y = crandn(rng, 2, 3, 200, dtype=dtype)
    lhs = np.vdot(op.forward(x).numpy(), y)
    rhs = np.vdot(x, op.adjoint(y).numpy())
    assert abs(lhs - rhs) / abs(lhs) <= 1e-5


@pytest.mark.parametrize("image_shape", [(16, 20), (8, 10, 12)])
@pytest.mark.parametrize("kernel_width", [4, 5])
def test_agrees_with_exact_ndft(rng, image_shape, kernel_width):
    points = rng.uniform(-np.pi, np.pi, (300, len(image_shape)))
    x = crandn(rng, 2, *image_shape, dtype=np.complex128)
    matrix = ndft_matrix(points, image_shape)
    forward = nufft(x, points, kernel_width=kernel_width).numpy()
    assert rel(forward, x.reshape(2, -1) @ matrix.T) <= 1e-3
    y = crandn(rng, 2, 300, dtype=np.complex128)
    adjoint = nufft_adjoint(y, points, image_shape, kernel_width=kernel_width).numpy()
    assert rel(adjoint.reshape(2, -1), y @ matrix.conj()) <= 1e-3


def test_complex64_accuracy_and_default_width(rng):
    points = rng.uniform(-np.pi, np.pi, (400, 2)).astype(np.float32)
    x = crandn(rng, 16, 16)
    out = nufft(x, points)
    assert out.dtype == tf.complex64
    assert rel(out.numpy(), x.reshape(-1) @ ndft_matrix(points.astype(np.float64), (16, 16)).T) <= 2e-4


def test_cartesian_trajectory_reproduces_fftnc(rng):
    h, w = 12, 16
    ky, kx = np.meshgrid(2 * np.pi * (np.arange(h) - h // 2) / h, 2 * np.pi * (np.arange(w) - w // 2) / w,
                         indexing="ij")
    points = np.stack([ky.ravel(), kx.ravel()], -1)
    x = crandn(rng, 3, h, w, dtype=np.complex128)
    expected = fftnc(x).numpy().reshape(3, -1)
    assert rel(nufft(x, points, kernel_width=6).numpy(), expected) <= 1e-4
    # on a Cartesian grid the adjoint of the (near-unitary) NUFFT inverts it
    assert rel(nufft_adjoint(expected, points, (h, w), kernel_width=6).numpy(), x) <= 1e-4


def test_per_frame_trajectory_broadcasts_over_batch_and_coils(rng):
    points = rng.uniform(-np.pi, np.pi, (3, 40, 2)).astype(np.float32)       # [T, M, 2]
    x = crandn(rng, 2, 4, 3, 8, 8)                                          # [B, C, T, H, W]
    y = crandn(rng, 2, 4, 3, 40)
    op = NUFFT(points, (8, 8))
    forward, adjoint = op.forward(x).numpy(), op.adjoint(y).numpy()
    assert forward.shape == (2, 4, 3, 40) and adjoint.shape == (2, 4, 3, 8, 8)
    for t in range(3):
        frame = NUFFT(points[t], (8, 8))
        np.testing.assert_allclose(forward[:, :, t], frame.forward(x[:, :, t]).numpy(), atol=1e-5)
        np.testing.assert_allclose(adjoint[:, :, t], frame.adjoint(y[:, :, t]).numpy(), atol=1e-5)


def test_graph_and_xla(rng):
    points = rng.uniform(-np.pi, np.pi, (60, 2)).astype(np.float32)
    op = NUFFT(points, (8, 8))
    x = crandn(rng, 2, 8, 8)
    normal = tf.function(lambda v: op.adjoint(op.forward(v)), jit_compile=True)
    np.testing.assert_allclose(normal(x).numpy(), op.adjoint(op.forward(x)).numpy(), atol=1e-5)


@pytest.mark.parametrize("xla", [False, True])
def test_per_batch_trajectory_shared_by_coils_against_ndft(rng, xla):
    # points [B, 1, M, 2] with data [B, C, ...]: one trajectory per batch element, shared by the coils (the layout
    # of the non-Cartesian models). Sparse-matrix gridding (graph) and gather/segment-sum gridding (XLA) both
    # match the exact NDFT of each batch element.
    points = rng.uniform(-np.pi, np.pi, (2, 1, 50, 2))
    op = NUFFT(points, (8, 6), kernel_width=6, dtype=tf.complex128)
    x, y = crandn(rng, 2, 3, 8, 6, dtype=np.complex128), crandn(rng, 2, 3, 50, dtype=np.complex128)
    forward = tf.function(op.forward, jit_compile=xla)(tf.constant(x)).numpy()
    adjoint = tf.function(op.adjoint, jit_compile=xla)(tf.constant(y)).numpy()
    for b in range(2):
        matrix = ndft_matrix(points[b, 0], (8, 6))
        assert rel(forward[b], x[b].reshape(3, -1) @ matrix.T) < 2e-5
        assert rel(adjoint[b].reshape(3, -1), y[b] @ matrix.conj()) < 2e-5


@pytest.mark.parametrize("xla", [False, True])
def test_gradients_are_the_adjoint(rng, xla):
    # TensorFlow's gradient of L = ||A x - y||² with respect to complex x is 2 Aᴴ (A x - y); with respect to y of
    # ||Aᴴ y - x||² it is 2 A (Aᴴ y - x). The reference uses the exact NDFT matrix, not the NUFFT.
    points = rng.uniform(-np.pi, np.pi, (60, 2))
    op = NUFFT(points, (8, 8), kernel_width=6, dtype=tf.complex128)
    matrix = ndft_matrix(points, (8, 8))
    x = tf.constant(crandn(rng, 2, 8, 8, dtype=np.complex128))
    y = tf.constant(crandn(rng, 2, 60, dtype=np.complex128))
    forward = tf.function(op.forward, jit_compile=xla)
    adjoint = tf.function(op.adjoint, jit_compile=xla)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        loss_x = tf.reduce_sum(tf.abs(forward(x) - y) ** 2)
        loss_y = tf.reduce_sum(tf.abs(adjoint(y) - x) ** 2)
    xs, ys = x.numpy().reshape(2, -1), y.numpy()
    expected_x = 2 * (xs @ matrix.T - ys) @ matrix.conj()
    expected_y = 2 * (ys @ matrix.conj() - xs) @ matrix.T
    assert rel(tape.gradient(loss_x, x).numpy().reshape(2, -1), expected_x) < 2e-5
    assert rel(tape.gradient(loss_y, y).numpy(), expected_y) < 2e-5


def test_beatty_beta():
    # Beatty et al. 2005: β = π sqrt((W/σ)² (σ - 1/2)² - 0.8); W = 4, σ = 2 → π sqrt(8.2)
    assert kaiser_bessel_beta(4, 2.0) == pytest.approx(np.pi * np.sqrt(8.2))
    with pytest.raises(ValueError, match="kernel_width"):
        kaiser_bessel_beta(1, 1.25)


def test_bad_input_names_argument(rng):
    points = rng.uniform(-np.pi, np.pi, (10, 2))
    with pytest.raises(TypeError, match="image"):
        nufft(np.ones((8, 8), np.float32), points)
    with pytest.raises(ValueError, match="points"):
        NUFFT(rng.uniform(-np.pi, np.pi, (10, 3)), (8, 8))
    with pytest.raises(TypeError, match="points"):
        NUFFT(points.astype(np.complex64), (8, 8))
    with pytest.raises(ValueError, match="points"):
        NUFFT(np.full((10, 2), np.nan), (8, 8))
    with pytest.raises(ValueError, match="image"):
        NUFFT(points, (8, 8)).forward(crandn(rng, 8, 9))
    with pytest.raises(ValueError, match="kspace"):
        NUFFT(points, (8, 8)).adjoint(crandn(rng, 2, 11))
    with pytest.raises(ValueError, match="kernel_width"):
        NUFFT(points, (8, 8), kernel_width=1)
