"""Keras callbacks for reconstruction training: TensorBoard image panels and an atomic ``.keras`` checkpoint, and
``save_model_atomic``, the one way the package writes a ``.keras`` file."""
import os
import warnings

import keras
import numpy as np
import tensorflow as tf


def _magnitude_panel(images):
    """complex ``[B, *extra, H, W]`` → float32 ``[B, H, W, 1]`` in ``[0, 1]`` (first frame of extra axes)."""
    magnitude = tf.abs(tf.convert_to_tensor(images))
    while magnitude.shape.rank > 3:
        magnitude = magnitude[:, 0]
    peak = tf.reduce_max(magnitude, axis=[1, 2], keepdims=True)
    return tf.cast(tf.math.divide_no_nan(magnitude, peak), tf.float32)[..., None]


class ImagePanels(keras.callbacks.Callback):
    """Writes ``tf.summary.image`` panels ``|x|`` of a fixed batch every ``every`` epochs (TensorBoard "Images").

    Each panel is the zero-filled input ``|Eᴴy|``, the prediction and, when the target is an image, the target,
    side by side, each normalised to its own maximum.

    Args:
      log_dir: TensorBoard log directory (written under ``log_dir/images``).
      inputs: the model inputs dict of the fixed batch (complex64 k-space ``[B, C, H, W]`` etc., numpy or tensors).
      target: complex64 ``[B, H, W]`` image target, or ``None`` / a packed k-space target (not shown).
      max_images: panels per summary.
      every: write every ``every`` epochs.
    """

    def __init__(self, log_dir, inputs, target=None, max_images=2, every=1):
        super().__init__()
        self.log_dir = os.path.join(log_dir, "images")
        self.inputs = {k: v[:max_images] for k, v in inputs.items()}
        self.target = None
        if target is not None and tf.as_dtype(target.dtype).is_complex and \
                len(target.shape) == len(inputs["kspace"].shape) - 1:
            self.target = target[:max_images]
        self.max_images, self.every = int(max_images), int(every)
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        from tfmri_zoo.recon import zero_filled

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        prediction = self.model(self.inputs, training=False)
        # Coil-combined with maps, root-sum-of-squares without (e.g. VarNet estimating its own maps).
        baseline = zero_filled(self.inputs["kspace"], self.inputs["mask"], self.inputs.get("sensitivities"))
        columns = [_magnitude_panel(baseline), _magnitude_panel(prediction)]
        if self.target is not None:
            columns.append(_magnitude_panel(self.target))
        with self._writer.as_default():
            tf.summary.image("zero_filled | prediction | target", tf.concat(columns, axis=2), step=epoch,
                             max_outputs=self.max_images)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def save_model_atomic(model, path):
    """Saves ``model`` to the ``.keras`` file ``path`` atomically: written beside it under a temporary name, then
    ``os.replace``d, so a run killed while saving leaves the previous file (or none), never a truncated one.

    Args:
      model: a built ``keras.Model``.
      path: destination ending in ``.keras``; its folder is created.

    Raises:
      ValueError: ``path`` does not end in ``.keras``.
    """
    path = str(path)
    if not path.endswith(".keras"):
        raise ValueError(f"path: expected a '.keras' path, got {path!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    try:
        model.save(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves the model as ``.keras`` at epoch ends, atomically (written beside the target, then ``os.replace``).

    A run killed while saving leaves the previous file intact.

    Args:
      filepath: destination ``.keras`` path; may contain ``{epoch}`` formatting.
      monitor: the log entry deciding "best" when ``save_best_only``.
      mode: ``"min"`` or ``"max"``.
      save_best_only: save only when ``monitor`` improves. An epoch whose logs lack ``monitor`` (e.g. ``val_loss``
        without validation data) or hold a NaN/Inf value saves nothing and warns, naming the key and the logs'
        keys (a diverged run keeps its last good checkpoint).
    """

    def __init__(self, filepath, monitor="val_loss", mode="min", save_best_only=True):
        super().__init__()
        if not str(filepath).endswith(".keras"):
            raise ValueError(f"filepath: expected a '.keras' path, got {filepath!r}.")
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}.")
        self.filepath, self.monitor, self.mode, self.save_best_only = str(filepath), monitor, mode, save_best_only
        self.best = np.inf if mode == "min" else -np.inf

    def _improved(self, value):
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if self.save_best_only:
            if value is None:
                warnings.warn(f"AtomicModelCheckpoint: monitor {self.monitor!r} is not in the logs of epoch "
                              f"{epoch + 1} (keys: {sorted(logs)}); nothing saved. Pass validation data, another "
                              "monitor, or save_best_only=False.", UserWarning, stacklevel=2)
                return
            value = float(value)
            if not np.isfinite(value):
                warnings.warn(f"AtomicModelCheckpoint: {self.monitor} = {value} at epoch {epoch + 1}; nothing saved "
                              "(the last checkpoint is kept).", UserWarning, stacklevel=2)
                return
            if not self._improved(value):
                return
            self.best = value
        save_model_atomic(self.model, self.filepath.format(epoch=epoch + 1))


class FiniteBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` that does not back up an epoch whose ``loss`` is NaN/Inf (it warns), so
    that a run stopped by a diverged loss and started again resumes from its last finite state rather than from
    NaN weights. Arguments as ``keras.callbacks.BackupAndRestore``."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            warnings.warn(f"FiniteBackupAndRestore: loss = {float(loss)} at epoch {epoch + 1}; the backup of the last "
                          "finite epoch is kept.", UserWarning, stacklevel=2)
            return
        super().on_epoch_end(epoch, logs)
