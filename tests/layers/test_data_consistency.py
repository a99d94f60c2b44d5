"""Data-consistency layers against numpy references, noiseless fully-sampled invariance and float64 gradient checks."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.zoo_contract import toy_problem
from tfmri_zoo.layers import data_consistency as dc


def _fft2c(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def _ifft2c(k):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def _forward(x, sens, mask):
    return mask * _fft2c(sens * x[:, None])


def _adjoint(k, sens, mask):
    return np.sum(np.conj(sens) * _ifft2c(mask * k), axis=1)


@pytest.fixture(scope="module")
def problem():
    inputs, target = toy_problem(batch=2, coils=4, height=32, width=32)
    return inputs["kspace"], inputs["mask"], inputs["sensitivities"], target


@pytest.fixture(scope="module")
def full_problem(problem):
    _, mask, sens, target = problem
    full = np.ones_like(mask)
    return _forward(target, sens, full).astype(np.complex64), full, sens, target


def _perturbed(target, rng, scale=0.3):
    return (target + scale * (rng.standard_normal(target.shape) + 1j * rng.standard_normal(target.shape))
            ).astype(np.complex64)


@pytest.mark.parametrize("layer", [dc.KSpaceReplacement(), dc.SoftKSpaceReplacement(noise_weight=2.0),
                                   dc.GradientDC(lam=0.7), dc.ProximalL2DC(lam=0.05, cg_iterations=4)],
                         ids=lambda layer: type(layer).__name__)
def test_noiseless_fully_sampled_data_is_unchanged(full_problem, layer):
    y, mask, sens, target = full_problem
    out = layer(target, y, mask, sens).numpy()
    np.testing.assert_allclose(out, target, atol=2e-5 * np.abs(target).max())


def test_admm_and_single_coil_leave_fully_sampled_data_unchanged(full_problem):
    y, mask, sens, target = full_problem
    x, u = dc.ADMMStep(lam=0.1, cg_iterations=3)(target, np.zeros_like(target), y, mask, sens)
    np.testing.assert_allclose(x.numpy(), target, atol=2e-5)
    np.testing.assert_allclose(u.numpy(), 0, atol=2e-5)
    single = _fft2c(target)[:, None].astype(np.complex64)
    out = dc.SingleCoilProximalDC(lam=0.3)(target, single, mask).numpy()
    np.testing.assert_allclose(out, target, atol=2e-5)


def test_hard_and_soft_replacement_match_the_kspace_formulas(problem, rng):
    y, mask, sens, target = problem
    x = _perturbed(target, rng)
    k = _fft2c(sens * x[:, None])
    hard = np.sum(np.conj(sens) * _ifft2c((1 - mask) * k + mask * y), axis=1)
    np.testing.assert_allclose(dc.KSpaceReplacement()(x, y, mask, sens).numpy(), hard, atol=1e-5)
    nu = 0.6
    soft = np.sum(np.conj(sens) * _ifft2c((1 - mask) * k + mask * (k + nu * y) / (1 + nu)), axis=1)
    got = dc.SoftKSpaceReplacement(noise_weight=nu)(x, y, mask, sens).numpy()
    np.testing.assert_allclose(got, soft, atol=1e-5)
    # single coil: the sampled k-space lines of the output are exactly y
    y1 = (mask[:, 0] * _fft2c(target))[:, None].astype(np.complex64)
    out = dc.KSpaceReplacement()(x, y1, mask).numpy()
    np.testing.assert_allclose(mask[:, 0] * _fft2c(out), y1[:, 0], atol=1e-5)
    np.testing.assert_allclose((1 - mask[:, 0]) * _fft2c(out), (1 - mask[:, 0]) * _fft2c(x), atol=1e-5)


def test_gradient_step_matches_numpy(problem, rng):
    y, mask, sens, target = problem
    x = _perturbed(target, rng)
    expected = x - 0.7 * _adjoint(_forward(x, sens, mask) - y, sens, mask)
    got = dc.GradientDC(lam=0.7)(x, y, mask, sens).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def dense_proximal_problem(rng, batch, coils=2, n=8):
    """Random maps, line mask, prior ``z`` and data ``y`` of ``n × n`` images."""
    sens = (rng.standard_normal((batch, coils, n, n)) + 1j * rng.standard_normal((batch, coils, n, n))) / 2
    mask = (rng.uniform(size=(batch, 1, 1, n)) < 0.5).astype(np.float32)
    z = rng.standard_normal((batch, n, n)) + 1j * rng.standard_normal((batch, n, n))
    y = _forward(rng.standard_normal((batch, n, n)) + 0j, sens, mask)
    return sens, mask, z, y


def dense_proximal_solve(sens, mask, z, y, lam):
    """``(EᴴE + λI)⁻¹(Eᴴy + λz)`` of one example with ``E`` built as a dense matrix, column by column."""
    n = z.shape[-1]
    columns = [_forward(np.eye(n * n)[j].reshape(1, n, n) + 0j, sens, mask).ravel() for j in range(n * n)]
    e = np.stack(columns, axis=1)
    return np.linalg.solve(e.conj().T @ e + lam * np.eye(n * n), e.conj().T @ y.ravel() + lam * z.ravel())


def test_proximal_step_matches_a_dense_solve(rng):
    sens, mask, z, y = dense_proximal_problem(rng, batch=1)
    expected = dense_proximal_solve(sens, mask, z, y, lam=0.3)
    layer = dc.ProximalL2DC(lam=0.3, cg_iterations=64, dtype="float64")
    got = layer(z, y, mask, sens).numpy()
    np.testing.assert_allclose(got.ravel(), expected, atol=1e-8)


def test_noise_adaptive_proximal_step_uses_lam_plus_nu_sigma_squared_per_example(rng):
    """λ = λ₀ + ν·σ̂² per example: each example equals the dense solve with its own λ."""
    sens, mask, z, y = dense_proximal_problem(rng, batch=2)
    lam0, nu, sigma = 0.1, 20.0, np.array([0.05, 0.3])
    layer = dc.ProximalL2DC(lam=lam0, noise_lam=nu, cg_iterations=64, dtype="float64")
    got = layer(z, y, mask, sens, noise_std=sigma).numpy()
    for i in range(2):
        expected = dense_proximal_solve(sens[i:i + 1], mask[i:i + 1], z[i], y[i], lam0 + nu * sigma[i] ** 2)
        np.testing.assert_allclose(got[i].ravel(), expected, atol=1e-8)
    with pytest.raises(ValueError, match="noise_std"):
        layer(z, y, mask, sens)
    with pytest.raises(ValueError, match="noise_lam"):
        dc.ProximalL2DC(noise_lam=0.0)
    assert dc.ProximalL2DC.from_config(layer.get_config()).noise_lam_init == nu


def test_calibration_table_gives_each_example_the_weights_of_its_mask_acceleration(rng):
    """With a table ``{R: (λ₀, ν)}``, example b gets ``λ₀(R_b) + ν(R_b)·σ̂_b²`` with ``R_b`` = 1/(sampled fraction) of
    its mask: the tabulated values at table accelerations, a power law between them (numpy's ``interp`` in log-log),
    the end values beyond — each example equals the dense solve with that λ; the table survives the config."""
    sens, _, z, y = dense_proximal_problem(rng, batch=4)
    mask = np.zeros((4, 1, 1, 8), np.float32)
    for b, lines in enumerate(([0, 2, 4, 6], [1, 3, 5], [2, 6], [4])):    # R = 2, 8/3, 4, 8
        mask[b, ..., lines] = 1.0
    y = y * mask
    table = {"accelerations": [2.0, 4.0], "lam": [0.2, 0.05], "noise_lam": [10.0, 40.0]}
    sigma = np.array([0.1, 0.2, 0.05, 0.3])
    layer = dc.ProximalL2DC(lam=7.0, noise_lam=1.0, calibration=table, cg_iterations=64, dtype="float64")
    got = layer(z, y, mask, sens, noise_std=sigma).numpy()
    rates = np.log([2.0, 8.0 / 3.0, 4.0, 8.0])
    at = lambda values: np.exp(np.interp(rates, np.log(table["accelerations"]), np.log(values)))  # noqa: E731
    lams = at(table["lam"]) + at(table["noise_lam"]) * sigma ** 2
    assert lams[0] == pytest.approx(0.2 + 10.0 * 0.01) and lams[3] == pytest.approx(0.05 + 40.0 * 0.09)
    for b in range(4):
        expected = dense_proximal_solve(sens[b:b + 1], mask[b:b + 1], z[b], y[b], lams[b])
        np.testing.assert_allclose(got[b].ravel(), expected, atol=1e-8)
    assert dc.ProximalL2DC.from_config(layer.get_config()).calibration == table
    fixed = dc.ProximalL2DC(calibration={"accelerations": [4.0], "lam": [0.3], "noise_lam": None}, cg_iterations=64,
                            dtype="float64")                      # one entry: that λ at every acceleration
    expected = dense_proximal_solve(sens[:1], mask[:1], z[0], y[0], 0.3)
    np.testing.assert_allclose(fixed(z[:1], y[:1], mask[:1], sens[:1]).numpy().ravel(), expected, atol=1e-8)


@pytest.mark.parametrize("table", [
    {"accelerations": [4.0, 2.0], "lam": [0.1, 0.2], "noise_lam": [1.0, 1.0]},      # not increasing
    {"accelerations": [2.0, 4.0], "lam": [0.1], "noise_lam": [1.0, 1.0]},           # lengths differ
    {"accelerations": [2.0, 4.0], "lam": [0.1, -0.2], "noise_lam": [1.0, 1.0]},     # negative weight
    {"accelerations": [2.0, 4.0], "lam": [0.1, 0.2], "noise_lam": None},            # ν missing, step adaptive
    {"accelerations": [2.0], "lam": [0.1]},                                         # key missing
    [0.1, 0.2]])
def test_bad_calibration_tables_are_refused(table):
    with pytest.raises(ValueError, match="calibration: expected"):
        dc.ProximalL2DC(noise_lam=1.0, calibration=table)


def test_calibration_table_refuses_non_cartesian_sampling(rng):
    layer = dc.ProximalL2DC(calibration={"accelerations": [4.0], "lam": [0.3], "noise_lam": None})
    sampling = {"trajectory": np.zeros((1, 16, 2), np.float32), "density": np.ones((1, 16), np.float32)}
    with pytest.raises(ValueError, match="sampling_mask: .* Cartesian mask; got non-Cartesian"):
        layer(np.zeros((1, 8, 8), np.complex64), np.zeros((1, 2, 16), np.complex64), sampling,
              np.ones((1, 2, 8, 8), np.complex64))
    with pytest.raises(ValueError, match="sampling_mask: .* Cartesian mask; got no mask"):
        layer(np.zeros((1, 8, 8), np.complex64), np.zeros((1, 2, 8, 8), np.complex64), None,
              np.ones((1, 2, 8, 8), np.complex64))


def test_noise_adaptive_admm_step_uses_rho_plus_nu_sigma_squared_per_example(rng):
    """ADMM x-update ``(EᴴE + ρI)⁻¹(Eᴴy + ρ(z − u))`` with ``ρ = ρ₀ + ν·σ̂²`` per example (dense solves), and the
    dual update ``u + η(x − z)``."""
    sens, mask, z, y = dense_proximal_problem(rng, batch=2)
    u = 0.1 * z[::-1]
    rho0, nu, sigma = 0.05, 30.0, np.array([0.02, 0.4])
    layer = dc.ADMMStep(lam=rho0, noise_lam=nu, dual_step=0.5, cg_iterations=64, dtype="float64")
    x, u_new = layer(z, u, y, mask, sens, noise_std=sigma)
    for i in range(2):
        expected = dense_proximal_solve(sens[i:i + 1], mask[i:i + 1], z[i] - u[i], y[i], rho0 + nu * sigma[i] ** 2)
        np.testing.assert_allclose(x.numpy()[i].ravel(), expected, atol=1e-8)
    np.testing.assert_allclose(u_new.numpy(), u + 0.5 * (x.numpy() - z), atol=1e-10)
    assert dc.ADMMStep.from_config(layer.get_config()).noise_lam_init == nu


def test_single_coil_closed_form_equals_cg_prox(problem, rng):
    _, mask, _, target = problem
    y = (mask[:, 0] * _fft2c(target))[:, None].astype(np.complex64)
    z = _perturbed(target, rng)
    closed = dc.SingleCoilProximalDC(lam=0.2)(z, y, mask).numpy()
    # single-coil EᴴE + λI has two eigenvalues (1 + λ, λ): CG converges in 2 iterations
    cg = dc.ProximalL2DC(lam=0.2, cg_iterations=3)(z, y, mask).numpy()
    np.testing.assert_allclose(closed, cg, atol=1e-5)


def _directional_check(layer, call, params, rng, eps=1e-6):
    """Compares tape gradients of a real loss with central finite differences along random directions."""
    weights = {v.path: v for v in layer.trainable_variables}
    with tf.GradientTape() as tape:
        tape.watch(params)
        loss = call(*params)
    grads = tape.gradient(loss, params + list(weights.values()))
    # input directions
    for _ in range(2):
        dirs = [rng.standard_normal(p.shape) for p in params]
        analytic = sum(np.sum(g.numpy() * d) for g, d in zip(grads, dirs))
        plus = call(*[p + eps * d for p, d in zip(params, dirs)]).numpy()
        minus = call(*[p - eps * d for p, d in zip(params, dirs)]).numpy()
        numeric = (plus - minus) / (2 * eps)
        assert abs(analytic - numeric) <= 1e-3 * abs(numeric), (analytic, numeric)
    # weight derivatives
    for g, var in zip(grads[len(params):], weights.values()):
        value = var.numpy()
        var.assign(value + eps)
        plus = call(*params).numpy()
        var.assign(value - eps)
        minus = call(*params).numpy()
        var.assign(value)
        numeric = (plus - minus) / (2 * eps)
        assert abs(g.numpy() - numeric) <= 1e-3 * abs(numeric), (var.path, g.numpy(), numeric)


@pytest.mark.parametrize("kind", ["prox_cg", "admm", "gradient", "soft"])
def test_float64_gradients_match_finite_differences(problem, rng, kind):
    y, mask, sens, target = problem
    y, sens = y[:1, :, :16, :16].astype(np.complex128), sens[:1, :, :16, :16].astype(np.complex128)
    mask = mask[:1, :, :, :16]
    weight = tf.constant(rng.standard_normal((1, 16, 16)) + 1j * rng.standard_normal((1, 16, 16)))
    a, b = (tf.constant(rng.standard_normal((1, 16, 16))) for _ in range(2))
    if kind == "prox_cg":
        layer = dc.ProximalL2DC(lam=0.3, cg_iterations=5, dtype="float64")
        apply = lambda z: layer(z, y, mask, sens)  # noqa: E731
    elif kind == "admm":
        layer = dc.ADMMStep(lam=0.3, dual_step=0.8, cg_iterations=4, dtype="float64")
        apply = lambda z: tf.add_n(layer(z, 0.5 * z, y, mask, sens))  # noqa: E731
    elif kind == "gradient":
        layer = dc.GradientDC(lam=0.5, dtype="float64")
        apply = lambda z: layer(z, y, mask, sens)  # noqa: E731
    else:
        layer = dc.SoftKSpaceReplacement(noise_weight=0.5, dtype="float64")
        apply = lambda z: layer(z, y, mask, sens)  # noqa: E731

    def loss(re, im):
        out = apply(tf.complex(re, im))
        assert out.dtype == tf.complex128
        return tf.reduce_sum(tf.abs(out * weight) ** 2)

    _directional_check(layer, loss, [a, b], rng)


def test_weights_stay_nonnegative_under_training(problem):
    y, mask, sens, target = problem
    layers = [dc.ProximalL2DC(lam=0.05, cg_iterations=2), dc.GradientDC(lam=0.05),
              dc.SoftKSpaceReplacement(noise_weight=0.05), dc.ADMMStep(lam=0.05, dual_step=0.05, cg_iterations=2)]
    for layer in layers:  # create the variables
        args = (target, target) if isinstance(layer, dc.ADMMStep) else (target,)
        layer(*args, y, mask, sens)
    variables = [v for layer in layers for v in layer.trainable_variables]
    opt = keras.optimizers.SGD(learning_rate=100.0)
    for _ in range(5):
        with tf.GradientTape() as tape:
            # minimising the weights themselves drives an unconstrained parameter below zero
            loss = tf.add_n([tf.math.real(layers[0].nonnegative(v)) for v in variables])
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    for v in variables:
        assert float(v.numpy()) < dc.inverse_softplus(0.05) - 3  # the raw variable went far negative
        value = float(tf.math.real(layers[0].nonnegative(v)))
        assert 0 <= value < 0.05 and np.isfinite(value)


def test_config_round_trip_gives_identical_layer(problem):
    y, mask, sens, target = problem
    for layer in (dc.ProximalL2DC(lam=0.2, cg_iterations=3), dc.SoftKSpaceReplacement(noise_weight=3.0),
                  dc.GradientDC(lam=0.4), dc.ADMMStep(lam=0.1, dual_step=0.5, cg_iterations=2),
                  dc.KSpaceReplacement()):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
        args = (target, target) if isinstance(layer, dc.ADMMStep) else (target,)
        np.testing.assert_allclose(np.asarray(clone(*args, y, mask, sens)), np.asarray(layer(*args, y, mask, sens)),
                                   atol=1e-6)


def test_bad_inputs_name_the_argument(problem):
    y, mask, sens, target = problem
    with pytest.raises(TypeError, match="image"):
        dc.GradientDC()(np.abs(target), y, mask, sens)
    with pytest.raises(TypeError, match="kspace"):
        dc.ProximalL2DC()(target, np.abs(y), mask, sens)
    with pytest.raises(TypeError, match="sampling_mask"):
        dc.KSpaceReplacement()(target, y, mask.astype(np.complex64), sens)
    with pytest.raises(ValueError, match="sampling_mask"):
        dc.KSpaceReplacement()(target, y, mask[..., :5], sens)
    with pytest.raises(ValueError, match="cg_iterations"):
        dc.ProximalL2DC(cg_iterations=0)
    with pytest.raises(ValueError, match="kspace"):
        dc.SingleCoilProximalDC()(target, y, mask)
    with pytest.raises(ValueError, match="initial value"):
        dc.GradientDC(lam=-1.0)
