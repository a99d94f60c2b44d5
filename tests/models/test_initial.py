"""``ReconModel(initial="sense")``: the network starts from the Tikhonov CG-SENSE image (Eq. 3) instead of ``Eᴴy``.

Checked against a dense numpy solve of ``(EᴴE + λI)x = Eᴴy`` built column by column from numpy FFTs.
"""
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo import models
from tfmri_zoo.physics import kspace_noise_std

B, C, H, W = 1, 3, 8, 8


def centred_fft(a):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(a, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def problem(noise=0.0):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(H, W)) + 1j * rng.normal(size=(H, W))
    maps = 0.5 * (rng.normal(size=(C, H, W)) + 1j * rng.normal(size=(C, H, W)))
    mask = np.zeros((1, 1, W), np.float32)
    mask[..., ::2] = 1
    mask[..., 3:5] = 1
    kspace = centred_fft(maps * image) + noise * (rng.normal(size=(C, H, W)) + 1j * rng.normal(size=(C, H, W)))
    kspace = kspace * mask
    inputs = {"kspace": tf.constant(kspace[None].astype(np.complex64)), "mask": tf.constant(mask[None]),
              "sensitivities": tf.constant(maps[None].astype(np.complex64))}
    return inputs, kspace, maps, mask


def adjoint(kspace, maps):
    """``Eᴴy = Σ_c conj(S_c) F⁻¹ y_c`` (numpy)."""
    coils = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    return np.einsum("chw,chw->hw", maps.conj(), coils)


def dense_sense(kspace, maps, mask, lam, z=None):
    """``(EᴴE + λI)⁻¹ (Eᴴy + λz)`` (``z=None``: the Tikhonov solution ``(EᴴE + λI)⁻¹ Eᴴy``) with ``E`` as an explicit
    matrix (numpy)."""
    columns = []
    for i in range(H * W):
        e = np.zeros(H * W, complex)
        e[i] = 1
        columns.append((centred_fft(maps * e.reshape(H, W)) * mask).ravel())
    e = np.array(columns).T
    rhs = e.conj().T @ kspace.ravel() + (0 if z is None else lam * z.ravel())
    solution = np.linalg.solve(e.conj().T @ e + lam * np.eye(H * W), rhs)
    return solution.reshape(H, W)


def identity_unet(**config):
    """A U-Net model whose residual network is the identity (all weights zero): it returns its initial image."""
    model = models.get("unet", preset="small", kspace_replacement=False, **config)
    inputs, *_ = problem()
    model(inputs)
    for variable in model.network.weights:
        variable.assign(tf.zeros_like(variable))
    return model


def test_sense_start_is_the_tikhonov_solution():
    inputs, kspace, maps, mask = problem()
    model = identity_unet(initial="sense", initial_lam=0.05, initial_noise_lam=None, initial_iterations=64)
    expected = dense_sense(kspace, maps, mask, 0.05)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-5 * np.abs(expected).max())


def test_noise_adaptive_start_uses_the_measured_noise_level():
    inputs, kspace, maps, mask = problem(noise=0.3)
    model = identity_unet(initial="sense", initial_lam=0.01, initial_noise_lam=10.0, initial_iterations=64)
    # λ is 2-homogeneous but σ̂ is measured on the model's normalised data (k-space / max|Eᴴy|)
    scale = np.abs(adjoint(kspace, maps)).max()
    sigma = float(kspace_noise_std(inputs["kspace"] / scale, inputs["mask"])[0])
    assert sigma > 0
    expected = dense_sense(kspace, maps, mask, 0.01 + 10.0 * sigma ** 2)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-4 * np.abs(expected).max())
    fixed = dense_sense(kspace, maps, mask, 0.01)
    assert np.abs(fixed - expected).max() > 1e-2 * np.abs(expected).max()      # the noise term matters here


def test_adjoint_start_is_the_zero_filled_image():
    inputs, kspace, maps, mask = problem()
    model = identity_unet()
    expected = adjoint(kspace, maps)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-5 * np.abs(expected).max())


def zero_weights(*layers):
    for layer in layers:
        for variable in layer.weights:
            variable.assign(tf.zeros_like(variable))


