"""Signal models ``M(ϑ)`` and the non-linear forward operator ``E(ϑ) = E·M(ϑ)`` (review Sec. II, Eq. 10).

Signal models map pixelwise parameters to an image series over echo / inversion times ``t``:

  multi-echo T2        ``S(t) = ρ · exp(−t · R2)``              (``R2 = 1/T2``)
  inversion recovery   ``S(t) = ρ · (1 − 2 exp(−t · R1))``      (``R1 = 1/T1``, signed: the null crossing is kept)

``ρ`` is complex (proton density with the image phase), the rate ``R`` real and in the inverse unit of ``t``. Rates
rather than relaxation times are the unknowns because the signal is smoother in them (``T = 1/R``; use
:func:`rate_to_time`).

Parameter layout: one complex tensor ``params`` ``[B, 2, H, W]`` — channel 0 holds ``ρ``, channel 1 the rate in its
real part (its imaginary part is ignored). Packing both into one complex tensor lets the package's one CG solve the
Gauss-Newton normal equations: the Jacobian ``J`` is real-linear (complex-linear in ``ρ``, real in ``R``) and CG
uses the real inner product ``Re⟨a, b⟩``, for which ``Jᵀ`` (:meth:`SignalModel.vjp`) is the adjoint:
``Re⟨J u, v⟩ = Re⟨u, Jᵀ v⟩``; ``Jᵀ v`` always has a zero imaginary part in channel 1.

Image series ``[B, T, H, W]`` (``T`` = number of times) and k-space ``[B, C, T, H, W]`` follow the package's 2D+t
layout (docs/design.md), so :class:`~tfmri_zoo.physics.sense.SenseOperator` with sensitivities ``[B, C, 1, H, W]`` and a
per-time mask ``[B, 1, T, 1, W]`` is the linear part ``E``.
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation


def _check_times(times, name):
    values = np.asarray(times, np.float64)
    if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name}: expected a 1-D sequence of at least 2 finite non-negative times, got {times!r}.")
    return values


def check_params(params, name="params", dtype=None):
    """Validates a packed parameter tensor: complex ``[B, 2, H, W]`` (``ρ``, rate). Returns it as a tensor."""
    params = validation.as_complex(params, name, dtype)
    if params.shape.rank != 4 or params.shape[1] != 2:
        raise ValueError(f"{name}: expected complex [B, 2, H, W] (channel 0 = rho, channel 1 = rate), "
                         f"got shape {params.shape}.")
    return params


def pack_params(rho, rate):
    """``ρ`` complex ``[B, H, W]`` and rate real ``[B, H, W]`` → packed complex ``[B, 2, H, W]`` (in ρ's dtype)."""
    rho = validation.as_complex(rho, "rho")
    rate = tf.convert_to_tensor(rate)
    if rate.dtype.is_complex:
        raise TypeError(f"rate: expected a real tensor, got {rate.dtype.name}.")
    rate = tf.cast(rate, rho.dtype.real_dtype)
    if rho.shape.rank != 3 or rate.shape.rank != 3:
        raise ValueError(f"rho, rate: expected [B, H, W] each, got shapes {rho.shape} and {rate.shape}.")
    return tf.stack([rho, tf.complex(rate, tf.zeros_like(rate))], axis=1)


def unpack_params(params):
    """Packed ``[B, 2, H, W]`` → ``(ρ`` complex ``[B, H, W]``, rate real ``[B, H, W])``."""
    params = check_params(params)
    return params[:, 0], tf.math.real(params[:, 1])


def rate_to_time(rate, support=None):
    """``T = 1/R`` (real tensor); 0 where ``R ≤ 0`` or outside the optional boolean ``support``."""
    rate = tf.convert_to_tensor(rate)
    valid = rate > 0
    if support is not None:
        valid = tf.logical_and(valid, tf.cast(support, tf.bool))
    return tf.where(valid, 1.0 / tf.where(valid, rate, tf.ones_like(rate)), tf.zeros_like(rate))


class SignalModel:
    """Base: pixelwise ``S(t) = ρ · g(t, R)`` with a real ``g``; subclasses give ``g`` and ``∂g/∂R``.

    Args:
      times: 1-D sequence (length ``T`` ≥ 2) of echo or inversion times, non-negative.
    """

    times_name = "times"

    def __init__(self, times):
        self.times = _check_times(times, self.times_name)

    @property
    def num_times(self):
        return self.times.size

    def _times(self, dtype):
        return tf.constant(self.times.reshape(1, -1, 1, 1), dtype)

    def basis(self, rate):
        """``g(t, R)`` real ``[B, T, H, W]`` from rate ``[B, H, W]``."""
        raise NotImplementedError

    def basis_derivative(self, rate):
        """``∂g/∂R`` real ``[B, T, H, W]``."""
        raise NotImplementedError

    def signal(self, params):
        """``M(ϑ)``: packed params complex ``[B, 2, H, W]`` → image series complex ``[B, T, H, W]``."""
        params = check_params(params)
        rho, rate = params[:, 0], tf.math.real(params[:, 1])
        return tf.expand_dims(rho, 1) * tf.cast(self.basis(rate), params.dtype)

    def jacobian(self, params):
        """Analytic partial derivatives ``(∂S/∂ρ, ∂S/∂R)``, each complex ``[B, T, H, W]``.

        ``S`` is complex-linear in ``ρ``, so ``∂S/∂ρ = g``; ``∂S/∂R = ρ · ∂g/∂R`` (``R`` real).
        """
        params = check_params(params)
        rho, rate = params[:, 0], tf.math.real(params[:, 1])
        d_rho = tf.cast(self.basis(rate), params.dtype)
        d_rate = tf.expand_dims(rho, 1) * tf.cast(self.basis_derivative(rate), params.dtype)
        return d_rho, d_rate

    def jvp(self, params, tangent):
        """``J u``: tangent ``[B, 2, H, W]`` (channel 1's imaginary part ignored) → ``[B, T, H, W]``."""
        params = check_params(params)
        tangent = check_params(tangent, "tangent", params.dtype)
        d_rho, d_rate = self.jacobian(params)
        d_r = tf.complex(tf.math.real(tangent[:, 1]), tf.zeros_like(tf.math.real(tangent[:, 1])))
        return d_rho * tf.expand_dims(tangent[:, 0], 1) + d_rate * tf.expand_dims(d_r, 1)

    def vjp(self, params, cotangent):
        """``Jᵀ v`` (adjoint for ``Re⟨·,·⟩``): series ``[B, T, H, W]`` → ``[B, 2, H, W]`` (channel 1 real)."""
        cotangent = validation.as_complex(cotangent, "cotangent")
        if cotangent.shape.rank != 4:
            raise ValueError(f"cotangent: expected complex [B, T, H, W], got shape {cotangent.shape}.")
        d_rho, d_rate = self.jacobian(params)
        g_rho = tf.reduce_sum(tf.math.conj(d_rho) * cotangent, axis=1)
        g_rate = tf.reduce_sum(tf.math.real(tf.math.conj(d_rate) * cotangent), axis=1)
        return tf.stack([g_rho, tf.complex(g_rate, tf.zeros_like(g_rate))], axis=1)

    def column_norms(self, params):
        """Pixelwise ``(Σ_t |∂S/∂ρ|², Σ_t |∂S/∂R|²)`` real ``[B, H, W]`` each — the diagonal of ``JᵀJ``."""
        d_rho, d_rate = self.jacobian(params)
        sq = lambda d: tf.reduce_sum(tf.math.real(d * tf.math.conj(d)), axis=1)  # noqa: E731
        return sq(d_rho), sq(d_rate)

    def __call__(self, params):
        return self.signal(params)


class MultiEchoT2(SignalModel):
    """Multi-echo spin-echo decay ``S(TE) = ρ · exp(−TE · R2)``, ``R2 = 1/T2``.

    Args:
      echo_times: 1-D sequence of echo times (≥ 2), e.g. in ms (then ``R2`` is in 1/ms).
    """

    times_name = "echo_times"

    def __init__(self, echo_times):
        super().__init__(echo_times)

    def basis(self, rate):
        return tf.exp(-self._times(rate.dtype) * tf.expand_dims(rate, 1))

    def basis_derivative(self, rate):
        t = self._times(rate.dtype)
        return -t * tf.exp(-t * tf.expand_dims(rate, 1))


class InversionRecovery(SignalModel):
    """Inversion recovery ``S(TI) = ρ · (1 − 2 exp(−TI · R1))``, ``R1 = 1/T1`` (full recovery between shots).

    Args:
      inversion_times: 1-D sequence of inversion times (≥ 2).
    """

    times_name = "inversion_times"

    def __init__(self, inversion_times):
        super().__init__(inversion_times)

    def basis(self, rate):
        return 1.0 - 2.0 * tf.exp(-self._times(rate.dtype) * tf.expand_dims(rate, 1))

    def basis_derivative(self, rate):
        t = self._times(rate.dtype)
        return 2.0 * t * tf.exp(-t * tf.expand_dims(rate, 1))


class NonlinearOperator:
    """The non-linear forward operator ``E(ϑ) = E · M(ϑ)`` of Eq. 10 and its linearisation.

    Args:
      signal_model: a :class:`SignalModel` (``T`` times).
      operator: the linear encoding operator on series, e.g.
        ``SenseOperator(sensitivities [B, C, 1, H, W], mask [B, 1, T, 1, W])``; anything with ``forward`` (series
        ``[B, T, H, W]`` → data) and ``adjoint``.
    """

    def __init__(self, signal_model, operator):
        if not isinstance(signal_model, SignalModel):
            raise TypeError(f"signal_model: expected a SignalModel, got {type(signal_model).__name__}.")
        if not (hasattr(operator, "forward") and hasattr(operator, "adjoint")):
            raise TypeError(f"operator: expected an object with forward/adjoint, got {type(operator).__name__}.")
        self.signal_model = signal_model
        self.operator = operator

    def forward(self, params):
        """``E M(ϑ)``: packed params ``[B, 2, H, W]`` → k-space ``[B, C, T, H, W]``."""
        return self.operator.forward(self.signal_model.signal(params))

    def jvp(self, params, tangent):
        """``E J_M(ϑ) u``: tangent ``[B, 2, H, W]`` → k-space."""
        return self.operator.forward(self.signal_model.jvp(params, tangent))

    def vjp(self, params, cotangent):
        """``J_M(ϑ)ᵀ Eᴴ v``: k-space → ``[B, 2, H, W]`` (the adjoint of :meth:`jvp` for ``Re⟨·,·⟩``)."""
        return self.signal_model.vjp(params, self.operator.adjoint(cotangent))

    def __call__(self, params):
        return self.forward(params)


class IdentityOperator:
    """``E = I`` on image series (for parametric fitting on reconstructed images, Eq. 11)."""

    def forward(self, series):
        return series

    def adjoint(self, series):
        return series


#: Signal models by name: ``"t2"`` (multi-echo spin echo) and ``"t1"`` (inversion recovery).
SIGNAL_MODELS = {"t2": MultiEchoT2, "t1": InversionRecovery}


def signal_model(name, times):
    """The :class:`SignalModel` named ``name`` (a key of :data:`SIGNAL_MODELS`) at ``times``.

    Raises:
      ValueError: an unknown name (the message names ``signal``).
    """
    if name not in SIGNAL_MODELS:
        raise ValueError(f"signal: expected one of {tuple(SIGNAL_MODELS)}, got {name!r}.")
    return SIGNAL_MODELS[name](times)
