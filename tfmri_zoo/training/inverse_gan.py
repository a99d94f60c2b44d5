"""Inverse GAN (review Eq. 16): a generator trained on images alone, inverted at test time against the scan's k-space.

1. ``ImageGenerator`` ``G(z, θ)``: latent ``z ∈ ℝ^d`` → complex image (DCGAN-style), trained unconditionally on
   fully sampled images (:func:`train_image_gan`, LSGAN against :class:`~tfmri_zoo.training.PatchDiscriminator`);
   no k-space and no physics.
2. :func:`inverse_gan`: for one scan, ``min_{z, α} ½‖E α G(z, θ) − y‖²`` (``α`` a complex scale: intensity and
   global phase), then ``min_{z, α, θ}`` of the same (the generator's weights adapt to the scan; Hussein, Tirer &
   Giryes, "Image-adaptive GAN based reconstruction", AAAI 2020), with early stopping on a held-out part of the
   sampled k-space as :func:`~tfmri_zoo.training.deep_image_prior` does. The physics enter only here.
"""
import math
from typing import NamedTuple, Optional

import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import channels_to_complex, complex_to_channels
from tfmri_zoo.recon import problem
from tfmri_zoo.training.adversarial import PatchDiscriminator
from tfmri_zoo.training.dip import holdout_operators, relative_error


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ImageGenerator(keras.Model):
    """Unconditional image generator: latent float32 ``[B, latent_dim]`` → complex64 ``[B, H, W]``.

    A dense layer to a ``H/2^L × W/2^L`` grid of ``filters·2^(L−1)`` channels, ``L`` stride-2 transposed 4×4
    convolutions (ReLU, channels halved per level), a 3×3 convolution to the real and imaginary channels.

    Args:
      shape: ``(H, W)``, each divisible by ``2**levels``.
      latent_dim: ``d``.
      filters: channels of the last up-sampling level.
      levels: up-sampling steps ``L``.
    """

    def __init__(self, shape=(64, 64), latent_dim=64, filters=32, levels=3, **kwargs):
        super().__init__(**kwargs)
        self.shape_hw = tuple(int(n) for n in shape)
        self.latent_dim, self.filters, self.levels = int(latent_dim), int(filters), int(levels)
        if any(n % 2 ** self.levels for n in self.shape_hw):
            raise ValueError(f"shape: expected sizes divisible by 2**levels = {2 ** self.levels}, got {shape}.")
        self.base = tuple(n // 2 ** self.levels for n in self.shape_hw)
        width = self.filters * 2 ** (self.levels - 1)
        self.dense = keras.layers.Dense(self.base[0] * self.base[1] * width, activation="relu")
        self.ups = [keras.layers.Conv2DTranspose(self.filters * 2 ** (self.levels - 1 - i), 4, strides=2,
                                                 padding="same", activation="relu") for i in range(self.levels)]
        self.out = keras.layers.Conv2D(2, 3, padding="same")

    def call(self, z, training=None):
        x = tf.reshape(self.dense(z), [-1, self.base[0], self.base[1], self.filters * 2 ** (self.levels - 1)])
        for up in self.ups:
            x = up(x)
        return channels_to_complex(self.out(x))[..., 0]

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape_hw), "latent_dim": self.latent_dim,
                "filters": self.filters, "levels": self.levels}


def train_image_gan(images, steps, generator=None, discriminator=None, batch_size=8, learning_rate=2e-4, seed=0):
    """Trains ``generator`` on images alone (LSGAN): each image is divided by its largest magnitude.

    Args:
      images: complex ``[N, H, W]`` fully sampled images.
      steps: optimisation steps (one discriminator and one generator update each).
      generator: an :class:`ImageGenerator` (default: one of the images' shape).
      discriminator: default :class:`~tfmri_zoo.training.PatchDiscriminator`.
      batch_size, learning_rate, seed: of the two Adam optimisers and the batches.

    Returns:
      ``(generator, {"generator": [...], "discriminator": [...]})`` losses per step.
    """
    images = np.asarray(images)
    images = (images / np.abs(images).reshape(len(images), -1).max(axis=1)[:, None, None]).astype(np.complex64)
    keras.utils.set_random_seed(seed)
    generator = generator or ImageGenerator(images.shape[1:])
    discriminator = discriminator or PatchDiscriminator()
    g_optimizer, d_optimizer = keras.optimizers.Adam(learning_rate, 0.5), keras.optimizers.Adam(learning_rate, 0.5)
    data = iter(tf.data.Dataset.from_tensor_slices(images).shuffle(4096, seed=seed).repeat().batch(batch_size))

    @tf.function
    def step(real):
        z = tf.random.normal([tf.shape(real)[0], generator.latent_dim])
        with tf.GradientTape() as tape:
            d_loss = 0.5 * tf.reduce_mean(tf.square(discriminator(complex_to_channels(real[..., None])) - 1.0)) + \
                0.5 * tf.reduce_mean(tf.square(discriminator(complex_to_channels(generator(z)[..., None]))))
        d_optimizer.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_variables),
                                        discriminator.trainable_variables))
        with tf.GradientTape() as tape:
            g_loss = 0.5 * tf.reduce_mean(tf.square(discriminator(complex_to_channels(generator(z)[..., None])) - 1.0))
        g_optimizer.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables),
                                        generator.trainable_variables))
        return g_loss, d_loss

    history = {"generator": [], "discriminator": []}
    for _ in range(int(steps)):
        g_loss, d_loss = step(next(data))
        history["generator"].append(float(g_loss))
        history["discriminator"].append(float(d_loss))
    return generator, history


