"""SURE: Stein's unbiased risk estimate as an unsupervised loss for Gaussian measurement noise (review Sec. III-D).

For ``y = E x + n`` with complex Gaussian noise of known standard deviation ``σ`` per real component on the ``m``
sampled entries, and the network's prediction of the measurements ``h(y) = E f(y)``, the estimate

  ``SURE(y) = ‖y − h(y)‖² − 2mσ² + 2σ² div_y h(y)``

has the expectation of the (unknown) error ``‖h(y) − E x‖²`` on the sampled set — no clean data needed. The
divergence (over the ``2m`` real coordinates) is estimated by Monte Carlo (Ramani et al. 2008): with ``b`` complex
standard normal on the sampled entries, ``div ≈ Re⟨b, h(y + εb) − h(y)⟩ / ε``. Every example is its own sampling
operator, so over a dataset with varied masks this is the loss "over an ensemble of sampling operators".
"""
import keras
import tensorflow as tf

from tfmri_zoo.physics.sense import SenseOperator


def _per_example_sum(x):
    return tf.reduce_sum(x, axis=list(range(1, x.shape.rank)))


def sure_loss(model, inputs, sigma, epsilon=None, seed=None, training=None):
    """Per-example Monte-Carlo SURE of the measurement-domain squared error, divided by the sampled entries ``m``.

    Args:
      model: a zoo model, ``model(inputs) → complex64 [B, *extra, H, W]``.
      inputs: dict with ``kspace`` complex64 ``[B, C, *extra, H, W]`` (noisy, zero where not sampled), ``mask``
        float32 broadcastable to it, ``sensitivities`` complex64 (or absent for single-coil data).
      sigma: noise standard deviation per real component (scalar or ``[B]``), in the units of ``kspace``.
      epsilon: finite-difference step; default ``1e-3 · max|y|`` per example.
      seed: optional stateless seed (shape ``[2]``) of the probe ``b``.
      training: passed to the model.

    Returns:
      float32 ``[B]``: ``SURE / m``, an unbiased estimate of ``‖E f(y) − E x‖² / m`` on the sampled set.
    """
    kspace = tf.convert_to_tensor(inputs["kspace"])
    mask = tf.cast(tf.convert_to_tensor(inputs["mask"]), tf.float32)
    operator = SenseOperator(inputs.get("sensitivities"), mask)
    full_mask = tf.broadcast_to(tf.cast(mask, kspace.dtype), tf.shape(kspace))
    shape = tf.shape(kspace)
    if seed is None:
        probe = tf.complex(tf.random.normal(shape), tf.random.normal(shape))
    else:
        seed = tf.convert_to_tensor(seed)
        probe = tf.complex(tf.random.stateless_normal(shape, seed), tf.random.stateless_normal(shape, seed + 1))
    probe = probe * full_mask
    if epsilon is None:
        peak = tf.reduce_max(tf.abs(tf.reshape(kspace, [shape[0], -1])), axis=1)
        epsilon = 1e-3 * tf.where(peak > 0, peak, tf.ones_like(peak))
    epsilon = tf.reshape(tf.cast(epsilon, tf.float32) * tf.ones([shape[0]]), [-1] + [1] * (kspace.shape.rank - 1))
    sigma = tf.reshape(tf.cast(sigma, tf.float32) * tf.ones([shape[0]]), [-1])
    h = operator.forward(model(inputs, training=training))
    perturbed = dict(inputs, kspace=kspace + tf.cast(epsilon, kspace.dtype) * probe)
    h_eps = operator.forward(model(perturbed, training=training))
    divergence = _per_example_sum(tf.math.real(tf.math.conj(probe) * (h_eps - h)) / epsilon)
    count = _per_example_sum(tf.math.real(full_mask))
    error = _per_example_sum(tf.square(tf.abs(kspace * full_mask - h)))
    sure = error - 2.0 * count * sigma ** 2 + 2.0 * sigma ** 2 * divergence
    return sure / count


def train_sure(model, dataset, sigma, epochs=1, steps_per_epoch=None, optimizer=None, learning_rate=1e-3, seed=0):
    """Trains ``model`` by minimising the mean SURE over a dataset of noisy undersampled inputs.

    Args:
      model: a built or unbuilt zoo model.
      dataset: ``tf.data.Dataset`` of ``(inputs, anything)`` or of inputs dicts (targets are ignored).
      sigma: noise standard deviation per real component, in the units of the dataset's k-space.
      epochs: passes over the dataset (or ``steps_per_epoch`` steps each).
      steps_per_epoch: optional number of steps per epoch.
      optimizer: Keras optimizer (default Adam(``learning_rate``)).
      learning_rate: Adam's learning rate.
      seed: seed of the Monte-Carlo probes.

    Returns:
      list of per-epoch mean SURE values.
    """
    optimizer = optimizer or keras.optimizers.Adam(learning_rate)
    step_counter = tf.Variable(0, dtype=tf.int32)

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(sure_loss(model, inputs, sigma, seed=tf.stack([seed, step_counter]),
                                            training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        step_counter.assign_add(1)
        return loss

    history = []
    for _ in range(int(epochs)):
        data = dataset if steps_per_epoch is None else dataset.take(int(steps_per_epoch))
        values = []
        for element in data:
            inputs = element[0] if isinstance(element, tuple) else element
            if not model.built or not model.trainable_variables:
                model(inputs)
            values.append(float(step(inputs)))
        history.append(sum(values) / max(len(values), 1))
    return history
