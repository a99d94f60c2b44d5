"""Adversarial training with data consistency (review Eq. 15): any zoo model as the generator, a patch discriminator.

The generator ``G`` is a zoo reconstruction model (zero-filled input, data consistency inside), so every output is
consistent with the measured k-space; the discriminator ``D`` judges image patches. With the content loss ``ℓ`` (the
zoo's complex losses) and the adversarial weight ``w``:

  LSGAN     D: ½E[(D(x) − 1)²] + ½E[D(G(y))²]             G: ℓ(G(y), x) + w · ½E[(D(G(y)) − 1)²]
  WGAN-GP   D: E[D(G(y))] − E[D(x)] + γ E[(‖∇D(x̃)‖ − 1)²]  G: ℓ(G(y), x) − w · E[D(G(y))]
            (x̃ a random point between x and G(y); Gulrajani et al. 2017)

Images enter ``D`` as real/imaginary channels divided by the example's largest target magnitude, so ``D`` sees the
same scale whatever the data's. One generator pass per step feeds both updates: the generator is stepped against the
current discriminator, then the discriminator on that output (without its gradient). ``AdversarialTrainer`` is a
``keras.Model`` with its own ``train_step``: it trains
through ``fit`` with callbacks and checkpoints as every other trainer; the generator is ``trainer.generator``
(export it as any zoo model).
"""
import keras
import tensorflow as tf

from tfmri_zoo.layers.complex_ops import complex_to_channels

