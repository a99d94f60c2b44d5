"""Deep Image Prior for MRI (review Sec. III-C): ``min_θ ½‖E G(z, θ) − y‖²`` with early stopping.

A small untrained convolutional generator ``G`` (by default the package's real 2-channel U-Net,
:func:`tfmri_zoo.models.regularizers.make_regularizer`) maps a fixed input ``z`` to an image; only its weights ``θ``
are fitted, by Adam, to the measured k-space of this one scan. The network's structure is the prior: it fits natural
image content before noise and aliasing, so the fit is stopped early, either

* after a fixed number of iterations, or
* by self-validation: a random ``holdout_fraction`` of the sampled k-space points is kept out of the loss, its
  relative error ``‖M_Γ(E G − y)‖² / ‖M_Γ y‖²`` is monitored, and the image with the lowest held-out error is returned
  (stopping once it has not improved for ``patience`` iterations).

Inputs ``z``: ``"noise"`` — fixed real Gaussian noise ``[B, H, W, input_channels]`` (std 0.1) into the generator's
real CNN, whose 2 output channels are the real and imaginary parts (the original DIP);
``"zero_filled"`` — the zero-filled image ``Eᴴy`` of the k-space used for fitting (the zero-filled input variant;
optionally a residual generator ``G(x) = x + CNN(x)``). k-space is divided by ``s = max|Eᴴy|`` for the fit and the
image multiplied back.
"""
from typing import NamedTuple, Optional

import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.layers.complex_ops import channels_to_complex
from tfmri_zoo.models.regularizers import make_regularizer, regularizer_spec
from tfmri_zoo.recon import problem

INPUTS = ("noise", "zero_filled")


class DIPResult(NamedTuple):
    """Result of :func:`deep_image_prior`.

    Attributes:
      image: complex ``[B, H, W]`` (the iterate with the lowest held-out loss, or the last one without hold-out).
      losses: float ``[iterations_run]`` numpy, the relative training data-consistency loss per iteration.
      holdout_losses: float ``[iterations_run]`` numpy, the relative held-out loss, or ``None``.
      best_iteration: index of the returned iterate.
    """
    image: tf.Tensor
    losses: np.ndarray
    holdout_losses: Optional[np.ndarray]
    best_iteration: int


def split_holdout(mask, shape, fraction, seed):
    """Splits the sampled points of ``mask`` (broadcast to ``shape`` ``[B, 1, H, W]``) at random.

    Returns:
      ``(train, holdout)`` float32 ``[B, 1, H, W]`` masks, disjoint, whose union is the sampled set.
    """
    sampled = tf.cast(tf.broadcast_to(tf.cast(mask, tf.float32), shape) > 0, tf.float32)
    draw = tf.random.stateless_uniform(shape, seed=[seed, 7])
    holdout = sampled * tf.cast(draw < fraction, tf.float32)
    return sampled - holdout, holdout


def holdout_operators(kspace, mask, sensitivities, fraction, seed):
    """``(E_train, E_holdout)``: the encoding operators of a random split of the sampled points (``E_holdout`` is
    ``None`` for ``fraction = 0``), for self-validated early stopping (DIP, inverse GAN).

    Args:
      kspace: complex ``[B, C, H, W]``; mask: broadcastable to it, or ``None`` (fully sampled); sensitivities: coil
      maps or ``None``; fraction: held-out share in ``[0, 1)``; seed: of the split.
    """
    shape = [kspace.shape[0], 1, kspace.shape[2], kspace.shape[3]]
    full_mask = tf.ones(shape) if mask is None else mask
    if fraction > 0:
        train_mask, holdout_mask = split_holdout(full_mask, shape, fraction, seed)
        holdout = problem.make_operator(kspace, holdout_mask, sensitivities)[0]
    else:
        train_mask, holdout = full_mask, None
    return problem.make_operator(kspace, train_mask, sensitivities)[0], holdout


def relative_error(operator, image, kspace):
    """``mean_b ‖M(E x − y)‖² / ‖M y‖²`` on the operator's sampled set (the data-consistency loss of DIP and of the
    inverse GAN)."""
    residual = operator.forward(image) - operator.apply_mask(kspace)
    reference = problem.norm(operator.apply_mask(kspace)) ** 2
    return tf.reduce_mean(problem.norm(residual) ** 2 / tf.maximum(reference, 1e-30))


