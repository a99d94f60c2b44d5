"""Complex normalisation: 2x2 whitening to identity covariance, moving statistics, per-sample axes."""
import numpy as np
import pytest

from tfmri_zoo.layers.complex_norm import (ComplexBatchNormalization, ComplexInstanceNormalization,
                                           ComplexLayerNormalization)


def correlated(rng, shape, offset=(1.5, -0.7)):
    """Complex samples with strongly correlated, unequal-variance real/imag parts and a non-zero mean."""
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    return ((3.0 * a + offset[0]) + 1j * (2.0 * a + 0.5 * b + offset[1])).astype(np.complex64)


def covariance(z, axes):
    re, im = z.real.astype(np.float64), z.imag.astype(np.float64)
    re = re - re.mean(axis=axes, keepdims=True)
    im = im - im.mean(axis=axes, keepdims=True)
    return (np.mean(re * re, axis=axes), np.mean(re * im, axis=axes), np.mean(im * im, axis=axes))


@pytest.mark.parametrize("layer_cls, axes, kwargs", [
    (ComplexBatchNormalization, (0, 1, 2), {"training": True}),
    (ComplexInstanceNormalization, (1, 2), {}),
    (ComplexLayerNormalization, (1, 2, 3), {}),
])
def test_whitening_gives_zero_mean_identity_covariance(rng, layer_cls, axes, kwargs):
    x = correlated(rng, (4, 16, 16, 3))
    assert abs(covariance(x, axes)[1]).min() > 1.0  # correlated input
    y = layer_cls()(x, **kwargs).numpy()
    vrr, vri, vii = covariance(y, axes)
    for value, target in ((vrr, 1.0), (vri, 0.0), (vii, 1.0)):
        assert np.max(np.abs(value - target)) <= 1e-2
    assert np.max(np.abs(y.mean(axis=axes))) <= 1e-4


def test_batch_norm_moving_statistics_and_inference(rng):
    layer = ComplexBatchNormalization(momentum=0.0)  # moving stats = last batch stats
    x = correlated(rng, (8, 8, 8, 2))
    train = layer(x, training=True).numpy()
    mean = layer.moving_mean.numpy()
    np.testing.assert_allclose(mean[0], x.real.mean(axis=(0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(mean[1], x.imag.mean(axis=(0, 1, 2)), rtol=1e-4)
    cov = layer.moving_covariance.numpy()
    np.testing.assert_allclose(cov, np.stack(covariance(x, (0, 1, 2))), rtol=1e-3)
    np.testing.assert_allclose(layer(x, training=False).numpy(), train, atol=1e-4)
    other = correlated(rng, (8, 8, 8, 2), offset=(5.0, 5.0))
    inferred = layer(other, training=False).numpy()
    assert np.abs(inferred.mean()) > 0.5  # inference does not re-centre with the new batch
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mean)  # and does not update the moving statistics


def test_affine_gamma_matrix_and_complex_beta(rng):
    layer = ComplexInstanceNormalization()
    x = correlated(rng, (2, 8, 8, 1))
    white = layer(x).numpy()
    layer.gamma.assign([[2.0], [0.5], [1.0]])
    layer.beta.assign([[0.3], [-0.2]])
    y = layer(x).numpy()
    expected = (2.0 * white.real + 0.5 * white.imag + 0.3) + 1j * (0.5 * white.real + 1.0 * white.imag - 0.2)
    np.testing.assert_allclose(y, expected, atol=1e-5)