GAN_LOSSES = ("lsgan", "wgan-gp")


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class PatchDiscriminator(keras.Model):
    """PatchGAN discriminator (Isola et al. 2017): strided 4×4 convolutions, LeakyReLU(0.2), one score per patch.

    Args:
      filters: channels of the first convolution (doubled per level, at most 8×).
      levels: stride-2 convolutions (the receptive field grows with them).

    Call args: real ``[B, H, W, 2]`` (real/imaginary channels). Returns float32 ``[B, H', W', 1]`` scores.
    """

    def __init__(self, filters=32, levels=3, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.levels = int(filters), int(levels)
        self.blocks = [keras.layers.Conv2D(self.filters * min(2 ** i, 8), 4, strides=2, padding="same")
                       for i in range(self.levels)]
        self.score = keras.layers.Conv2D(1, 4, padding="same")

    def call(self, x):
        for block in self.blocks:
            x = keras.activations.leaky_relu(block(x), negative_slope=0.2)
        return self.score(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "levels": self.levels}


class AdversarialTrainer(keras.Model):
    """Trains ``generator`` with a content loss plus an adversarial loss against ``discriminator``.

    Args:
      generator: a zoo model (``model(inputs) → complex64 [B, H, W]``).
      discriminator: a ``keras.Model`` on real ``[B, H, W, 2]`` (default :class:`PatchDiscriminator`).
      gan: ``"lsgan"`` or ``"wgan-gp"``.
      adversarial_weight: ``w`` (0 trains the generator on the content loss alone, the discriminator still learns).
      gradient_penalty: ``γ`` of WGAN-GP.

    Compile with ``compile(generator_optimizer=..., discriminator_optimizer=..., content_loss=...)``; ``fit`` on
    ``(inputs, target)`` pairs. Logged: ``content``, ``generator``, ``discriminator`` losses.
    """

    def __init__(self, generator, discriminator=None, gan="lsgan", adversarial_weight=0.01, gradient_penalty=10.0,
                 **kwargs):
        super().__init__(**kwargs)
        if gan not in GAN_LOSSES:
            raise ValueError(f"gan: expected one of {GAN_LOSSES}, got {gan!r}.")
        if adversarial_weight < 0:
            raise ValueError(f"adversarial_weight: expected ≥ 0, got {adversarial_weight!r}.")
        self.generator = generator
        self.discriminator = discriminator if discriminator is not None else PatchDiscriminator()
        self.gan, self.adversarial_weight = gan, float(adversarial_weight)
        self.gradient_penalty = float(gradient_penalty)

    def compile(self, generator_optimizer, discriminator_optimizer, content_loss, **kwargs):
        super().compile(**kwargs)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.content_loss = content_loss

    def call(self, inputs, training=None):
        return self.generator(inputs, training=training)

    @staticmethod
    def channels(image, scale):
        """Real/imag channels ``[B, H, W, 2]`` of ``image / scale``."""
        return complex_to_channels((image / scale)[..., None])

    def discriminator_loss(self, real, fake):
        real_score, fake_score = self.discriminator(real, training=True), self.discriminator(fake, training=True)
        if self.gan == "lsgan":
            return 0.5 * tf.reduce_mean(tf.square(real_score - 1.0)) + 0.5 * tf.reduce_mean(tf.square(fake_score))
        alpha = tf.random.uniform([tf.shape(real)[0], 1, 1, 1])
        between = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            tape.watch(between)
            score = self.discriminator(between, training=True)
        gradient = tape.gradient(score, between)
        norm = tf.sqrt(tf.reduce_sum(tf.square(gradient), axis=[1, 2, 3]) + 1e-12)
        penalty = tf.reduce_mean(tf.square(norm - 1.0))
        return tf.reduce_mean(fake_score) - tf.reduce_mean(real_score) + self.gradient_penalty * penalty

    def generator_adversarial_loss(self, fake):
        score = self.discriminator(fake, training=False)
        if self.gan == "lsgan":
            return 0.5 * tf.reduce_mean(tf.square(score - 1.0))
        return -tf.reduce_mean(score)

    def train_step(self, data):
        inputs, target = data
        target = tf.cast(target, tf.complex64)
        scale = tf.cast(tf.reduce_max(tf.abs(target), axis=[1, 2], keepdims=True), tf.complex64)
        scale = tf.where(tf.abs(scale) > 0, scale, tf.ones_like(scale))
        with tf.GradientTape() as tape:
            image = self.generator(inputs, training=True)                 # one generator pass per step
            fake = self.channels(image, scale)
            content = self.content_loss(target, image)
            g_loss = content + self.adversarial_weight * self.generator_adversarial_loss(fake)
        self.update(self.generator, self.generator_optimizer, tape, g_loss)
        d_loss = self.update_discriminator(self.channels(target, scale), tf.stop_gradient(fake))
        return {"content": content, "generator": g_loss, "discriminator": d_loss}

    def update(self, network, optimizer, tape, loss):
        """One optimiser step of ``network`` on ``loss`` recorded by ``tape``."""
        grads = tape.gradient(loss, network.trainable_variables)
        optimizer.apply_gradients(zip(grads, network.trainable_variables))

    def update_discriminator(self, real, fake):
        """One discriminator step on real/fake channels (the generator's output without its gradient); returns
        the discriminator loss before the step."""
        with tf.GradientTape() as tape:
            loss = self.discriminator_loss(real, fake)
        self.update(self.discriminator, self.discriminator_optimizer, tape, loss)
        return loss


class CycleTrainer(AdversarialTrainer):
    """Unpaired training with image and k-space cycle losses (review Eq. 17–18; Sim et al., "Optimal transport driven
    CycleGAN for unsupervised learning in inverse problems", SIAM J. Imaging Sci. 2020).

    Undersampled scans ``y`` and fully sampled images ``x`` of *other* subjects (no pairs). The forward operator is
    known, so one generator suffices: the image cycle simulates k-space of ``x`` through ``E`` (the scan's mask,
    ``x``'s own coil maps) and asks ``G`` to return ``x``; the k-space cycle asks ``E G(y)`` to return ``y``:

        L_cycle = E_x ‖x − G(E x)‖₁ / ‖x‖₁ + E_y ‖M(E G(y) − y)‖₁ / ‖M y‖₁                    (Eq. 17)
        L_G = γ L_cycle + w · L_adv(G(y)),    D: WGAN-GP (or LSGAN) between x and G(y)     (Eq. 18)

    ``fit`` on ``(scan_inputs, unpaired)`` with ``unpaired = {"image": complex64 [B, H, W], "sensitivities":
    complex64 [B, C, H, W]}``. Args as :class:`AdversarialTrainer` (default ``gan="wgan-gp"``), plus
    ``cycle_weight`` (γ); ``compile`` needs no content loss. Logged: ``image_cycle``, ``kspace_cycle``,
    ``generator``, ``discriminator``.
    """

    def __init__(self, generator, discriminator=None, gan="wgan-gp", adversarial_weight=0.01, cycle_weight=1.0,
                 **kwargs):
        super().__init__(generator, discriminator, gan=gan, adversarial_weight=adversarial_weight, **kwargs)
        if cycle_weight < 0:
            raise ValueError(f"cycle_weight: expected ≥ 0, got {cycle_weight!r}.")
        self.cycle_weight = float(cycle_weight)

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        super().compile(generator_optimizer, discriminator_optimizer, content_loss=None, **kwargs)

    @staticmethod
    def _relative_l1(difference, reference):
        axes = list(range(1, reference.shape.rank))
        return tf.reduce_mean(tf.reduce_sum(tf.abs(difference), axes)
                              / tf.maximum(tf.reduce_sum(tf.abs(reference), axes), 1e-30))

    def train_step(self, data):
        scans, unpaired = data
        images = tf.cast(unpaired["image"], tf.complex64)
        mask = tf.cast(scans["mask"], tf.float32)
        measured = tf.cast(scans["kspace"], tf.complex64)
        scan_operator = self.generator.make_operator(mask, scans["sensitivities"])
        image_operator = self.generator.make_operator(mask, unpaired["sensitivities"])
        simulated = {"kspace": image_operator.forward(images), "mask": mask,
                     "sensitivities": unpaired["sensitivities"]}
        peak = lambda x: tf.cast(tf.maximum(tf.reduce_max(tf.abs(x), axis=[1, 2], keepdims=True),  # noqa: E731
                                            1e-30), tf.complex64)
        with tf.GradientTape() as tape:
            image_cycle = self._relative_l1(self.generator(simulated, training=True) - images, images)
            fake = self.generator(scans, training=True)
            kspace_cycle = self._relative_l1(scan_operator.forward(fake) - scan_operator.apply_mask(measured),
                                             scan_operator.apply_mask(measured))
            fake_channels = self.channels(fake, tf.stop_gradient(peak(fake)))
            adversarial = self.generator_adversarial_loss(fake_channels)
            g_loss = self.cycle_weight * (image_cycle + kspace_cycle) + self.adversarial_weight * adversarial
        self.update(self.generator, self.generator_optimizer, tape, g_loss)
        d_loss = self.update_discriminator(self.channels(images, peak(images)), tf.stop_gradient(fake_channels))
        return {"image_cycle": image_cycle, "kspace_cycle": kspace_cycle, "generator": g_loss,
                "discriminator": d_loss}
