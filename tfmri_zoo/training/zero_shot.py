"""Zero-shot self-supervised learning (ZS-SSL, Yaman, Hosseini & Akçakaya 2022): train on the one scan to reconstruct.

The scan's sampling set Ω is split once into a self-validation set Γ (``validation_fraction`` ≈ 20 % of Ω, centre
block protected) and Ω∖Γ. Every epoch draws ``splits_per_epoch`` (K) fresh SSDU splits Θ/Λ of Ω∖Γ
(:func:`tfmri_zoo.training.ssdu.split_mask`): the network sees Θ, the SSDU loss (Eq. 24) is taken on Λ. The
validation loss feeds the network all of Ω∖Γ and measures the same loss on Γ, which the training never touches;
training stops when it has not improved for ``patience`` epochs and the best weights are kept. The final image is
the network applied to all of Ω. A pretrained model (e.g. SSDU-trained on a database) can be the starting point.

The starting weights are epoch 0 of the early stopping: their Γ loss is measured before training, and an epoch must
beat it to be kept, so a pretrained model comes back unchanged when the scan does not lower its held-out k-space loss
(Yaman et al.'s transfer-learning use, "a prior that is unsure must not override the data").
:func:`zero_shot_adapt` adapts a trained model to each scan of a batch in turn and leaves the model as it was.
"""
import collections

import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.training.losses import SSDULoss
from tfmri_zoo.training.ssdu import split_mask, ssdu_dataset
from tfmri_zoo.training.supervised import build_and_compile
from tfmri_zoo.training.targets import pack_kspace_target

ZeroShotResult = collections.namedtuple("ZeroShotResult", "image model history best_epoch stopped_early")
ZeroShotResult.__doc__ = """Result of :func:`zero_shot_ssl`.

image: complex64 ``[1, *extra, H, W]`` reconstruction with all of Ω; model: the trained model (best weights);
history: ``{"loss": [...], "val_loss": [...]}`` per epoch, ``"start_val_loss"``: the starting weights' Γ loss;
best_epoch: 1-based epoch of the lowest validation loss, 0 when no epoch beat the starting weights (they are kept);
stopped_early: whether early stopping ended the run before ``epochs``."""


class _BestWeights(keras.callbacks.Callback):
    """Early stopping on ``val_loss`` that always restores the best epoch's weights at the end."""

    def __init__(self, patience, min_delta, start_val_loss=np.inf):
        super().__init__()
        self.patience, self.min_delta, self.start = int(patience), float(min_delta), float(start_val_loss)

    def on_train_begin(self, logs=None):
        # epoch 0 is the starting weights: an epoch must beat their validation loss to be kept
        self.best, self.best_epoch, self.wait, self.stopped_early = self.start, 0, 0, False
        self.best_weights = self.model.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        value = float(logs["val_loss"])
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True
            self.stopped_early = True

    def on_train_end(self, logs=None):
        self.model.set_weights(self.best_weights)


