"""Dipole kernel and operator (QSM's forward model) against the formula, numpy FFT convolution, the adjoint identity."""
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.physics.dipole import DipoleOperator, dipole_kernel


def test_kernel_equals_the_formula_point_by_point():
    shape, voxel, b0 = (4, 5, 6), (1.0, 0.8, 1.2), (0.6, 0.0, 0.8)
    kernel = dipole_kernel(shape, voxel, b0)
    for i in range(4):
        for j in range(5):
            for m in range(6):
                k = np.array([(i - 2) / (4 * 1.0), (j - 2) / (5 * 0.8), (m - 3) / (6 * 1.2)])
                expected = 0.0 if not k.any() else 1 / 3 - (k @ np.array(b0)) ** 2 / (k @ k)
                assert kernel[i, j, m] == pytest.approx(expected, abs=1e-12)
    assert dipole_kernel((8, 8, 8))[4, 4, 4] == 0.0
    assert dipole_kernel((8, 8, 8))[5, 4, 4] == pytest.approx(-2 / 3)     # k ∥ B0
    assert dipole_kernel((8, 8, 8))[4, 5, 4] == pytest.approx(1 / 3)      # k ⟂ B0


def test_forward_is_a_numpy_fft_convolution_and_self_adjoint(rng):
    shape = (6, 8, 10)
    op = DipoleOperator(shape, (1.0, 1.0, 2.0), (1.0, 0.2, 0.0), dtype=tf.complex128)
    chi = rng.standard_normal((2, *shape))
    expected = np.fft.ifftn(np.fft.ifftshift(op.kernel) * np.fft.fftn(chi, axes=(-3, -2, -1)), axes=(-3, -2, -1))
    np.testing.assert_allclose(op.forward(chi).numpy(), expected, atol=1e-12)
    x = rng.standard_normal((2, *shape)) + 1j * rng.standard_normal((2, *shape))
    y = rng.standard_normal((2, *shape)) + 1j * rng.standard_normal((2, *shape))
    lhs, rhs = np.vdot(op.forward(x).numpy(), y), np.vdot(x, op.adjoint(y).numpy())
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)
    np.testing.assert_allclose(op.normal(x).numpy(), op.adjoint(op.forward(x)).numpy(), atol=1e-12)
    single = DipoleOperator(shape)                                           # complex64: identity to 1e-5
    a, b = single.forward(x.astype(np.complex64)).numpy(), y.astype(np.complex64)
    assert abs(np.vdot(a, b) - np.vdot(x.astype(np.complex64), single.adjoint(b).numpy())) <= 1e-5 * abs(np.vdot(a, b))


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="shape"):
        dipole_kernel((4, 4))
    with pytest.raises(ValueError, match="voxel_size"):
        dipole_kernel((4, 4, 4), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="b0_direction"):
        dipole_kernel((4, 4, 4), b0_direction=(0, 0, 0))
    with pytest.raises(ValueError, match="susceptibility"):
        DipoleOperator((4, 4, 4)).forward(np.zeros((1, 4, 4, 5), np.float32))
