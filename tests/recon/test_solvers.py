"""Classical solvers on small synthetic multi-coil problems: optimality, agreement between solvers, edge cases,
graph/XLA compilation and input errors."""
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.physics.fft import fft2c, ifft2c
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.recon import gradient_descent, l1_wavelet, sense, soft_threshold, tv, wavedec2, zero_filled

H = W = 32
COILS = 4


def make_problem(rng, batch=1, accel=2, noise=0.0):
    """Normalised maps (Σ|S|² = 1), a piecewise-smooth image, Cartesian lines (every ``accel``-th + 6 centre)."""
    maps = crandn(rng, batch, COILS, 4, 4)
    maps = tf.image.resize(np.stack([maps.real, maps.imag], -1).reshape(batch * COILS, 4, 4, 2), [H, W]).numpy()
    maps = (maps[..., 0] + 1j * maps[..., 1]).reshape(batch, COILS, H, W)
    maps = (maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))).astype(np.complex64)
    yy, xx = np.mgrid[:H, :W] / H - 0.5
    image = ((xx ** 2 + yy ** 2 < 0.16) * (1.0 + 0.5 * (xx > 0)) * np.exp(1j * np.pi * yy)).astype(np.complex64)
    image = np.broadcast_to(image, (batch, H, W)) * (1 + np.arange(batch))[:, None, None]
    lines = np.zeros(W, np.float32)
    lines[::accel] = 1
    lines[W // 2 - 3:W // 2 + 3] = 1
    mask = np.broadcast_to(lines, (batch, 1, 1, W)).astype(np.float32)
    kspace = fft2c(tf.constant(image[:, None] * maps)).numpy()
    kspace = (kspace + noise * crandn(rng, *kspace.shape)) * mask
    return kspace.astype(np.complex64), mask, maps, image.astype(np.complex64)


def objective(x, kspace, mask, maps, lam, penalty):
    residual = SenseOperator(maps, mask).forward(tf.constant(x)).numpy() - kspace
    return 0.5 * np.sum(np.abs(residual) ** 2) + lam * penalty(x)


def tv_norm(x):
    dh, dw = np.roll(x, -1, -2) - x, np.roll(x, -1, -1) - x
    return np.sum(np.sqrt(np.abs(dh) ** 2 + np.abs(dw) ** 2))


def test_zero_filled_full_sampling_recovers_image_and_rss(rng):
    kspace, _, maps, image = make_problem(rng, batch=2)
    full = fft2c(tf.constant(image[:, None] * maps)).numpy()
    np.testing.assert_allclose(zero_filled(full, sensitivities=maps).numpy(), image, atol=1e-5)
    rss = np.sqrt(np.sum(np.abs(image[:, None] * maps) ** 2, axis=1))
    np.testing.assert_allclose(zero_filled(full).numpy(), rss, atol=1e-5)
    single = full[:, :1]
    np.testing.assert_allclose(zero_filled(single).numpy(), ifft2c(tf.constant(single)).numpy()[:, 0], atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.05])
def test_sense_solves_normal_equations(rng, lam):
    kspace, mask, maps, image = make_problem(rng, batch=2, accel=2)
    x = sense(kspace=kspace, mask=mask, sensitivities=maps, lam=lam, max_iter=30)
    assert x.shape == (2, H, W) and x.dtype == tf.complex64
    op = SenseOperator(maps, mask)
    residual = op.normal(x) + lam * x - op.adjoint(kspace)
    assert np.linalg.norm(residual) <= 1e-4 * np.linalg.norm(op.adjoint(kspace))
    if lam == 0.0:   # noiseless R=2 with 4 coils: SENSE is exact
        np.testing.assert_allclose(x.numpy(), image, atol=1e-3 * np.abs(image).max())


def test_sense_tol_stops_early_and_fixed_count_is_exact(rng):
    kspace, mask, maps, _ = make_problem(rng, accel=3)
    loose = sense(kspace=kspace, mask=mask, sensitivities=maps, max_iter=200, tol=1e-1).numpy()
    tight = sense(kspace=kspace, mask=mask, sensitivities=maps, max_iter=200, tol=1e-6).numpy()
    two = sense(kspace=kspace, mask=mask, sensitivities=maps, max_iter=2).numpy()
    three = sense(kspace=kspace, mask=mask, sensitivities=maps, max_iter=3).numpy()
    assert np.linalg.norm(loose - tight) > 1e-3 * np.linalg.norm(tight)    # stopped before converging
    assert np.linalg.norm(two - three) > 1e-3 * np.linalg.norm(three)        # iteration count is honoured


