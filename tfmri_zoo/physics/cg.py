"""Conjugate gradient for Hermitian positive-(semi)definite systems ``A x = b`` — the one CG of the code base.

Used by CG-SENSE (Eq. 3), the proximal ℓ2 step ``(EᴴE + λI)⁻¹(Eᴴy + λz)`` (Eq. 8, MoDL's data consistency, Eq. 21)
and motion-compensated reconstruction. Each batch element (axis 0) has its own step sizes, so a batch behaves as
independent systems. With ``tol=None`` it runs exactly ``max_iter`` iterations (a fixed graph, differentiable, for
unrolled networks); otherwise it stops per element once ``‖r‖ ≤ tol·‖b‖`` (those elements stop updating) or when all
have converged.
"""
import tensorflow as tf

from tfmri_zoo import validation


def _batch_dot(a, b):
    """Re⟨a, b⟩ summed over all but the batch axis → real ``[B]``."""
    axes = list(range(1, a.shape.rank))
    return tf.math.real(tf.reduce_sum(tf.math.conj(a) * b, axis=axes))


def _per_batch(v, x):
    """Reshapes a ``[B]`` real vector to broadcast against complex ``x`` and makes it complex.

    ``tf.complex(v, 0)`` rather than ``tf.cast``: the gradient of a real→complex cast is a complex→real cast, which
    TF logs as "discarding the imaginary part" although taking the real part is the correct gradient here."""
    v = tf.reshape(v, [-1] + [1] * (x.shape.rank - 1))
    return tf.complex(v, tf.zeros_like(v))


def conjugate_gradient(operator, rhs, x0=None, max_iter=10, tol=None):
    """Solves ``operator(x) = rhs`` for Hermitian positive-definite ``operator``.

    Args:
      operator: callable ``x → A x`` on complex tensors of ``rhs``'s shape.
      rhs: complex ``[B, ...]`` right-hand side.
      x0: optional complex initial guess of the same shape (default zeros).
      max_iter: number of iterations (exact count when ``tol`` is None).
      tol: relative residual tolerance, or ``None``.

    Returns:
      complex tensor of ``rhs``'s shape and dtype.
    """
    rhs = validation.as_complex(rhs, "rhs")
    if rhs.shape.rank is None or rhs.shape.rank < 1:
        raise ValueError(f"rhs: expected a batched tensor [B, ...], got shape {rhs.shape}.")
    max_iter = validation.as_int(max_iter, "max_iter", minimum=0)
    x = tf.zeros_like(rhs) if x0 is None else validation.as_complex(x0, "x0", rhs.dtype)
    r = rhs - operator(x) if x0 is not None else rhs
    p = r
    rr = _batch_dot(r, r)
    real = rr.dtype
    tiny = tf.constant(1e-30 if real == tf.float32 else 1e-300, real)
    threshold = (tf.constant(0.0, real) if tol is None else
                 tf.cast(tol, real) ** 2 * _batch_dot(rhs, rhs))

    def step(x, r, p, rr):
        ap = operator(p)
        active = tf.cast(rr > threshold, real)
        alpha = active * rr / tf.maximum(_batch_dot(p, ap), tiny)
        x = x + _per_batch(alpha, x) * p
        r = r - _per_batch(alpha, x) * ap
        rr_new = _batch_dot(r, r)
        beta = active * rr_new / tf.maximum(rr, tiny)
        p = r + _per_batch(beta, x) * p
        rr_new = active * rr_new + (1.0 - active) * rr
        return x, r, p, rr_new

    if tol is None:
        for _ in range(max_iter):
            x, r, p, rr = step(x, r, p, rr)
        return x

    def cond(i, x, r, p, rr):
        return tf.logical_and(i < max_iter, tf.reduce_any(rr > threshold))

    def body(i, x, r, p, rr):
        return (i + 1, *step(x, r, p, rr))

    _, x, _, _, _ = tf.while_loop(cond, body, (tf.constant(0), x, r, p, rr))
    return x
