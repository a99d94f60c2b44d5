"""Non-Cartesian learned reconstruction: zoo models built with ``operator="nufft"`` take trajectory inputs.

The independent reference is a dense non-uniform DFT matrix built in numpy from the NUFFT's documented convention
(``y_j = Σ_n S_c[n] x[n] e^{-i⟨k_j, n⟩} / √N``, centred pixel coordinates), not the package's NUFFT.
"""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo import models
from tfmri_zoo.export.serving import export_saved_model
from tfmri_zoo.physics import radial_density, radial_trajectory

NUFFT_MODELS = {"modl": {}, "proxgrad": {}, "vn": {}, "admmnet": {}, "unet": {"kspace_replacement": False}}


def radial_problem(rng, batch=2, coils=3, size=16, spokes=12):
    """Golden-angle radial inputs of a smooth object: ``(inputs, image)`` numpy, k-space by a dense NDFT."""
    trajectory = np.asarray(radial_trajectory(spokes, 2 * size), np.float64)
    density = np.asarray(radial_density(trajectory.astype(np.float32), (size, size), spokes, 2 * size), np.float64)
    maps = crandn(rng, batch, coils, size, size, dtype=np.complex128)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
    grid = np.arange(size) - size // 2
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    image = (np.exp(-(yy ** 2 + xx ** 2) / 20.0) * (1 + 0.5j * np.sign(xx))).astype(np.complex128)
    image = np.broadcast_to(image, (batch, size, size)).copy()
    ndft = dense_ndft(trajectory, size)
    kspace = np.einsum("mn,bcn->bcm", ndft, (maps * image[:, None]).reshape(batch, coils, -1))
    inputs = {"kspace": kspace.astype(np.complex64),
              "trajectory": np.broadcast_to(trajectory, (batch,) + trajectory.shape).astype(np.float32),
              "density": np.broadcast_to(density, (batch,) + density.shape).astype(np.float32),
              "sensitivities": maps.astype(np.complex64)}
    return inputs, image


def dense_ndft(trajectory, size):
    """``[M, size²]`` matrix of the forward NUFFT's definition (centred coordinates, orthonormal scale)."""
    grid = np.arange(size) - size // 2
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    phase = np.outer(trajectory[:, 0], yy.ravel()) + np.outer(trajectory[:, 1], xx.ravel())
    return np.exp(-1j * phase) / size


def cine_radial_problem(rng, batch=1, coils=2, frames=3, size=16, spokes=6):
    """2D+t golden-angle radial inputs, new spokes every frame: ``(inputs, images)`` numpy; ``trajectory``
    ``[B, T, M, 2]``, ``kspace`` ``[B, C, T, M]`` by a dense NDFT per frame, maps ``[B, C, 1, H, W]``."""
    full = np.asarray(radial_trajectory(spokes * frames, 2 * size), np.float64).reshape(frames, -1, 2)
    density = np.stack([np.asarray(radial_density(t.astype(np.float32), (size, size), spokes, 2 * size))
                        for t in full])
    maps = crandn(rng, batch, coils, 1, size, size, dtype=np.complex128)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
    grid = np.arange(size) - size // 2
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    images = np.stack([np.exp(-((yy - t) ** 2 + xx ** 2) / 12.0) * (1 + 0.3j * np.sign(xx)) for t in range(frames)])
    images = np.broadcast_to(images, (batch, frames, size, size)).astype(np.complex128)
    kspace = np.stack([np.einsum("mn,bcn->bcm", dense_ndft(full[t], size),
                                 (maps[:, :, 0] * images[:, None, t]).reshape(batch, coils, -1))
                       for t in range(frames)], axis=2)
    inputs = {"kspace": kspace.astype(np.complex64),
              "trajectory": np.broadcast_to(full, (batch,) + full.shape).astype(np.float32),
              "density": np.broadcast_to(density, (batch,) + density.shape).astype(np.float32),
              "sensitivities": maps.astype(np.complex64)}
    return inputs, images


def adam_mse_losses(model, inputs, target, steps, learning_rate=1e-2):
    """Trains ``model`` on one batch with Adam and the complex MSE; returns the loss of every step."""
    import keras

    optimizer = keras.optimizers.Adam(learning_rate)
    target = tf.constant(target.astype(np.complex64))
    losses = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(inputs, training=True) - target) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    return losses


