"""Deep equilibrium: Anderson finds the fixed point (in graph mode too, honouring ``tol``); the implicit gradient
equals back-propagation through a fully converged unrolled iteration; the DEQ model's output satisfies x* = f(x*)
and equals the Picard fixed point; a non-converged solve is reported (warning, ``last_info``, fit/evaluate metrics);
the registered model meets the zoo contract (``.keras`` and SavedModel round trips, TF-Serving export, training)."""
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.zoo_contract import toy_problem
from tfmri_zoo import models
from tfmri_zoo.export import export_saved_model
from tfmri_zoo.models.deq import DeepEquilibriumRecon, anderson, fixed_point
from tfmri_zoo.training.losses import ComplexMSE


def test_anderson_solves_a_linear_fixed_point():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 20, 20))
    a = 0.9 * a / np.linalg.norm(a, 2, axis=(1, 2), keepdims=True)
    b = rng.normal(size=(3, 20))
    expected = np.linalg.solve(np.eye(20) - a, b[..., None])[..., 0]
    x, residual = anderson(lambda x: tf.einsum("bij,bj->bi", a, x) + b, tf.zeros((3, 20), tf.float64),
                           max_iter=60, tol=1e-12)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-8, atol=1e-8)


def test_implicit_gradient_matches_unrolled_backprop_complex():
    rng = np.random.default_rng(1)
    w = tf.Variable(0.4 * rng.normal(size=(16, 16)) / 4.0)
    b = tf.Variable(rng.normal(size=(16,)))
    data = tf.constant(rng.normal(size=(2, 8)) + 1j * rng.normal(size=(2, 8)))

    def f(x):  # complex [2, 8] → complex, contractive
        v = tf.concat([tf.math.real(x), tf.math.imag(x)], 1)
        out = 0.5 * tf.tanh(tf.matmul(v, w) + b)
        return tf.complex(out[:, :8], out[:, 8:]) + 0.3 * data

    def loss_of(x):
        return tf.reduce_sum(tf.abs(x - 1.0) ** 2)

    with tf.GradientTape() as tape:
        tape.watch(data)
        x = tf.zeros((2, 8), tf.complex128)
        for _ in range(200):
            x = f(x)
        unrolled = tape.gradient(loss_of(x), [w, b, data])
    with tf.GradientTape() as tape:
        tape.watch(data)
        x_star = fixed_point(f, tf.zeros((2, 8), tf.complex128), 60, 60, tol=1e-12)
        implicit = tape.gradient(loss_of(x_star), [w, b, data])
    np.testing.assert_allclose(x_star.numpy(), x.numpy(), atol=1e-10)
    for got, want in zip(implicit, unrolled):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-9)


def test_anderson_honours_tol_in_graph_mode_as_in_eager_mode():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(2, 12, 12))
    a = 0.8 * a / np.linalg.norm(a, 2, axis=(1, 2), keepdims=True)
    b = rng.normal(size=(2, 12))
    calls = tf.Variable(0)

    def f(x):
        calls.assign_add(1)
        return tf.einsum("bij,bj->bi", a, x) + b

    counts = {}
    for mode, run in (("eager", lambda: anderson(f, tf.zeros((2, 12), tf.float64), max_iter=100, tol=1e-6)),
                      ("graph", tf.function(lambda: anderson(f, tf.zeros((2, 12), tf.float64), max_iter=100,
                                                             tol=1e-6)))):
        calls.assign(0)
        x, residual = run()
        counts[mode] = int(calls.numpy())
        assert np.all(residual.numpy() < 1e-6)
        # x is a fixed point by its own residual, recomputed here in numpy
        fx = np.einsum("bij,bj->bi", a, x.numpy()) + b
        assert np.all(np.linalg.norm(fx - x.numpy(), axis=1) <= 1e-5 * np.linalg.norm(fx, axis=1))
    assert counts["graph"] == counts["eager"] < 100


def _deq(**config):
    base = dict(regularizer={"name": "dncnn", "filters": 4, "layers": 2}, cg_iterations=3, forward_iterations=40,
                backward_iterations=20, tol=1e-5, normalize=False)
    return DeepEquilibriumRecon(**{**base, **config})


