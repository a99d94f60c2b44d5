"""Image denoiser ``D`` for plug-and-play and RED (review Sec. III-B), trained on noisy/clean pairs.

Unlike the reconstruction models of the zoo this is an image → image model (complex64 ``[B, H, W]`` →
complex64 ``[B, H, W]``), so it is not a :class:`~tfmri_zoo.models.base.ReconModel` and not in the model registry
(``tfmri_zoo.models.get``); it is a plain Keras model registered for serialisation (``.keras`` files), built with
:func:`make_denoiser` (presets ``"small"`` / ``"default"``) and plugged into :mod:`tfmri_zoo.recon.pnp` or the
``pnp`` zoo model (:mod:`tfmri_zoo.models.pnp`).

Architecture: a residual CNN from :func:`tfmri_zoo.models.regularizers.make_regularizer` (default: DnCNN of Zhang et
al. 2017, 17 layers of 3×3 convolutions, 64 channels, batch norm, residual) on the real/imaginary channels. The input
is divided by its maximum magnitude and the output multiplied back (``normalize=True``), so ``D(c·x) = c·D(x)`` for
``c > 0`` and one blind denoiser serves several noise levels defined relative to the image maximum, as made by
:func:`noisy_pairs`.
"""
import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.models.regularizers import make_regularizer, regularizer_spec

PRESETS = {
    "small": {"network": {"name": "dncnn", "filters": 16, "layers": 3, "batch_norm": False}},
    "default": {"network": {"name": "dncnn", "filters": 64, "layers": 17, "batch_norm": True}},
}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class Denoiser(keras.Model):
    """Blind residual CNN denoiser.

    Args:
      network: regulariser name or ``{"name": ..., **config}`` (see :mod:`tfmri_zoo.models.regularizers`).
      normalize: divide each input image by its maximum magnitude (and multiply the output back).

    Call args: ``image`` complex64 ``[B, H, W]``. Returns complex64 ``[B, H, W]``.
    """

    def __init__(self, network="dncnn", normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.network_spec = regularizer_spec(network)
        self.normalize = bool(normalize)
        self.network = make_regularizer(**self.network_spec)

    def call(self, image, training=None):
        image = validation.as_complex(image, "image", tf.complex64)
        if image.shape.rank != 3:
            raise ValueError(f"image: expected complex64 [B, H, W], got shape {image.shape}.")
        if not self.normalize:
            return self.network(image, training=training)
        scale = tf.reduce_max(tf.abs(image), axis=[1, 2], keepdims=True)
        scale = tf.cast(tf.stop_gradient(tf.where(scale > 0, scale, tf.ones_like(scale))), image.dtype)
        return self.network(image / scale, training=training) * scale

    # Variables are created on the first call; reloading calls the model once on zeros of the recorded shape.
    def __call__(self, image, *args, **kwargs):
        if getattr(self, "_example_shape", None) is None and hasattr(image, "shape"):
            self._example_shape = [None if d is None else int(d) for d in tf.TensorShape(image.shape)]
        return super().__call__(image, *args, **kwargs)

    def build(self, input_shape=None):
        self.built = True

    @property
    def _default_save_signature(self):
        # Keras' default traces with float32 inputs, which a complex model rejects (also when a ReconModel holding
        # this denoiser is exported): use a complex64 [None, H, W] signature.
        shape = getattr(self, "_example_shape", None)
        if shape is None:
            return None

        @tf.function(input_signature=[tf.TensorSpec([None, *shape[1:]], tf.complex64, name="image")])
        def serving_default(image):
            return self(image)

        return serving_default

    def get_build_config(self):
        shape = getattr(self, "_example_shape", None)
        return None if shape is None else {"example_shape": shape}

    def build_from_config(self, config):
        shape = (config or {}).get("example_shape")
        if shape:
            self(tf.zeros([1 if i == 0 or d is None else d for i, d in enumerate(shape)], tf.complex64))

    def get_config(self):
        return {**super().get_config(), "network": self.network_spec, "normalize": self.normalize}


def make_denoiser(preset="small", **config):
    """Builds a :class:`Denoiser` from a preset (``"small"`` or ``"default"``) overridden by ``config``."""
    if preset not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {preset!r}.")
    return Denoiser(**{**PRESETS[preset], **config})


def noisy_pairs(images, sigmas, seed=0):
    """Noisy/clean training pairs at several noise levels (blind-denoiser training, review Sec. III-B).

    Each image gets, for each ``σ`` in ``sigmas``, circularly-symmetric complex Gaussian noise of standard deviation
    ``σ · max|image|`` (per pixel, real and imaginary parts each ``σ·max/√2``).

    Args:
      images: complex ``[N, H, W]`` clean images (numpy or tensor).
      sigmas: sequence of non-negative relative noise levels.
      seed: int seed of the noise.

    Returns:
      ``(noisy, clean)`` complex64 numpy arrays ``[N·S, H, W]`` (``S = len(sigmas)``), ordered noise level by noise
      level: entries ``s·N … s·N + N − 1`` carry ``sigmas[s]``.
    """
    images = np.asarray(images)
    if not np.iscomplexobj(images):
        raise TypeError(f"images: expected a complex array [N, H, W], got {images.dtype}.")
    if images.ndim != 3:
        raise ValueError(f"images: expected complex [N, H, W], got shape {images.shape}.")
    sigmas = np.asarray(sigmas, np.float64).reshape(-1)
    if sigmas.size == 0 or np.any(sigmas < 0) or not np.all(np.isfinite(sigmas)):
        raise ValueError(f"sigmas: expected a non-empty sequence of non-negative numbers, got {sigmas!r}.")
    rng = np.random.default_rng(seed)
    peak = np.abs(images).max(axis=(1, 2), keepdims=True)
    clean = np.concatenate([images] * sigmas.size).astype(np.complex64)
    level = np.repeat(sigmas, images.shape[0])[:, None, None] * np.concatenate([peak] * sigmas.size)
    noise = (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)) / np.sqrt(2.0)
    return (clean + level * noise).astype(np.complex64), clean
