"""Integrity checks name a truncated or corrupted model file instead of Keras' "File not found" or a silent load."""
import os
import shutil
import zipfile

import numpy as np
import pytest

from tests.models.test_base import ResidualCNN
from tests.models.zoo_contract import toy_problem
from tfmri_zoo.export import load_keras_model, verify_keras_file, verify_saved_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    inputs, _ = toy_problem(batch=1)
    model = ResidualCNN(filters=4)
    model(inputs)
    folder = tmp_path_factory.mktemp("integrity")
    path = str(folder / "model.keras")
    model.save(path)
    return model, inputs, path, folder


def test_intact_file_loads_with_the_same_output(saved):
    model, inputs, path, _ = saved
    assert verify_keras_file(path) == path
    np.testing.assert_array_equal(load_keras_model(path)(inputs).numpy(), model(inputs).numpy())


def test_truncated_and_corrupted_keras_files_are_named(saved):
    _, _, path, folder = saved
    cut = str(folder / "cut.keras")
    shutil.copy(path, cut)
    with open(cut, "r+b") as f:
        f.truncate(os.path.getsize(cut) // 2)
    with pytest.raises(ValueError, match="cut.keras: not a complete .keras archive"):
        load_keras_model(cut)
    # flip bytes inside the stored weights member: its CRC-32 no longer matches
    bad = str(folder / "bad.keras")
    shutil.copy(path, bad)
    with zipfile.ZipFile(bad) as archive:
        info = archive.getinfo("model.weights.h5")
    with open(bad, "r+b") as f:
        f.seek(info.header_offset + 30 + len(info.filename) + 200)
        f.write(b"\xff" * 16)
    with pytest.raises(ValueError, match="member 'model.weights.h5' fails its CRC-32 check"):
        verify_keras_file(bad)
    with pytest.raises(FileNotFoundError):
        verify_keras_file(str(folder / "absent.keras"))


def test_saved_model_checks(saved, tmp_path):
    model, inputs, _, _ = saved
    import tensorflow as tf

    path = str(tmp_path / "sm")
    tf.saved_model.save(model, path)
    assert verify_saved_model(path) == path
    shard = [n for n in os.listdir(os.path.join(path, "variables")) if n.startswith("variables.data")][0]
    with open(os.path.join(path, "variables", shard), "r+b") as f:
        f.seek(100)
        f.write(b"\x00\xff" * 8)
    with pytest.raises(ValueError, match="corrupted variables"):
        verify_saved_model(path)
    with open(os.path.join(path, "saved_model.pb"), "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match="saved_model.pb: truncated or corrupted"):
        verify_saved_model(path)
