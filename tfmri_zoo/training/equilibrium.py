"""Deep equilibrium (DEQ) reconstruction: the fixed point of one unrolled iteration (review Sec. III-D, "Memory").

Instead of ``K`` unrolled cascades, one iteration ``x ← f(x; y, θ)`` (e.g. MoDL's ``DC(D_θ(x))``) is iterated to
its fixed point ``x* = f(x*)``. Forward: Anderson acceleration, without recording gradients. Backward: by the
implicit function theorem, ``dL/dθ = gᴴ ∂f/∂θ |_{x*}`` where ``g`` solves the adjoint fixed point
``g = dL/dx* + (∂f/∂x)ᴴ g`` — solved with the same Anderson iteration using vector-Jacobian products of ``f`` at
``x*``. Memory is that of one iteration, whatever the number of forward iterations.

* :func:`anderson` — Anderson acceleration for ``x = f(x)`` on batched tensors (complex handled as real pairs).
* :func:`fixed_point` — the DEQ layer: ``x*`` with the implicit gradient.
* :class:`DeepEquilibriumRecon` — a zoo model: DEQ of a MoDL-type iteration (regulariser + CG data consistency).
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.data_consistency import ProximalL2DC
from tfmri_zoo.models.base import ReconModel
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec


def _to_real(x):
    """``[B, ...]`` real or complex → real ``[B, N]`` (complex: real and imaginary parts concatenated)."""
    flat = tf.reshape(x, [tf.shape(x)[0], -1])
    return tf.concat([tf.math.real(flat), tf.math.imag(flat)], 1) if flat.dtype.is_complex else flat


def _from_real(v, like):
    if like.dtype.is_complex:
        half = tf.shape(v)[1] // 2
        v = tf.complex(v[:, :half], v[:, half:])
    return tf.reshape(tf.cast(v, like.dtype), tf.shape(like))


def anderson(f, x0, max_iter=30, memory=5, tol=1e-5, regularization=1e-8, mixing=1.0):
    """Solves ``x = f(x)`` per example by Anderson acceleration (type II, Walker & Ni 2011).

    ``x_{k+1} = Σ_i α_i [(1 − β) x_i + β f(x_i)]`` over the last ``memory`` iterates, with ``α`` minimising
    ``‖Σ_i α_i (f(x_i) − x_i)‖`` subject to ``Σ α_i = 1``. In eager mode the loop stops when every example's relative
    residual ``‖f(x) − x‖/‖f(x)‖`` is below ``tol``; in graph mode it runs ``max_iter`` iterations.

    Args:
      f: callable, tensor ``[B, ...]`` → tensor of the same shape and dtype (real or complex).
      x0: initial tensor ``[B, ...]``.
      max_iter: maximum number of iterations.
      memory: number of past iterates combined (``m``).
      tol: relative residual for the early exit.
      regularization: Tikhonov term added to the small Gram matrix.
      mixing: ``β`` in ``(0, 1]``.

    Returns:
      ``(x, residual)``: the fixed point (``x0``'s shape and dtype) and the ``[B]`` relative residuals.
    """
    shape_like = x0
    real_dtype = x0.dtype.real_dtype if x0.dtype.is_complex else x0.dtype

    def g(v):
        return _to_real(f(_from_real(v, shape_like)))

    xs, fs = [], []
    x = _to_real(x0)
    residual = tf.ones(tf.shape(x)[:1], real_dtype)
    for _ in range(int(max_iter)):
        fx = g(x)
        residual = tf.norm(fx - x, axis=1) / (tf.norm(fx, axis=1) + 1e-12)
        if tf.executing_eagerly() and bool(tf.reduce_all(residual < tol)):
            x = fx
            break
        xs.append(x)
        fs.append(fx)
        xs, fs = xs[-memory:], fs[-memory:]
        X, F = tf.stack(xs, 1), tf.stack(fs, 1)  # [B, n, N]
        G = F - X
        gram = tf.matmul(G, G, transpose_b=True)
        n = len(xs)
        gram += regularization * (tf.linalg.trace(gram)[:, None, None] / n + 1.0) * tf.eye(n, dtype=real_dtype)
        alpha = tf.linalg.solve(gram, tf.ones(tf.stack([tf.shape(G)[0], n, 1]), real_dtype))[..., 0]
        alpha = alpha / tf.reduce_sum(alpha, axis=1, keepdims=True)
        x = tf.einsum("bn,bnd->bd", alpha, (1.0 - mixing) * X + mixing * F)
    return _from_real(x, shape_like), residual


def fixed_point(f, x0, forward_iterations=30, backward_iterations=30, memory=5, tol=1e-5):
    """The deep-equilibrium layer: ``x* = f(x*)`` with the implicit (adjoint fixed-point) gradient.

    Args:
      f: callable ``x → f(x)``, tensor ``[B, ...]`` → same shape (complex64 image ``[B, H, W]`` for a
        reconstruction); it may read trainable variables and outer tensors (data, masks) — both get gradients.
      x0: initial estimate ``[B, ...]`` (e.g. ``Eᴴy``).
      forward_iterations, backward_iterations: Anderson iterations of the forward and adjoint problems.
      memory: Anderson memory.
      tol: early-exit residual (eager mode).

    Returns:
      ``x*`` of ``x0``'s shape: its value is the Anderson fixed point; gradients flow to ``f``'s variables and
      inputs through one differentiable application of ``f`` at ``x*`` whose incoming gradient is replaced by the
      solution ``g`` of ``g = v + (∂f/∂x)ᴴ g``.
    """
    with tf.name_scope("deq_forward"):
        x_star, _ = anderson(lambda x: tf.stop_gradient(f(x)), tf.stop_gradient(x0), forward_iterations, memory,
                             tol)
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

    return implicit(f(x_star))


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
      **kwargs: :class:`~tfmri_zoo.models.base.ReconModel` arguments.

    Call args: ``{"kspace": complex64 [B, C, H, W], "mask": float32 [B, 1, 1, W], "sensitivities": complex64
    [B, C, H, W]}``. Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, regularizer="dncnn", lam=0.05, cg_iterations=6, forward_iterations=20,
                 backward_iterations=20, memory=5, tol=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.regularizer = regularizer_spec(regularizer)
        self.lam, self.cg_iterations = float(lam), int(cg_iterations)
        self.forward_iterations, self.backward_iterations = int(forward_iterations), int(backward_iterations)
        self.memory, self.tol = int(memory), float(tol)
        self.denoiser = make_regularizers(self.regularizer, 1, True)[0]
        self.dc = ProximalL2DC(lam=self.lam, cg_iterations=self.cg_iterations)

    def reconstruct(self, kspace, mask, sensitivities, training=None):
        x0 = self.operator(mask, sensitivities).adjoint(kspace)

        def step(x):
            return self.dc(self.denoiser(x, training=training), kspace, mask, sensitivities)

        return fixed_point(step, x0, self.forward_iterations, self.backward_iterations, self.memory, self.tol)

    def get_config(self):
        return {**super().get_config(), "regularizer": self.regularizer, "lam": self.lam,
                "cg_iterations": self.cg_iterations, "forward_iterations": self.forward_iterations,
                "backward_iterations": self.backward_iterations, "memory": self.memory, "tol": self.tol}
