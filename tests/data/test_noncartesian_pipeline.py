"""Non-Cartesian tf.data pipeline: radial samples of each file's coil images against an exact numpy NDFT, the
documented scale, a target consistent with the data, a zoo model trains on it, and bad arguments are refused."""
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.data.noncartesian import noncartesian_dataset
from tfmri_zoo.data.pipeline import make_dataset
from tfmri_zoo.physics import make_operator, radial_density, radial_trajectory


def ndft(points, shape):
    """Exact ``[M, H·W]`` DFT matrix, centred pixel grid, orthonormal (the NUFFT's convention)."""
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in shape], indexing="ij")
    return np.exp(-1j * points @ np.stack([g.ravel() for g in grids]).reshape(2, -1)) / np.sqrt(np.prod(shape))


def test_radial_samples_scale_and_target(synthetic_dir):
    points = radial_trajectory(12, 48).astype(np.float32)
    density = np.asarray(radial_density(points, (32, 24), 12, 48), np.float32)
    dataset = noncartesian_dataset(synthetic_dir, points, density, batch_size=2)
    reference = make_dataset(synthetic_dir, mask_func=None, normalize=None, batch_size=2)
    inputs, target = next(iter(dataset))
    full, full_target = next(iter(reference))
    m = points.shape[0]
    assert inputs["kspace"].shape == (2, 4, m) and inputs["kspace"].dtype == tf.complex64
    assert inputs["trajectory"].shape == (2, m, 2) and inputs["density"].shape == (2, m)
    assert inputs["sensitivities"].shape == (2, 4, 32, 24) and target.shape == (2, 32, 24)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(full["kspace"].numpy(), axes=(-2, -1)), norm="ortho"),
                                  axes=(-2, -1))
    exact = coil_images.reshape(2, 4, -1) @ ndft(points.astype(np.float64), (32, 24)).T     # [B, C, M]
    kspace = inputs["kspace"].numpy()
    scale = np.linalg.norm(exact.reshape(2, -1), axis=1) / np.linalg.norm(kspace.reshape(2, -1), axis=1)   # s [B]
    np.testing.assert_allclose(kspace * scale[:, None, None], exact, atol=2e-4 * np.abs(exact).max())
    # documented scale: max|EᴴWy| = 1 per example; the target is the Cartesian pipeline's target divided by s
    sampling = {"trajectory": inputs["trajectory"], "density": inputs["density"]}
    gridded = make_operator(sampling, inputs["sensitivities"]).adjoint(inputs["kspace"]).numpy()
    np.testing.assert_allclose(np.abs(gridded).max(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(target.numpy() * scale[:, None, None], full_target.numpy(),
                               rtol=1e-3, atol=1e-4 * np.abs(full_target.numpy()).max())


def test_a_nufft_model_trains_on_it(synthetic_dir):
    import keras

    from tfmri_zoo import models
    from tfmri_zoo.training.losses import ComplexMSE

    points = radial_trajectory(12, 48).astype(np.float32)
    dataset = noncartesian_dataset(synthetic_dir, points, radial_density(points, (32, 24), 12, 48), batch_size=2)
    model = models.get("modl", preset="small", operator="nufft")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ComplexMSE())
    history = model.fit(dataset.take(2), epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))


def test_bad_arguments_are_refused(synthetic_dir):
    points = radial_trajectory(4, 16).astype(np.float32)
    with pytest.raises(ValueError, match="trajectory"):
        noncartesian_dataset(synthetic_dir, points[:, :1])
    with pytest.raises(ValueError, match="trajectory: values outside"):
        noncartesian_dataset(synthetic_dir, points * 2.0)
    with pytest.raises(ValueError, match="density"):
        noncartesian_dataset(synthetic_dir, points, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="sensitivities"):
        noncartesian_dataset(synthetic_dir, points, sensitivities=None)
    with pytest.raises(ValueError, match="mask_func"):
        noncartesian_dataset(synthetic_dir, points, mask_func=object())