def served_image(path, inputs):
    """The complex image of an exported non-Cartesian model's ``serving_default`` (float32 real/imag inputs)."""
    serving = tf.saved_model.load(path).signatures["serving_default"]
    real = {"kspace": np.stack([inputs["kspace"].real, inputs["kspace"].imag], -1),
            "sensitivities": np.stack([inputs["sensitivities"].real, inputs["sensitivities"].imag], -1),
            "trajectory": inputs["trajectory"], "density": inputs["density"]}
    served = serving(**{k: tf.constant(v) for k, v in real.items()})["image"].numpy()
    return served[..., 0] + 1j * served[..., 1]


def test_per_frame_trajectories_are_the_dense_ndft_of_each_frame(rng):
    """``make_operator`` with ``trajectory [B, T, M, 2]``: frame t is encoded on its own spokes (dense NDFT per frame),
    and the adjoint is the density-weighted conjugate transpose."""
    from tfmri_zoo.physics import make_operator

    inputs, images = cine_radial_problem(rng, batch=2, coils=2, frames=3, size=12, spokes=5)
    operator = make_operator({"trajectory": inputs["trajectory"], "density": inputs["density"]},
                             inputs["sensitivities"])
    forward = operator.forward(tf.constant(images.astype(np.complex64))).numpy()
    np.testing.assert_allclose(forward, inputs["kspace"], atol=2e-3 * np.abs(inputs["kspace"]).max())
    y = crandn(rng, *inputs["kspace"].shape)
    adjoint = operator.adjoint(tf.constant(y)).numpy()
    maps = inputs["sensitivities"][:, :, 0].astype(np.complex128)
    for t in range(3):
        ndft = dense_ndft(inputs["trajectory"][0, t].astype(np.float64), 12)
        weighted = y[:, :, t] * inputs["density"][:, None, t]
        expected = np.einsum("mn,bcm->bcn", ndft.conj(), weighted).reshape(2, 2, 12, 12)
        expected = np.sum(np.conj(maps) * expected, axis=1)
        np.testing.assert_allclose(adjoint[:, t], expected, atol=2e-3 * np.abs(expected).max())


def test_cinenet_nufft_learns_round_trips_and_serves(rng, tmp_path):
    import keras

    inputs, images = cine_radial_problem(rng, batch=2, coils=2, frames=3, size=16, spokes=6)
    model = models.get("cinenet", preset="small", operator="nufft")
    losses = adam_mse_losses(model, inputs, images, steps=20)
    assert min(losses[-5:]) < 0.5 * losses[0]
    out = model(inputs).numpy()
    assert out.shape == (2, 3, 16, 16)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "m.keras")(inputs).numpy(), out)
    path = export_saved_model(model, str(tmp_path / "serving"), model_name="cinenet", version=1, warmup=True)
    np.testing.assert_allclose(served_image(path, inputs), out, atol=1e-5 * np.abs(out).max())
    with pytest.raises(ValueError, match="frames"):                  # one trajectory per frame
        model({**inputs, "trajectory": inputs["trajectory"][:, :2], "density": inputs["density"][:, :2]})
    with pytest.raises(ValueError, match="trajectory"):              # a shared [B, M, 2] is not per frame
        model({**inputs, "trajectory": inputs["trajectory"][:, 0]})


@pytest.mark.parametrize("name", sorted(NUFFT_MODELS))
def test_nufft_models_round_trip_keras_and_serving(rng, name, tmp_path):
    import keras

    inputs, _ = radial_problem(rng)
    model = models.get(name, preset="small", operator="nufft", **NUFFT_MODELS[name])
    out = model(inputs).numpy()
    assert out.shape == (2, 16, 16) and np.all(np.isfinite(out))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again(inputs).numpy(), out)
    path = export_saved_model(model, str(tmp_path / "serving"), model_name=name, version=1, warmup=False)
    np.testing.assert_allclose(served_image(path, inputs), out, atol=1e-5 * np.abs(out).max())


