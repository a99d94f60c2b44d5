"""Metrics: numpy equal to fastMRI's evaluate.py definitions (skimage as reference), TF equal to numpy,
SSIM differentiable, Keras metrics see the imaginary part of complex outputs."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tests.conftest import crandn
from tfmri_zoo.metrics import (NMSEMetric, PSNRMetric, SSIMMetric, nmse, nmse_tf, psnr, psnr_tf, ssim,
                               ssim_tf)
from tfmri_zoo.training.losses import ComplexMSE


# --- fastMRI evaluate.py definitions, written against skimage (the independent reference) ----------------------

def ref_nmse(gt, pred):
    return np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2


def ref_psnr(gt, pred, maxval=None):
    return peak_signal_noise_ratio(gt, pred, data_range=gt.max() if maxval is None else maxval)


def ref_ssim(gt, pred, maxval=None):
    maxval = gt.max() if maxval is None else maxval
    return np.mean([structural_similarity(g, p, data_range=maxval) for g, p in zip(gt, pred)])


def _volumes(rng, shape=(3, 40, 48), noise=0.3, dtype=np.float32):
    yy, xx = np.meshgrid(np.linspace(-1, 1, shape[1]), np.linspace(-1, 1, shape[2]), indexing="ij")
    phantom = (xx ** 2 + yy ** 2 < 0.6).astype(np.float64) * np.linspace(1, 2, shape[0])[:, None, None]
    gt = np.abs(phantom + 0.2 * crandn(rng, *shape))
    pred = np.abs(gt + noise * crandn(rng, *shape))
    return gt.astype(dtype), pred.astype(dtype)


@pytest.mark.parametrize("noise", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_metrics_equal_fastmri_skimage_definitions(rng, noise, dtype):
    gt, pred = _volumes(rng, noise=noise, dtype=dtype)
    assert abs(ssim(gt, pred) - ref_ssim(gt, pred)) <= 1e-4
    assert abs(psnr(gt, pred) - ref_psnr(gt, pred)) <= 1e-4 * abs(ref_psnr(gt, pred))
    assert abs(nmse(gt, pred) - ref_nmse(gt, pred)) <= 1e-4 * ref_nmse(gt, pred)
    assert abs(ssim(gt, pred, data_range=5.0) - ref_ssim(gt, pred, 5.0)) <= 1e-4
    assert abs(psnr(gt, pred, data_range=5.0) - ref_psnr(gt, pred, 5.0)) <= 1e-4 * abs(ref_psnr(gt, pred, 5.0))
    # the volume maximum (not a per-slice maximum) is the default data range
    per_slice = np.mean([structural_similarity(g, p, data_range=g.max()) for g, p in zip(gt, pred)])
    assert abs(ssim(gt, pred) - per_slice) > 1e-4 or noise == 0.05
    assert ssim(gt, gt) == pytest.approx(1.0, abs=1e-12)


def test_numpy_metrics_reject_bad_input(rng):
    gt, pred = _volumes(rng)
    with pytest.raises(ValueError, match="target"):
        ssim(gt[0], pred[0])
    with pytest.raises(ValueError, match="prediction"):
        psnr(gt, pred[:, :-1])
    with pytest.raises(TypeError, match="target"):
        nmse(gt.astype(np.complex64), pred)


def test_tf_metrics_equal_numpy_per_example(rng):
    gt, pred = _volumes(rng, shape=(4, 32, 36), dtype=np.float64)
    s = ssim_tf(gt, pred).numpy()
    p = psnr_tf(gt[..., None], pred[..., None]).numpy()
    n = nmse_tf(gt, pred).numpy()
    assert s.shape == p.shape == n.shape == (4,)
    for i in range(4):
        assert abs(s[i] - ref_ssim(gt[i:i + 1], pred[i:i + 1])) <= 1e-6
        assert abs(p[i] - ref_psnr(gt[i], pred[i])) <= 1e-6 * abs(p[i])
        assert abs(n[i] - ref_nmse(gt[i], pred[i])) <= 1e-6 * n[i]
    s32 = ssim_tf(gt.astype(np.float32), pred.astype(np.float32), data_range=3.0).numpy()
    np.testing.assert_allclose(s32, [ssim(gt[i:i + 1], pred[i:i + 1], 3.0) for i in range(4)], atol=1e-4)
    with pytest.raises(TypeError, match="target"):
        ssim_tf(tf.complex(gt, gt), pred)


def test_ssim_tf_gradient_is_finite_and_matches_finite_difference(rng):
    gt, pred = _volumes(rng, shape=(2, 16, 16), dtype=np.float64)
    x = tf.Variable(pred)
    with tf.GradientTape() as tape:
        loss = 1.0 - tf.reduce_mean(ssim_tf(gt, x))
    grad = tape.gradient(loss, x).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    direction = rng.standard_normal(pred.shape)
    eps = 1e-6

    def f(v):
        return 1.0 - ssim_tf(gt, v).numpy().mean()

    fd = (f(pred + eps * direction) - f(pred - eps * direction)) / (2 * eps)
    assert abs(fd - np.sum(grad * direction)) <= 1e-3 * abs(fd)


def test_keras_metrics_react_to_imaginary_part_inside_evaluate(rng):
    x = crandn(rng, 4, 24, 24)
    real_only = np.real(x).astype(np.complex64)
    inputs = keras.Input(shape=(24, 24), dtype="complex64")
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss=ComplexMSE(), metrics=[SSIMMetric(), PSNRMetric(), NMSEMetric()])
    same = model.evaluate(x, x, verbose=0, return_dict=True, batch_size=2)
    diff = model.evaluate(x, real_only, verbose=0, return_dict=True, batch_size=2)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-5) and same["nmse"] == pytest.approx(0.0, abs=1e-6)
    # |Re x| differs from |x| only through the imaginary part: a metric that dropped it would report a perfect score
    expected_nmse = np.mean([ref_nmse(np.abs(np.real(x[i])), np.abs(x[i])) for i in range(4)])
    assert diff["nmse"] == pytest.approx(expected_nmse, rel=1e-4)
    expected_ssim = np.mean([ref_ssim(np.abs(np.real(x[i:i + 1])), np.abs(x[i:i + 1])) for i in range(4)])
    assert diff["ssim"] == pytest.approx(expected_ssim, abs=1e-4) and diff["ssim"] < 0.9
    assert diff["psnr"] < same["psnr"] or not np.isfinite(same["psnr"])


def test_keras_metric_state_weights_and_config():
    m = SSIMMetric(data_range=2.0)
    assert m.dtype == "complex64"
    clone = SSIMMetric.from_config(m.get_config())
    assert clone.data_range == 2.0 and clone.name == "ssim"
    rng = np.random.default_rng(0)
    a, b = crandn(rng, 3, 16, 16), crandn(rng, 3, 16, 16)
    per_example = ssim_tf(np.abs(b), np.abs(a), data_range=2.0).numpy()
    m.update_state(b, a, sample_weight=[1.0, 0.0, 1.0])
    assert float(m.result()) == pytest.approx((per_example[0] + per_example[2]) / 2, abs=1e-6)
    m.reset_state()
    assert float(m.result()) == 0.0