def test_deq_output_is_the_fixed_point_of_its_iteration_and_has_gradients():
    # Fully sampled, so that f = (EᴴE + λI)⁻¹(Eᴴy + λD(x)) is a contraction (factor ≈ λ/(1+λ)·Lip D) and the fixed
    # point exists and is unique. (Undersampled, f acts as D alone on the null space of E: with a freshly
    # initialised CNN the forward solve does not converge — which the model now reports, see the next test.)
    keras.utils.set_random_seed(0)
    inputs, target = toy_problem(batch=1, acceleration=1)
    model = _deq()
    with tf.GradientTape() as tape:
        out = model(inputs, training=True)
        loss = tf.reduce_mean(tf.abs(out - target) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)

    @tf.function
    def f(x):   # one application of the iteration, assembled here from the model's parts
        return model.dc(model.denoiser(x, training=True), inputs["kspace"], inputs["mask"], inputs["sensitivities"])

    fx = f(out).numpy()
    assert np.linalg.norm(fx - out.numpy()) <= 2e-5 * np.linalg.norm(fx)        # x* = f(x*)
    plain = tf.zeros_like(out)                                                   # the true fixed point by Picard
    for _ in range(25):                                                          # contraction factor ≈ 0.05
        plain = f(plain)
    np.testing.assert_allclose(out.numpy(), plain.numpy(), atol=1e-4 * np.abs(plain.numpy()).max())
    assert bool(tf.reduce_all(model.last_info["converged"]))
    assert float(model.converged_metric.count) == 0.0          # a call writes no variable (metrics: fit/evaluate)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads) > 0
    again = DeepEquilibriumRecon.from_config(model.get_config())
    assert again.get_config() == model.get_config()


def test_a_non_converged_fixed_point_is_reported():
    keras.utils.set_random_seed(0)
    inputs, target = toy_problem(batch=1)
    model = _deq(forward_iterations=2, tol=1e-8)
    with pytest.warns(UserWarning, match="did not converge in 2 iterations"):
        model(inputs)
    assert not bool(tf.reduce_any(model.last_info["converged"]))
    assert model.last_info["residual"].shape == (1,) and model.last_info["residual"].dtype == tf.float32
    # In graph mode (fit, evaluate) the same is visible in the logs.
    model.compile(optimizer="adam", loss=ComplexMSE())
    logs = model.evaluate(tf.data.Dataset.from_tensors((inputs, target)), verbose=0, return_dict=True)
    assert logs["deq_converged"] == 0.0 and logs["deq_residual"] > 1e-8
    history = model.fit(tf.data.Dataset.from_tensors((inputs, target)), epochs=1, verbose=0)
    assert history.history["deq_converged"] == [0.0] and history.history["deq_residual"][0] > 1e-8


def test_deq_is_a_registered_zoo_model():
    assert "deq" in models.list()
    assert set(models.presets("deq")) >= {"small", "default"}
    inputs, target = toy_problem(batch=2, acceleration=1)   # fully sampled: f is a contraction, x* exists
    model = zoo_contract.check_registry_model("deq", DeepEquilibriumRecon, inputs, target)
    assert model.registry_name == "deq"
    assert bool(tf.reduce_all(model.last_info["converged"]))


def test_deq_exports_for_tf_serving():
    """``export_saved_model``'s float32 ``serving_default`` signature returns the Keras model's image; serving
    leaves the convergence metrics untouched."""
    keras.utils.set_random_seed(0)
    inputs, _ = toy_problem(batch=2, acceleration=1)
    model = models.get("deq", preset="small")
    expected = model(inputs).numpy()
    with tempfile.TemporaryDirectory() as d:
        path = export_saved_model(model, d, version=1, warmup=False)
        serve = tf.saved_model.load(path).signatures["serving_default"]
        real = {k: np.stack([v.real, v.imag], -1).astype(np.float32) for k, v in inputs.items() if k != "mask"}
        mask = np.broadcast_to(inputs["mask"][:, 0], expected.shape).astype(np.float32)
        got = serve(kspace=tf.constant(real["kspace"]), mask=tf.constant(mask),
                    sensitivities=tf.constant(real["sensitivities"]))
    image = got["image"].numpy()
    np.testing.assert_allclose(image[..., 0] + 1j * image[..., 1], expected, atol=1e-5 * np.abs(expected).max())
    assert float(model.converged_metric.count) == 0.0


def test_deq_tiny_training_lowers_the_loss_and_logs_convergence():
    inputs, target = toy_problem(batch=2)   # R = 3: the untrained f is not contractive on the null space of E
    keras.utils.set_random_seed(1)
    model = models.get("deq", preset="small")
    first, last = zoo_contract.check_training_lowers_loss(model, inputs, target, steps=12, learning_rate=5e-3)
    logs = {k: float(v) for k, v in model.get_metrics_result().items()}
    assert 0.0 <= logs["deq_converged"] <= 1.0 and logs["deq_residual"] > 0.0
    print(f"deq small: loss {first:.4g} -> {last:.4g}, deq_converged {logs['deq_converged']:.2f}, "
          f"deq_residual {logs['deq_residual']:.2e}")


