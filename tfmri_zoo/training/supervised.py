"""Training through ``model.fit`` with the callbacks a long reconstruction run needs (review Eq. 23).

``train`` builds (optionally under a ``tf.distribute`` strategy), compiles and fits a zoo model on a tf.data
pipeline of ``(inputs, target)``. Out of the box it writes, under ``out_dir``:

  ``backup/``     ``keras.callbacks.BackupAndRestore`` state (weights + optimizer + epoch): a killed run started
                  again with the same arguments resumes after its last finished epoch; removed when the run ends
  ``logs/``       TensorBoard scalars (loss, metrics, learning rate) and ``logs/images`` panels ``|x|``
  ``best.keras``  the best model so far (``val_loss``, else ``loss``), saved atomically
  ``final.keras`` the model at the end, saved atomically (not when the run ended on a NaN/Inf loss)

and stops early when ``patience`` is given. A loss that turns NaN/Inf stops the run at once
(``keras.callbacks.TerminateOnNaN``); the backup, ``best.keras`` and ``final.keras`` then keep the last finite state
and :func:`train` warns. The same function trains supervised (image targets, image losses),
k-space or mixed losses (packed targets) and SSDU (a :func:`tfmri_zoo.training.ssdu.ssdu_dataset` and
:class:`~tfmri_zoo.training.losses.SSDULoss`).
"""
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo.training import losses as losses_lib
from tfmri_zoo.training.callbacks import (AtomicModelCheckpoint, FiniteBackupAndRestore, ImagePanels,
                                         save_model_atomic)


def first_batch(dataset):
    """The first ``(inputs, target)`` of a dataset, as tensors."""
    for element in dataset.take(1):
        return element[0], element[1]
    raise ValueError("train_ds: the dataset is empty.")


def build_and_compile(model, example_inputs, loss=None, optimizer=None, learning_rate=1e-3, metrics=None,
                      strategy=None, seed=None, jit_compile=False):
    """Creates (inside ``strategy.scope()`` when given), builds on ``example_inputs`` and compiles a model.

    Args:
      model: a ``keras.Model`` or a zero-argument callable returning one (required with a strategy, so that its
        variables are created in the strategy's scope).
      example_inputs: an inputs dict used for one call that creates the variables (complex64 k-space etc.).
      loss: a loss object or name (:func:`tfmri_zoo.training.losses.get`); default :class:`ComplexL1`.
      optimizer: a Keras optimizer, or ``None`` for Adam(``learning_rate``).
      learning_rate: Adam's learning rate when ``optimizer`` is ``None``.
      metrics: Keras metrics (e.g. :class:`tfmri_zoo.metrics.SSIMMetric` for image targets).
      strategy: a ``tf.distribute.Strategy`` or ``None``.
      seed: when given, ``keras.utils.set_random_seed(seed)`` before the model is created.
      jit_compile: passed to ``compile``.

    Returns:
      the compiled, built model with a built optimizer.
    """
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    scope = strategy.scope() if strategy is not None else _null_scope()
    with scope:
        if not isinstance(model, keras.Model):
            if not callable(model):
                raise TypeError(f"model: expected a keras.Model or a callable returning one, got {type(model)}.")
            model = model()
        elif strategy is not None and model.distribute_strategy is not strategy:
            raise ValueError("model: with a strategy pass a callable that builds the model (its variables must be "
                             "created inside strategy.scope()).")
        model(example_inputs)
        loss = losses_lib.ComplexL1() if loss is None else losses_lib.get(loss)
        optimizer = optimizer if optimizer is not None else keras.optimizers.Adam(learning_rate)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile)
        model.optimizer.build(model.trainable_variables)
    return model


class _null_scope:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def default_callbacks(out_dir, monitor, patience=None, tensorboard=True, panels=None, checkpoint=True, backup=True,
                      min_delta=0.0):
    """The callback list of :func:`train` (order matters: the backup is written first at each epoch end)."""
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if backup:
        callbacks.append(FiniteBackupAndRestore(os.path.join(out_dir, "backup")))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out_dir, "logs"), write_graph=False))
    if panels is not None:
        callbacks.append(ImagePanels(os.path.join(out_dir, "logs"), *panels))
    if checkpoint:
        callbacks.append(AtomicModelCheckpoint(os.path.join(out_dir, "best.keras"), monitor=monitor))
    if patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=int(patience), min_delta=min_delta,
                                                       restore_best_weights=True))
    return callbacks


