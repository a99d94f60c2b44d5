"""E2E-VarNet: the zoo contract, ACS detection, sensitivity normalisation, the soft-DC term, padding, size."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo import models
from tfmri_zoo.models.regularizers import norm_unet
from tfmri_zoo.models.varnet import SensitivityNetwork, VarNet, VarNetCascade
from tfmri_zoo.physics.sampling import acs_mask
from tfmri_zoo.physics.fft import fft2c
from tfmri_zoo.physics.sense import SenseOperator

# 12 cascades × 2,454,339 (normalised U-Net 18 chans, 4 pools, + η) + 484,898 (sensitivity normalised U-Net 8 chans, 4 pools).
# fastMRI's paper quotes ~30M for this configuration; stated in models/varnet/README.md.
DEFAULT_PARAMETERS = 29_936_966


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem()


@pytest.fixture(scope="module")
def small(problem):
    inputs, _ = problem
    model = models.get("varnet", preset="small")
    model(inputs)
    return model


def test_small_preset_output_with_and_without_given_maps(small, problem):
    inputs, target = problem
    assert isinstance(small, VarNet) and len(small.cascades) == 2
    out = zoo_contract.check_output(small, inputs, target)
    # Estimating the maps, the model ignores the given ones and needs none.
    no_maps = small({"kspace": inputs["kspace"], "mask": inputs["mask"]}).numpy()
    np.testing.assert_allclose(no_maps, out, atol=1e-6 * np.abs(out).max())
    np.testing.assert_allclose(VarNet.magnitude(out).numpy(), np.abs(out), rtol=1e-6)
    given = models.get("varnet", preset="small", estimate_sensitivities=False)
    assert given.sensitivity_network is None
    zoo_contract.check_output(given, inputs, target)


def test_default_parameter_count():
    # Built with one cascade to save test time; the 12 cascades of the default are identical in size.
    model = models.get("varnet", preset="default", iterations=1)
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=2, height=16, width=16)
    model(inputs)
    assert model.sensitivity_network.count_params() == 484_898
    assert model.cascades[0].count_params() == 2_454_339
    assert models.presets("varnet")["default"]["iterations"] == 12
    assert model.sensitivity_network.count_params() + 12 * model.cascades[0].count_params() == DEFAULT_PARAMETERS


def test_acs_mask_finds_the_centre_run_per_example():
    w = 16
    mask = np.zeros((3, 1, 1, w), np.float32)
    mask[0, ..., [1, 5, 6, 7, 8, 9, 12]] = 1  # centre 8: run 5..9
    mask[1, ..., [0, 8, 9, 14]] = 1  # run 8..9
    mask[2, ..., [0, 3, 12]] = 1  # no centre run
    got = acs_mask(tf.constant(mask[:2])).numpy()[:, 0, 0]
    np.testing.assert_array_equal(np.flatnonzero(got[0]), [5, 6, 7, 8, 9])
    np.testing.assert_array_equal(np.flatnonzero(got[1]), [8, 9])
    # No ACS region: refused in every mode unless the fallback is asked for explicitly.
    with pytest.raises(ValueError, match="mask: no auto-calibration"):
        acs_mask(tf.constant(mask))
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask: no auto-calibration"):
        tf.function(acs_mask)(tf.constant(mask))
    got = acs_mask(tf.constant(mask), fallback="sampled").numpy()[:, 0, 0]
    np.testing.assert_array_equal(np.flatnonzero(got[2]), [0, 3, 12])
    np.testing.assert_array_equal(np.flatnonzero(got[0]), [5, 6, 7, 8, 9])


def test_given_maps_are_not_used_silently(problem):
    inputs, _ = problem
    model = VarNet(iterations=1, chans=4, pools=2, sens_chans=4, sens_pools=2)
    with pytest.warns(UserWarning, match="'sensitivities' input is not used"):
        with_maps = model(inputs).numpy()
    without = model({"kspace": inputs["kspace"], "mask": inputs["mask"]}).numpy()
    np.testing.assert_array_equal(with_maps, without)


def test_estimated_maps_are_rss_normalised(problem):
    inputs, _ = problem
    maps = SensitivityNetwork(4, 2)(tf.constant(inputs["kspace"]), tf.constant(inputs["mask"])).numpy()
    assert maps.shape == inputs["sensitivities"].shape
    np.testing.assert_allclose(np.sqrt((np.abs(maps) ** 2).sum(axis=1)), 1.0, atol=1e-4)


def test_norm_unet_pads_any_size_and_is_scale_equivariant(rng):
    unet = norm_unet(chans=4, pools=3)
    x = tf.constant((rng.standard_normal((2, 30, 27)) + 1j * rng.standard_normal((2, 30, 27))).astype(np.complex64))
    y = unet(x).numpy()
    assert y.shape == (2, 30, 27) and y.dtype == np.complex64
    np.testing.assert_allclose(unet(x * 1e3).numpy(), 1e3 * y, rtol=1e-3, atol=1e-3 * np.abs(1e3 * y).max())


def test_dc_term_is_zero_for_noiseless_fully_sampled_data(problem):
    inputs, target = problem
    maps = tf.constant(inputs["sensitivities"])
    full = tf.ones((2, 1, 1, 32), tf.float32)
    y = SenseOperator(maps, full).forward(tf.constant(target))  # noiseless, fully sampled
    cascade = VarNetCascade(4, 2)
    out = cascade(y, y, full, maps)
    np.testing.assert_array_equal(cascade.data_consistency(y, y, full).numpy(), 0)
    coils = SenseOperator(maps, None)
    np.testing.assert_allclose(out.numpy(), (y - coils.forward(cascade.unet(coils.adjoint(y)))).numpy(), atol=1e-6)
    # the term is live: a k-space differing from y is pulled back by η M (k − y)
    k = y * 1.5
    np.testing.assert_allclose(cascade.data_consistency(k, y, full).numpy(), (0.5 * y).numpy(), atol=1e-6)


def test_keras_and_saved_model_round_trips_and_scale_equivariance(small, problem):
    inputs, _ = problem
    zoo_contract.check_keras_round_trip(small, inputs)
    zoo_contract.check_saved_model_round_trip(small, inputs)
    zoo_contract.check_scale_equivariance(small, inputs)


def test_training_lowers_loss(problem):
    inputs, target = problem
    keras.utils.set_random_seed(0)  # weights and any shuffling: the same run every time
    model = models.get("varnet", preset="small")
    first, last = zoo_contract.check_training_lowers_loss(model, inputs, target, steps=15, learning_rate=1e-2)
    print(f"varnet small tiny run: loss {first:.3e} -> {last:.3e}")


def test_single_coil_without_sensitivities(small, problem):
    inputs, target = problem
    single = {"kspace": inputs["kspace"][:, :1], "mask": inputs["mask"]}
    for model in (small, models.get("varnet", preset="small", estimate_sensitivities=False)):
        out = model(single).numpy()
        assert out.shape == target.shape and out.dtype == np.complex64 and np.all(np.isfinite(out))


def test_bad_inputs_name_the_argument(small, problem):
    inputs, _ = problem
    with pytest.raises(TypeError, match="kspace"):
        small({**inputs, "kspace": np.abs(inputs["kspace"])})
    with pytest.raises(ValueError, match="mask"):
        small({**inputs, "mask": inputs["mask"][:, :, :, :5]})
    with pytest.raises(ValueError, match="kspace"):
        small({"mask": inputs["mask"]})
    given = models.get("varnet", preset="small", estimate_sensitivities=False)
    with pytest.raises(ValueError, match="sensitivities"):
        given({"kspace": inputs["kspace"], "mask": inputs["mask"]})


def test_regularizer_argument_swaps_in_a_cnn(problem):
    inputs, target = problem
    model = models.get("varnet", preset="small", regularizer={"name": "dncnn", "filters": 8, "layers": 3})
    zoo_contract.check_output(model, inputs, target)
    assert model.cascades[0].unet.residual is False
    assert VarNet.from_config(model.get_config()).cascades[1].regularizer["name"] == "dncnn"


def test_instance_norm_equals_numpy_definition(rng):
    from tfmri_zoo.layers import instance_norm

    x = rng.standard_normal((3, 12, 10, 5)).astype(np.float32) * 4.0 + 2.0
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(instance_norm(tf.constant(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_identity_init_starts_as_the_zero_filled_reconstruction(problem, tmp_path):
    """``identity_init=True``: untrained, every cascade is ``k − ηM(k − y)`` with ``k₀ = y``, so the output is the
    numpy zero-filled SENSE combination ``Σ_c conj(S_c) F⁻¹y_c``; the default (fastMRI) initialisation is not."""
    inputs, _ = problem
    y, maps = inputs["kspace"] * inputs["mask"], inputs["sensitivities"]
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(y, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    zero_filled = np.sum(np.conj(maps) * coil_images, axis=1)
    model = models.get("varnet", preset="small", estimate_sensitivities=False, identity_init=True)
    out = model(inputs).numpy()
    np.testing.assert_allclose(out, zero_filled, atol=1e-5 * np.abs(zero_filled).max())
    paper = models.get("varnet", preset="small", estimate_sensitivities=False)(inputs).numpy()
    assert np.abs(paper - zero_filled).max() > 1e-2 * np.abs(zero_filled).max()
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").cascades[0].identity_init
    # and it still learns: the U-Nets get gradients through their zero-initialised output convolutions
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(inputs, training=True) - problem[1]))
    grads = tape.gradient(loss, model.cascades[0].unet.trainable_variables)
    assert all(g is not None for g in grads) and any(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
