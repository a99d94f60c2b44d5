"""The contract every zoo model must meet, as reusable checks (called by each model's test file).

A model is "done" when it builds from config, returns a complex image of the right shape, round-trips through
``.keras`` and SavedModel with identical outputs, is scale-equivariant, and a tiny supervised run lowers its loss.
"""
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.training.losses import ComplexMSE


def toy_problem(batch=2, coils=4, height=32, width=32, frames=None, acceleration=3, seed=0):
    """A small noiseless multi-coil problem: smooth random images, normalised smooth coil maps, 1D line mask.

    Returns ``(inputs, target)`` numpy: kspace complex64 ``[B,C,(T,)H,W]``, mask float32 ``[B,1,(1,)1,W]``,
    sensitivities complex64 ``[B,C,(1,)H,W]``, target complex64 ``[B,(T,)H,W]``.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, height), np.linspace(-1, 1, width), indexing="ij")
    extra = () if frames is None else (frames,)
    images = np.zeros((batch, *extra, height, width), np.complex64)
    for b in range(batch):
        for t in range(frames or 1):
            img = np.zeros((height, width), np.complex64)
            for _ in range(4):
                cy, cx, r = rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5) + 0.03 * t, rng.uniform(0.15, 0.45)
                img += rng.uniform(0.3, 1.0) * ((yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2)
            img = img * np.exp(1j * (0.5 * xx + 0.3 * yy * rng.uniform(-1, 1)))
            images[(b, t) if frames else b] = img
    angles = np.linspace(0, 2 * np.pi, coils, endpoint=False)
    maps = np.stack([np.exp(-((yy - 0.9 * np.sin(a)) ** 2 + (xx - 0.9 * np.cos(a)) ** 2)) * np.exp(1j * a)
                     for a in angles]).astype(np.complex64)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=0, keepdims=True))
    sens = np.broadcast_to(maps[:, None] if frames else maps, (batch, coils, *([1] if frames else []), height, width))
    sens = np.ascontiguousarray(sens)
    mask_shape = (batch, 1, *extra, 1, width)
    mask = np.zeros(mask_shape, np.float32)
    centre = width // 2
    for b in range(batch):
        for t in range(frames or 1):
            line = np.zeros(width, np.float32)
            line[(rng.integers(acceleration) + t) % acceleration::acceleration] = 1
            line[centre - 3:centre + 3] = 1
            mask[(b, 0, t) if frames else (b, 0)][..., 0, :] = line
    op = SenseOperator(sens, mask)
    kspace = op.forward(images).numpy()
    return {"kspace": kspace, "mask": mask, "sensitivities": sens}, images


def check_output(model, inputs, target):
    out = model(inputs)
    assert out.dtype == tf.complex64, out.dtype
    assert tuple(out.shape) == target.shape, (out.shape, target.shape)
    assert np.all(np.isfinite(out.numpy()))
    return out.numpy()


def check_keras_round_trip(model, inputs, atol=1e-6):
    expected = model(inputs).numpy()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(loaded(inputs).numpy(), expected, atol=atol * max(1.0, np.abs(expected).max()))
    return loaded


def check_saved_model_round_trip(model, inputs, atol=1e-5):
    """Exports a plain tf.saved_model with a complex signature and reloads it without Keras."""
    expected = model(inputs).numpy()
    specs = {k: tf.TensorSpec([None, *v.shape[1:]], tf.as_dtype(v.dtype), name=k) for k, v in inputs.items()}

    class Wrapper(tf.Module):
        def __init__(self, m):
            super().__init__()
            self.model = m

        @tf.function(input_signature=[specs])
        def serve(self, x):
            return {"image": self.model(x)}

    with tempfile.TemporaryDirectory() as d:
        w = Wrapper(model)
        tf.saved_model.save(w, d, signatures={"serving_default": w.serve})
        loaded = tf.saved_model.load(d)
        got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})["image"]
        np.testing.assert_allclose(got.numpy(), expected, atol=atol * max(1.0, np.abs(expected).max()))


def check_scale_equivariance(model, inputs, factor=1e4, rtol=1e-4):
    base = model(inputs).numpy()
    scaled = model({**inputs, "kspace": inputs["kspace"] * factor}).numpy()
    err = np.abs(scaled - factor * base).max() / (factor * np.abs(base).max())
    assert err < rtol, err


def check_training_lowers_loss(model, inputs, target, steps=60, factor=5.0, learning_rate=1e-3):
    """Overfits one tiny batch; asserts the final loss is ≥ ``factor`` times lower than the first."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=ComplexMSE())
    ds = tf.data.Dataset.from_tensors((inputs, target)).repeat(steps)
    history = model.fit(ds, epochs=1, verbose=0, callbacks=[_LossRecorder()])
    losses = history.model._recorded_losses
    first, last = losses[0], min(losses[-5:])
    assert last * factor <= first, (first, last)
    return first, last


class _LossRecorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.model._recorded_losses = []

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports the running mean; recover the per-step value.
        mean = float(logs["loss"])
        n = len(self.model._recorded_losses)
        prev = getattr(self, "_mean", 0.0)
        self.model._recorded_losses.append(mean * (n + 1) - prev * n)
        self._mean = mean


def check_registry_model(name, cls, inputs, target, **config):
    """The whole contract for registered model ``name`` (preset small, overridden by ``config``): builds as ``cls``,
    output shape/dtype, ``.keras`` round trip with an equal config, SavedModel round trip, scale equivariance.
    Returns the model."""
    from tfmri_zoo import models

    keras.utils.set_random_seed(0)
    model = models.get(name, preset="small", **config)
    assert isinstance(model, cls)
    check_output(model, inputs, target)
    loaded = check_keras_round_trip(model, inputs)
    assert loaded.get_config() == model.get_config()
    check_saved_model_round_trip(model, inputs)
    check_scale_equivariance(model, inputs)
    return model
