"""Inverse GAN (Eq. 16): the latent search recovers an image in the range of a known (linear) generator from
undersampled k-space; the image generator's shapes, training and ``.keras`` round trip; named errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo.training import ImageGenerator, inverse_gan, train_image_gan


@keras.saving.register_keras_serializable(package="tests")
class LinearGenerator(keras.Model):
    """G(z) = reshape(W z) as a complex image (W fixed by the seed): a generator whose range is a linear subspace."""

    def __init__(self, shape=(32, 32), latent_dim=12, **kwargs):
        super().__init__(**kwargs)
        self.shape_hw, self.latent_dim = tuple(shape), int(latent_dim)
        self.dense = keras.layers.Dense(2 * shape[0] * shape[1], use_bias=False,
                                        kernel_initializer=keras.initializers.RandomNormal(seed=1))

    def call(self, z):
        x = tf.reshape(self.dense(z), [-1, *self.shape_hw, 2])
        return tf.complex(x[..., 0], x[..., 1])

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape_hw), "latent_dim": self.latent_dim}


def test_latent_search_recovers_an_image_in_the_generators_range():
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=4, height=32, width=32, acceleration=2)
    generator = LinearGenerator()
    truth = generator(tf.constant(np.random.default_rng(2).standard_normal((1, 12)), tf.float32)).numpy()
    from tfmri_zoo.physics import SenseOperator

    kspace = SenseOperator(inputs["sensitivities"], inputs["mask"]).forward(truth).numpy()
    result = inverse_gan(kspace, inputs["mask"], inputs["sensitivities"], generator, latent_iterations=400,
                         joint_iterations=0, latent_learning_rate=5e-2, holdout_fraction=0.0)
    error = np.linalg.norm(result.image.numpy() - truth) / np.linalg.norm(truth)
    assert error < 0.05, error
    assert result.losses[-1] < 1e-2 * result.losses[0] and result.holdout_losses is None
    before = generator.get_weights()[0].copy()
    held = inverse_gan(kspace, inputs["mask"], inputs["sensitivities"], generator, latent_iterations=20,
                       joint_iterations=10, holdout_fraction=0.2)
    assert len(held.holdout_losses) == 30 and 0 <= held.best_iteration < 30
    np.testing.assert_array_equal(generator.get_weights()[0], before)             # the caller's θ is untouched


def test_image_generator_trains_and_round_trips(tmp_path):
    generator = ImageGenerator((16, 24), latent_dim=8, filters=8, levels=2)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    out = generator(z)
    assert out.shape == (3, 16, 24) and out.dtype == tf.complex64
    generator.save(tmp_path / "g.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "g.keras")(z).numpy(), out.numpy(), atol=1e-6)
    images = np.random.default_rng(1).standard_normal((6, 16, 24)).astype(np.complex64)
    _, history = train_image_gan(images, steps=3, generator=generator, batch_size=2)
    assert len(history["generator"]) == 3 and np.all(np.isfinite(history["discriminator"]))
    with pytest.raises(ValueError, match="shape"):
        ImageGenerator((20, 24), levels=3)
    with pytest.raises(TypeError, match="generator"):
        inverse_gan(np.zeros((1, 1, 16, 24), np.complex64), np.ones((1, 1, 1, 24), np.float32), None,
                    keras.layers.Dense(2))
