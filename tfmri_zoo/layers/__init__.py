"""Keras 3 layers of the zoo: complex layers (this package), data consistency, RBF activations and warps."""
from tfmri_zoo.layers.complex_activations import (CReLU, Cardioid, ComplexSeparable, ComplexSigmoid, ModReLU,
                                                  SigLog, ZReLU, get_complex_activation)
from tfmri_zoo.layers.complex_conv import (ComplexConv1D, ComplexConv2D, ComplexConv2DTranspose, ComplexConv2Dt,
                                           ComplexConv3D, ComplexConv3DTranspose, ComplexConv3Dt,
                                           matched_intermediate_filters)
from tfmri_zoo.layers.complex_init import ComplexGlorot, ComplexHe, ComplexInitializer, get_complex_initializer
from tfmri_zoo.layers.complex_misc import ChannelsToComplex, ComplexDropout, ComplexToChannels
from tfmri_zoo.layers.complex_norm import (ComplexBatchNormalization, ComplexInstanceNormalization,
                                           ComplexLayerNormalization)
from tfmri_zoo.layers.complex_ops import channels_to_complex, complex_to_channels
from tfmri_zoo.layers.complex_pooling import (ComplexAveragePooling1D, ComplexAveragePooling2D,
                                              ComplexAveragePooling2Dt, ComplexAveragePooling3D, ComplexMaxPooling1D,
                                              ComplexMaxPooling2D, ComplexMaxPooling2Dt, ComplexMaxPooling3D,
                                              ComplexUpSampling1D, ComplexUpSampling2D, ComplexUpSampling2Dt,
                                              ComplexUpSampling3D)
from tfmri_zoo.layers.complex_unet import ComplexUNet, FrameWise
from tfmri_zoo.layers.data_consistency import (ADMMStep, DataConsistency, GradientDC, KSpaceReplacement,
                                               ProximalL2DC, SingleCoilProximalDC, SoftKSpaceReplacement)
from tfmri_zoo.layers.normalization import InstanceNormalization, instance_norm, standardize
from tfmri_zoo.layers.prior_l1 import PriorL1Step, check_prior_l1_table
from tfmri_zoo.layers.rbf import RBFActivation
from tfmri_zoo.layers.recompute import recompute, unroll
from tfmri_zoo.layers.warp import Warp
