"""RARE pairs (denoisers without clean data): the line split, and each half's reconstruction of noise-free data
against the known object; a small denoiser trained on noisy pairs moves its input towards the clean object."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo.models.denoiser import make_denoiser
from tfmri_zoo.training import ComplexMSE, rare_pairs, split_lines


def test_split_lines_gives_two_disjoint_halves(rng):
    mask = np.zeros((3, 1, 1, 20), np.float32)
    mask[..., ::2] = 1
    first, second = split_lines(mask, seed=1)
    np.testing.assert_array_equal(first + second, mask)
    assert np.all(first * second == 0) and np.all(first.sum(axis=-1) == 5)
    with pytest.raises(ValueError, match="at least 2"):
        split_lines(np.eye(1, 20, dtype=np.float32)[None, None], seed=1)
    with pytest.raises(ValueError, match="mask"):
        split_lines(np.ones((2, 20), np.float32), seed=1)


def test_each_half_of_noise_free_fully_sampled_data_recovers_the_object(rng):
    inputs, target = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32, acceleration=1)
    inputs_x, targets_y = rare_pairs(inputs["kspace"], inputs["mask"], inputs["sensitivities"], 0, lam=1e-6,
                                     max_iter=60)
    assert inputs_x.shape == targets_y.shape == (4, 32, 32)
    np.testing.assert_allclose(targets_y[:2], inputs_x[2:])                       # the two directions
    for image in inputs_x:                                                         # R = 2 halves, 4 coils
        error = min(np.linalg.norm(image - t) / np.linalg.norm(t) for t in target)
        assert error < 0.15                   # random halves leave gaps that 4 smooth coils fill only in part


def test_a_denoiser_trained_on_noisy_pairs_moves_towards_the_clean_object():
    inputs, target = zoo_contract.toy_problem(batch=4, coils=4, height=32, width=32, acceleration=1)
    rng = np.random.default_rng(3)
    noise = 0.05 * np.abs(inputs["kspace"]).max() * (rng.standard_normal(inputs["kspace"].shape)
                                                     + 1j * rng.standard_normal(inputs["kspace"].shape))
    kspace = ((inputs["kspace"] + noise) * inputs["mask"]).astype(np.complex64)
    x, y = rare_pairs(kspace, inputs["mask"], inputs["sensitivities"], 3)
    keras.utils.set_random_seed(0)
    denoiser = make_denoiser("small")
    denoiser.compile(optimizer=keras.optimizers.Adam(3e-3), loss=ComplexMSE())
    denoiser.fit(tf.data.Dataset.from_tensors((x, y)).repeat(150), epochs=1, verbose=0)
    clean = np.concatenate([target, target])
    before = np.linalg.norm(x - clean) / np.linalg.norm(clean)
    after = np.linalg.norm(denoiser(x).numpy() - clean) / np.linalg.norm(clean)
    assert after < 0.8 * before, (before, after)
