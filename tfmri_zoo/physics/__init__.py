"""Physics: the encoding operator E = M F C (W) and everything it is built from or composes with.

Centred orthonormal FFTs, the Cartesian SENSE operator, the one conjugate gradient, sampling masks and trajectories,
the NUFFT and non-Cartesian SENSE with density compensation, coil maps (ESPIRiT, Walsh, compression), the motion
warp and motion-aware operator, non-linear signal models (T2, T1) for model-based reconstruction, and the unit
dipole of quantitative susceptibility mapping.
"""
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.coils import coil_compress, espirit, estimate_sensitivities, rss, walsh
from tfmri_zoo.physics.density import pipe_menon_density, radial_density
from tfmri_zoo.physics.dipole import DipoleOperator, dipole_kernel
from tfmri_zoo.physics.fft import fft2c, fftnc, ifft2c, ifftnc
from tfmri_zoo.physics.motion import MotionSenseOperator, motion_compensated_sense, rigid_displacement
from tfmri_zoo.physics.noise import kspace_noise_std, noise_adaptive_weight
from tfmri_zoo.physics.noncartesian import NonCartesianSenseOperator
from tfmri_zoo.physics.operators import OPERATOR_KINDS, make_operator, operator_kind
from tfmri_zoo.physics.nufft import NUFFT, kaiser_bessel_beta, nufft, nufft_adjoint
from tfmri_zoo.physics.sampling import (EquispacedMaskFractionFunc, EquispacedMaskFunc, GaussianMaskFunc, KtMaskFunc,
                                        MaskFunc, PoissonDiscMaskFunc, RandomMaskFunc, acceleration_table_lookup,
                                        center_fraction, center_slice, line_masks, mask_acceleration)
from tfmri_zoo.physics.sense import SenseOperator, coil_support
from tfmri_zoo.physics.signal_models import (SIGNAL_MODELS, InversionRecovery, MultiEchoT2, NonlinearOperator,
                                             SignalModel, pack_params, rate_to_time, signal_model, unpack_params)
from tfmri_zoo.physics.trajectories import (GOLDEN_ANGLE, bart_to_radians, radial_angles, radial_trajectory,
                                            stack_of_stars_trajectory)
from tfmri_zoo.physics.warp import scaling_and_squaring, warp, warp_adjoint

__all__ = ["DipoleOperator", "EquispacedMaskFractionFunc", "EquispacedMaskFunc", "GOLDEN_ANGLE", "GaussianMaskFunc", "InversionRecovery",
           "KtMaskFunc", "MaskFunc", "OPERATOR_KINDS", "MotionSenseOperator", "MultiEchoT2", "NUFFT", "NonCartesianSenseOperator",
           "NonlinearOperator", "PoissonDiscMaskFunc", "RandomMaskFunc", "SenseOperator", "SIGNAL_MODELS", "SignalModel", "signal_model",
           "bart_to_radians", "center_fraction", "center_slice", "coil_compress", "coil_support", "conjugate_gradient", "dipole_kernel", "espirit",
           "estimate_sensitivities", "fft2c", "fftnc", "ifft2c", "ifftnc", "kaiser_bessel_beta", "kspace_noise_std", "noise_adaptive_weight", "line_masks", "make_operator",
           "mask_acceleration", "acceleration_table_lookup",
           "motion_compensated_sense", "nufft", "nufft_adjoint", "operator_kind", "pack_params", "pipe_menon_density",
           "radial_angles", "radial_density", "radial_trajectory", "rate_to_time", "rigid_displacement", "rss", "scaling_and_squaring",
           "stack_of_stars_trajectory", "unpack_params", "walsh", "warp", "warp_adjoint"]
