"""TFDS builders: tfds.load of the synthetic data and of a fastMRI manual_dir made of test files (offline)."""
import h5py
import numpy as np
import tensorflow_datasets as tfds

import tfmri_zoo.data  # noqa: F401  (registers the builders)
from tests.conftest import crandn
from tfmri_zoo.data.fastmri import write_fastmri_file
from tfmri_zoo.physics.fft import fft2c


def test_tfds_load_synthetic(tmp_path):
    train = tfds.load("tfmri_synthetic/tiny", split="train", data_dir=tmp_path)
    examples = list(tfds.as_numpy(train))
    assert len(examples) == 4  # 2 volumes x 2 slices
    example = examples[0]
    assert example["kspace"].shape == (4, 32, 32) and example["kspace"].dtype == np.complex64
    assert example["sensitivities"].shape == (4, 32, 32) and example["target"].dtype == np.float32
    # the stored k-space is E(image) plus noise: the noise-free part explains nearly all of it
    clean = fft2c(example["sensitivities"] * example["image"][None]).numpy()
    assert np.linalg.norm(example["kspace"] - clean) < 0.1 * np.linalg.norm(example["kspace"])
    assert len(list(tfds.load("tfmri_synthetic/tiny", split="validation", data_dir=tmp_path))) == 2


def test_tfds_load_fastmri_from_manual_dir(tmp_path, rng):
    manual = tmp_path / "manual"
    train_dir = manual / "knee" / "multicoil_train"
    test_dir = manual / "knee" / "multicoil_test"
    train_dir.mkdir(parents=True)
    test_dir.mkdir(parents=True)
    kspace = crandn(rng, 2, 3, 64, 40)
    target = rng.random((2, 32, 32)).astype(np.float32)
    write_fastmri_file(train_dir / "file1000.h5", kspace, reconstruction_rss=target,
                       attrs={"acquisition": "CORPD_FBK", "patient_id": "x"}, enc_limits_center=18,
                       enc_limits_max=36)
    (train_dir / "file1001.h5").write_bytes(b"truncated")  # skipped, not a crash
    mask = np.zeros(40, np.float32)
    mask[::4] = 1
    with h5py.File(test_dir / "file2000.h5", "w") as f:  # a test file written with plain h5py
        f.create_dataset("kspace", data=crandn(rng, 1, 3, 64, 40) * mask)
        f.create_dataset("mask", data=mask)
        f.attrs["acquisition"] = "CORPDFS_FBK"
        f.attrs["acceleration"] = 4
    config = tfds.download.DownloadConfig(manual_dir=str(manual))
    kwargs = {"data_dir": tmp_path / "tfds", "download_and_prepare_kwargs": {"download_config": config}}
    train = sorted(tfds.as_numpy(tfds.load("tfmri_fastmri/knee_multicoil", split="train", **kwargs)),
                   key=lambda e: e["slice"])
    assert len(train) == 2
    np.testing.assert_array_equal(train[1]["kspace"], kspace[1])
    np.testing.assert_array_equal(train[1]["target"], target[1])
    assert train[0]["padding_left"] == 2 and train[0]["padding_right"] == 38
    assert train[0]["acquisition"] == b"CORPD_FBK" and train[0]["mask"].shape == (0,)
    (test_example,) = tfds.as_numpy(tfds.load("tfmri_fastmri/knee_multicoil", split="test", **kwargs))
    np.testing.assert_array_equal(test_example["mask"], mask)
    assert test_example["target"].shape == (0, 0) and test_example["kspace"].shape == (3, 64, 40)
