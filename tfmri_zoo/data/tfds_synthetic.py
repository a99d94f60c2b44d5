"""TFDS builder ``tfmri_synthetic``: the zoo's embedded synthetic multi-coil data (generated locally, offline).

Nothing is downloaded: preparing the dataset runs :func:`tfmri_zoo.data.synthetic.write_synthetic_dataset` in a
temporary directory (seeded, so every preparation gives the same data) and converts the files. See
:mod:`tfmri_zoo.data.synthetic` for what the data is and is not (no real anatomy). ::

    import tfmri_zoo.data  # registers the builders
    ds = tfds.load("tfmri_synthetic/default", split="train", data_dir=...)

One example per slice: ``kspace`` and ``sensitivities`` complex64 ``[C, H, W]`` (true maps, ``Σ|S|² = 1``),
``image`` complex64 ``[H, W]`` (noise-free ground truth), ``target`` float32 ``[H, W]`` (RSS of the noisy fully
sampled data), ``labels`` uint8 ``[H, W]``, ``fname``, ``slice``.
"""
import os
import tempfile

import numpy as np
import tensorflow_datasets as tfds

from tfmri_zoo.data.fastmri import SliceDataset
from tfmri_zoo.data.tfds_common import SourceFileCodePath
from tfmri_zoo.data.synthetic import write_synthetic_dataset


class SyntheticConfig(tfds.core.BuilderConfig):
    """Size of the generated data: ``shape`` ``(H, W)``, ``coils``, slices per volume and volumes per split."""

    def __init__(self, *, shape, coils, num_slices, volumes, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.shape, self.coils, self.num_slices, self.volumes, self.seed = shape, coils, num_slices, volumes, seed


class TfmriSynthetic(SourceFileCodePath, tfds.core.GeneratorBasedBuilder):
    """Seeded synthetic multi-coil k-space with true coil maps (see :mod:`tfmri_zoo.data.synthetic`)."""

    name = "tfmri_synthetic"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Tissue phantoms, Biot-Savart coils, correlated noise."}
    BUILDER_CONFIGS = [
        SyntheticConfig(name="default", description="64x64, 8 coils, 8/2/2 volumes of 4 slices", shape=(64, 64),
                        coils=8, num_slices=4, volumes={"train": 8, "validation": 2, "test": 2}),
        SyntheticConfig(name="tiny", description="32x32, 4 coils, 2/1/1 volumes of 2 slices (tests)",
                        shape=(32, 32), coils=4, num_slices=2, volumes={"train": 2, "validation": 1, "test": 1}),
    ]

    def _info(self):
        config = self.builder_config
        coil_shape = (config.coils,) + tuple(config.shape)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "kspace": tfds.features.Tensor(shape=coil_shape, dtype=np.complex64, encoding="bytes"),
                "sensitivities": tfds.features.Tensor(shape=coil_shape, dtype=np.complex64, encoding="bytes"),
                "image": tfds.features.Tensor(shape=tuple(config.shape), dtype=np.complex64, encoding="bytes"),
                "target": tfds.features.Tensor(shape=tuple(config.shape), dtype=np.float32),
                "labels": tfds.features.Tensor(shape=tuple(config.shape), dtype=np.uint8),
                "fname": tfds.features.Text(), "slice": np.int32,
            }),
            supervised_keys=None,
            homepage="https://github.com/tfmri-zoo",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # offline: nothing to download
        return {split: self._generate_examples(split, offset)
                for offset, split in enumerate(self.builder_config.volumes)}

    def _generate_examples(self, split, offset):
        config = self.builder_config
        with tempfile.TemporaryDirectory() as directory:
            write_synthetic_dataset(directory, config.volumes[split], config.num_slices, config.shape, config.coils,
                                    seed=config.seed * 10 + offset, prefix=split)
            slices = SliceDataset(directory, extras=True)
            for i in range(len(slices)):
                item = slices[i]
                meta = item["metadata"]
                yield f"{meta['fname']}-{meta['slice']}", {
                    "kspace": item["kspace"], "sensitivities": item["sensitivities"],
                    "image": item["extras"]["image"], "target": item["target"],
                    "labels": item["extras"]["labels"], "fname": os.path.splitext(meta["fname"])[0],
                    "slice": meta["slice"],
                }
