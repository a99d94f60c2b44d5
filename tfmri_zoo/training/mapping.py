"""Losses of learned parameter mapping (review Eq. 29–30) and a small training loop.

With ``ϑ = f_NM(y)`` the network's packed maps (``ρ``, rate), ``E`` the multi-coil encoding of the series and ``M``
the signal model, per example:

    physics(ϑ)    = ‖M_y (E M(ϑ) − y)‖² / ‖M_y y‖²                       (k-space consistency through the model)
    maps(ϑ, ϑ*)   = ‖ρ − ρ*‖₁ / ‖ρ*‖₁ + ‖s(R − R*)‖₁ / ‖s R*‖₁            (supervision, on ``support`` s)
    tv(ϑ)         = mean |∇|ρ|| / mean |ρ| + mean |∇R| / mean |R|        (anisotropic, periodic differences)

Eq. 29 (supervised): ``physics + map_weight · maps``. Eq. 30 (self-supervised, no reference maps):
``physics + tv_weight · tv``.
"""
import tensorflow as tf

from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.physics.signal_models import NonlinearOperator, unpack_params
from tfmri_zoo.recon.tv import finite_differences


def _total_variation(x):
    """Anisotropic TV per example, mean over pixels of ``|∂_h x| + |∂_w x|`` (periodic differences)."""
    return tf.reduce_sum(tf.reduce_mean(tf.abs(finite_differences(x)), axis=[2, 3]), axis=1)


def mapping_loss(params, inputs, signal_model, target=None, support=None, map_weight=1.0, tv_weight=0.0):
    """Eq. 29 (``target`` given) or Eq. 30 (``target=None``) per example, averaged over the batch.

    Args:
      params: the network output, packed complex64 ``[B, 2, H, W]``.
      inputs: the model's inputs ``{"kspace" [B, C, T, H, W], "mask" [B, 1, T, 1, W], "sensitivities"
        [B, C, 1, H, W]}``.
      signal_model: the model's :class:`~tfmri_zoo.physics.signal_models.SignalModel`.
      target: reference packed maps ``[B, 2, H, W]``, or ``None`` (self-supervised).
      support: optional bool/float ``[B, H, W]`` where the rate is supervised (default: everywhere).
      map_weight: weight of the map term (with ``target``).
      tv_weight: weight of the total-variation term.

    Returns:
      float32 scalar.
    """
    kspace = tf.convert_to_tensor(inputs["kspace"], tf.complex64)
    operator = SenseOperator(inputs["sensitivities"], inputs["mask"], spatial_rank=2)
    residual = NonlinearOperator(signal_model, operator).forward(params) - operator.apply_mask(kspace)
    energy = lambda x: tf.reduce_sum(tf.square(tf.abs(x)), axis=list(range(1, x.shape.rank)))  # noqa: E731
    loss = energy(residual) / tf.maximum(energy(operator.apply_mask(kspace)), 1e-30)
    rho, rate = unpack_params(params)
    if target is not None:
        rho_ref, rate_ref = unpack_params(tf.convert_to_tensor(target, tf.complex64))
        weight = tf.ones_like(rate_ref) if support is None else tf.cast(support, rate_ref.dtype)
        l1 = lambda x: tf.reduce_sum(tf.abs(x), axis=[1, 2])  # noqa: E731
        maps = (l1(rho - rho_ref) / tf.maximum(l1(rho_ref), 1e-30)
                + l1(weight * (rate - rate_ref)) / tf.maximum(l1(weight * rate_ref), 1e-30))
        loss = loss + map_weight * maps
    if tv_weight:
        magnitude = tf.abs(rho)
        loss = loss + tv_weight * (_total_variation(magnitude) / tf.maximum(tf.reduce_mean(magnitude, [1, 2]), 1e-30)
                                   + _total_variation(rate) / tf.maximum(tf.reduce_mean(tf.abs(rate), [1, 2]),
                                                                         1e-30))
    return tf.reduce_mean(loss)


def train_mapping(model, batches, steps, learning_rate=1e-3, **loss_args):
    """Adam on :func:`mapping_loss` over ``batches`` (an iterable of ``(inputs, target, support)``, ``target`` may be
    ``None`` for Eq. 30); returns the loss of every step.

    Args:
      model: a ``parameter_mapping`` model.
      batches: iterable cycled for ``steps`` steps.
      steps: optimisation steps.
      learning_rate: Adam's learning rate.
      **loss_args: ``map_weight``, ``tv_weight`` of :func:`mapping_loss`.
    """
    import itertools

    import keras

    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def step(inputs, target, support):
        with tf.GradientTape() as tape:
            loss = mapping_loss(model(inputs, training=True), inputs, model.signal_model, target, support,
                                **loss_args)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = []
    for inputs, target, support in itertools.islice(itertools.cycle(batches), steps):
        losses.append(float(step(inputs, target, support)))     # target None: traced once more, for Eq. 30
    return losses
