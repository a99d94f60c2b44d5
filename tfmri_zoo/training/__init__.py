"""Training: losses, supervised training with callbacks, SSDU, zero-shot SSL, SURE, memory-efficient unrolling,
tf.distribute helpers, the config-driven trainer (review Sec. III-D), and the scan-specific Deep Image Prior
(a network trained on one scan's k-space). The deep-equilibrium model is the zoo model
``deq`` (:mod:`tfmri_zoo.models.deq`)."""
from tfmri_zoo.training.adversarial import AdversarialTrainer, CycleTrainer, PatchDiscriminator
from tfmri_zoo.training.calibration import calibrate_data_consistency, set_calibration, set_step_weights, step_weights
from tfmri_zoo.training.callbacks import AtomicModelCheckpoint, ImagePanels, save_model_atomic
from tfmri_zoo.training.config import load_config, train_from_config
from tfmri_zoo.training.dip import DIPResult, deep_image_prior
from tfmri_zoo.training.distribute import make_strategy, shard_for_worker
from tfmri_zoo.training.evaluate import evaluate, format_table, per_volume_metrics, reconstruct_file
from tfmri_zoo.training.prior_l1 import calibrate_prior_l1, choose_prior_l1, prior_l1_table
from tfmri_zoo.training.losses import (ComplexL1, ComplexLoss, ComplexMSE, KSpaceLoss, MixedLoss, SSDULoss,
                                       SSIMLoss)
from tfmri_zoo.layers.recompute import recompute, unroll
from tfmri_zoo.training.inverse_gan import ImageGenerator, InverseGANResult, inverse_gan, train_image_gan
from tfmri_zoo.training.mapping import mapping_loss, train_mapping
from tfmri_zoo.training.rare import rare_pairs, split_lines
from tfmri_zoo.training.ssdu import split_mask, ssdu_dataset, ssdu_split_example
from tfmri_zoo.training.supervised import build_and_compile, train
from tfmri_zoo.training.sure import sure_loss, train_sure
from tfmri_zoo.training.targets import pack_kspace_target, unpack_kspace_target
from tfmri_zoo.training.zero_shot import zero_shot_adapt, zero_shot_ssl

__all__ = ["calibrate_data_consistency", "calibrate_prior_l1", "choose_prior_l1", "prior_l1_table", "set_calibration", "set_step_weights", "step_weights", "AdversarialTrainer", "CycleTrainer", "AtomicModelCheckpoint", "PatchDiscriminator", "ComplexL1", "ComplexLoss", "ComplexMSE", "DIPResult", "ImagePanels", "mapping_loss", "train_mapping", "ImageGenerator", "InverseGANResult", "inverse_gan", "train_image_gan", "rare_pairs", "split_lines",
           "KSpaceLoss", "MixedLoss", "SSDULoss", "SSIMLoss", "build_and_compile", "deep_image_prior", "evaluate",
           "format_table", "load_config", "make_strategy", "pack_kspace_target",
           "per_volume_metrics", "recompute", "reconstruct_file", "save_model_atomic", "shard_for_worker", "split_mask",
           "ssdu_dataset",
           "ssdu_split_example", "sure_loss", "train", "train_from_config", "train_sure", "unpack_kspace_target",
           "unroll", "zero_shot_adapt", "zero_shot_ssl"]
