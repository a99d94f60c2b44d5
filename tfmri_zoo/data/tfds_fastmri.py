"""TFDS builder ``tfmri_fastmri``: the fastMRI dataset from the user's own download (``manual_dir``), offline.

fastMRI needs a licence (https://fastmri.med.nyu.edu), so nothing is downloaded: extract the tarballs yourself and
point TFDS at them::

    manual_dir/
      knee/singlecoil_train/*.h5   knee/singlecoil_val/*.h5   knee/singlecoil_test/*.h5
      knee/multicoil_train/*.h5    knee/multicoil_val/*.h5    knee/multicoil_test/*.h5
      brain/multicoil_train/*.h5   brain/multicoil_val/*.h5   brain/multicoil_test/*.h5

(``manual_dir/{challenge}_{split}`` without the anatomy level also works.) Then::

    import tfmri_zoo.data  # registers the builders
    ds = tfds.load("tfmri_fastmri/knee_multicoil", split="validation", data_dir=...,
                   download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(manual_dir=...)})

Splits present on disk become ``train`` / ``validation`` / ``test``. One example per slice: ``kspace`` complex64
``[C, H, W]`` (``C = 1`` for single-coil), ``target`` float32 ``[h, w]`` (``reconstruction_rss`` /
``reconstruction_esc``; empty ``[0, 0]`` in test files), ``mask`` float32 ``[W]`` (test files; empty otherwise),
header metadata (``padding_left``, ``padding_right``, ``encoding_size``, ``recon_size``), ``acquisition``,
``max``, ``fname``, ``slice``. Unreadable files are skipped with a logged reason (:class:`SliceDataset`). Note
that TFDS copies the data into its own TFRecord files (~ the size of the HDF5 files); for training straight from the
HDF5 files use :func:`tfmri_zoo.data.make_dataset`.
"""
import os

import numpy as np
import tensorflow_datasets as tfds

from tfmri_zoo.data.fastmri import SliceDataset
from tfmri_zoo.data.tfds_common import SourceFileCodePath

SPLITS = {"train": "train", "validation": "val", "test": "test"}


class FastMRIConfig(tfds.core.BuilderConfig):
    """One fastMRI challenge: ``anatomy`` (knee/brain) × ``challenge`` (singlecoil/multicoil)."""

    def __init__(self, *, anatomy, challenge, **kwargs):
        super().__init__(name=f"{anatomy}_{challenge}", **kwargs)
        self.anatomy = anatomy
        self.challenge = challenge


def split_directory(manual_dir, anatomy, challenge, split):
    """The directory holding one split's files, or ``None`` (see the module docstring for the layout)."""
    for candidate in (os.path.join(manual_dir, anatomy, f"{challenge}_{split}"),
                      os.path.join(manual_dir, f"{challenge}_{split}")):
        if os.path.isdir(candidate):
            return candidate
    return None


class TfmriFastmri(SourceFileCodePath, tfds.core.GeneratorBasedBuilder):
    """fastMRI knee/brain, single-/multi-coil, read slice by slice from the user's HDF5 files."""

    name = "tfmri_fastmri"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "fastMRI HDF5 schema, one example per slice."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = __doc__
    BUILDER_CONFIGS = [FastMRIConfig(anatomy=a, challenge=c, description=f"fastMRI {a} {c}")
                       for a in ("knee", "brain") for c in ("singlecoil", "multicoil")]

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "kspace": tfds.features.Tensor(shape=(None, None, None), dtype=np.complex64, encoding="bytes"),
                "target": tfds.features.Tensor(shape=(None, None), dtype=np.float32, encoding="bytes"),
                "mask": tfds.features.Tensor(shape=(None,), dtype=np.float32),
                "padding_left": np.int32, "padding_right": np.int32,
                "encoding_size": tfds.features.Tensor(shape=(3,), dtype=np.int32),
                "recon_size": tfds.features.Tensor(shape=(3,), dtype=np.int32),
                "acquisition": tfds.features.Text(), "max": np.float32,
                "fname": tfds.features.Text(), "slice": np.int32,
            }),
            supervised_keys=None,
            homepage="https://fastmri.med.nyu.edu",
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        generators = {}
        for split, suffix in SPLITS.items():
            directory = split_directory(dl_manager.manual_dir, config.anatomy, config.challenge, suffix)
            if directory is not None:
                generators[split] = self._generate_examples(directory)
        if not generators:
            raise FileNotFoundError(f"manual_dir: no {config.anatomy}/{config.challenge}_{{train,val,test}} "
                                    f"directory under {dl_manager.manual_dir}.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        return generators

    def _generate_examples(self, directory):
        slices = SliceDataset(directory)
        for i in range(len(slices)):
            item = slices[i]
            meta, attrs = item["metadata"], item["attrs"]
            yield f"{meta['fname']}-{meta['slice']}", {
                "kspace": item["kspace"],
                "target": item.get("target", np.zeros((0, 0), np.float32)),
                "mask": item.get("mask", np.zeros((0,), np.float32)),
                "padding_left": meta["padding_left"], "padding_right": meta["padding_right"],
                "encoding_size": np.asarray(meta["encoding_size"], np.int32),
                "recon_size": np.asarray(meta["recon_size"], np.int32),
                "acquisition": str(attrs.get("acquisition", "")), "max": float(attrs.get("max", 0.0)),
                "fname": meta["fname"], "slice": meta["slice"],
            }