def test_modl_nufft_with_identity_prior_is_the_dense_proximal_point_iteration(rng):
    """With its CNN's residual branch zeroed (D = identity) MoDL is ``x₀ = EᴴWy``,
    ``x_k = (EᴴWE + λI)⁻¹(EᴴWy + λx_{k−1})``; checked against the same iteration on a dense NDFT matrix."""
    inputs, _ = radial_problem(rng, batch=1, coils=2, size=12, spokes=10)
    model = models.get("modl", preset="small", operator="nufft", cg_iterations=60)
    model(inputs)
    for denoiser in model.denoisers:                      # the small preset's residual DnCNN: D(x) = x + out(...)
        denoiser.out.set_weights([np.zeros_like(w) for w in denoiser.out.get_weights()])
    x = model(inputs).numpy()[0].ravel()
    lam = float(tf.math.softplus(model.dc.lam).numpy())
    ndft = dense_ndft(inputs["trajectory"][0].astype(np.float64), 12)
    maps = inputs["sensitivities"][0].reshape(2, -1).astype(np.complex128)
    e = np.concatenate([ndft * maps[c][None] for c in range(2)])              # [C·M, N]
    w = np.tile(inputs["density"][0].astype(np.float64), 2)
    y = inputs["kspace"][0].reshape(-1).astype(np.complex128)
    normal, rhs = e.conj().T @ (w[:, None] * e), e.conj().T @ (w * y)
    reference = rhs
    for _ in range(model.iterations):
        reference = np.linalg.solve(normal + lam * np.eye(normal.shape[0]), rhs + lam * reference)
    assert np.linalg.norm(x - reference) <= 2e-3 * np.linalg.norm(reference)


def test_modl_nufft_learns_on_a_tiny_radial_problem(rng):
    inputs, image = radial_problem(rng, batch=2, coils=3, size=16, spokes=8)
    model = models.get("modl", preset="small", operator="nufft")
    losses = adam_mse_losses(model, inputs, image, steps=25)
    assert min(losses[-5:]) < 0.5 * losses[0]


@pytest.mark.parametrize("name, config, word", [
    ("varnet", {}, "k-space"), ("primal_dual", {}, "k-space grid"), ("unet", {}, "kspace_replacement")])
def test_cartesian_only_models_refuse_nufft_and_say_why(name, config, word):
    with pytest.raises(ValueError, match=word):
        models.get(name, preset="small", operator="nufft", **config)


def test_bad_noncartesian_inputs_name_the_argument(rng):
    inputs, _ = radial_problem(rng, batch=1)
    model = models.get("modl", preset="small", operator="nufft")
    with pytest.raises(ValueError, match="trajectory"):
        model({k: v for k, v in inputs.items() if k != "trajectory"})
    with pytest.raises(ValueError, match="trajectory"):
        model({**inputs, "trajectory": np.zeros(inputs["trajectory"].shape[:2] + (3,), np.float32)})
    with pytest.raises(ValueError, match="density"):
        model({**inputs, "density": inputs["density"][:, :-1]})
    with pytest.raises(TypeError, match="trajectory"):
        model({**inputs, "trajectory": inputs["trajectory"].astype(np.complex64)})
    with pytest.raises(ValueError, match=r"trajectory: values outside \[-π, π\)"):
        model({**inputs, "trajectory": inputs["trajectory"] * 4.0})          # e.g. a trajectory in other units
    with pytest.raises(tf.errors.InvalidArgumentError, match="trajectory: values outside"):
        tf.function(lambda x: model(x))({k: tf.constant(v) for k, v in {**inputs, "trajectory":
                                                                        inputs["trajectory"] * 4.0}.items()})
    with pytest.raises(ValueError, match="operator"):
        models.get("modl", preset="small", operator="spiral")


@pytest.mark.parametrize("recompute", [False, True])
def test_one_nufft_plan_per_model_call(rng, monkeypatch, recompute):
    """The operators a model rebuilds at each data-consistency call share the plan made once from the call's
    trajectory (physics.plan_sampling): planning once, not once per unroll, and the same output."""
    from tfmri_zoo.physics.nufft import NUFFT

    inputs, _ = radial_problem(rng, batch=1, coils=2, size=12, spokes=10)
    model = models.get("modl", preset="small", operator="nufft", recompute=recompute, iterations=3)
    expected = model(inputs).numpy()
    plans = []
    original = NUFFT._interpolation
    monkeypatch.setattr(NUFFT, "_interpolation", lambda self: plans.append(1) or original(self))
    with tf.GradientTape() as tape:
        output = model(inputs)
        loss = tf.reduce_sum(tf.abs(output))
    gradients = tape.gradient(loss, model.trainable_variables)
    assert len(plans) == 1                                     # without sharing: 2 + 3 unrolls (+ recomputations)
    np.testing.assert_allclose(output.numpy(), expected, atol=1e-6)
    assert all(g is not None for g in gradients)
