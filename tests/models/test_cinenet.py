"""CINENet: zoo contract on 2D+t, pinned default size, split spatio-temporal U-Nets, tiny training run."""
import keras
import numpy as np
import pytest

from tests.models import zoo_contract
from tfmri_zoo import models
from tfmri_zoo.layers.complex_conv import ComplexConv2Dt
from tfmri_zoo.models.cinenet import CINENet

DEFAULT_PARAMS = 1578095  # printed in models/cinenet/README.md


def dynamic_problem():
    """The tiny 2D+t problem of the dynamic models' tests: 2 × 4 frames × 16×16, 4 coils, R = 4 lines + 6 ACS."""
    return zoo_contract.toy_problem(batch=2, coils=4, height=16, width=16, frames=4, acceleration=4)


def check_dynamic_zoo_contract(name, cls, inputs, target, **config):
    """The zoo contract (zoo_contract.check_registry_model) for a 2D+t model; returns the model."""
    model = zoo_contract.check_registry_model(name, cls, inputs, target, **config)
    assert model.kspace_rank == 5
    return model


@pytest.fixture(scope="module")
def problem():
    return dynamic_problem()


def test_small_preset_meets_the_zoo_contract(problem):
    inputs, target = problem
    model = check_dynamic_zoo_contract("cinenet", CINENet, inputs, target)
    # a full-resolution [B, 1, T, H, W] mask is accepted as well
    full_mask = np.broadcast_to(inputs["mask"], (2, 1, 4, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(model({**inputs, "mask": full_mask}).numpy(), model(inputs).numpy(), atol=1e-5)


def test_default_size_split_convolutions_and_variants(problem):
    inputs, target = problem
    model = models.get("cinenet", preset="default")
    # the K = 5 cascades have identical, unshared U-Nets; build one (building all five costs ~15 s of tracing)
    assert len({id(u) for u in model.unets}) == 5 and len({repr({k: v for k, v in u.get_config().items() if k != "name"}) for u in model.unets}) == 1
    model.unets[0].build((None, 4, 16, 16, 1))
    unet_params = sum(int(np.prod(w.shape)) for w in model.unets[0].weights)
    dc_params = sum(int(np.prod(w.shape)) for dc in model.dcs for w in dc.weights)
    assert model.iterations * unet_params + dc_params == DEFAULT_PARAMS, (unet_params, dc_params)
    assert (model.iterations, model.dc, model.norm) == (5, "proximal", "instance")
    convs = [layer for layer in model.unets[0]._flatten_layers() if isinstance(layer, ComplexConv2Dt)]
    assert len(convs) == 2 * (2 * 2 + 1)  # convs × (encoder levels + decoder levels)
    # the real 2-channel variant and the CG data consistency build and run on the same inputs
    real = CINENet(iterations=1, filters=4, depth=1, convs=1, norm=None, complex_network=False,
                   dc="proximal", cg_iterations=2)
    zoo_contract.check_output(real, inputs, target)
    assert not real.unets[0].complex_network
    _check_identity_unet_cascade(inputs)
    with pytest.raises(ValueError, match="dc"):
        CINENet(dc="replace")
    with pytest.raises(ValueError, match="kspace"):
        models.get("cinenet")({**inputs, "kspace": inputs["kspace"][:, :, 0]})


def _check_identity_unet_cascade(inputs):
    """Real 2-channel variant, gradient DC: with the U-Net's head zeroed the residual U-Net is the identity, so one
    cascade is ``x₀ − w Eᴴ(Ex₀ − y)`` from ``x₀ = Eᴴy``, frame by frame — compared with numpy's FFT; with the head
    as initialised the output differs (the U-Net is applied)."""
    model = CINENet(iterations=1, filters=4, depth=1, convs=1, norm=None, complex_network=False,
                    dc="gradient", lam=0.6)
    before = model(inputs).numpy()
    head = model.unets[0].head
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    got = model(inputs).numpy()
    axes = (-2, -1)
    fft = lambda x: np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=axes), norm="ortho"), axes=axes)  # noqa: E731
    ifft = lambda k: np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=axes), norm="ortho"), axes=axes)  # noqa: E731
    y, mask, maps = (inputs[k].astype(np.complex128) for k in ("kspace", "mask", "sensitivities"))  # [B,C,T,H,W]
    adjoint = lambda k: np.sum(np.conj(maps) * ifft(mask * k), axis=1)  # noqa: E731
    x0 = adjoint(y)
    want = x0 - 0.6 * adjoint(fft(maps * x0[:, None]) - y)
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())
    assert np.abs(before - got).max() > 1e-4 * np.abs(want).max()


