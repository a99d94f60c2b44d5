"""Deep equilibrium (DEQ) reconstruction: the fixed point of one unrolled iteration (review Sec. III-D, "Memory").

Instead of ``K`` unrolled cascades, one iteration ``x ← f(x; y, θ)`` (e.g. MoDL's ``DC(D_θ(x))``) is iterated to
its fixed point ``x* = f(x*)``. Forward: Anderson acceleration, without recording gradients. Backward: by the
implicit function theorem, ``dL/dθ = gᴴ ∂f/∂θ |_{x*}`` where ``g`` solves the adjoint fixed point
``g = dL/dx* + (∂f/∂x)ᴴ g`` — solved with the same Anderson iteration using vector-Jacobian products of ``f`` at
``x*``. Memory is that of one iteration, whatever the number of forward iterations.

* :func:`anderson` — Anderson acceleration for ``x = f(x)`` on batched tensors (complex handled as real pairs).
* :func:`fixed_point` — the DEQ layer: ``x*`` with the implicit gradient.
* :class:`DeepEquilibriumRecon` — the zoo model ``deq`` (``tfmri_zoo.models.get("deq", preset=...)``, card
  ``models/deq/README.md``): DEQ of a MoDL-type iteration (regulariser + CG data consistency), after Gilton, Ongie &
  Willett, "Deep equilibrium architectures for inverse problems in imaging", IEEE TCI 7, 2021.
"""
import warnings

import keras
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec
from tfmri_zoo.models.registry import register


def _to_real(x):
    """``[B, ...]`` real or complex → real ``[B, N]`` (complex: real and imaginary parts concatenated)."""
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    return tf.concat([tf.math.real(flat), tf.math.imag(flat)], 1) if flat.dtype.is_complex else flat


def _from_real(v, like):
    if like.dtype.is_complex:
        half = tf.shape(v)[1] // 2
        v = tf.complex(v[:, :half], v[:, half:])
    return tf.reshape(tf.cast(v, like.dtype), tf.shape(like))


def _same_trace(tensor):
    """Whether ``tensor`` belongs to the current context: eager when executing eagerly, else the graph being traced
    (``last_info`` of an earlier trace must not leak into another one)."""
    if tf.executing_eagerly():
        return not tf.is_symbolic_tensor(tensor)
    return getattr(tensor, "graph", None) is tf.compat.v1.get_default_graph()


def anderson(f, x0, max_iter=30, memory=5, tol=1e-5, regularization=1e-8, mixing=1.0):
    """Solves ``x = f(x)`` per example by Anderson acceleration (type II, Walker & Ni 2011).

    ``x_{k+1} = Σ_i α_i [(1 − β) x_i + β f(x_i)]`` over the last ``memory`` iterates, with ``α`` minimising
    ``‖Σ_i α_i (f(x_i) − x_i)‖`` subject to ``Σ α_i = 1``. The loop (a ``tf.while_loop``, the same in eager and graph
    mode, a ring buffer of ``memory`` iterates) stops when every example's relative residual ``‖f(x) − x‖/‖f(x)‖``
    is below ``tol`` — then ``f(x)`` is returned — or after ``max_iter`` evaluations of ``f``.

    Args:
      f: callable, tensor ``[B, ...]`` → tensor of the same shape and dtype (real or complex).
      x0: initial tensor ``[B, ...]``.
      max_iter: maximum number of evaluations of ``f`` (int ≥ 1).
      memory: number of past iterates combined (``m`` ≥ 1).
      tol: relative residual for the early exit (``None`` or 0: run ``max_iter`` iterations).
      regularization: Tikhonov term added to the small Gram matrix.
      mixing: ``β`` in ``(0, 1]``.

    Returns:
      ``(x, residual)``: the fixed point (``x0``'s shape and dtype) and the real ``[B]`` relative residuals of the
      last evaluation of ``f``; ``residual < tol`` says whether each example converged.
    """
    max_iter = validation.as_int(max_iter, "max_iter", minimum=1)
    memory = validation.as_int(memory, "memory", minimum=1)
    tol = validation.as_float(tol, "tol", minimum=0.0, allow_none=True) or 0.0
    mixing = validation.as_float(mixing, "mixing", minimum=0.0, exclusive=True)
    shape_like = x0
    real_dtype = x0.dtype.real_dtype if x0.dtype.is_complex else x0.dtype

    def g(v):
        return _to_real(f(_from_real(v, shape_like)))

    x = _to_real(x0)
    batch, size = tf.shape(x)[0], tf.shape(x)[1]
    history = tf.zeros(tf.stack([batch, memory, size]), real_dtype)
    eye = tf.eye(memory, dtype=real_dtype)

    def body(k, x, xs, fs, residual, done):
        fx = g(x)
        residual = tf.norm(fx - x, axis=1) / (tf.norm(fx, axis=1) + 1e-12)
        done = tf.reduce_all(residual < tol)
        slot = tf.one_hot(k % memory, memory, dtype=real_dtype)[None, :, None]     # ring buffer of the last m
        xs = xs * (1.0 - slot) + x[:, None] * slot
        fs = fs * (1.0 - slot) + fx[:, None] * slot
        valid = tf.cast(tf.range(memory) <= k, real_dtype)                          # filled slots
        gs = fs - xs                                                                 # 0 in empty slots
        gram = tf.matmul(gs, gs, transpose_b=True)
        n = tf.minimum(tf.cast(k + 1, real_dtype), float(memory))
        damping = regularization * (tf.linalg.trace(gram) / n + 1.0)
        # Empty slots are decoupled (identity rows, right-hand side 0) so that their weights are exactly 0.
        gram = gram + damping[:, None, None] * eye * valid + eye * (1.0 - valid)
        rhs = tf.tile(valid[None, :, None], tf.stack([batch, 1, 1]))
        alpha = tf.linalg.solve(gram, rhs)[..., 0]
        alpha = alpha / tf.reduce_sum(alpha, axis=1, keepdims=True)
        mixed = tf.einsum("bn,bnd->bd", alpha, (1.0 - mixing) * xs + mixing * fs)
        return k + 1, tf.where(done, fx, mixed), xs, fs, residual, done

    def cond(k, x, xs, fs, residual, done):
        return tf.logical_and(k < max_iter, tf.logical_not(done))

    loop = (tf.constant(0), x, history, history, tf.ones(tf.shape(x)[:1], real_dtype), tf.constant(False))
    _, x, _, _, residual, _ = tf.while_loop(cond, body, loop)
    return _from_real(x, shape_like), residual


