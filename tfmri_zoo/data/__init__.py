"""Data: fastMRI HDF5 I/O, the embedded synthetic multi-coil data, tf.data pipelines and TFDS builders.

Importing this package registers the TFDS builders ``tfmri_fastmri`` and ``tfmri_synthetic``.
"""
from tfmri_zoo.data.cfl import BART_AXES, bart_to_zoo, read_cfl, write_cfl, zoo_to_bart
from tfmri_zoo.data.fastmri import SliceDataset, read_slice, read_volume_info, write_fastmri_file
from tfmri_zoo.data.ismrmrd_header import make_header, parse_header
from tfmri_zoo.data.noncartesian import noncartesian_dataset
from tfmri_zoo.data.pipeline import make_dataset, validation_seed
from tfmri_zoo.data.synthetic import default_dataset, synthetic_volume, write_synthetic_dataset, write_synthetic_file
from tfmri_zoo.data.tfds_fastmri import TfmriFastmri
from tfmri_zoo.data.tfds_synthetic import TfmriSynthetic

__all__ = ["BART_AXES", "SliceDataset", "bart_to_zoo", "read_cfl", "write_cfl", "zoo_to_bart", "TfmriFastmri",
           "TfmriSynthetic", "default_dataset", "make_dataset", "make_header", "noncartesian_dataset", "parse_header", "read_slice", "read_volume_info", "synthetic_volume", "validation_seed",
           "write_fastmri_file", "write_synthetic_dataset", "write_synthetic_file"]