def test_primal_dual_with_silent_blocks_returns_its_sense_start():
    """Blocks that output zero leave ``f₀``: the CG-SENSE image (and, with a fixed-λ final step, its proximal step)."""
    inputs, kspace, maps, mask = problem()
    model = models.get("primal_dual", preset="small", initial="sense", initial_lam=0.05, initial_noise_lam=None,
                       initial_iterations=64, final_dc=True, final_lam=0.3, final_noise_lam=None,
                       final_iterations=64)
    model(inputs)
    zero_weights(*model.primal_blocks, *model.dual_blocks)
    start = dense_sense(kspace, maps, mask, 0.05)
    expected = dense_sense(kspace, maps, mask, 0.3, start)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["pnp", "deq"])
def test_identity_denoiser_takes_one_proximal_step_from_the_sense_start(name):
    """An identity denoiser makes each iteration the proximal step ``P(x) = (EᴴE + λI)⁻¹(Eᴴy + λx)``: RED with one
    iteration returns ``P(x₀)`` with ``x₀`` the CG-SENSE start, DEQ with one Anderson evaluation ``P(P(x₀))`` (its
    output is one more, differentiated, application of the iteration at ``x*``). Dense numpy solves."""
    inputs, kspace, maps, mask = problem()
    config = ({"iterations": 1, "method": "red", "lam": 0.2, "cg_iterations": 64} if name == "pnp" else
              {"lam": 0.2, "cg_iterations": 64, "forward_iterations": 1, "tol": 0.0})
    model = models.get(name, preset="small", initial="sense", initial_lam=0.05, initial_noise_lam=None,
                       initial_iterations=64, **config)
    model(inputs)
    zero_weights(model.denoiser)                                  # residual CNNs: D(x) = x
    expected = dense_sense(kspace, maps, mask, 0.2, dense_sense(kspace, maps, mask, 0.05))
    if name == "deq":
        expected = dense_sense(kspace, maps, mask, 0.2, expected)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["modl", "vn", "proxgrad", "admmnet", "varnet", "primal_dual", "pnp", "deq"])
def test_sense_start_trains_and_round_trips(name, tmp_path):
    import keras

    inputs, *_ = problem()
    model = models.get(name, preset="small", initial="sense", initial_iterations=3)
    out = model(inputs)
    lam = model.initial_sense.trainable_weights
    if name == "deq":
        assert lam == []                        # x₀ only starts the fixed-point solve: nothing to learn in it
        lam = model.trainable_weights
    assert lam
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(inputs) - tf.ones_like(out)))
    grads = tape.gradient(loss, lam)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)   # λ₀ and ν are learned
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.initial == "sense" and loaded.initial_iterations == 3
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-6)


def test_unsupported_initial_is_refused():
    with pytest.raises(ValueError, match=r"initial: ReconSeg supports \('adjoint',\), got 'sense'"):
        models.get("recon_seg", preset="small", initial="sense")
    with pytest.raises(ValueError, match="initial: .*got 'cg'"):
        models.get("modl", preset="small", initial="cg")
    with pytest.raises(ValueError, match="initial_iterations: expected a positive int"):
        models.get("modl", preset="small", initial="sense", initial_iterations=0)


def test_varnet_sense_start_is_the_coil_kspace_of_cg_sense():
    inputs, kspace, maps, mask = problem()
    norm = np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    maps = maps / norm                                        # Σ|S|² = 1: Sᴴ S = I, so the output is x_SENSE
    kspace = centred_fft(maps * np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"),
                                                axes=(-2, -1)).sum(0)) * mask
    inputs = {**inputs, "kspace": tf.constant(kspace[None].astype(np.complex64)),
              "sensitivities": tf.constant(maps[None].astype(np.complex64))}
    model = models.get("varnet", preset=None, iterations=2, chans=4, pools=2, estimate_sensitivities=False,
                       identity_init=True, lam=1e-6, initial="sense", initial_lam=0.05, initial_noise_lam=None,
                       initial_iterations=64)
    expected = dense_sense(kspace, maps, mask, 0.05)          # identity cascades, negligible soft DC: x_SENSE itself
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("name", ["vn", "unet"])
def test_sense_start_serves_the_same_image(name, tmp_path):
    """The CG-SENSE start inside a served SavedModel (float32 real/imag signature) gives the Keras model's output."""
    from tfmri_zoo.export.serving import export_saved_model

    inputs, *_ = problem(noise=0.1)
    model = models.get(name, preset="small", initial="sense")
    out = model(inputs).numpy()
    path = export_saved_model(model, str(tmp_path / "serving"), model_name=name, version=1, warmup=False)
    serving = tf.saved_model.load(path).signatures["serving_default"]
    real = {key: tf.constant(np.stack([inputs[key].numpy().real, inputs[key].numpy().imag], -1))
            for key in ("kspace", "sensitivities")}
    mask = tf.constant(np.broadcast_to(inputs["mask"].numpy()[:, 0], (1, H, W)))    # the signature's [B, H, W]
    served = serving(**real, mask=mask)["image"].numpy()
    np.testing.assert_allclose(served[..., 0] + 1j * served[..., 1], out, atol=1e-5 * np.abs(out).max())


