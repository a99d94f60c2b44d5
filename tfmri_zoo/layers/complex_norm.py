"""Complex normalisation by 2x2 covariance whitening (Trabelsi et al. 2018; review Sec. IV-A.3).

Each feature's complex values ``z = x + i y`` are centred and whitened with the inverse square root of their 2x2
covariance ``V = [[Vrr, Vri], [Vri, Vii]]`` (``ε`` added to the diagonal), which has the closed form
``V^{-1/2} = [[Vii + s, -Vri], [-Vri, Vrr + s]] / (s t)`` with ``s = sqrt(det V)`` and ``t = sqrt(Vrr + Vii + 2s)``.
The whitened real and imaginary parts are uncorrelated with unit variance.  The optional affine map is a symmetric
2x2 matrix ``γ = [[γrr, γri], [γri, γii]]`` (initialised to the identity, so the default output keeps identity
covariance) and a complex shift ``β`` (initialised to 0), one of each per feature.

The three layers differ only in the axes the statistics are taken over (features on the last axis):

* :class:`ComplexBatchNormalization` — batch and spatial axes; keeps moving mean/covariance for inference;
* :class:`ComplexInstanceNormalization` — spatial axes, per sample and feature;
* :class:`ComplexLayerNormalization` — all non-batch axes (spatial and features), per sample.
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import to_layer_complex


def whitening_matrix(vrr, vri, vii):
    """Entries ``(Wrr, Wri, Wii)`` of ``V^{-1/2}`` for the symmetric positive 2x2 ``V`` (real tensors)."""
    s = tf.sqrt(vrr * vii - vri * vri)
    t = tf.sqrt(vrr + vii + 2.0 * s)
    inv = 1.0 / (s * t)
    return (vii + s) * inv, -vri * inv, (vrr + s) * inv


def complex_moments(z, axes):
    """Mean ``(mr, mi)`` and covariance ``(Vrr, Vri, Vii)`` of complex ``z`` over ``axes`` (kept as size 1)."""
    re, im = tf.math.real(z), tf.math.imag(z)
    mr = tf.reduce_mean(re, axis=axes, keepdims=True)
    mi = tf.reduce_mean(im, axis=axes, keepdims=True)
    cr, ci = re - mr, im - mi
    vrr = tf.reduce_mean(cr * cr, axis=axes, keepdims=True)
    vri = tf.reduce_mean(cr * ci, axis=axes, keepdims=True)
    vii = tf.reduce_mean(ci * ci, axis=axes, keepdims=True)
    return (mr, mi), (vrr, vri, vii)


def whiten(z, mean, cov, epsilon):
    """Centres complex ``z`` by ``mean = (mr, mi)`` and whitens it by ``cov = (Vrr, Vri, Vii)`` (+``ε`` on the
    diagonal); all broadcast against ``z``.  Returns the real and imaginary parts of the whitened tensor."""
    cr, ci = tf.math.real(z) - mean[0], tf.math.imag(z) - mean[1]
    wrr, wri, wii = whitening_matrix(cov[0] + epsilon, cov[1], cov[2] + epsilon)
    return wrr * cr + wri * ci, wri * cr + wii * ci


class _ComplexNormalization(keras.layers.Layer):
    """Shared affine part; subclasses define the statistic axes."""

    def __init__(self, epsilon=1e-5, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None or len(input_shape) < 2:
            raise ValueError(f"inputs: expected [batch, ..., features] with a known feature axis, "
                             f"got shape {input_shape}.")
        self.gamma = (self.add_weight(name="gamma", shape=(3, features),  # rows: γrr, γri, γii
                                      initializer=keras.initializers.Constant([[1.0], [0.0], [1.0]]))
                      if self.scale else None)
        self.beta = self.add_weight(name="beta", shape=(2, features), initializer="zeros") if self.center else None

    def _affine(self, xr, xi, dtype):
        if self.gamma is not None:
            g = self.gamma
            xr, xi = g[0] * xr + g[1] * xi, g[1] * xr + g[2] * xi
        if self.beta is not None:
            xr, xi = xr + self.beta[0], xi + self.beta[1]
        return tf.cast(tf.complex(xr, xi), dtype)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexBatchNormalization(_ComplexNormalization):
    """Complex batch normalisation with moving statistics.

    Training: statistics over all axes but the last of the batch; the moving mean/covariance are updated as
    ``m ← momentum·m + (1-momentum)·batch``.  Inference: the moving statistics are used.

    Args:
        momentum: of the moving statistics (default 0.99).
        epsilon, center, scale: see module docstring.

    Call args:
        inputs: complex ``[B, ..., F]``.
        training: bool.
    """

    def __init__(self, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.momentum = float(momentum)

    def build(self, input_shape):
        super().build(input_shape)
        features = input_shape[-1]
        self.moving_mean = self.add_weight(name="moving_mean", shape=(2, features), initializer="zeros",
                                           trainable=False)
        self.moving_covariance = self.add_weight(  # rows: Vrr, Vri, Vii
            name="moving_covariance", shape=(3, features),
            initializer=keras.initializers.Constant([[1.0], [0.0], [1.0]]), trainable=False)

    def call(self, inputs, training=False):
        z = to_layer_complex(self, inputs)
        if training:
            axes = list(range(len(z.shape) - 1))
            mean, cov = complex_moments(z, axes)
            flat_mean = tf.stack([tf.reshape(m, [-1]) for m in mean])
            flat_cov = tf.stack([tf.reshape(v, [-1]) for v in cov])
            for variable, value in ((self.moving_mean, flat_mean), (self.moving_covariance, flat_cov)):
                variable.assign(self.momentum * variable + (1.0 - self.momentum) * tf.cast(value, variable.dtype))
        else:
            mean = tuple(tf.cast(m, z.dtype.real_dtype) for m in tf.unstack(self.moving_mean))
            cov = tuple(tf.cast(v, z.dtype.real_dtype) for v in tf.unstack(self.moving_covariance))
        xr, xi = whiten(z, mean, cov, self.epsilon)
        return self._affine(xr, xi, z.dtype)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexInstanceNormalization(_ComplexNormalization):
    """Whitening over the spatial axes per sample and feature. Inputs complex ``[B, *spatial, F]``."""

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        if len(z.shape) < 3:
            raise ValueError(f"inputs: expected [batch, *spatial, features], got shape {z.shape}.")
        mean, cov = complex_moments(z, list(range(1, len(z.shape) - 1)))
        return self._affine(*whiten(z, mean, cov, self.epsilon), z.dtype)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexLayerNormalization(_ComplexNormalization):
    """Whitening over all non-batch axes (spatial and features) per sample; affine per feature.
    Inputs complex ``[B, ..., F]``."""

    def call(self, inputs):
        z = to_layer_complex(self, inputs)
        mean, cov = complex_moments(z, list(range(1, len(z.shape))))
        return self._affine(*whiten(z, mean, cov, self.epsilon), z.dtype)