def deep_image_prior(kspace, mask=None, sensitivities=None, *, iterations=300, learning_rate=1e-2,
                     generator=None, network_input="noise", input_channels=32, residual=False, holdout_fraction=0.0,
                     patience=None, seed=0):
    """Deep Image Prior reconstruction of one 2D multi-coil Cartesian scan (or a batch, fitted jointly).

    Args:
      kspace: complex ``[B, C, H, W]`` k-space.
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None`` (single coil).
      iterations: maximum number of Adam iterations (early stopping by iteration count).
      learning_rate: Adam learning rate.
      generator: regulariser spec of ``G`` (name or ``{"name": ..., **config}``), default a U-Net with 16 filters
        and depth 2 (its ``residual`` flag is set by the ``residual`` argument).
      network_input: ``"noise"`` or ``"zero_filled"``.
      input_channels: real channels of the fixed noise input ``z`` ``[B, H, W, input_channels]`` (``"noise"``).
      residual: ``G(x) = x + CNN(x)`` for the ``"zero_filled"`` input (ignored for ``"noise"``).
      holdout_fraction: fraction in ``[0, 1)`` of sampled points held out for self-validation (0: none).
      patience: with a hold-out, stop after this many iterations without a new best held-out loss (``None``: run
        all ``iterations``).
      seed: seed of the input noise, the hold-out split and the generator's initial weights.

    Returns:
      :class:`DIPResult`.
    """
    iterations = validation.as_int(iterations, "iterations", minimum=1)
    if network_input not in INPUTS:
        raise ValueError(f"network_input: expected one of {INPUTS}, got {network_input!r}.")
    holdout_fraction = validation.as_float(holdout_fraction, "holdout_fraction", minimum=0.0)
    if not holdout_fraction < 1:
        raise ValueError(f"holdout_fraction: expected a number in [0, 1), got {holdout_fraction!r}.")
    patience = validation.as_int(patience, "patience", minimum=1, allow_none=True)
    learning_rate = validation.as_float(learning_rate, "learning_rate", minimum=0.0, exclusive=True)
    operator, kspace = problem.make_operator(kspace, mask, sensitivities)
    if kspace.dtype != tf.complex64:
        raise TypeError(f"kspace: the generator runs in complex64, got {kspace.dtype.name}.")
    zero_filled = operator.adjoint(kspace)
    scale = problem.data_scale(zero_filled)
    kspace = kspace / problem.per_batch(scale, kspace)
    zero_filled = zero_filled / problem.per_batch(scale, zero_filled)
    train_op, holdout_op = holdout_operators(kspace, mask, sensitivities, holdout_fraction, seed)

    keras.utils.set_random_seed(seed)
    spec = regularizer_spec(generator or {"name": "unet", "filters": 16, "depth": 2})
    spec["residual"] = bool(residual) and network_input == "zero_filled"
    net = make_regularizer(**spec)
    if network_input == "noise":
        z = 0.1 * tf.random.stateless_normal([*zero_filled.shape, input_channels], seed=[seed, 3])
        generate = lambda training: channels_to_complex(net.network(z, training=training))[..., 0]  # noqa: E731
    else:
        z = train_op.adjoint(kspace)                 # held-out points must not leak in through the input
        generate = lambda training: net(z, training=training)  # noqa: E731
    generate(False)
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape, tf.name_scope("deep_image_prior"):   # a valid root scope for sub-layers
            image = generate(True)
            loss = relative_error(train_op, image, kspace)
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        held = relative_error(holdout_op, image, kspace) if holdout_op is not None else tf.constant(0.0)
        return image, loss, held

    losses, held_losses = [], []
    best, best_image, best_iteration = np.inf, None, 0
    for i in range(iterations):
        image, loss, held = step()
        losses.append(float(loss))
        if holdout_op is None:
            best_image, best_iteration = image, i
            continue
        held_losses.append(float(held))
        if held_losses[-1] < best:
            best, best_image, best_iteration = held_losses[-1], image, i
        elif patience is not None and i - best_iteration >= patience:
            break
    if best_image is None:
        best_image = generate(False)
    image = best_image * problem.per_batch(scale, best_image)
    return DIPResult(image, np.asarray(losses), np.asarray(held_losses) if holdout_op is not None else None,
                     best_iteration)
