"""Training: losses, supervised training with callbacks, SSDU, zero-shot SSL, SURE, memory-efficient and
deep-equilibrium unrolling, tf.distribute helpers and the config-driven trainer (review Sec. III-D)."""
from tfmri_zoo.training.callbacks import AtomicModelCheckpoint, ImagePanels
from tfmri_zoo.training.losses import (ComplexL1, ComplexLoss, ComplexMSE, KSpaceLoss, MixedLoss, SSDULoss,
                                       SSIMLoss)
from tfmri_zoo.training.ssdu import split_mask, ssdu_dataset, ssdu_split_example
from tfmri_zoo.training.supervised import build_and_compile, train
from tfmri_zoo.training.targets import pack_kspace_target, unpack_kspace_target

__all__ = ["AtomicModelCheckpoint", "ComplexL1", "ComplexLoss", "ComplexMSE", "ImagePanels", "KSpaceLoss",
           "MixedLoss", "SSDULoss", "SSIMLoss", "build_and_compile", "pack_kspace_target", "split_mask",
           "ssdu_dataset", "ssdu_split_example", "train", "unpack_kspace_target"]