def test_nufft_model_with_sense_start_round_trips(tmp_path):
    import keras

    from tests.models.test_noncartesian_models import radial_problem
    from tfmri_zoo.export.serving import export_saved_model

    inputs, _ = radial_problem(np.random.default_rng(0), batch=1, coils=2, size=12, spokes=10)
    model = models.get("modl", preset="small", operator="nufft", initial="sense", initial_iterations=4)
    out = model(inputs).numpy()
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(keras.saving.load_model(tmp_path / "m.keras")(inputs).numpy(), out)
    path = export_saved_model(model, str(tmp_path / "serving"), model_name="modl", version=1, warmup=False)
    serving = tf.saved_model.load(path).signatures["serving_default"]
    real = {key: tf.constant(np.stack([inputs[key].real, inputs[key].imag], -1)) for key in ("kspace", "sensitivities")}
    served = serving(**real, trajectory=tf.constant(inputs["trajectory"]), density=tf.constant(inputs["density"]))
    served = served["image"].numpy()
    np.testing.assert_allclose(served[..., 0] + 1j * served[..., 1], out, atol=1e-5 * np.abs(out).max())


def cine_problem():
    """A 2D+t problem: 2 coils, 3 frames of 8×8, every other line (complex64 / float32 tensors)."""
    rng = np.random.default_rng(1)
    frames, size = 3, 8
    images = rng.normal(size=(1, 2, frames, size, size)) + 1j * rng.normal(size=(1, 2, frames, size, size))
    maps = rng.normal(size=(1, 2, 1, size, size)) + 1j * rng.normal(size=(1, 2, 1, size, size))
    mask = np.zeros((1, 1, 1, 1, size), np.float32)
    mask[..., ::2] = 1
    return {"kspace": tf.constant((centred_fft(images) * mask).astype(np.complex64)), "mask": tf.constant(mask),
            "sensitivities": tf.constant(maps.astype(np.complex64))}


def test_cinenet_sense_start_trains_and_round_trips(tmp_path):
    import keras

    inputs = cine_problem()
    model = models.get("cinenet", preset="small", initial="sense", initial_iterations=3)
    out = model(inputs)
    assert out.shape == (1, 3, 8, 8)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(inputs)))
    grads = tape.gradient(loss, model.initial_sense.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()) for g in grads)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(inputs).numpy(), out.numpy(), atol=1e-6)


@pytest.mark.parametrize("name, extra", [("modl", {"iterations": 1, "cg_iterations": 2, "noise_lam": 5.0}),
                                         ("admmnet", {"iterations": 1, "cg_iterations": 2, "noise_lam": 5.0}),
                                         ("deq", {"forward_iterations": 2, "backward_iterations": 2,
                                                  "noise_lam": 5.0}),
                                         ("pnp", {"iterations": 1, "noise_lam": 5.0}),
                                         ("unet", {}), ("vn", {"iterations": 1}), ("varnet", {"iterations": 1, "estimate_sensitivities": False}),
                                         ("proxgrad", {"iterations": 1}), ("primal_dual", {"iterations": 1})])
def test_noise_level_is_computed_once_per_call(name, extra, monkeypatch):
    """A model with a noise-adaptive CG-SENSE start, a noise-adaptive final step and (the first four) its own
    noise-adaptive weights estimates σ̂ once per call, eager and in a tf.function trace alike."""
    import tfmri_zoo.models.base as base

    calls = []
    monkeypatch.setattr(base, "kspace_noise_std", lambda k, m: calls.append(1) or kspace_noise_std(k, m))
    model = models.get(name, preset="small", initial="sense", final_dc=True, **extra)
    inputs = problem(noise=0.1)[0]
    model(inputs)
    assert len(calls) == 1, len(calls)
    tf.function(model)(inputs)
    assert len(calls) == 2, len(calls)
