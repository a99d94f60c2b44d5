"""Learned primal-dual: zoo contract, pinned default size, operator placement and swappable blocks."""

import keras
import numpy as np
import pytest

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card, check_small_preset, check_tiny_training
from tfmri_zoo import models
from tfmri_zoo.models.primal_dual import PrimalDual

DEFAULT_PARAMS = 319560  # printed in models/primal_dual/README.md


@pytest.fixture(scope="module")
def problem():
    return zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)


def test_small_preset_meets_the_zoo_contract(problem):
    model = check_small_preset("primal_dual", PrimalDual, *problem)


def test_model_card_matches_the_registry():
    check_model_card("primal_dual", DEFAULT_PARAMS)


def test_default_config_size():
    model = built_default("primal_dual")
    assert model.count_params() == DEFAULT_PARAMS
    # Adler & Öktem: 10 iterations, 3 conv layers of 32 channels, PReLU, 5 memory channels
    block = model.primal_blocks[0]
    assert (block.filters, block.num_layers, block.activation, block.out_channels) == (32, 3, "prelu", 10)
    assert model.dual_blocks[0].out_channels == 10 and len(model.dual_blocks) == 10


def numpy_encoding(sens, mask):
    """E and Eᴴ written with numpy's FFT (independent of SenseOperator): centred orthonormal 2D DFT per coil."""
    axes = (-2, -1)

    def forward(x):
        coils = x[:, None] * sens
        return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(coils, axes=axes), norm="ortho"), axes=axes) * mask

    def adjoint(y):
        coils = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(y * mask, axes=axes), norm="ortho"), axes=axes)
        return np.sum(np.conj(sens) * coils, axis=1)

    return forward, adjoint


def numpy_block(network, z):
    """A block on complex channels ``[N, H, W, F]``: real parts then imaginary parts in, the same layout out."""
    out = network(np.concatenate([z.real, z.imag], -1).astype(np.float32)).numpy()
    half = out.shape[-1] // 2
    return out[..., :half] + 1j * out[..., half:]


def test_output_equals_a_numpy_primal_dual_loop_with_the_same_blocks(problem):
    """Adler & Öktem's iteration written out in numpy (memories, E f⁽²⁾, Eᴴ h⁽¹⁾, output f⁽¹⁾), calling the model's
    blocks as black boxes: the model must wire E, Eᴴ, the data and the memories exactly so."""
    keras.utils.set_random_seed(3)
    inputs, _ = problem
    model = PrimalDual(iterations=2, n_primal=3, n_dual=2, normalize=False,
                       regularizer={"name": "dncnn", "filters": 4, "layers": 2, "batch_norm": False})
    got = model(inputs).numpy()
    k, sens, mask = inputs["kspace"], inputs["sensitivities"], inputs["mask"]
    forward, adjoint = numpy_encoding(sens.astype(np.complex128), mask)
    b, c, h, w = k.shape
    f = np.repeat(adjoint(k)[..., None], 3, axis=-1)                      # f₀ = Eᴴy in every primal channel
    dual = np.zeros((b, c, h, w, 2), np.complex128)                      # h₀ = 0
    for primal_block, dual_block in zip(model.primal_blocks, model.dual_blocks):
        dual_in = np.concatenate([dual, forward(f[..., 1])[..., None], k[..., None]], axis=-1)
        dual = dual + numpy_block(dual_block.network, dual_in.reshape(b * c, h, w, 4)).reshape(dual.shape)
        primal_in = np.concatenate([f, adjoint(dual[..., 0])[..., None]], axis=-1)
        f = f + numpy_block(primal_block.network, primal_in)
    want = f[..., 0]
    zero_filled = adjoint(k)
    assert np.linalg.norm(want - zero_filled) > 0.05 * np.linalg.norm(zero_filled)   # the blocks do act
    np.testing.assert_allclose(got, want, atol=2e-4 * np.abs(want).max())


def test_swapped_block_network(problem):
    inputs, target = problem
    model = PrimalDual(iterations=1, n_primal=2, n_dual=2, regularizer={"name": "unet", "filters": 4, "depth": 1})
    zoo_contract.check_output(model, inputs, target)
    assert type(model.primal_blocks[0]).__name__ == "UNet"
    with pytest.raises(ValueError, match="regularizer"):
        PrimalDual(iterations=1, regularizer={"name": "complex_unet"})
    with pytest.raises(ValueError, match="n_primal"):
        PrimalDual(n_primal=1)


def test_tiny_supervised_run_lowers_the_loss(problem):
    check_tiny_training("primal_dual", *problem, steps=12, learning_rate=5e-3)