def zero_shot_ssl(model, inputs, epochs=100, splits_per_epoch=25, rho=0.4, validation_fraction=0.2, patience=25,
                  min_delta=0.0, learning_rate=5e-4, optimizer=None, selection="uniform", centre_size=4, std=0.3,
                  pretrained=None, seed=0, verbose=0):
    """Zero-shot self-supervised reconstruction of one scan.

    Args:
      model: a zoo ``keras.Model`` (``model({"kspace", "mask", "sensitivities"})``) or a zero-argument callable
        building one; a model that is already trained is fine-tuned from its weights.
      inputs: the scan, a dict with ``kspace`` complex64 ``[1, C, *extra, H, W]``, ``mask`` float32 ``[1, 1, ..., W]``
        (Ω) and ``sensitivities`` complex64 ``[1, C, ...]`` (or absent for single-coil data).
      epochs: maximum number of epochs.
      splits_per_epoch: K, the Θ/Λ splits (training steps) per epoch.
      rho: ``|Λ| / |Ω∖Γ|`` of each split.
      validation_fraction: ``|Γ| / |Ω|``.
      patience: epochs without a lower validation loss before stopping.
      min_delta: smallest decrease counted as an improvement.
      learning_rate: Adam's learning rate (when ``optimizer`` is ``None``).
      optimizer: a Keras optimizer.
      selection, centre_size, std: Λ and Γ selection (see :func:`tfmri_zoo.training.ssdu.split_mask`).
      pretrained: optional path of a ``.keras`` or ``.weights.h5`` file whose weights initialise the model.
      seed: seed of the Γ split, the Θ/Λ stream and the weights of a model built here.
      verbose: Keras verbosity.

    Returns:
      :class:`ZeroShotResult`.
    """
    kspace = tf.convert_to_tensor(inputs["kspace"])
    if kspace.shape[0] != 1:
        raise ValueError(f"inputs: zero-shot SSL reconstructs one scan; got a batch of {kspace.shape[0]}.")
    sensitivities = inputs.get("sensitivities")
    theta_rest, gamma = split_mask(inputs["mask"], tf.constant([seed, 2 ** 20 + 1]), rho=validation_fraction,
                                   selection=selection, centre_size=centre_size, std=std)
    rest = dict(inputs)
    rest["kspace"] = kspace * tf.cast(theta_rest, kspace.dtype)
    rest["mask"] = theta_rest
    placeholder = tf.zeros(kspace.shape[:1] + kspace.shape[2:], tf.float32)
    train_ds = ssdu_dataset(tf.data.Dataset.from_tensors((rest, placeholder)).repeat(), rho=rho,
                            selection=selection, centre_size=centre_size, std=std, seed=seed)
    val_target = pack_kspace_target(kspace * tf.cast(gamma, kspace.dtype), gamma, sensitivities)
    val_ds = tf.data.Dataset.from_tensors((rest, val_target))
    model = build_and_compile(model, rest, loss=SSDULoss(), optimizer=optimizer, learning_rate=learning_rate,
                              seed=seed if not isinstance(model, keras.Model) else None)
    if pretrained is not None:
        if str(pretrained).endswith(".keras"):
            model.set_weights(keras.saving.load_model(pretrained).get_weights())
        else:
            model.load_weights(pretrained)
    start_val_loss = model.evaluate(val_ds, verbose=0, return_dict=True)["loss"]
    stopper = _BestWeights(patience, min_delta, start_val_loss)
    fit = model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), steps_per_epoch=int(splits_per_epoch),
                    callbacks=[stopper], verbose=verbose, shuffle=False)
    history = {"loss": list(fit.history["loss"]), "val_loss": list(fit.history["val_loss"]),
               "start_val_loss": float(start_val_loss)}
    image = model(dict(inputs), training=False)
    return ZeroShotResult(image, model, history, stopper.best_epoch, stopper.stopped_early)


ZeroShotAdaptation = collections.namedtuple("ZeroShotAdaptation", "image best_epochs val_loss_change")
ZeroShotAdaptation.__doc__ = """Result of :func:`zero_shot_adapt`.

image: complex64 ``[B, *extra, H, W]``, each scan reconstructed by the model adapted to it; best_epochs: int per
scan (0: the trained weights were kept); val_loss_change: per scan, the relative change of the Γ loss
(``best / start − 1``, ≤ 0)."""


def zero_shot_adapt(model, inputs, epochs=12, splits_per_epoch=10, learning_rate=1e-4, patience=3, seed=0,
                    **kwargs):
    """Scan-specific fine-tuning of a trained model (ZS-SSL with transfer learning), one scan of a batch at a time.

    For each scan, :func:`zero_shot_ssl` fine-tunes the trained weights on that scan alone (its k-space split into
    Θ/Λ/Γ; no fully sampled data) and reconstructs it; the model's weights are restored before the next scan and on
    return (its compile state is ZS-SSL's afterwards). A scan whose held-out Γ loss no adaptation epoch lowers gets the
    trained model's image. The defaults (a tenth of the from-scratch learning rate, 10 splits per epoch, patience 3)
    are sized for CPU use: about 40 s per 128², 8-coil slice for the shipped E2E-VarNet (``benchmarks/adaptation.py``).

    Args:
      model: a trained zoo ``keras.Model``.
      inputs: dict with ``kspace`` complex64 ``[B, C, *extra, H, W]``, ``mask`` float32 ``[B, 1, ..., W]`` and
        ``sensitivities`` complex64 (numpy or tensors).
      epochs, splits_per_epoch, learning_rate, patience, seed, kwargs: see :func:`zero_shot_ssl`.

    Returns:
      :class:`ZeroShotAdaptation`.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model: expected a trained keras.Model, got {type(model).__name__}.")
    batch = int(tf.convert_to_tensor(inputs["kspace"]).shape[0])
    trained = model.get_weights()
    images, best_epochs, changes = [], [], []
    try:
        for b in range(batch):
            model.set_weights(trained)
            scan = {key: value[b:b + 1] for key, value in inputs.items()}
            result = zero_shot_ssl(model, scan, epochs=epochs, splits_per_epoch=splits_per_epoch,
                                   learning_rate=learning_rate, patience=patience, seed=seed, **kwargs)
            images.append(result.image)
            best_epochs.append(result.best_epoch)
            start = result.history["start_val_loss"]
            best = result.history["val_loss"][result.best_epoch - 1] if result.best_epoch else start
            changes.append(best / start - 1.0)
    finally:
        model.set_weights(trained)
    return ZeroShotAdaptation(tf.concat(images, axis=0), best_epochs, changes)
