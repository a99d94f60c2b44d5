import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.physics import SenseOperator

# (image shape, sensitivity shape, mask shape, spatial_rank): 2D, 3D, 2D+t, 3D+t, single-coil, broadcast time.
CASES = {
    "2d": ((2, 12, 10), (2, 4, 12, 10), (2, 1, 1, 10), 2),
    "3d": ((2, 6, 8, 10), (2, 3, 6, 8, 10), (2, 1, 6, 1, 10), 3),
    "2d+t": ((2, 5, 8, 10), (2, 3, 1, 8, 10), (2, 1, 5, 1, 10), 2),
    "3d+t": ((1, 3, 4, 6, 8), (1, 2, 3, 4, 6, 8), (1, 1, 3, 4, 6, 1), 3),
    "single-coil": ((2, 12, 10), None, (2, 1, 1, 10), 2),
    # normal() transforms only the axes the mask varies along: a 2D mask, 3D lines (mask constant along the first
    # spatial axis), odd sizes (complex centring ramps instead of the ±1 checkerboard), no mask (no FFT at all).
    "2d-mask": ((2, 12, 10), (2, 4, 12, 10), (2, 1, 12, 10), 2),
    "3d-lines": ((2, 6, 8, 10), (2, 3, 6, 8, 10), (2, 1, 1, 8, 10), 3),
    "odd": ((2, 9, 7), (2, 3, 9, 7), (2, 1, 1, 7), 2),
    "odd-single-coil": ((1, 5, 9), None, (1, 1, 5, 9), 2),
    "no-mask": ((2, 12, 10), (2, 4, 12, 10), None, 2),
    # lines given as a full 2D mask (as the serving signature sends them): normal() finds it at run time
    "2d-lines-as-2d-mask": ((2, 12, 10), (2, 4, 12, 10), (2, 1, 12, 10), 2),
    # a mask that is the same for every example and coil, and a soft (non-binary) weight: normal() is E^H E = M² here
    "soft-mask": ((2, 12, 10), (2, 4, 12, 10), (1, 1, 1, 1), 2),
}


def make(rng, case, dtype=np.complex128):
    image_shape, sens_shape, mask_shape, rank = CASES[case]
    sens = None if sens_shape is None else crandn(rng, *sens_shape, dtype=dtype)
    mask = None if mask_shape is None else (rng.uniform(size=mask_shape) < 0.5).astype(np.float32)
    if case == "2d-lines-as-2d-mask":
        mask = np.broadcast_to((rng.uniform(size=mask_shape[:2] + (1, mask_shape[3])) < 0.5), mask_shape)
        mask = mask.astype(np.float32).copy()
    if case == "soft-mask":
        mask = np.full(mask_shape, 0.6, np.float32)
    op = SenseOperator(sens, mask, spatial_rank=rank, dtype=tf.as_dtype(dtype))
    return op, sens, mask, crandn(rng, *image_shape, dtype=dtype)


def numpy_forward(x, sens, mask, rank):
    axes = tuple(range(-rank, 0))
    coil = x[:, None] if sens is None else x[:, None] * sens
    k = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(coil, axes=axes), axes=axes, norm="ortho"), axes=axes)
    return k if mask is None else k * mask


@pytest.mark.parametrize("case", list(CASES))
def test_adjoint_identity(rng, case):
    op, sens, mask, x = make(rng, case, np.complex64)
    y = crandn(rng, *op.forward(x).shape)
    lhs = np.vdot(op.forward(x).numpy(), y)
    rhs = np.vdot(x, op.adjoint(y).numpy())
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)


@pytest.mark.parametrize("case", list(CASES))
def test_forward_equals_numpy(rng, case):
    op, sens, mask, x = make(rng, case)
    rank = CASES[case][3]
    np.testing.assert_allclose(op.forward(x).numpy(), numpy_forward(x, sens, mask, rank), atol=1e-12)


def centred_dft_matrix(n):
    """The n×n matrix of the centred orthonormal DFT, built entry by entry from its definition."""
    j = np.arange(n) - n // 2          # fftshift/ifftshift of an index range centres it at n//2
    return np.exp(-2j * np.pi * np.outer(j, j) / n) / np.sqrt(n)


def dense_encoding(sens, mask, spatial):
    """The dense matrix E (one batch element) of shape [C·N, N], N = prod(spatial): rows = masked DFT of S_c x."""
    f = centred_dft_matrix(spatial[0])
    for n in spatial[1:]:
        f = np.kron(f, centred_dft_matrix(n))
    coils = [np.ones(spatial)] if sens is None else list(sens)
    m = np.broadcast_to(1.0 if mask is None else mask, (len(coils),) + tuple(spatial)).reshape(len(coils), -1)
    return np.concatenate([m[c][:, None] * f * coils[c].reshape(1, -1) for c in range(len(coils))])


