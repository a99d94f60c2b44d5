"""Each loss must see the imaginary part (the Keras 3 complex→float cast pitfall, docs/design.md)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import crandn
from tfmri_zoo.training.losses import ComplexL1, ComplexMSE


@pytest.mark.parametrize("loss_cls", [ComplexMSE, ComplexL1])
def test_loss_reacts_to_imaginary_part(rng, loss_cls):
    x = crandn(rng, 2, 8, 8)
    loss = loss_cls()
    assert float(loss(x, x)) == 0.0
    conj = float(loss(np.conj(x), x))
    expected = (np.mean(np.abs(2 * x.imag) ** 2) if loss_cls is ComplexMSE else np.mean(np.abs(2 * x.imag)))
    np.testing.assert_allclose(conj, expected, rtol=1e-5)


def test_loss_in_fit_sees_imaginary_part(rng):
    x = crandn(rng, 4, 8, 8)
    inp = keras.Input((8, 8), dtype="complex64")
    model = keras.Model(inp, keras.layers.Identity()(inp))
    model.compile(loss=ComplexMSE())
    value = model.evaluate(x, np.conj(x), verbose=0)
    np.testing.assert_allclose(value, np.mean(np.abs(2 * x.imag) ** 2), rtol=1e-4)


def test_loss_serialises():
    loss = keras.losses.deserialize(keras.losses.serialize(ComplexL1()))
    assert isinstance(loss, ComplexL1)
    assert tf.as_dtype(loss.dtype) == tf.complex64


# -- the extended losses -----------------------------------------------------------------------------------------
from tests.models.zoo_contract import toy_problem  # noqa: E402
from tfmri_zoo.training import losses as losses_lib  # noqa: E402
from tfmri_zoo.training.targets import pack_kspace_target, unpack_kspace_target  # noqa: E402


@pytest.fixture(scope="module")
def packed_problem():
    inputs, target = toy_problem(batch=2)
    packed = pack_kspace_target(inputs["kspace"], inputs["mask"], inputs["sensitivities"], target)
    return inputs, target, packed


def _imag_changed(x):
    """Same real part, different imaginary part: a loss that loses Im (the cast pitfall) sees no difference."""
    return (x.real + 1j * (0.5 * x.imag - 0.2)).astype(np.complex64)


@pytest.mark.parametrize("name", ["l1", "l2", "ssim", "kspace_l1", "kspace_l2", "mixed", "ssdu"])
def test_every_loss_reacts_to_the_imaginary_part_in_fit(packed_problem, name):
    inputs, target, packed = packed_problem
    y_true = packed if name.startswith("kspace") or name in ("mixed", "ssdu") else target
    loss = losses_lib.get(name)
    assert float(loss(y_true, target)) == pytest.approx(0.0, abs=1e-5)
    direct = float(loss(y_true, _imag_changed(target)))
    assert direct > 1e-3
    inp = keras.Input(target.shape[1:], dtype="complex64")
    model = keras.Model(inp, keras.layers.Identity()(inp))
    model.compile(loss=loss)
    np.testing.assert_allclose(model.evaluate(_imag_changed(target), y_true, verbose=0, batch_size=2), direct,
                               rtol=1e-4)


def test_kspace_losses_match_numpy(packed_problem):
    inputs, target, packed = packed_problem
    x = tf.constant(_imag_changed(target))
    mask, s, y = inputs["mask"], inputs["sensitivities"], inputs["kspace"]
    coil_images = np.fft.ifftshift(s * x.numpy()[:, None], axes=(-2, -1))
    ex = np.fft.fftshift(np.fft.fft2(coil_images, norm="ortho"), axes=(-2, -1))
    r = (ex - y) * mask
    full_mask = np.broadcast_to(mask, r.shape)
    l2 = np.sum(np.abs(r) ** 2, axis=(1, 2, 3)) / full_mask.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(losses_lib.KSpaceLoss("l2").complex_call(packed, x).numpy(), l2, rtol=1e-4)
    my = y * mask
    ssdu = (np.sqrt(np.sum(np.abs(r) ** 2, axis=(1, 2, 3))) / np.sqrt(np.sum(np.abs(my) ** 2, axis=(1, 2, 3)))
            + np.sum(np.abs(r), axis=(1, 2, 3)) / np.sum(np.abs(my), axis=(1, 2, 3)))
    np.testing.assert_allclose(losses_lib.SSDULoss().complex_call(packed, x).numpy(), ssdu, rtol=1e-4)


def test_ssim_loss_is_one_minus_fastmri_ssim(packed_problem):
    from tfmri_zoo import metrics

    _, target, _ = packed_problem
    x = tf.constant(_imag_changed(target))
    expected = [1 - metrics.ssim(np.abs(t)[None], np.abs(p)[None]) for t, p in zip(target, x.numpy())]
    np.testing.assert_allclose(losses_lib.SSIMLoss().complex_call(target, x).numpy(), expected, atol=1e-4)


def test_pack_round_trip(packed_problem):
    inputs, target, packed = packed_problem
    image, mask, kspace, sens = unpack_kspace_target(packed)
    np.testing.assert_array_equal(image.numpy(), target)
    np.testing.assert_array_equal(kspace.numpy(), inputs["kspace"])
    np.testing.assert_array_equal(sens.numpy(), inputs["sensitivities"])
    np.testing.assert_array_equal(np.real(mask.numpy())[:, :, :1], inputs["mask"])


@pytest.mark.parametrize("name", ["ssim", "kspace_l1", "mixed", "ssdu"])
def test_extended_losses_serialise(name):
    loss = losses_lib.get(name)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
