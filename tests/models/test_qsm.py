"""Learned dipole inversion (``qsm``) and its 3D susceptibility phantoms: the regularised inverse against a dense
numpy solve, the phantom's field against the analytic field of a sphere, the unroll with an identity denoiser
against the closed form, joint training, ``.keras`` round trip, scale equivariance and named errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_modl import check_model_card
from tfmri_zoo import models
from tfmri_zoo.data.qsm_phantom import dipole_field, susceptibility_volume
from tfmri_zoo.physics.dipole import DipoleOperator, dipole_kernel

DEFAULT_PARAMS = 85666  # printed in models/qsm/README.md


def dense_dipole(shape):
    """``A = F⁻¹ D F`` as a dense real matrix (numpy FFT of each unit vector)."""
    kernel = np.fft.ifftshift(dipole_kernel(shape))
    eye = np.eye(int(np.prod(shape))).reshape(-1, *shape)
    return np.stack([np.fft.ifftn(kernel * np.fft.fftn(e)).real.ravel() for e in eye], axis=1)


def test_regularised_inverse_is_the_dense_tikhonov_solve(rng):
    shape = (4, 6, 5)
    field, prior = rng.standard_normal(shape), rng.standard_normal(shape)
    a = dense_dipole(shape)
    lam = 0.3
    expected = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[0]), a.T @ field.ravel() + lam * prior.ravel())
    got = DipoleOperator(shape).regularised_inverse(field[None], prior[None], lam).numpy()[0]
    np.testing.assert_allclose(got.real.ravel(), expected, atol=1e-5 * np.abs(expected).max())
    assert np.abs(got.imag).max() < 1e-5


def test_phantom_field_of_a_sphere_is_the_analytic_dipole():
    """Outside a uniform sphere (χ, radius R), B0 along axis 0: φ = χ R³ (3cos²θ − 1) / (3 r³)."""
    n, radius = 48, 5.0
    grid = np.stack(np.meshgrid(*[np.arange(n) - n // 2] * 3, indexing="ij"), axis=-1).astype(float)
    r = np.linalg.norm(grid, axis=-1)
    chi = (r <= radius).astype(float) * 0.1
    field = dipole_field(chi, 1.0)
    for point in ((0, 0, 12), (12, 0, 0), (9, 9, 0), (-8, 6, 5)):
        p = np.asarray(point, float)
        cos = p[0] / np.linalg.norm(p)
        volume = chi.sum() / 0.1                                 # the voxelised sphere's volume
        expected = 0.1 * volume / (4 * np.pi) * (3 * cos ** 2 - 1) / np.linalg.norm(p) ** 3
        got = field[tuple(np.asarray(point) + n // 2)]
        assert abs(got - expected) < 0.08 * abs(0.1 * volume / (4 * np.pi) * 2 / np.linalg.norm(p) ** 3), point


def test_phantom_blocks_are_brain_like_and_splits_differ():
    a, b = susceptibility_volume(3, "train", shape=(8, 24, 24)), susceptibility_volume(3, "test", shape=(8, 24, 24))
    for v in (a, b):
        assert v["field"].shape == v["susceptibility"].shape == v["mask"].shape == (8, 24, 24)
        inside = v["mask"] > 0
        assert inside.mean() > 0.2 and np.all(v["field"][~inside] == 0)
        assert -0.06 < v["susceptibility"].min() < 0 < 0.2 < v["susceptibility"].max() < 0.46
    assert not np.allclose(a["susceptibility"], b["susceptibility"])
    with pytest.raises(ValueError, match="split"):
        susceptibility_volume(0, "holdout")


@pytest.fixture(scope="module")
def problem():
    blocks = [susceptibility_volume(s, "train", shape=(8, 24, 24), noise=0.003) for s in range(3)]
    inputs = {"field": np.stack([b["field"] for b in blocks]), "mask": np.stack([b["mask"] for b in blocks])}
    return inputs, np.stack([b["susceptibility"] for b in blocks])


def test_with_an_identity_denoiser_the_unroll_is_the_proximal_point_iteration(problem):
    inputs, _ = problem
    model = models.get("qsm", preset="small")
    out = model(inputs).numpy()                                  # untrained: zero output convolution, R_w = 0
    field, mask = inputs["field"] * inputs["mask"], inputs["mask"]
    scale = np.abs(field).reshape(len(field), -1).max(axis=1)[:, None, None, None]
    kernel = np.fft.ifftshift(dipole_kernel(field.shape[1:]))
    lam = float(tf.math.softplus(model.lam))
    solve = lambda prior: np.fft.ifftn((kernel * np.fft.fftn(field / scale, axes=(1, 2, 3))  # noqa: E731
                                        + lam * np.fft.fftn(prior, axes=(1, 2, 3))) / (kernel ** 2 + lam),
                                       axes=(1, 2, 3)).real
    chi = solve(np.zeros_like(field))
    for _ in range(model.iterations):
        chi = solve(chi * mask)
    np.testing.assert_allclose(out, chi * mask * scale, atol=1e-4 * np.abs(out).max())


def test_training_lowers_the_loss_round_trips_and_is_scale_equivariant(problem, tmp_path):
    inputs, target = problem
    keras.utils.set_random_seed(0)
    model = models.get("qsm", preset="small")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    history = model.fit(tf.data.Dataset.from_tensors((inputs, target)).repeat(40), epochs=1, verbose=0)
    first = float(np.mean((model(inputs).numpy() - target) ** 2))
    model.fit(tf.data.Dataset.from_tensors((inputs, target)).repeat(40), epochs=1, verbose=0)
    untrained = float(np.mean((models.get("qsm", preset="small")(inputs).numpy() - target) ** 2))
    assert history.history["loss"] and float(np.mean((model(inputs).numpy() - target) ** 2)) < 0.7 * untrained
    assert float(np.mean((model(inputs).numpy() - target) ** 2)) <= first
    out = model(inputs).numpy()
    model.save(tmp_path / "qsm.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "qsm.keras")(inputs).numpy(), out, atol=1e-7)
    scaled = model({**inputs, "field": inputs["field"] * 100.0}).numpy()
    np.testing.assert_allclose(scaled, 100.0 * out, atol=1e-4 * np.abs(100.0 * out).max())


def test_model_card_and_default_size(problem):
    check_model_card("qsm", DEFAULT_PARAMS)
    model = models.get("qsm", preset="default")
    model(problem[0])
    assert model.count_params() == DEFAULT_PARAMS


def test_bad_inputs_are_named(problem):
    inputs, _ = problem
    model = models.get("qsm", preset="small")
    with pytest.raises(TypeError, match="field"):
        model({**inputs, "field": inputs["field"].astype(np.complex64)})
    with pytest.raises(ValueError, match="mask"):
        model({**inputs, "mask": inputs["mask"][:, :4]})
    with pytest.raises(ValueError, match="b0_direction"):
        models.get("qsm", b0_direction=(0.0, 0.0, 0.0))


def test_keras_export_serves_it_and_the_kspace_exporter_refuses_it_by_name(problem, tmp_path):
    from tfmri_zoo.export.serving import export_saved_model

    inputs, _ = problem
    model = models.get("qsm", preset="small")
    expected = model(inputs).numpy()
    with pytest.raises(TypeError, match="model.export"):
        export_saved_model(model, str(tmp_path / "serving"))
    model.export(str(tmp_path / "qsm"))
    loaded = tf.saved_model.load(str(tmp_path / "qsm"))
    served = loaded.serve({k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-6)
