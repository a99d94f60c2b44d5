"""Integrity checks of saved models before they are loaded or served: a truncated or corrupted file gives a
``ValueError`` that names the file and what is wrong, instead of a misleading message (Keras 3.15 reports a
truncated ``.keras`` file as "File not found") or, worse, a model that loads with other weights.

* :func:`verify_keras_file` — a ``.keras`` archive: complete zip, every member's CRC-32, ``config.json`` and the
  weights present.
* :func:`verify_saved_model` — a SavedModel folder: ``saved_model.pb`` parses, and every variable of the
  checkpoint reads back (TensorFlow checks each tensor's CRC-32C while reading).
* :func:`load_keras_model` — :func:`verify_keras_file`, then ``keras.models.load_model``.
"""
import os
import zipfile


def verify_keras_file(path):
    """Raises ``FileNotFoundError``/``ValueError`` (naming ``path``) unless it is a complete, uncorrupted ``.keras``
    archive. Returns ``path``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a complete .keras archive ({os.path.getsize(path)} bytes; the zip directory "
                         "at its end is missing: truncated, e.g. by an interrupted copy, or not a .keras file).")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"{path}: corrupted .keras archive ({e}).") from e
    if bad is not None:
        raise ValueError(f"{path}: corrupted .keras archive: member {bad!r} fails its CRC-32 check.")
    missing = {"config.json", "model.weights.h5"} - names
    if missing:
        raise ValueError(f"{path}: incomplete .keras archive, missing {sorted(missing)}.")
    return path


def verify_saved_model(path):
    """Raises ``FileNotFoundError``/``ValueError`` (naming the file) unless the SavedModel folder ``path`` has a
    parseable ``saved_model.pb`` and a checkpoint whose every variable reads back intact. Returns ``path``."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from google.protobuf.message import DecodeError

    path = os.fspath(path)
    pb = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(pb):
        raise FileNotFoundError(f"{pb}: no such file (not a SavedModel folder).")
    proto = saved_model_pb2.SavedModel()
    try:
        with open(pb, "rb") as f:
            proto.ParseFromString(f.read())
    except DecodeError as e:
        raise ValueError(f"{pb}: truncated or corrupted ({os.path.getsize(pb)} bytes do not parse: {e}).") from e
    if not proto.meta_graphs:
        raise ValueError(f"{pb}: holds no meta graph (truncated or not a SavedModel).")
    prefix = os.path.join(path, "variables", "variables")
    if not os.path.exists(prefix + ".index"):
        return path  # a SavedModel without variables
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except tf.errors.OpError as e:   # DataLossError, or a plain OpError from the checkpoint reader (CRC mismatch)
        first = str(e).strip().splitlines()[0][:200]
        raise ValueError(f"{prefix}.data-*: corrupted variables ({type(e).__name__}: {first}).") from e
    return path


def load_keras_model(path, **kwargs):
    """``keras.models.load_model(path, **kwargs)`` after :func:`verify_keras_file`."""
    import keras

    return keras.models.load_model(verify_keras_file(path), **kwargs)
