"""Swappable regulariser CNNs: shapes (incl. sizes not divisible by the pooling), residual identity, serialisation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.models import regularizers
from tfmri_zoo.models.regularizers import REGULARIZERS, make_regularizer

SMALL = {"unet": {"filters": 4, "depth": 2}, "dncnn": {"filters": 4, "layers": 3},
         "resnet": {"filters": 4, "blocks": 2}, "downup": {"filters": 4, "convs": 1},
         "complex_unet": {"filters": 4, "depth": 1}}


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 30, 27)) + 1j * rng.standard_normal((2, 30, 27))).astype(np.complex64)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_complex_image_in_complex_image_out_and_round_trip(image, name):
    layer = regularizers.make_regularizer(name, **SMALL[name])
    out = layer(image)
    assert out.dtype == "complex64" and tuple(out.shape) == image.shape
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    clone(image)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(image).numpy(), out.numpy(), atol=1e-6)
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("name", ["unet", "dncnn", "resnet", "downup"])
def test_residual_and_imaginary_part_matter(image, name):
    layer = regularizers.make_regularizer(name, **SMALL[name])
    layer(image)
    # zeroing the output conv leaves exactly the residual path: D(x) = x
    layer.out.set_weights([np.zeros_like(w) for w in layer.out.get_weights()])
    np.testing.assert_allclose(layer(image).numpy(), image, atol=1e-7)
    # without the residual the network output reacts to the imaginary part of its input
    plain = regularizers.make_regularizer(name, **SMALL[name], residual=False)
    a, b = plain(image).numpy(), plain(image.real.astype(np.complex64)).numpy()
    assert np.abs(a - b).max() > 1e-4


def test_multichannel_network_use(image):
    layer = regularizers.make_regularizer("dncnn", filters=4, layers=2, out_channels=6, activation="prelu")
    features = np.zeros((2, 30, 27, 5), np.float32)
    assert tuple(layer.network(features).shape) == (2, 30, 27, 6)
    with pytest.raises(ValueError, match="out_channels"):
        layer(image)


def test_shared_and_separate_instances():
    shared = regularizers.make_regularizers("dncnn", 3, share_weights=True)
    separate = regularizers.make_regularizers({"name": "dncnn", "filters": 4}, 3, share_weights=False)
    assert len({id(r) for r in shared}) == 1 and len({id(r) for r in separate}) == 3
    assert separate[0].filters == 4


def test_bad_arguments_are_named(image):
    with pytest.raises(ValueError, match="regularizer"):
        regularizers.make_regularizer("transformer")
    with pytest.raises(TypeError, match="regularizer"):
        regularizers.regularizer_spec({"filters": 3})
    with pytest.raises(TypeError, match="image"):
        regularizers.make_regularizer("dncnn", filters=2, layers=2)(image.real)
    with pytest.raises(ValueError, match="image"):
        regularizers.make_regularizer("dncnn", filters=2, layers=2)(image[None])
    with pytest.raises(ValueError, match="norm"):
        regularizers.make_regularizer("unet", norm="group")
    with pytest.raises(ValueError, match="layers"):
        regularizers.make_regularizer("dncnn", layers=1)


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_calling_a_regularizer_leaves_no_name_scope_open(name):
    """Building a regulariser must close every name scope it opens: a layer built afterwards has variable paths under
    its own name only (a private sub-layer name, ``__conv_stack``, once broke the symbolic build and left the parent's
    scope open, nesting every later model's variables under it)."""
    image = tf.complex(tf.ones([1, 16, 16]), tf.zeros([1, 16, 16]))
    make_regularizer(name, filters=4)(image)
    probe = keras.layers.Dense(2, name="probe_after_" + name)
    probe(tf.ones([1, 3]))
    assert [v.path for v in probe.weights] == [f"probe_after_{name}/kernel", f"probe_after_{name}/bias"]