def train(model, train_ds, val_ds=None, out_dir="runs/train", epochs=10, loss=None, optimizer=None,
          learning_rate=1e-3, steps_per_epoch=None, validation_steps=None, metrics=None, patience=None,
          min_delta=0.0, strategy=None, seed=None, tensorboard=True, image_panels=True, checkpoint=True,
          backup=True, callbacks=None, verbose=1, jit_compile=False):
    """Trains a zoo model with ``model.fit`` and the default callbacks (module docstring).

    Args:
      model: a ``keras.Model`` (e.g. ``tfmri_zoo.models.get("modl")``) or a zero-argument callable building one
        (needed with ``strategy``).
      train_ds: ``tf.data.Dataset`` of ``(inputs, target)`` batches: ``inputs`` the model's dict (complex64
        k-space ``[B, C, H, W]``, float32 mask ``[B, 1, 1, W]``, complex64 sensitivities), ``target`` complex64
        ``[B, H, W]`` or a packed k-space target ``[B, 2 + 2C, H, W]``. Repeat it and set ``steps_per_epoch`` for
        a fixed epoch length.
      val_ds: optional validation dataset of the same structure.
      out_dir: folder for backups, logs and ``.keras`` checkpoints (created).
      epochs: number of epochs.
      loss: loss object or name (:func:`tfmri_zoo.training.losses.get`); default complex ℓ1.
      optimizer: Keras optimizer (default Adam(``learning_rate``)).
      learning_rate: Adam's learning rate.
      steps_per_epoch, validation_steps: as in ``model.fit``.
      metrics: Keras metrics, e.g. ``[tfmri_zoo.metrics.SSIMMetric()]``.
      patience: early-stopping patience in epochs on ``val_loss`` (``loss`` without ``val_ds``); ``None``: off.
      min_delta: smallest change counted as an improvement by early stopping.
      strategy: ``tf.distribute.Strategy`` (``MirroredStrategy``, ``MultiWorkerMirroredStrategy``) or ``None``;
        see :func:`tfmri_zoo.training.distribute.make_strategy`.
      seed: global seed set before the model is created (reproducible initial weights).
      tensorboard: write TensorBoard scalars.
      image_panels: write TensorBoard image panels of the first validation (else training) batch.
      checkpoint: keep ``best.keras``; ``final.keras`` is always written.
      backup: enable ``BackupAndRestore`` (resume after a kill).
      callbacks: extra callbacks, run after the default ones.
      verbose: Keras verbosity (1: progress bar).
      jit_compile: XLA-compile the train step.

    Returns:
      ``(model, history)``: the trained model and its ``keras.callbacks.History``.
    """
    os.makedirs(out_dir, exist_ok=True)
    example_inputs, example_target = first_batch(val_ds if val_ds is not None else train_ds)
    model = build_and_compile(model, first_batch(train_ds)[0], loss=loss, optimizer=optimizer,
                              learning_rate=learning_rate, metrics=metrics, strategy=strategy, seed=seed,
                              jit_compile=jit_compile)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        _build_for_strategy(model, strategy, train_ds)
    monitor = "val_loss" if val_ds is not None else "loss"
    panels = (example_inputs, example_target) if (image_panels and tensorboard) else None
    all_callbacks = default_callbacks(out_dir, monitor, patience, tensorboard, panels, checkpoint, backup,
                                      min_delta) + list(callbacks or [])
    history = model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), steps_per_epoch=steps_per_epoch,
                        validation_steps=validation_steps, callbacks=all_callbacks, verbose=verbose,
                        shuffle=False)
    last = (history.history.get("loss") or [0.0])[-1]
    if not np.isfinite(last):
        warnings.warn(f"train: the loss turned {last} after {len(history.history['loss'])} epoch(s) and the run "
                      f"stopped; final.keras is not written, {os.path.join(out_dir, 'best.keras')} and the backup "
                      "keep the last finite state.", UserWarning, stacklevel=2)
        return model, history
    save_model_atomic(model, os.path.join(out_dir, "final.keras"))
    return model, history


def _build_for_strategy(model, strategy, dataset):
    """Works around Keras 3.15 with several replicas and dict inputs: ``fit`` builds the compiled loss/metrics by
    ``strategy.reduce("MEAN", batch)`` of the first distributed batch, which fails on a dict of ``PerReplica`` values
    (and would average complex k-space across replicas). Build them here from one local batch instead and skip
    that step."""
    with strategy.scope():
        model._symbolic_build(data_batch=first_batch(dataset))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras 3.15 reduces the logs of a multi-worker step with ``reduce("MEAN", v, axis=0)``, which fails on
        # scalar logs: give them a length-1 axis, so the reduction averages the workers' values to a scalar.
        for name in ("train_step", "test_step"):
            step = getattr(model, name)
            setattr(model, name, lambda data, step=step: {k: tf.reshape(v, [1]) for k, v in step(data).items()})
