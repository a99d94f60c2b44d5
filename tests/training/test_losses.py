"""Each loss must see the imaginary part (the Keras 3 complex→float cast pitfall, DESIGN.md)."""
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
