"""Adversarial training with data consistency (Eq. 15): the discriminator losses against their formulas (a linear
discriminator has a known gradient), tiny LSGAN and WGAN-GP runs through ``fit`` that lower the content loss without
collapsing the outputs, and named errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo import models
from tfmri_zoo.training import AdversarialTrainer, ComplexL1, PatchDiscriminator


class Linear(keras.Model):
    """D(x) = Σ w·x per example (as a [B, 1, 1, 1] score): ∇D = w everywhere."""

    def __init__(self, weights):
        super().__init__()
        self.w = tf.constant(weights, tf.float32)

    def call(self, x):
        return tf.reduce_sum(x * self.w, axis=[1, 2, 3], keepdims=True)


def test_discriminator_losses_are_the_formulas(rng):
    real = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    fake = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    w = 0.05 * rng.standard_normal((8, 8, 2)).astype(np.float32)
    score = lambda x: np.sum(x * w, axis=(1, 2, 3))  # noqa: E731
    lsgan = AdversarialTrainer(models.get("modl", preset="small"), Linear(w), gan="lsgan")
    expected = 0.5 * np.mean((score(real) - 1) ** 2) + 0.5 * np.mean(score(fake) ** 2)
    np.testing.assert_allclose(float(lsgan.discriminator_loss(real, fake)), expected, rtol=1e-5)
    wgan = AdversarialTrainer(models.get("modl", preset="small"), Linear(w), gan="wgan-gp", gradient_penalty=10.0)
    expected = np.mean(score(fake)) - np.mean(score(real)) + 10.0 * (np.linalg.norm(w) - 1.0) ** 2
    np.testing.assert_allclose(float(wgan.discriminator_loss(real, fake)), expected, rtol=1e-4)


@pytest.mark.parametrize("gan", ["lsgan", "wgan-gp"])
def test_tiny_adversarial_training_lowers_the_content_loss_without_collapse(gan):
    inputs, target = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)
    keras.utils.set_random_seed(0)
    trainer = AdversarialTrainer(models.get("modl", preset="small"), PatchDiscriminator(filters=8, levels=2),
                                 gan=gan, adversarial_weight=0.01)
    trainer.compile(generator_optimizer=keras.optimizers.Adam(5e-3),
                    discriminator_optimizer=keras.optimizers.Adam(1e-3), content_loss=ComplexL1())
    history = trainer.fit(tf.data.Dataset.from_tensors((inputs, target)).repeat(30), epochs=3, verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert history["content"][-1] < 0.7 * history["content"][0]
    out = trainer.generator(inputs).numpy()
    errors = np.abs(np.abs(out)[:, None] - np.abs(target)[None]).mean(axis=(2, 3))      # [output, target]
    assert errors[0, 0] < errors[0, 1] and errors[1, 1] < errors[1, 0]                   # each output is its own


def test_patch_discriminator_scores_patches_and_round_trips(tmp_path, rng):
    model = PatchDiscriminator(filters=4, levels=3)
    x = rng.standard_normal((2, 32, 24, 2)).astype(np.float32)
    assert model(x).shape == (2, 4, 3, 1)
    model.save(tmp_path / "d.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "d.keras")(x).numpy(), model(x).numpy(), atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="gan"):
        AdversarialTrainer(models.get("modl", preset="small"), gan="vanilla")
    with pytest.raises(ValueError, match="adversarial_weight"):
        AdversarialTrainer(models.get("modl", preset="small"), adversarial_weight=-1.0)


def test_cycle_training_from_unpaired_data_lowers_both_cycles_and_the_error():
    """Scans of two objects, fully sampled images of two *other* objects: no pairs; the generator still learns."""
    from tfmri_zoo.training import CycleTrainer

    inputs, target = zoo_contract.toy_problem(batch=4, coils=4, height=32, width=32, seed=5)
    scans = {k: v[:2] for k, v in inputs.items()}
    unpaired = {"image": target[2:], "sensitivities": inputs["sensitivities"][2:]}
    keras.utils.set_random_seed(0)
    trainer = CycleTrainer(models.get("modl", preset="small"), PatchDiscriminator(filters=8, levels=2),
                           adversarial_weight=0.001)
    trainer.compile(generator_optimizer=keras.optimizers.Adam(5e-3),
                    discriminator_optimizer=keras.optimizers.Adam(1e-3))
    before = np.linalg.norm(trainer.generator(scans).numpy() - target[:2]) / np.linalg.norm(target[:2])
    history = trainer.fit(tf.data.Dataset.from_tensors((scans, unpaired)).repeat(40), epochs=3, verbose=0).history
    assert history["image_cycle"][-1] < history["image_cycle"][0]
    assert history["kspace_cycle"][-1] < history["kspace_cycle"][0]
    after = np.linalg.norm(trainer.generator(scans).numpy() - target[:2]) / np.linalg.norm(target[:2])
    assert after < 0.8 * before, (before, after)
    with pytest.raises(ValueError, match="cycle_weight"):
        CycleTrainer(models.get("modl", preset="small"), cycle_weight=-1.0)