@pytest.mark.parametrize("case", ["2d", "3d", "single-coil", "2d-mask", "3d-lines", "odd", "odd-single-coil", "no-mask",
                                  "2d-lines-as-2d-mask", "soft-mask"])
def test_forward_adjoint_and_normal_equal_dense_matrices(rng, case):
    """E, Eᴴ and EᴴE against a dense matrix assembled from the DFT's definition (independent of the FFT code)."""
    op, sens, mask, x = make(rng, case)
    spatial = x.shape[1:]
    y = crandn(rng, *op.forward(x).shape, dtype=np.complex128)
    normal, forward, adjoint = op.normal(x).numpy(), op.forward(x).numpy(), op.adjoint(y).numpy()
    for b in range(x.shape[0]):
        e = dense_encoding(None if sens is None else sens[b], None if mask is None else mask[b % len(mask)], spatial)
        np.testing.assert_allclose(forward[b].reshape(-1), e @ x[b].reshape(-1), atol=1e-10)
        np.testing.assert_allclose(adjoint[b].reshape(-1), e.conj().T @ y[b].reshape(-1), atol=1e-10)
        gram = e.conj().T @ e
        np.testing.assert_allclose(normal[b].reshape(-1), gram @ x[b].reshape(-1), atol=1e-10)
        assert np.allclose(gram, gram.conj().T) and np.linalg.eigvalsh(gram).min() > -1e-10  # Hermitian PSD


def test_full_sampling_normalised_maps_is_identity(rng):
    sens = crandn(rng, 2, 4, 8, 8)
    sens /= np.sqrt(np.sum(np.abs(sens) ** 2, axis=1, keepdims=True))
    x = crandn(rng, 2, 8, 8)
    np.testing.assert_allclose(SenseOperator(sens, None).normal(x).numpy(), x, atol=1e-5)


def test_bool_mask_and_graph_mode(rng):
    op, sens, mask, x = make(rng, "2d", np.complex64)
    bool_op = SenseOperator(sens, mask.astype(bool))
    f = tf.function(lambda v: bool_op.normal(v), jit_compile=True)
    np.testing.assert_allclose(f(x).numpy(), op.normal(x).numpy(), atol=1e-4)


@pytest.mark.parametrize("call, error, word", [
    (lambda s, m, x, k: SenseOperator(np.abs(s), m), TypeError, "sensitivities"),
    (lambda s, m, x, k: SenseOperator(s[0], m), ValueError, "sensitivities"),
    (lambda s, m, x, k: SenseOperator(s, m.astype(np.complex64)), TypeError, "mask"),
    (lambda s, m, x, k: SenseOperator(s, m).forward(np.abs(x)), TypeError, "image"),
    (lambda s, m, x, k: SenseOperator(s, m).forward(x[0]), ValueError, "image"),
    (lambda s, m, x, k: SenseOperator(s, m).adjoint(k[:, :2]), ValueError, "coils"),
    (lambda s, m, x, k: SenseOperator(s, m[..., :3]).adjoint(k), ValueError, "mask"),
    (lambda s, m, x, k: SenseOperator(s, m, spatial_rank=4), ValueError, "spatial_rank"),
])
def test_bad_input_names_argument(rng, call, error, word):
    op, sens, mask, x = make(rng, "2d", np.complex64)
    k = op.forward(x).numpy()
    with pytest.raises(error, match=word):
        call(sens, mask, x, k)


def test_values_are_not_checked_per_construction(rng):
    """The operator checks dtypes, ranks and static shapes only; NaN values are refused where data enter the package
    (models, solvers, serving — tests/test_validation.py), not at each of the many constructions in one model call."""
    op, sens, mask, x = make(rng, "2d", np.complex64)
    bad = np.where(sens == sens[0, 0, 0, 0], np.nan, sens)
    assert np.isnan(SenseOperator(bad, mask).forward(x).numpy()).any()


def test_normal_with_run_time_mask_shape_matches_eager(rng):
    """A mask whose static shape is unknown (a serving signature) takes the same values through both branches."""
    op, sens, mask, x = make(rng, "2d-lines-as-2d-mask", np.complex64)
    for m in (mask, (rng.uniform(size=mask.shape) < 0.5).astype(np.float32)):
        f = tf.function(lambda v, mm: SenseOperator(sens, mm).normal(v),
                        input_signature=[tf.TensorSpec([None, None, None], tf.complex64),
                                         tf.TensorSpec([None, None, None, None], tf.float32)])
        np.testing.assert_allclose(f(x, m).numpy(), SenseOperator(sens, m).adjoint(SenseOperator(sens, m).forward(x)).numpy(),
                                   atol=1e-5)
