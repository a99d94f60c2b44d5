"""Trainable radial-basis-function activation: the potential derivatives φ'_j of the Variational Network (Eq. 19).

Each feature channel ``j`` has its own function

    φ'_j(z) = Σ_i w_ji · exp(−(z − μ_i)² / (2σ²)),   μ = linspace(−r, r, N),   σ = 2r / (N − 1) (the node spacing)

(Hammernik et al. 2018: N = 31 nodes on [−1, 1]). The weights are initialised so that φ'_j(μ_i) = scale · μ_i at
every node ("linear" initialisation), i.e. the network starts as a quadratic (Tikhonov-like) regulariser.
"""
import keras
import numpy as np
import tensorflow as tf


def rbf_nodes(num_nodes, value_range):
    """Node centres ``μ`` (float64 numpy ``[num_nodes]``) and the common width ``σ`` (the spacing)."""
    if num_nodes < 2:
        raise ValueError(f"num_nodes: expected >= 2, got {num_nodes}.")
    if value_range <= 0:
        raise ValueError(f"value_range: expected > 0, got {value_range}.")
    mu = np.linspace(-value_range, value_range, num_nodes)
    return mu, mu[1] - mu[0]


def linear_rbf_weights(num_nodes, value_range, scale):
    """Weights ``w`` (float64 numpy ``[num_nodes]``) with ``Σ_i w_i exp(−(μ_k − μ_i)²/2σ²) = scale·μ_k`` for all k."""
    mu, sigma = rbf_nodes(num_nodes, value_range)
    gram = np.exp(-np.square(mu[:, None] - mu[None, :]) / (2 * sigma ** 2))
    return np.linalg.solve(gram, scale * mu)


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class RBFActivation(keras.layers.Layer):
    """Elementwise trainable activation, one Gaussian-RBF expansion per channel (last axis).

    Args:
      num_nodes: number of Gaussian nodes ``N`` (31 in the VN paper).
      value_range: nodes lie on ``linspace(−value_range, value_range, N)``.
      init_scale: slope of the linear initialisation, ``φ'(μ_i) = init_scale · μ_i``.

    Call args:
      inputs: real float tensor ``[..., F]`` (float32, or float64 for a ``dtype="float64"`` layer).

    Returns:
      tensor of the same shape and dtype: ``φ'_f(inputs[..., f])``.

    Memory: the expansion materialises a ``[..., F, N]`` tensor (N times the input).
    """

    def __init__(self, num_nodes=31, value_range=1.0, init_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_nodes = int(num_nodes)
        self.value_range = float(value_range)
        self.init_scale = float(init_scale)
        mu, sigma = rbf_nodes(self.num_nodes, self.value_range)
        self._mu = mu
        self._sigma = sigma

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError(f"inputs: the channel axis (last) must be known, got shape {input_shape}.")
        w0 = linear_rbf_weights(self.num_nodes, self.value_range, self.init_scale)
        self.rbf_weights = self.add_weight(
            name="rbf_weights", shape=(int(features), self.num_nodes),
            initializer=keras.initializers.Constant(np.tile(w0, (int(features), 1))), trainable=True)

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        if x.dtype.is_complex or not x.dtype.is_floating:
            raise TypeError(f"inputs: expected a real float tensor, got {x.dtype.name}.")
        mu = tf.constant(self._mu, x.dtype)
        sq = tf.square(tf.expand_dims(x, -1) - mu) * tf.constant(-0.5 / self._sigma ** 2, x.dtype)
        return tf.reduce_sum(tf.exp(sq) * tf.cast(self.rbf_weights, x.dtype), axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_nodes=self.num_nodes, value_range=self.value_range, init_scale=self.init_scale)
        return config
