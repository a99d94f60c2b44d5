"""Bad input is refused in every mode — eager, inside ``tf.function``, from a ``.keras``-loaded model — with an error
naming the argument, never a NaN image; numbers are accepted as users pass them."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.zoo_contract import toy_problem
from tfmri_zoo import recon, validation
from tfmri_zoo.models.modl import MoDL


def _bad(inputs, which):
    bad = {k: np.array(v) for k, v in inputs.items()}
    if which == "nan_kspace":
        bad["kspace"][0, 1, 3, 4] = np.nan
    elif which == "inf_kspace":
        bad["kspace"][1, 0, 0, 0] = np.inf * (1 + 1j)
    elif which == "nan_maps":
        bad["sensitivities"][1, 2, 5, 5] = complex(0, np.nan)
    elif which == "nan_mask":
        bad["mask"][0, 0, 0, 3] = np.nan
    elif which == "zero_mask":
        bad["mask"][1] = 0.0  # one example with nothing sampled
    return bad


CASES = [("nan_kspace", "kspace"), ("inf_kspace", "kspace"), ("nan_maps", "sensitivities"),
         ("nan_mask", "mask"), ("zero_mask", "mask")]


@pytest.fixture(scope="module")
def model_and_inputs():
    inputs, _ = toy_problem(batch=2)
    model = MoDL(iterations=2, regularizer={"name": "dncnn", "filters": 4, "layers": 2}, cg_iterations=2)
    model(inputs)
    return model, inputs


@pytest.mark.parametrize("which,name", CASES)
def test_model_refuses_bad_values_eagerly(model_and_inputs, which, name):
    model, inputs = model_and_inputs
    with pytest.raises(validation.InvalidInputError, match=name):
        model(_bad(inputs, which))
    # The eager error is also a ValueError and the InvalidArgumentError type of graph mode.
    with pytest.raises(ValueError, match=name):
        model(_bad(inputs, which))


def test_model_refuses_bad_values_inside_tf_function(model_and_inputs):
    model, inputs = model_and_inputs

    @tf.function(reduce_retracing=True)
    def run(kspace, mask, sensitivities):
        return model({"kspace": kspace, "mask": mask, "sensitivities": sensitivities})

    good = run(**inputs)  # good data run in the same graph
    np.testing.assert_allclose(good.numpy(), model(inputs).numpy(), atol=1e-5)
    for which, name in CASES:
        with pytest.raises(tf.errors.InvalidArgumentError, match=name):
            run(**_bad(inputs, which))
    assert run.experimental_get_tracing_count() == 1


def test_dynamic_shape_mismatch_is_named_in_graph_mode(model_and_inputs):
    model, inputs = model_and_inputs
    spec = {"kspace": tf.TensorSpec([None] * 4, tf.complex64), "mask": tf.TensorSpec([None] * 4, tf.float32),
            "sensitivities": tf.TensorSpec([None] * 4, tf.complex64)}

    @tf.function(input_signature=[spec])
    def run(x):
        return model(x)

    assert run(inputs).shape == (2, 32, 32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sensitivities: shape does not match kspace"):
        run({**inputs, "sensitivities": inputs["sensitivities"][:, :, :16]})
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask: shape does not match kspace"):
        run({**inputs, "mask": inputs["mask"][..., :16]})


def test_keras_loaded_model_refuses_nan_kspace(model_and_inputs, tmp_path):
    model, inputs = model_and_inputs
    path = os.path.join(tmp_path, "modl.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(inputs).numpy(), model(inputs).numpy(), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="kspace"):
        loaded(_bad(inputs, "nan_kspace"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="kspace"):
        loaded.predict(_bad(inputs, "nan_kspace"), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask"):
        loaded.predict(_bad(inputs, "zero_mask"), verbose=0)


def test_static_shape_mismatch_is_a_value_error(model_and_inputs):
    model, inputs = model_and_inputs
    with pytest.raises(ValueError, match="sensitivities"):
        model({**inputs, "sensitivities": inputs["sensitivities"][..., :16]})


def test_no_host_copies_on_the_hot_path(model_and_inputs, monkeypatch):
    """Values are checked by device reductions: no tensor of the call is copied to the host with ``.numpy()``."""
    model, inputs = model_and_inputs
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    calls = []
    eager_type = type(tensors["kspace"])
    original = eager_type.numpy

    def counting(self):
        calls.append(tuple(self.shape))
        return original(self)

    monkeypatch.setattr(eager_type, "numpy", counting)
    model(tensors)
    assert [shape for shape in calls if len(shape) > 0] == []


def test_solvers_refuse_bad_values_in_every_mode():
    inputs, _ = toy_problem(batch=1)
    k, m, s = inputs["kspace"], inputs["mask"], inputs["sensitivities"]
    bad_k = k.copy()
    bad_k[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="kspace"):
        recon.sense(bad_k, m, s, lam=0.01)
    with pytest.raises(tf.errors.InvalidArgumentError, match="kspace"):
        tf.function(lambda k: recon.sense(k, m, s, lam=0.01, max_iter=3))(bad_k)
    with pytest.raises(ValueError, match="mask"):
        recon.sense(k, np.zeros_like(m), s, lam=0.01)
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask"):
        tf.function(lambda m: recon.tv(k, m, s, lam=0.01, max_iter=3))(np.zeros_like(m))
    bad_s = s.copy()
    bad_s[0, 1, 2, 2] = np.inf
    with pytest.raises(ValueError, match="sensitivities"):
        recon.gradient_descent(k, m, bad_s, lam=0.01, max_iter=3)


def test_numbers_are_accepted_as_users_pass_them():
    inputs, _ = toy_problem(batch=1)
    k, m, s = inputs["kspace"], inputs["mask"], inputs["sensitivities"]
    want = recon.sense(k, m, s, lam=0.01, max_iter=10).numpy()
    for lam in (np.float32(0.01), np.float64(0.01), np.array(0.01), tf.constant(0.01)):
        got = recon.sense(k, m, s, lam=lam, max_iter=np.int64(10), tol=None).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    got = recon.gradient_descent(k, m, s, lam=np.float32(0.01), max_iter=np.int32(5), step_size=np.float32(1.0),
                                 tol=np.float64(1e-9)).numpy()
    ref = recon.gradient_descent(k, m, s, lam=0.01, max_iter=5, step_size=1.0, tol=1e-9).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    recon.tv(k, m, s, lam=np.float32(1e-3), max_iter=np.int64(3), step_size=np.float32(0.3))


@pytest.mark.parametrize("value,error", [(True, TypeError), (-0.1, ValueError), (np.nan, ValueError),
                                         (np.array([0.1, 0.2]), TypeError), (1 + 1j, TypeError), ("0.1", TypeError)])
def test_bad_numbers_are_named(value, error):
    inputs, _ = toy_problem(batch=1)
    with pytest.raises(error, match="lam"):
        recon.sense(inputs["kspace"], inputs["mask"], inputs["sensitivities"], lam=value)


def test_as_int_refuses_fractions():
    assert validation.as_int(np.int64(3), "max_iter") == 3
    with pytest.raises(TypeError, match="max_iter"):
        validation.as_int(3.0, "max_iter")
    with pytest.raises(TypeError, match="max_iter"):
        tf.function(lambda n: validation.as_int(n, "max_iter"))(tf.constant(3))


def test_numpy_scalars_reach_every_solver_and_model():
    """The same result from numpy scalars as from Python numbers (PnP, RED, CG, the PnP model; a refused numpy
    scalar raised a TypeError here before)."""
    from tfmri_zoo.models.pnp import PnP
    from tfmri_zoo.physics.cg import conjugate_gradient

    inputs, _ = toy_problem(batch=1)
    k, m, s = inputs["kspace"], inputs["mask"], inputs["sensitivities"]

    def smooth(x):  # a fixed linear denoiser: the solvers' only non-solver part
        return 0.5 * x + 0.25 * (tf.roll(x, 1, axis=-1) + tf.roll(x, -1, axis=-1))

    for run in (lambda lam, n: recon.pnp_admm(k, m, s, denoiser=smooth, rho=lam, max_iter=n, cg_iterations=n),
                lambda lam, n: recon.red(k, m, s, denoiser=smooth, nu=lam, max_iter=n, cg_iterations=n)):
        np.testing.assert_allclose(run(np.float32(0.5), np.int64(3)).numpy(), run(0.5, 3).numpy(), rtol=1e-6,
                                   atol=1e-6)
    rhs = tf.constant(np.random.default_rng(0).standard_normal((1, 6)) + 0j, tf.complex64)
    apply = lambda v: 2.0 * v  # noqa: E731  (SPD: the exact solution is rhs / 2)
    np.testing.assert_allclose(conjugate_gradient(apply, rhs, max_iter=np.int32(3)).numpy(), rhs.numpy() / 2,
                               rtol=1e-6)
    model = PnP(iterations=np.int64(2), lam=np.float32(0.5), cg_iterations=np.int64(2))
    assert (model.iterations, model.lam, model.cg_iterations) == (2, 0.5, 2)
    with pytest.raises(ValueError, match="lam"):
        PnP(lam=np.float32(-1.0))