def fixed_point(f, x0, forward_iterations=30, backward_iterations=30, memory=5, tol=1e-5, return_info=False):
    """The deep-equilibrium layer: ``x* = f(x*)`` with the implicit (adjoint fixed-point) gradient.

    Args:
      f: callable ``x → f(x)``, tensor ``[B, ...]`` → same shape (complex64 image ``[B, H, W]`` for a
        reconstruction); it may read trainable variables and outer tensors (data, masks) — both get gradients.
      x0: initial estimate ``[B, ...]`` (e.g. ``Eᴴy``).
      forward_iterations, backward_iterations: Anderson iterations of the forward and adjoint problems.
      memory: Anderson memory.
      tol: early-exit relative residual of both problems (eager and graph mode alike).
      return_info: also return the forward solve's convergence.

    Returns:
      ``x*`` of ``x0``'s shape: its value is the Anderson fixed point; gradients flow to ``f``'s variables and
      inputs through one differentiable application of ``f`` at ``x*`` whose incoming gradient is replaced by the
      solution ``g`` of ``g = v + (∂f/∂x)ᴴ g``. With ``return_info``, ``(x*, info)`` where ``info`` has
      ``"residual"`` (real ``[B]``, ``‖f(x) − x‖/‖f(x)‖`` at the last forward iterate) and ``"converged"`` (bool
      ``[B]``, ``residual < tol``). A non-converged ``x*`` is not a fixed point, and its implicit gradient is then
      not the gradient of the unrolled iteration either: check ``converged`` (or :class:`DeepEquilibriumRecon`'s
      ``last_info`` and ``deq_converged`` metric) and raise ``forward_iterations`` or make ``f`` more contractive.
    """
    with tf.name_scope("deq_forward"):
        x_star, residual = anderson(lambda x: tf.stop_gradient(f(x)), tf.stop_gradient(x0), forward_iterations,
                                    memory, tol)
        x_star = tf.stop_gradient(x_star)

    @tf.custom_gradient
    def implicit(z):
        def backward(upstream):
            with tf.name_scope("deq_backward"):
                with tf.GradientTape(persistent=True) as tape:
                    tape.watch(x_star)
                    fx = f(x_star)

                def adjoint_map(v):
                    vjp = tape.gradient(fx, x_star, output_gradients=v,
                                        unconnected_gradients=tf.UnconnectedGradients.ZERO)
                    return upstream + vjp

                solution, _ = anderson(adjoint_map, upstream, backward_iterations, memory, tol)
                del tape
            return solution

        return tf.identity(z), backward

    out = implicit(f(x_star))
    if return_info:
        return out, {"residual": residual, "converged": residual < (tol or 0.0)}
    return out