def test_gradient_descent_converges_to_tikhonov_solution(rng):
    kspace, mask, maps, _ = make_problem(rng, accel=2)
    reference = sense(kspace=kspace, mask=mask, sensitivities=maps, lam=0.5, max_iter=50).numpy()
    x = gradient_descent(kspace=kspace, mask=mask, sensitivities=maps, lam=0.5, max_iter=60).numpy()
    assert np.linalg.norm(x - reference) <= 1e-3 * np.linalg.norm(reference)
    # Power iteration gives L ≈ 1 for normalised maps: the explicit step 1/(1 + λ) must give the same result.
    y = gradient_descent(kspace=kspace, mask=mask, sensitivities=maps, lam=0.5, max_iter=60, step_size=1 / 1.5)
    assert np.linalg.norm(y.numpy() - x) <= 1e-3 * np.linalg.norm(x)


def test_soft_threshold_complex():
    x = tf.constant([3 + 4j, 0.3 + 0.4j, 0j, -1j], tf.complex64)
    np.testing.assert_allclose(soft_threshold(x, 1.0).numpy(), [2.4 + 3.2j, 0, 0, 0], atol=1e-6)


def test_l1_wavelet_meets_the_subgradient_optimality_conditions(rng):
    """x minimises ½‖y − Ex‖² + λ‖Ψx‖₁ (Ψ orthogonal) iff, with w = Ψx and g = Ψ Eᴴ(Ex − y):
    g_i = −λ w_i/|w_i| where w_i ≠ 0 and |g_i| ≤ λ where w_i = 0 (checked coefficient by coefficient)."""
    kspace, mask, maps, _ = make_problem(rng, accel=3, noise=0.02)
    lam = 0.02

    @tf.function
    def fista(k):   # λ and λ = 0 (plain least squares) in one traced graph
        return (l1_wavelet(kspace=k, mask=mask, sensitivities=maps, lam=lam, max_iter=100, levels=2, wavelet="db2",
                           threshold_coarse=True, cycle_spinning=False),
                l1_wavelet(kspace=k, mask=mask, sensitivities=maps, lam=0.0, max_iter=50))

    x, x0 = (t.numpy() for t in fista(kspace))
    operator = SenseOperator(maps, mask)
    g = wavedec2(operator.adjoint(operator.forward(x) - kspace), "db2", 2).numpy()
    w = wavedec2(tf.constant(x), "db2", 2).numpy()
    support = np.abs(w) > 1e-6 * np.abs(w).max()
    assert 0.1 < support.mean() < 0.9                       # a sparse solution: both conditions are exercised
    assert np.abs(g[support] + lam * w[support] / np.abs(w[support])).max() <= 5e-3 * lam
    assert np.abs(g[~support]).max() <= 1.001 * lam
    # λ = 0 is plain least squares: FISTA reaches the CG-SENSE solution.
    ls = sense(kspace=kspace, mask=mask, sensitivities=maps, max_iter=30).numpy()
    assert np.linalg.norm(x0 - ls) <= 2e-2 * np.linalg.norm(ls)


def numpy_normal(mask, maps):
    """``EᴴE`` of one slice in numpy (``numpy.fft``, orthonormal, centred): a function of complex ``[H, W]``."""
    axes = (-2, -1)

    def normal(x):
        k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x[None] * maps, axes=axes), norm="ortho"), axes=axes) * mask
        c = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), norm="ortho"), axes=axes)
        return np.sum(np.conj(maps) * c, 0)
    return normal