def test_tiny_2dt_training_run_lowers_the_loss_5x(problem):
    inputs, target = problem
    keras.utils.set_random_seed(1)
    one = {key: value[:1] for key, value in inputs.items()}
    first, last = zoo_contract.check_training_lowers_loss(models.get("cinenet", preset="small"), one, target[:1],
                                                          steps=40, factor=5.0, learning_rate=1e-2)
    print(f"cinenet small: loss {first:.4g} -> {last:.4g}")


def problem_3dt(seed=0):
    """A tiny noiseless 3D+t problem: 1 × 2 frames × 4×8×8 voxels, 2 coils, (D, H) phase encodes undersampled."""
    rng = np.random.default_rng(seed)
    batch, coils, frames, depth, height, width = 1, 2, 2, 4, 8, 8
    target = (rng.standard_normal((batch, frames, depth, height, width))
              + 1j * rng.standard_normal((batch, frames, depth, height, width))).astype(np.complex64)
    maps = rng.standard_normal((batch, coils, 1, depth, height, width)) + 1j * rng.standard_normal(
        (batch, coils, 1, depth, height, width))
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
    mask = (rng.uniform(size=(batch, 1, frames, depth, height, 1)) < 0.5).astype(np.float32)
    mask[..., depth // 2, height // 2, :] = 1
    kspace = _encode_3d(target, maps.astype(np.complex64), mask)
    return {"kspace": kspace, "mask": mask, "sensitivities": maps.astype(np.complex64)}, target


def _encode_3d(image, maps, mask):
    """numpy ``M F_3D C x``: centred orthonormal 3D FFT over (D, H, W) — independent of the package's FFT."""
    axes = (-3, -2, -1)
    coil_images = maps * image[:, None]
    return (mask * np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(coil_images, axes), axes=axes, norm="ortho"),
                                   axes)).astype(np.complex64)


def _decode_3d(kspace, maps, mask):
    """numpy ``Eᴴ``: ``Σ_c conj(C_c) F_3Dᴴ M y_c``."""
    axes = (-3, -2, -1)
    coil_images = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(mask * kspace, axes), axes=axes, norm="ortho"), axes)
    return np.sum(np.conj(maps) * coil_images, axis=1)


@pytest.fixture(scope="module")
def problem3d():
    return problem_3dt()


def test_3dt_output_and_round_trips(problem3d):
    inputs, target = problem3d
    keras.utils.set_random_seed(0)
    model = models.get("cinenet", preset="small", spatial_rank=3)
    assert model.kspace_rank == 6 and model.unets[0].conv == "3dt"
    zoo_contract.check_output(model, inputs, target)                           # complex64 [1, 2, 4, 8, 8]
    loaded = zoo_contract.check_keras_round_trip(model, inputs)
    assert loaded.get_config() == model.get_config() and loaded.get_config()["spatial_rank"] == 3
    zoo_contract.check_saved_model_round_trip(model, inputs)
    with pytest.raises(ValueError, match="spatial_rank"):
        CINENet(spatial_rank=1)
    with pytest.raises(ValueError, match="kspace"):  # a 2D+t model rejects 3D+t k-space
        models.get("cinenet", preset="small")(inputs)


def test_3dt_data_consistency_uses_the_3d_fft(problem3d):
    """DC steps against numpy's 3D FFT: fully sampled noiseless data leave the image unchanged (both DC kinds), and
    a gradient step from a perturbed image equals ``z − λ Eᴴ(Ez − y)`` computed in numpy."""
    inputs, target = problem3d
    maps = inputs["sensitivities"]
    full = np.ones_like(inputs["mask"])
    y_full = _encode_3d(target, maps, full)
    for dc in ("gradient", "proximal"):
        model = CINENet(iterations=1, filters=2, depth=1, convs=1, norm=None, dc=dc,
                        cg_iterations=3, spatial_rank=3)
        out = model.dcs[0](target, y_full, full, maps).numpy()
        np.testing.assert_allclose(out, target, atol=1e-5 * np.abs(target).max())
    model = CINENet(iterations=1, filters=2, depth=1, convs=1, norm=None, dc="gradient",
                    lam=0.7, spatial_rank=3)
    mask, y = inputs["mask"], inputs["kspace"]
    np.testing.assert_allclose(y, _encode_3d(target, maps, mask), atol=1e-5)
    z = (target + 0.3 * np.roll(target, 1, axis=-3)).astype(np.complex64)
    expected = z - 0.7 * _decode_3d(_encode_3d(z, maps, mask) - y, maps, mask)
    np.testing.assert_allclose(model.dcs[0](z, y, mask, maps).numpy(), expected, atol=1e-5 * np.abs(z).max())
    # the model's zero-filled start is numpy's Eᴴy as well
    np.testing.assert_allclose(model.make_operator(mask, maps).adjoint(y).numpy(), _decode_3d(y, maps, mask), atol=1e-5)
