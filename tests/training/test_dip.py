"""Deep Image Prior (review Sec. III-C) on a tiny noisy R = 4 problem (32×32, 4 coils): the data-consistency loss
drops, and the early-stopped image beats the zero-filled one; hold-out split and early-stopping bookkeeping."""
import numpy as np
import pytest
import tensorflow as tf

from tests.models.zoo_contract import toy_problem
from tfmri_zoo.recon import zero_filled
from tfmri_zoo.training.dip import deep_image_prior, split_holdout


@pytest.fixture(scope="module")
def data():
    inputs, target = toy_problem(batch=1, coils=4, height=32, width=32, acceleration=4, seed=0)
    kspace, mask = inputs["kspace"], inputs["mask"]
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape)
    kspace = (kspace + 0.01 * np.abs(kspace).max() * noise * mask).astype(np.complex64)
    return kspace, mask, inputs["sensitivities"], target


def psnr(image, target):
    return 20 * np.log10(np.abs(target).max() / np.sqrt(np.mean(np.abs(np.asarray(image) - target) ** 2)))


def test_noise_input_dip_with_holdout_early_stopping_beats_zero_filled(data):
    kspace, mask, maps, target = data
    result = deep_image_prior(kspace, mask, maps, iterations=300, network_input="noise", holdout_fraction=0.2,
                              patience=100, seed=0)
    assert result.image.dtype == tf.complex64 and tuple(result.image.shape) == target.shape
    zf, dip = psnr(zero_filled(kspace, mask, maps), target), psnr(result.image, target)
    print(f"DIP (noise input, hold-out stop at {result.best_iteration}): loss {result.losses[0]:.3f} -> "
          f"{result.losses[-1]:.4f}; PSNR {dip:.2f} dB vs zero-filled {zf:.2f} dB")
    assert result.losses[-1] <= 0.1 * result.losses[0]
    assert result.holdout_losses[result.best_iteration] == result.holdout_losses.min()
    assert dip >= zf + 0.5


def test_zero_filled_input_variant_stopped_by_iteration_count(data):
    kspace, mask, maps, target = data
    result = deep_image_prior(kspace, mask, maps, iterations=200, network_input="zero_filled", seed=1)
    zf, dip = psnr(zero_filled(kspace, mask, maps), target), psnr(result.image, target)
    print(f"DIP (zero-filled input, 200 iterations): loss {result.losses[0]:.3f} -> {result.losses[-1]:.4f}; "
          f"PSNR {dip:.2f} dB vs zero-filled {zf:.2f} dB")
    assert result.holdout_losses is None and len(result.losses) == 200 and result.best_iteration == 199
    assert result.losses[-1] <= 0.1 * result.losses[0]
    assert dip >= zf + 0.5


def test_holdout_split_and_patience(data):
    kspace, mask, maps, _ = data
    train, held = split_holdout(mask, [1, 1, 32, 32], 0.3, seed=4)
    sampled = np.broadcast_to(mask, (1, 1, 32, 32))
    np.testing.assert_array_equal(train.numpy() + held.numpy(), sampled)
    assert np.all(train.numpy() * held.numpy() == 0)
    assert 0.2 < held.numpy().sum() / sampled.sum() < 0.4
    result = deep_image_prior(kspace, mask, maps, iterations=40, holdout_fraction=0.3, patience=3,
                              learning_rate=0.2, seed=2)
    ran = len(result.losses)
    print(f"patience 3: ran {ran} of 40 iterations, best at {result.best_iteration}")
    assert ran == 40 or ran == result.best_iteration + 4, (ran, result.best_iteration)
    assert len(result.holdout_losses) == ran


def test_bad_arguments_are_named(data):
    kspace, mask, maps, _ = data
    with pytest.raises(ValueError, match="network_input"):
        deep_image_prior(kspace, mask, maps, network_input="latent")
    with pytest.raises(ValueError, match="holdout_fraction"):
        deep_image_prior(kspace, mask, maps, holdout_fraction=1.0)
    with pytest.raises(ValueError, match="patience"):
        deep_image_prior(kspace, mask, maps, patience=0)
    with pytest.raises(ValueError, match="iterations"):
        deep_image_prior(kspace, mask, maps, iterations=-1)
    with pytest.raises(TypeError, match="kspace"):
        deep_image_prior(np.abs(kspace), mask, maps)