def test_l1_wavelet_with_a_prior_image_meets_its_optimality_conditions(rng):
    """With a prior image x_p, x minimises ½‖y − Ex‖² + ½μ‖x − x_p‖² + λ‖Ψx‖₁: the subgradient conditions hold with
    g = Ψ(Eᴴ(Ex − y) + μ(x − x_p)); at λ = 0 x solves (EᴴE + μI)x = Eᴴy + μx_p (scipy CG on a numpy operator)."""
    from scipy.sparse.linalg import LinearOperator, cg

    kspace, mask, maps, image = make_problem(rng, accel=3, noise=0.02)
    prior = (image + 0.1 * crandn(rng, *image.shape)).astype(np.complex64)
    lam, mu = 0.02, 0.3

    @tf.function
    def solves(k):   # with the prior (λ, then λ = 0), and μ = 0 with and without it, in one traced graph
        common = dict(kspace=k, mask=mask, sensitivities=maps, levels=2, cycle_spinning=False)
        return (l1_wavelet(**common, lam=lam, max_iter=150, prior=prior, prior_weight=mu),
                l1_wavelet(**common, lam=0.0, max_iter=100, prior=prior, prior_weight=mu),
                l1_wavelet(**common, lam=lam, max_iter=300),
                l1_wavelet(**common, lam=lam, max_iter=300, prior=prior, prior_weight=0.0))

    x, x0, plain, started = (t.numpy() for t in solves(kspace))
    operator = SenseOperator(maps, mask)
    gradient = operator.adjoint(operator.forward(x) - kspace).numpy() + mu * (x - prior)
    g = wavedec2(tf.constant(gradient), "db2", 2).numpy()
    w = wavedec2(tf.constant(x), "db2", 2).numpy()
    support = np.abs(w) > 1e-6 * np.abs(w).max()
    assert 0.1 < support.mean() < 0.9
    assert np.abs(g[support] + lam * w[support] / np.abs(w[support])).max() <= 5e-3 * lam
    assert np.abs(g[~support]).max() <= 1.001 * lam
    # λ = 0: the Tikhonov step toward the prior, against an independent solve.
    normal = numpy_normal(mask[0].astype(np.float64), maps[0].astype(np.complex128))
    axes = (-2, -1)
    coils = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace[0], axes=axes), norm="ortho"), axes=axes)
    rhs = np.sum(np.conj(maps[0]) * coils, 0) + mu * prior[0]
    system = LinearOperator((H * W, H * W), matvec=lambda v: (normal(v.reshape(H, W)) + mu * v.reshape(H, W)).ravel(),
                            dtype=np.complex128)
    reference = cg(system, rhs.ravel().astype(np.complex128), rtol=1e-10, maxiter=500)[0].reshape(H, W)
    assert np.linalg.norm(x0[0] - reference) <= 1e-3 * np.linalg.norm(reference)
    # μ = 0 with a prior is the plain ℓ1-wavelet reconstruction (the start does not change the convex minimiser).
    assert np.linalg.norm(started - plain) <= 1e-2 * np.linalg.norm(plain)


def smoothed_tv_reference(kspace, mask, maps, lam):
    """An independent TV minimiser: L-BFGS (scipy) on ½‖Ex − y‖² + λ Σ √(|∇x|² + ε²), ε → 1e-4 by continuation,
    with E written in numpy (``numpy.fft``). Returns complex128 ``[H, W]``."""
    from scipy.optimize import minimize

    k, s, m = kspace[0].astype(np.complex128), maps[0].astype(np.complex128), mask[0]
    axes = (-2, -1)

    def forward(x):
        return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x[None] * s, axes=axes), norm="ortho"), axes=axes) * m

    def adjoint(y):
        c = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(y * m, axes=axes), norm="ortho"), axes=axes)
        return np.sum(np.conj(s) * c, 0)

    def value_and_gradient(v, eps):
        x = (v[:H * W] + 1j * v[H * W:]).reshape(H, W)
        r = forward(x) - k
        dh, dw = np.roll(x, -1, 0) - x, np.roll(x, -1, 1) - x
        magnitude = np.sqrt(np.abs(dh) ** 2 + np.abs(dw) ** 2 + eps ** 2)
        uh, uw = dh / magnitude, dw / magnitude
        g = adjoint(r) + lam * ((np.roll(uh, 1, 0) - uh) + (np.roll(uw, 1, 1) - uw))
        return 0.5 * np.sum(np.abs(r) ** 2) + lam * np.sum(magnitude), np.concatenate([g.real.ravel(), g.imag.ravel()])

    v = np.zeros(2 * H * W)
    for eps in (1e-2, 1e-3, 1e-4):
        v = minimize(value_and_gradient, v, args=(eps,), jac=True, method="L-BFGS-B",
                     options={"maxiter": 3000, "gtol": 1e-12, "ftol": 1e-15}).x
    return (v[:H * W] + 1j * v[H * W:]).reshape(H, W)


def test_tv_reaches_the_minimiser_of_an_independent_solver(rng):
    kspace, mask, maps, image = make_problem(rng, accel=2, noise=0.05)
    lam = 0.05
    x = tf.function(lambda k: tv(kspace=k, mask=mask, sensitivities=maps, lam=lam, max_iter=300))(kspace).numpy()
    reference = smoothed_tv_reference(kspace, mask, maps, lam)[None]
    f, f_ref = (objective(v.astype(np.complex64), kspace, mask, maps, lam, tv_norm) for v in (x, reference))
    assert f <= f_ref * (1 + 1e-5)
    assert np.linalg.norm(x - reference) <= 1e-3 * np.linalg.norm(reference)
    ls = sense(kspace=kspace, mask=mask, sensitivities=maps, max_iter=30).numpy()
    assert np.linalg.norm(x - image) < 0.8 * np.linalg.norm(ls - image)