@register("deq", presets={
    "small": {"lam": 0.05, "cg_iterations": 3, "forward_iterations": 10, "backward_iterations": 10,
              "regularizer": {"name": "dncnn", "filters": 8, "layers": 3, "batch_norm": False}},
    "default": {"lam": 0.05, "cg_iterations": 6, "forward_iterations": 20, "backward_iterations": 20, "memory": 5,
                "tol": 1e-4, "regularizer": {"name": "dncnn", "filters": 64, "layers": 5}},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class DeepEquilibriumRecon(ReconModel):
    """DEQ of a MoDL-type iteration ``f(x) = (EᴴE + λI)⁻¹(Eᴴy + λ D_θ(x))``: ``x* = f(x*)``, implicit gradient.

    Memory does not grow with the number of iterations (one application of ``f`` is differentiated). The regulariser
    must keep ``f`` contractive for the fixed point to exist; a small residual CNN with spectrally small weights at
    initialisation and a moderate ``λ`` are typical.

    Args:
      regularizer: regulariser spec (``tfmri_zoo.models.regularizers``), default ``{"name": "dncnn"}``.
      lam: initial λ of the CG data consistency.
      cg_iterations: CG iterations per application of ``f``.
      forward_iterations, backward_iterations, memory, tol: see :func:`fixed_point`.
      noise_lam: ``None`` (a fixed λ) or the initial ν of a noise-adaptive λ = λ₀ + ν·σ̂² (σ̂ measured on each call's
        k-space, as :class:`~tfmri_zoo.models.modl.MoDL`'s ``noise_lam``): the same iteration as MoDL's, so MoDL's
        weights transfer.
      calibration: ``None``, or the step's table of ``(λ₀, ν)`` per mask acceleration chosen on validation slices
        (:class:`~tfmri_zoo.layers.data_consistency.ProximalL2DC`'s ``calibration``; set by
        :func:`tfmri_zoo.training.calibration.set_calibration`).
      jacobian_penalty: ``γ ≥ 0``; when positive, training adds ``γ·‖∂f/∂x‖²_F/N`` at ``x*`` (a Hutchinson
        estimate, :meth:`jacobian_frobenius`) to the loss — Bai et al.'s Jacobian regularisation, which keeps ``f``
        contractive; logged as the metric ``deq_jacobian`` (training steps only: ``val_deq_jacobian`` reads 0).
        Inference is unchanged.
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments; ``initial="sense"`` only starts the forward
        solve (no gradient flows through ``x₀``), so its λ₀ and ν are not trained.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W]}``. Returns complex64 ``[B, H, W]``.

    Convergence reporting. A call writes no variable, so the model exports as a SavedModel and serves like the
    other zoo models (the serving signatures return the image only). Whether the forward solve converged is reported

    * after every call in ``model.last_info``: ``{"residual": float32 [B], "converged": bool [B]}`` (relative
      residual ``‖f(x) − x‖/‖f(x)‖`` of the last forward iterate, and ``residual < tol``); eager tensors after an
      eager call, the symbolic tensors of the trace inside a ``tf.function``; ``None`` before the first call;
    * by a ``UserWarning`` from an eager call in which an example did not converge;
    * in ``fit``/``evaluate`` logs as the metrics ``deq_residual`` (mean residual) and ``deq_converged`` (fraction of
      converged examples), updated by :meth:`compute_metrics` from the step's ``last_info``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    initials = ("adjoint", "sense")  # initial="sense": the fixed-point iteration starts from CG-SENSE (models/base.py)

    def __init__(self, regularizer="dncnn", lam=0.05, cg_iterations=6, forward_iterations=20,
                 backward_iterations=20, memory=5, tol=1e-4, noise_lam=None, calibration=None, jacobian_penalty=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.jacobian_penalty = float(validation.as_float(jacobian_penalty, "jacobian_penalty", minimum=0.0))
        self.regularizer = regularizer_spec(regularizer)
        self.lam, self.cg_iterations = float(lam), int(cg_iterations)
        self.noise_lam = None if noise_lam is None else float(noise_lam)
        self.forward_iterations, self.backward_iterations = int(forward_iterations), int(backward_iterations)
        self.memory, self.tol = int(memory), float(tol)
        self.denoiser = make_regularizers(self.regularizer, 1, True)[0]
        if self.initial_sense is not None:
            # x₀ only starts the forward solve (no gradient flows through it): its λ₀, ν stay as configured
            self.initial_sense.trainable = False
        self.dc = ProximalL2DC(lam=self.lam, cg_iterations=self.cg_iterations, noise_lam=self.noise_lam,
                               calibration=calibration)
        # Convergence of the forward fixed point, in Keras' fit/evaluate logs (reset every epoch). Updated by
        # compute_metrics, never by call: a serving function must not write to (untracked) metric variables.
        self.residual_metric = keras.metrics.Mean(name="deq_residual")
        self.converged_metric = keras.metrics.Mean(name="deq_converged")
        if self.jacobian_penalty > 0:   # measured in training steps only (its val_ entry in the logs reads 0)
            self.jacobian_metric = keras.metrics.Mean(name="deq_jacobian")
        object.__setattr__(self, "last_info", None)   # plain attribute: not tracked by Keras, not saved

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        """Normalised k-space → ``x*`` complex64 ``[B, H, W]``; stateless (no variable is written).

        The forward solve's convergence is kept in ``self.last_info`` (see the class docstring) and, in eager mode,
        an example that did not converge gives a ``UserWarning``.
        """
        noise = self.noise_level(kspace, mask, noise_std) if self.uses_noise_level() else None
        x0 = self.initial_image(kspace, mask, sensitivities, noise_std=noise)

        def step(x):
            return self.dc(self.denoiser(x, training=training), kspace, mask, sensitivities, noise_std=noise)

        x_star, info = fixed_point(step, x0, self.forward_iterations, self.backward_iterations, self.memory,
                                   self.tol, return_info=True)
        if training and self.jacobian_penalty > 0:
            info["jacobian"] = self.jacobian_frobenius(x_star, kspace, mask, sensitivities, noise, training)
            self.add_loss(self.jacobian_penalty * tf.reduce_mean(info["jacobian"]))
        object.__setattr__(self, "last_info", info)
        if tf.executing_eagerly() and not bool(tf.reduce_all(info["converged"])):
            warnings.warn(f"{self.name}: the fixed point did not converge in {self.forward_iterations} iterations "
                          f"(max relative residual {float(tf.reduce_max(info['residual'])):.2e} > tol {self.tol:g}); "
                          "x* is not a fixed point and its gradient is approximate.", UserWarning, stacklevel=2)
        return x_star

    def jacobian_frobenius(self, x_star, kspace, mask, sensitivities, noise_std=None, training=None):
        """Hutchinson estimate of ``‖∂f/∂x‖²_F / N`` at ``x*`` per example — the mean squared singular value of
        ``∂f/∂x`` over its ``N = 2·H·W`` real unknowns (Bai, Koltun & Kolter, "Stabilizing equilibrium models by
        Jacobian regularization", ICML 2021): ``‖(∂f/∂x)ᴴ ε‖² / ‖ε‖²``, ε complex Gaussian.

        For MoDL's ``f``, ``∂f/∂x = λ(EᴴE + λI)⁻¹ ∂D/∂x`` and the solve is Hermitian, so
        ``(∂f/∂x)ᴴ ε = (∂D/∂x)ᴴ w`` with ``w = λ(EᴴE + λI)⁻¹ ε`` (one CG solve on zero data, no gradient): only the
        regulariser is differentiated twice. Training with ``jacobian_penalty·mean(...)`` as an extra loss makes
        ``f`` more contractive (measured on the ``brain`` weights: ``models/deq/README.md``).

        Args:
          x_star: complex64 ``[B, H, W]`` (gradients are not taken through it).
          kspace, mask, sensitivities: the call's normalised inputs; ``noise_std``: float32 ``[B]`` or ``None``.

        Returns:
          float32 ``[B]``.
        """
        x_star = tf.stop_gradient(x_star)
        probe = tf.complex(tf.random.normal(tf.shape(x_star)), tf.random.normal(tf.shape(x_star))) / (2.0 ** 0.5)
        weighted = tf.stop_gradient(self.dc(probe, tf.zeros_like(kspace), mask, sensitivities, noise_std=noise_std))
        with tf.GradientTape() as tape:
            tape.watch(x_star)
            denoised = self.denoiser(x_star, training=training)
        product = tape.gradient(denoised, x_star, output_gradients=weighted)
        return tf.reduce_sum(tf.square(tf.abs(product)), axis=[1, 2]) / tf.reduce_sum(tf.square(tf.abs(probe)),
                                                                                       axis=[1, 2])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras' per-step metric update (``fit``/``evaluate``), plus the convergence of this step's forward solve.

        ``deq_residual`` is the mean relative residual and ``deq_converged`` the fraction of converged examples
        (float32 scalars, averaged over the epoch); ``deq_converged < 1`` says that some ``x*`` are not fixed points.

        Args:
          x, y, y_pred, sample_weight: as :meth:`keras.Model.compute_metrics` (``y_pred`` complex64 ``[B, H, W]``).

        Returns:
          the dict of metric results of :meth:`keras.Model.compute_metrics`.
        """
        info = self.last_info
        if info is not None and _same_trace(info["residual"]):
            self.residual_metric.update_state(info["residual"])
            self.converged_metric.update_state(tf.cast(info["converged"], tf.float32))
            if "jacobian" in info:
                self.jacobian_metric.update_state(info["jacobian"])
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "regularizer": self.regularizer, "lam": self.lam,
                "cg_iterations": self.cg_iterations, "forward_iterations": self.forward_iterations,
                "backward_iterations": self.backward_iterations, "memory": self.memory, "tol": self.tol,
                "noise_lam": self.noise_lam, "calibration": self.dc.calibration,
                "jacobian_penalty": self.jacobian_penalty}