def test_deq_card_and_parameter_count():
    from tests.models.test_modl import built_default, check_model_card

    check_model_card("deq", 114_179)
    assert built_default("deq").count_params() == 114_179


def test_noise_adaptive_iteration_uses_lam_plus_nu_sigma_squared_per_example(rng):
    """``noise_lam=ν``: with an identity CNN and one Anderson evaluation the model returns two dense proximal steps
    ``x ← (EᴴE + λI)⁻¹(Eᴴy + λx)`` from ``Eᴴy`` (the evaluation and the output's application of the iteration) with
    ``λ = λ₀ + ν·σ̂²`` per example (σ̂ recomputed in numpy), MoDL's iteration."""
    from tests.models.test_modl import noise_adaptive_identity_case

    model, got, lams, gram, rhs = noise_adaptive_identity_case(DeepEquilibriumRecon, rng, cg_iterations=30,
                                                               forward_iterations=1, tol=0.0)
    x = rhs.copy()
    for _ in range(2):
        x = np.stack([np.linalg.solve(gram[b] + lams[b] * np.eye(256), rhs[b] + lams[b] * x[b]) for b in range(2)])
    np.testing.assert_allclose(got, x.reshape(got.shape), atol=2e-4 * np.abs(x).max())
    again = DeepEquilibriumRecon.from_config(model.get_config())
    assert again.noise_lam == 4.0 and again.dc.noise_lam_init == 4.0


def test_jacobian_estimate_is_the_mean_squared_singular_value_of_the_iteration():
    """With an identity CNN, ``∂f/∂x = λ(EᴴE + λI)⁻¹``: the Hutchinson estimate, averaged over probes, equals
    ``mean_i (λ/(s_i + λ))²`` over the eigenvalues ``s_i`` of the dense ``EᴴE`` (numpy)."""
    from tests.models.test_pnp import dense_gram

    inputs, _ = toy_problem(batch=2, coils=3, height=16, width=16, seed=4)
    lam = 0.5
    model = _deq(lam=lam, cg_iterations=60)
    model(inputs)
    model.denoiser.out.set_weights([np.zeros_like(w) for w in model.denoiser.out.get_weights()])
    args = [tf.constant(inputs[k]) for k in ("kspace", "mask", "sensitivities")]
    x = tf.complex(tf.random.normal([2, 16, 16]), tf.random.normal([2, 16, 16]))
    tf.random.set_seed(3)
    probe = tf.function(model.jacobian_frobenius)
    estimate = np.mean([probe(x, *args).numpy() for _ in range(40)], axis=0)
    gram = dense_gram(inputs["sensitivities"].astype(np.complex128), inputs["mask"])
    eigen = np.linalg.eigvalsh(gram)
    want = np.mean((lam / (eigen + lam)) ** 2, axis=1)
    assert 0.2 < want.min() <= want.max() < 0.9       # undersampled: part of the space is damped, part is not
    np.testing.assert_allclose(estimate, want, rtol=0.04)


def test_jacobian_penalty_enters_the_training_loss_and_its_metric():
    inputs, target = toy_problem(batch=2)
    keras.utils.set_random_seed(1)
    plain = models.get("deq", preset="small")
    penalised = models.get("deq", preset="small", jacobian_penalty=5.0)
    for model in (plain, penalised):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ComplexMSE())
        model(inputs)
    penalised.set_weights(plain.get_weights())
    dataset = tf.data.Dataset.from_tensors((inputs, target))
    logs = {name: model.evaluate(dataset, verbose=0, return_dict=True) for name, model in
            (("plain", plain), ("penalised", penalised))}
    assert "deq_jacobian" not in logs["plain"] or logs["plain"]["deq_jacobian"] == 0.0   # training only
    history = penalised.fit(dataset.repeat(6), epochs=1, verbose=0)
    jacobian = history.history["deq_jacobian"][0]
    assert 0.0 < jacobian < 10.0
    assert history.history["loss"][0] > logs["penalised"]["loss"]          # the penalty is part of the loss
    again = DeepEquilibriumRecon.from_config(penalised.get_config())
    assert again.jacobian_penalty == 5.0