SOLVERS = {
    "sense": lambda k, m, s, lam: sense(kspace=k, mask=m, sensitivities=s, lam=lam, max_iter=5),
    "gradient_descent": lambda k, m, s, lam: gradient_descent(kspace=k, mask=m, sensitivities=s, lam=lam,
                                                              max_iter=5, power_iterations=8),
    "l1_wavelet": lambda k, m, s, lam: l1_wavelet(kspace=k, mask=m, sensitivities=s, lam=lam * 1e-2, max_iter=5,
                                            power_iterations=8),
    "tv": lambda k, m, s, lam: tv(kspace=k, mask=m, sensitivities=s, lam=lam * 1e-2, max_iter=5,
                                            power_iterations=8),
}


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_edge_cases_finite_and_scale_equivariant(rng, name):
    kspace, mask, maps, _ = make_problem(rng, accel=2, noise=0.01)
    solve = SOLVERS[name]
    zero = solve(np.zeros_like(kspace), mask, maps, 1.0).numpy()
    assert np.all(zero == 0)
    assert np.all(np.isfinite(solve(kspace, mask, maps, 0.0).numpy()))
    with pytest.raises(ValueError, match="mask: all zero"):   # nothing measured: refused, not a zero image
        solve(kspace, np.zeros_like(mask), maps, 1.0)
    base = solve(kspace, mask, maps, 1.0).numpy()
    for factor in (1e-6, 1e6):
        # λ is absolute: scaling the data by c and a 1-homogeneous λ by c scales the solution by c.
        lam = factor if name in ("l1_wavelet", "tv") else 1.0
        scaled = solve(kspace * np.float32(factor), mask, maps, lam).numpy()
        assert np.all(np.isfinite(scaled))
        np.testing.assert_allclose(scaled / factor, base, atol=1e-4 * np.abs(base).max())


def test_batch_elements_are_independent(rng):
    kspace, mask, maps, _ = make_problem(rng, batch=2, accel=3, noise=0.01)
    both = l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=0.01, max_iter=5).numpy()
    for b in range(2):
        one = l1_wavelet(kspace=kspace[b:b + 1], mask=mask[b:b + 1], sensitivities=maps[b:b + 1], lam=0.01,
                         max_iter=5).numpy()
        np.testing.assert_allclose(both[b:b + 1], one, atol=1e-5 * np.abs(one).max())


def test_xla_compiled_matches_eager(rng):
    kspace, mask, maps, _ = make_problem(rng, accel=3)

    def run(k):
        return l1_wavelet(kspace=k, mask=mask, sensitivities=maps, lam=0.01, max_iter=6, wavelet="db1", levels=2,
                          step_size=1.0)

    eager = run(tf.constant(kspace)).numpy()
    compiled = tf.function(run, jit_compile=True)(tf.constant(kspace)).numpy()
    np.testing.assert_allclose(compiled, eager, atol=1e-4 * np.abs(eager).max())


def test_bad_inputs_raise(rng):
    kspace, mask, maps, image = make_problem(rng)
    with pytest.raises(TypeError, match="kspace"):
        sense(kspace=np.abs(kspace), mask=mask, sensitivities=maps)
    with pytest.raises(ValueError, match="kspace"):
        sense(kspace=kspace[0], mask=mask, sensitivities=maps)
    with pytest.raises(ValueError, match="lam"):
        l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=-1.0)
    with pytest.raises(ValueError, match="mask"):
        tv(kspace=kspace, mask=np.ones((1, 1, 1, W + 1), np.float32), sensitivities=maps, lam=0.1)
    with pytest.raises(ValueError, match="max_iter"):
        gradient_descent(kspace=kspace, mask=mask, sensitivities=maps, max_iter=-1)
    with pytest.raises(ValueError, match="levels"):
        l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=0.1, levels=9)
    with pytest.raises(ValueError, match="prior"):       # a weight without an image
        l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=0.1, prior_weight=0.5)
    with pytest.raises(ValueError, match="prior_weight"):
        l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=0.1, prior=image, prior_weight=-1.0)
    with pytest.raises(TypeError, match="prior"):
        l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=0.1, prior=np.abs(image), prior_weight=0.5)
    with pytest.raises(ValueError, match="prior"):
        l1_wavelet(kspace=kspace, mask=mask, sensitivities=maps, lam=0.1, prior=image[:, :-1], prior_weight=0.5)
