"""``ReconModel(final_dc=True)``: the network's image ``z`` ends in the noise-adaptive proximal step
``(EᴴE + λI)⁻¹(Eᴴy + λz)``, ``λ = λ₀ + ν·σ̂²`` — checked against a dense numpy solve built from numpy FFTs."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_initial import H, W, adjoint, centred_fft, cine_problem, dense_sense, identity_unet, problem
from tfmri_zoo import models
from tfmri_zoo.models.weights import transfer_weights
from tfmri_zoo.physics import kspace_noise_std


def test_final_step_is_the_proximal_solution():
    inputs, kspace, maps, mask = problem()
    model = identity_unet(final_dc=True, final_lam=0.2, final_noise_lam=None, final_iterations=64)
    z = adjoint(kspace, maps)                                  # the identity network returns Eᴴy
    expected = dense_sense(kspace, maps, mask, 0.2, z)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-5 * np.abs(expected).max())
    assert np.abs(expected - z).max() > 0.1 * np.abs(z).max()  # the step changes the image


def test_network_stage_is_the_image_before_the_final_step_and_final_stage_finishes_the_call():
    inputs, kspace, maps, mask = problem(noise=0.1)
    model = identity_unet(final_dc=True, final_lam=0.01, final_noise_lam=10.0, final_iterations=64)
    stage = model.network_stage(inputs)
    z = adjoint(kspace, maps)                                  # the identity network returns Eᴴy
    np.testing.assert_allclose((stage["image"] * stage["scale"]).numpy()[0], z, atol=1e-5 * np.abs(z).max())
    np.testing.assert_array_equal(model.final_stage(stage).numpy(), model(inputs).numpy())


def test_final_step_trusts_the_network_more_for_noisier_data():
    inputs, kspace, maps, mask = problem(noise=0.3)
    model = identity_unet(final_dc=True, final_lam=0.01, final_noise_lam=10.0, final_iterations=64)
    scale = np.abs(adjoint(kspace, maps)).max()                # σ̂ is measured on the normalised data
    sigma = float(kspace_noise_std(inputs["kspace"] / scale, inputs["mask"])[0])
    assert sigma > 0
    z = adjoint(kspace, maps)
    expected = dense_sense(kspace, maps, mask, 0.01 + 10.0 * sigma ** 2, z)
    np.testing.assert_allclose(model(inputs).numpy()[0], expected, atol=1e-4 * np.abs(expected).max())
    fixed = dense_sense(kspace, maps, mask, 0.01, z)
    assert np.abs(fixed - expected).max() > 1e-2 * np.abs(expected).max()      # the noise term matters here


def test_final_step_keeps_the_data_where_they_determine_the_image():
    """Fully sampled, noiseless, orthonormal maps: ``E`` is an isometry, and a small λ returns the true image whatever
    the network gave (here a network that outputs zero)."""
    rng = np.random.default_rng(3)
    image = rng.normal(size=(H, W)) + 1j * rng.normal(size=(H, W))
    maps = rng.normal(size=(2, H, W)) + 1j * rng.normal(size=(2, H, W))
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    mask = np.ones((1, 1, W), np.float32)
    inputs = {"kspace": tf.constant(centred_fft(maps * image)[None].astype(np.complex64)),
              "mask": tf.constant(mask[None]), "sensitivities": tf.constant(maps[None].astype(np.complex64))}
    model = models.get("unet", preset="small", kspace_replacement=False, final_dc=True, final_lam=1e-3,
                       final_noise_lam=None, final_iterations=8)
    model(inputs)
    model.network.call = lambda x, training=None: tf.zeros_like(x)
    np.testing.assert_allclose(model(inputs).numpy()[0], image / (1 + 1e-3), atol=1e-4 * np.abs(image).max())


@pytest.mark.parametrize("name", ["vn", "varnet", "modl", "proxgrad", "admmnet", "primal_dual", "pnp", "deq"])
def test_final_step_trains_and_round_trips(name, tmp_path):
    """Every model that supports the final step (ADMM-Net, PnP, DEQ with their noise-adaptive weights, as shipped)."""
    import keras

    from tfmri_zoo.export.serving import export_saved_model

    inputs, *_ = problem(noise=0.1)
    extra = {"varnet": {"estimate_sensitivities": False}, "admmnet": {"noise_lam": 10.0}, "pnp": {"noise_lam": 10.0},
             "deq": {"noise_lam": 10.0}}.get(name, {})
    model = models.get(name, preset="small", initial="sense", final_dc=True, initial_iterations=3,
                       final_iterations=4, **extra)
    out = model(inputs)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(inputs) - tf.ones_like(out)))
    grads = tape.gradient(loss, model.final_proximal.trainable_weights)
    assert len(grads) == 2 and all(g is not None and np.isfinite(g.numpy()) and g.numpy() != 0 for g in grads)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.final_dc and loaded.final_iterations == 4
    np.testing.assert_array_equal(loaded(inputs).numpy(), out.numpy())
    path = export_saved_model(model, str(tmp_path / "serving"), model_name=name, version=1, warmup=False)
    serving = tf.saved_model.load(path).signatures["serving_default"]
    real = {key: tf.constant(np.stack([inputs[key].numpy().real, inputs[key].numpy().imag], -1))
            for key in ("kspace", "sensitivities")}
    served = serving(**real, mask=tf.constant(np.broadcast_to(inputs["mask"].numpy()[:, 0], (1, H, W))))["image"]
    served = served.numpy()[..., 0] + 1j * served.numpy()[..., 1]
    np.testing.assert_allclose(served, out.numpy(), atol=1e-5 * np.abs(out.numpy()).max())


def test_weights_without_the_final_step_transfer():
    """Fine-tuning a shipped model with ``final_dc=True`` (``model.init``): every weight but λ₀, ν is carried over."""
    inputs, *_ = problem()
    source = models.get("vn", preset="small", initial="sense")
    target = models.get("vn", preset="small", initial="sense", final_dc=True)
    source(inputs), target(inputs)
    left = transfer_weights(source, target)
    assert sorted(p.split("/")[-1] for p in left) == ["lam", "noise_lam"] and all("final_dc" in p for p in left)


def test_unsupported_final_step_is_refused():
    with pytest.raises(ValueError, match="final_dc: ReconSeg"):
        models.get("recon_seg", preset="small", final_dc=True)
    with pytest.raises(ValueError, match="final_dc: the final proximal step uses the given maps"):
        models.get("varnet", preset="small", final_dc=True)                 # it estimates its own maps
    with pytest.raises(ValueError, match="final_iterations: expected a positive int"):
        models.get("modl", preset="small", final_dc=True, final_iterations=0)


@pytest.mark.parametrize("case", ["nufft", "cine"])
def test_a_stiff_final_step_returns_the_network_image(case):
    """Non-Cartesian (NUFFT) and 2D+t models: with a huge fixed λ the final step keeps ``z``, so the model's output is
    that of the same model without the step (same weights); with a small λ it is not."""
    from tests.models.test_noncartesian_models import radial_problem

    if case == "nufft":
        inputs, _ = radial_problem(np.random.default_rng(0), batch=1, coils=2, size=12, spokes=10)
        name, extra = "modl", {"operator": "nufft"}
    else:
        inputs, name, extra = cine_problem(), "cinenet", {}
    plain = models.get(name, preset="small", **extra)
    plain(inputs)
    outputs = {}
    for lam in (1e5, 1e-2):
        model = models.get(name, preset="small", final_dc=True, final_lam=lam, final_noise_lam=None, **extra)
        model(inputs)
        assert [p.split("/")[-1] for p in transfer_weights(plain, model)] == ["lam"]
        outputs[lam] = model(inputs).numpy()
    expected = plain(inputs).numpy()
    np.testing.assert_allclose(outputs[1e5], expected, atol=1e-3 * np.abs(expected).max())
    assert np.abs(outputs[1e-2] - expected).max() > 1e-2 * np.abs(expected).max()
