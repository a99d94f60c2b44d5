"""Variational Network (Hammernik et al., MRM 2018) — Eq. 6 + Eq. 19 of the review.

One stage is a gradient step on ``½‖Ex − y‖² + Σ_j ⟨φ_j(K_j x), 1⟩`` with stage-dependent parameters:

    x_{t+1} = x_t − Σ_j K_{t,j}ᵀ φ'_{t,j}(K_{t,j} x_t) − λ_t Eᴴ(E x_t − y),      x_0 = Eᴴ y

* ``K_{t,j}``: ``num_filters`` filters ``kernel_size × kernel_size`` acting on the complex image as two real channels
  (real, imaginary): a real 2 → F convolution. ``K_{t,j}ᵀ`` is the transposed convolution with the *same* kernel, so
  the regulariser term is the exact gradient of ``Σ_j φ_j(K_j x)`` (zero padding; its adjoint is exact too).
* Each filter ``k_{t,j}`` (both channels) is zero-mean per channel and has ``‖k‖₂ ≤ 1``, enforced by
  :class:`ZeroMeanNormBall`, a Keras constraint that the optimiser applies after every step.
* ``φ'_{t,j}``: a 31-node Gaussian RBF expansion per filter (:class:`tfmri_zoo.layers.rbf.RBFActivation`), linear at
  initialisation.
* ``λ_t ≥ 0``, initialised to 1: the data term is the package's
  :class:`~tfmri_zoo.layers.data_consistency.GradientDC` layer (``λ = softplus(w)``), so a stage is
  ``x_{t+1} = GradientDC_t(x_t) − R'_t(x_t)`` with ``R'_t`` the :class:`FieldsOfExpertsGradient` layer.
* Data are normalised by ``max |Eᴴ y|`` in :class:`~tfmri_zoo.models.base.ReconModel`, the paper's normalisation by
  the maximum of the zero-filled image.

``energy_free=True`` gives the variant of Eq. 20: the regulariser gradient becomes a small CNN
``conv(2→F) → RBF → conv(F→2)`` whose second convolution has its own unconstrained kernel (no weight tying, so no
energy is being minimised). ``regularizer={"name": "unet" | "dncnn" | "resnet" | "downup", ...}`` swaps in any CNN of
:mod:`tfmri_zoo.models.regularizers` for ``R'_t`` instead (built with ``residual=False``: it outputs the update that
is subtracted, not a denoised image).
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import channels_to_complex, complex_to_channels
from tfmri_zoo.layers.data_consistency import GradientDC
from tfmri_zoo.layers.rbf import RBFActivation
from tfmri_zoo.models.base import LAYOUT_2D, ReconModel
from tfmri_zoo.models.registry import register
from tfmri_zoo.models.regularizers import make_regularizers, regularizer_spec


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ZeroMeanNormBall(keras.constraints.Constraint):
    """Projects a conv kernel ``[kh, kw, in, out]`` so that each filter ``[:, :, :, j]`` has zero mean over the spatial
    axes (per input channel) and Euclidean norm ``≤ max_norm`` over ``(kh, kw, in)``.

    The zero-mean subspace contains the origin, so projecting onto it and then scaling into the ball is the exact
    Euclidean projection onto the intersection.
    """

    def __init__(self, max_norm=1.0):
        self.max_norm = float(max_norm)

    def __call__(self, w):
        w = w - tf.reduce_mean(w, axis=[0, 1], keepdims=True)
        norm = tf.sqrt(tf.reduce_sum(tf.square(w), axis=[0, 1, 2], keepdims=True))
        return w * tf.minimum(1.0, self.max_norm / tf.maximum(norm, 1e-12))

    def get_config(self):
        return {"max_norm": self.max_norm}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class FieldsOfExpertsGradient(keras.layers.Layer):
    """The regulariser gradient of one VN stage, ``R'(x) = Σ_j K_jᵀ φ'_j(K_j x)``.

    Args:
      num_filters: number of filters F.
      kernel_size: filter size (square).
      num_nodes, value_range, activation_scale: the RBF activation (see ``RBFActivation``).
      energy_free: untie the second convolution (Eq. 20 variant).
      seed: seed of the filter initialisation.

    Call args:
      image: complex64 ``[B, H, W]``, the current estimate ``x_t``.

    Returns:
      complex64 ``[B, H, W]``, ``R'(x_t)``.
    """

    def __init__(self, num_filters=24, kernel_size=11, num_nodes=31, value_range=1.0, activation_scale=0.01,
                 energy_free=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_filters = int(num_filters)
        self.kernel_size = int(kernel_size)
        self.num_nodes = int(num_nodes)
        self.value_range = float(value_range)
        self.activation_scale = float(activation_scale)
        self.energy_free = bool(energy_free)
        self.seed = seed
        self.activation = RBFActivation(num_nodes, value_range, activation_scale, name="rbf")

    def _filter_initializer(self, offset):
        constraint = ZeroMeanNormBall(1.0)
        seed = None if self.seed is None else int(self.seed) + offset

        def initialize(shape, dtype=None):
            w = keras.random.normal(shape, seed=seed)
            w = w - tf.reduce_mean(w, axis=[0, 1], keepdims=True)  # zero mean, then unit norm (on the sphere)
            w = w / tf.sqrt(tf.reduce_sum(tf.square(w), axis=[0, 1, 2], keepdims=True))
            return tf.cast(constraint(w), dtype or "float32")

        return initialize

    def build(self, input_shape):
        shape = (self.kernel_size, self.kernel_size, 2, self.num_filters)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer=self._filter_initializer(0),
                                      constraint=ZeroMeanNormBall(1.0))
        if self.energy_free:
            self.kernel_out = self.add_weight(name="kernel_out", shape=shape, initializer=self._filter_initializer(1))
        self.activation.build((None, None, None, self.num_filters))

    def call(self, image):
        x = complex_to_channels(image[..., None])
        z = tf.nn.conv2d(x, self.kernel, strides=1, padding="SAME")
        a = self.activation(z)
        kernel_out = self.kernel_out if self.energy_free else self.kernel
        r = tf.nn.conv2d_transpose(a, kernel_out, output_shape=tf.shape(x), strides=1, padding="SAME")
        return channels_to_complex(r)[..., 0]

    def get_config(self):
        config = super().get_config()
        config.update(num_filters=self.num_filters, kernel_size=self.kernel_size, num_nodes=self.num_nodes,
                      value_range=self.value_range, activation_scale=self.activation_scale,
                      energy_free=self.energy_free, seed=self.seed)
        return config


@register("vn", presets={
    "small": {"iterations": 3, "num_filters": 8, "kernel_size": 5},
    "default": {"iterations": 10, "num_filters": 24, "kernel_size": 11, "num_nodes": 31},
})
@keras.saving.register_keras_serializable(package="tfmri_zoo")
class VariationalNetwork(ReconModel):
    """Variational Network, Eq. 6 + 19 (Hammernik et al. 2018), 2D multi- or single-coil.

    Args:
      iterations: number of unrolled gradient steps T (no parameter sharing between stages).
      num_filters: filters per stage.
      kernel_size: filter size.
      num_nodes: RBF nodes per activation.
      value_range: the RBF nodes span ``[−value_range, value_range]``.
      activation_scale: slope of the linear initialisation of every activation.
      energy_free: Eq. 20 variant (untied second convolution).
      lam: initial data-term weight ``λ_t`` of every stage (trainable, ≥ 0, one per stage).
      seed: seed of the filter initialisation (stage ``t`` uses ``seed + 2t``).
      regularizer: ``None`` (the Fields-of-Experts gradient above) or a CNN spec ``{"name": ..., **config}`` from
        :mod:`tfmri_zoo.models.regularizers`, one per stage, non-residual (the energy-free Eq. 20 with another CNN).
      **kwargs: :class:`ReconModel` arguments (``normalize``), Keras ``name``.

    Called as ``model({"kspace": [B, C, H, W] complex64, "mask": [B, 1, 1, W] float32,
    "sensitivities": [B, C, H, W] complex64})`` → complex64 image ``[B, H, W]``.
    """

    layouts = LAYOUT_2D  # 2D only: other extra_dims/spatial_rank raise a ValueError
    unrolled = True
    operators = ("cartesian", "nufft")  # operator="nufft": trajectory inputs (models/base.py)
    initials = ("adjoint", "sense")  # initial="sense": start from CG-SENSE (models/base.py)

    def __init__(self, iterations=10, num_filters=24, kernel_size=11, num_nodes=31, value_range=1.0,
                 activation_scale=0.01, energy_free=False, lam=1.0, seed=0, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.iterations = int(iterations)
        self.lam = float(lam)
        self.seed = seed
        # The arguments of every stage's FieldsOfExpertsGradient (also returned by get_config).
        self.stage_config = {"num_filters": num_filters, "kernel_size": kernel_size, "num_nodes": num_nodes,
                             "value_range": value_range, "activation_scale": activation_scale,
                             "energy_free": energy_free}
        self.regularizer = None if regularizer is None else non_residual_spec(regularizer)
        self.regularizers = make_regularizers(self.regularizer, self.iterations, False) if self.regularizer else [
            FieldsOfExpertsGradient(**self.stage_config, seed=None if seed is None else int(seed) + 2 * t,
                                    name=f"regularizer_{t}")
            for t in range(self.iterations)]
        self.data_consistency = [GradientDC(lam=self.lam, name=f"data_consistency_{t}")
                                 for t in range(self.iterations)]

    def reconstruct(self, kspace, mask, sensitivities, training=None, noise_std=None):
        """Normalised k-space complex64 ``[B, C, H, W]`` → complex64 image ``[B, H, W]``."""
        x = self.initial_image(kspace, mask, sensitivities, noise_std)
        steps = [lambda x, k, m, s, r=regularizer, dc=data_consistency: dc(x, k, m, s) - r(x)
                 for regularizer, data_consistency in zip(self.regularizers, self.data_consistency)]
        return self.unroll(steps, x, kspace, mask, sensitivities)

    @property
    def dc_weights(self):
        """The ``λ_t`` of all stages, float32 ``[iterations]`` (after the model is built)."""
        return tf.stack([tf.math.real(dc.nonnegative(dc.lam)) for dc in self.data_consistency])

    def get_config(self):
        config = super().get_config()
        config.update(iterations=self.iterations, **self.stage_config, lam=self.lam, seed=self.seed,
                      regularizer=self.regularizer)
        return config


def non_residual_spec(regularizer):
    """The spec of a regulariser (name or dict) with ``residual=False``: the CNN gives the update to subtract."""
    spec = regularizer_spec(regularizer)
    if spec["name"] == "complex_unet":
        raise ValueError("regularizer: 'complex_unet' is always residual; use 'unet', 'dncnn', 'resnet' or 'downup'.")
    return {**spec, "residual": False}

