"""``ReconModel(prior_l1=table)``: the model's image as the prior of the ℓ1-wavelet reconstruction, inside its graph —
checked against ``recon.l1_wavelet`` (itself checked against scipy and its optimality conditions) with the model's
own image as prior and λ scaled by each example's ``max|Eᴴy|``; the table read per example at its mask's
acceleration; the table saved in ``.keras`` files and traced into SavedModels."""
import numpy as np
import pytest

from tests.models import zoo_contract
from tfmri_zoo import models, recon


def two_accelerations():
    """One example at R≈2 and one at R≈6 (the toy masks also keep 6 centre lines): inputs, targets, their R."""
    parts = [zoo_contract.toy_problem(batch=1, acceleration=r, seed=r) for r in (2, 6)]
    inputs = {key: np.concatenate([p[0][key] for p in parts]) for key in parts[0][0]}
    accelerations = [float(inputs["mask"][b].size / inputs["mask"][b].sum()) for b in range(2)]
    return inputs, np.concatenate([p[1] for p in parts]), accelerations


def adjoint_scale(inputs):
    """max|Eᴴy| per example with numpy FFTs (centred, orthonormal), the scale a zoo model normalises by."""
    k = np.fft.ifftshift(inputs["kspace"], axes=(-2, -1))
    coils = np.fft.fftshift(np.fft.ifft2(k, norm="ortho"), axes=(-2, -1))
    return np.abs(np.sum(np.conj(inputs["sensitivities"]) * coils, axis=1)).max(axis=(-2, -1))


def small_unet(**config):
    return models.get("unet", preset="small", kspace_replacement=False, initial="sense", **config)


def test_each_example_gets_the_l1_wavelet_with_the_network_image_as_prior_at_its_own_acceleration():
    inputs, target, accelerations = two_accelerations()
    model = small_unet()
    plain = model(inputs).numpy()
    pairs = [(0.002, 0.3), (0.01, 3.0)]
    model.set_prior_l1({"accelerations": accelerations, "lam": [p[0] for p in pairs], "weight": [p[1] for p in pairs]})
    got = model(inputs).numpy()
    scale = adjoint_scale(inputs)
    for b, (lam, weight) in enumerate(pairs):
        one = {key: value[b:b + 1] for key, value in inputs.items()}
        expected = recon.l1_wavelet(one["kspace"], one["mask"], one["sensitivities"], lam=lam * scale[b],
                                    max_iter=100, prior=plain[b:b + 1], prior_weight=weight).numpy()[0]
        assert np.linalg.norm(got[b] - expected) <= 1e-4 * np.linalg.norm(expected), b
        assert np.linalg.norm(got[b] - plain[b]) > 1e-2 * np.linalg.norm(plain[b])     # the step changes the image


def test_an_infinite_weight_returns_the_network_image():
    inputs, target, accelerations = two_accelerations()
    model = small_unet()
    plain = model(inputs).numpy()
    model.set_prior_l1({"accelerations": accelerations, "lam": [None, 0.01], "weight": [None, 0.3]})
    got = model(inputs).numpy()
    np.testing.assert_array_equal(got[0], plain[0])
    assert np.abs(got[1] - plain[1]).max() > 1e-3 * np.abs(plain[1]).max()
    model.set_prior_l1({"accelerations": [4.0], "lam": [None], "weight": [None]})
    np.testing.assert_array_equal(model(inputs).numpy(), plain)


def test_the_table_round_trips_through_keras_files_and_saved_models():
    inputs, target, accelerations = two_accelerations()
    table = {"accelerations": accelerations, "lam": [0.003, None], "weight": [1.0, None]}
    model = small_unet(prior_l1=table, prior_l1_iterations=30)
    config = model.get_config()
    assert config["prior_l1"] == table and config["prior_l1_iterations"] == 30
    loaded = zoo_contract.check_keras_round_trip(model, inputs)
    assert loaded.get_config()["prior_l1"] == table
    zoo_contract.check_saved_model_round_trip(model, inputs)


@pytest.mark.parametrize("table", [
    {"accelerations": [4.0], "lam": [0.01]},                                   # no weights
    {"accelerations": [8.0, 4.0], "lam": [0.01, 0.01], "weight": [1.0, 1.0]},  # not increasing
    {"accelerations": [4.0], "lam": [0.0], "weight": [1.0]},                  # λ must be > 0
    {"accelerations": [4.0], "lam": [0.01], "weight": [-1.0]},                # μ must be ≥ 0
    {"accelerations": [4.0], "lam": [None], "weight": [1.0]},                 # None in one list only
    {"accelerations": [4.0], "lam": [0.01], "weight": [float("inf")]},        # ∞ is written None
])
def test_a_malformed_table_is_refused_naming_the_argument(table):
    with pytest.raises(ValueError, match="prior_l1"):
        small_unet(prior_l1=table)


def test_a_model_without_a_2d_cartesian_image_refuses_the_step():
    with pytest.raises(ValueError, match="prior_l1: CINENet"):
        models.get("cinenet", prior_l1={"accelerations": [4.0], "lam": [0.01], "weight": [1.0]})


def test_tf_serving_export_serves_the_step_at_the_model_image_size(tmp_path):
    import tensorflow as tf

    from tfmri_zoo.export import export_saved_model, serving_inputs

    inputs, target, accelerations = two_accelerations()
    model = small_unet(prior_l1={"accelerations": accelerations, "lam": [0.003, 0.01], "weight": [1.0, 0.1]})
    expected = model(inputs).numpy()
    request = serving_inputs(inputs["kspace"], inputs["mask"][:, 0, 0], inputs["sensitivities"])
    for version, jit_compile in ((1, False), (2, True)):        # XLA-compiled signatures serve it too
        path = export_saved_model(model, str(tmp_path), model_name="unet_l1", version=version, warmup=False,
                                  jit_compile=jit_compile)
        signature = tf.saved_model.load(path).signatures["serving_default"]
        assert signature.structured_input_signature[1]["kspace"].shape.as_list() == [None, None, 32, 32, 2]
        image = signature(**{k: tf.constant(v) for k, v in request.items()})["image"].numpy()
        np.testing.assert_allclose(image[..., 0] + 1j * image[..., 1], expected, atol=1e-5 * np.abs(expected).max())
    with pytest.raises(ValueError, match="image_shape"):
        export_saved_model(model, str(tmp_path), model_name="unet_l1", version=3, image_shape=(32,))