class InverseGANResult(NamedTuple):
    """Result of :func:`inverse_gan`: the image (complex ``[B, H, W]``), the training and held-out relative
    data-consistency losses per iteration (numpy; held-out ``None`` without a hold-out) and the returned iterate."""
    image: tf.Tensor
    losses: np.ndarray
    holdout_losses: Optional[np.ndarray]
    best_iteration: int


def inverse_gan(kspace, mask, sensitivities, generator, *, latent_iterations=200, joint_iterations=200,
                latent_learning_rate=3e-2, weights_learning_rate=1e-4, holdout_fraction=0.1, seed=0):
    """Reconstructs one scan (or a batch) by inverting a trained :class:`ImageGenerator` (module docstring).

    Args:
      kspace: complex64 ``[B, C, H, W]``.
      mask: float32 mask broadcastable to ``kspace`` (e.g. ``[B, 1, 1, W]``).
      sensitivities: complex64 ``[B, C, H, W]``.
      generator: a trained generator with ``latent_dim`` (it is copied; the caller's weights do not change).
      latent_iterations: Adam iterations on ``(z, α)`` with ``θ`` fixed.
      joint_iterations: Adam iterations on ``(z, α, θ)`` afterwards (0: latent search only, Bora et al. 2017).
      latent_learning_rate, weights_learning_rate: Adam learning rates of ``(z, α)`` and of ``θ``.
      holdout_fraction: fraction in ``[0, 1)`` of the sampled points kept out of the loss to pick the iterate.
      seed: of ``z``'s start and the hold-out split.

    Returns:
      :class:`InverseGANResult`.
    """
    if not 0.0 <= float(holdout_fraction) < 1.0:
        raise ValueError(f"holdout_fraction: expected a number in [0, 1), got {holdout_fraction!r}.")
    if not hasattr(generator, "latent_dim"):
        raise TypeError(f"generator: expected an ImageGenerator (with latent_dim), got {type(generator).__name__}.")
    operator, kspace = problem.make_operator(kspace, mask, sensitivities)
    scale = problem.data_scale(operator.adjoint(kspace))
    kspace = kspace / problem.per_batch(scale, kspace)
    train_op, holdout_op = holdout_operators(kspace, mask, sensitivities, holdout_fraction, seed)
    net = generator.__class__.from_config(generator.get_config())
    net(tf.zeros([1, generator.latent_dim]))
    net.set_weights(generator.get_weights())
    z = tf.Variable(tf.random.stateless_normal([kspace.shape[0], generator.latent_dim], seed=[seed, 5]))
    alpha = tf.Variable(tf.constant([[1.0, 0.0]] * kspace.shape[0]))            # complex scale (re, im)

    def image():
        return net(z) * tf.complex(alpha[:, 0], alpha[:, 1])[:, None, None]

    def make_step(variables, optimizers):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                x = image()
                loss = relative_error(train_op, x, kspace)
            grads = tape.gradient(loss, [v for group in variables for v in group])
            start = 0
            for group, optimizer in zip(variables, optimizers):
                optimizer.apply_gradients(zip(grads[start:start + len(group)], group))
                start += len(group)
            held = relative_error(holdout_op, x, kspace) if holdout_op is not None else tf.constant(0.0)
            return x, loss, held
        return step

    stages = [(latent_iterations, make_step([[z, alpha]], [keras.optimizers.Adam(latent_learning_rate)])),
              (joint_iterations, make_step([[z, alpha], net.trainable_variables],
                                           [keras.optimizers.Adam(latent_learning_rate / 10),
                                            keras.optimizers.Adam(weights_learning_rate)]))]
    losses, held_losses, best, best_image, best_iteration = [], [], math.inf, None, 0
    for iterations, step in stages:
        for _ in range(int(iterations)):
            x, loss, held = step()
            losses.append(float(loss))
            if holdout_op is None:
                best_image, best_iteration = x, len(losses) - 1
                continue
            held_losses.append(float(held))
            if held_losses[-1] < best:
                best, best_image, best_iteration = held_losses[-1], x, len(losses) - 1
    if best_image is None:
        best_image = image()
    return InverseGANResult(best_image * problem.per_batch(scale, best_image), np.asarray(losses),
                            np.asarray(held_losses) if holdout_op is not None else None, best_iteration)
