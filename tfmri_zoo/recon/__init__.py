"""Classical and scan-specific reconstruction (Sec. II and III-B/C of the review).

Zero-filled, CG-SENSE, gradient descent, ℓ1-wavelet (FISTA), total variation (primal-dual) take 2D multi-coil
Cartesian k-space ``[B, C, H, W]`` and return ``[B, H, W]``; GRAPPA and RAKI (a CNN trained on the scan's own ACS)
fill the missing k-space of each coil (:class:`CoilReconstruction`); plug-and-play (ADMM, proximal gradient) and
RED use a denoiser in place of a proximal step; Gauss-Newton model-based reconstruction estimates parameter maps (T2, T1)
through a non-linear signal model; QSM dipole inversion (thresholded k-space division, Tikhonov CG) maps a tissue
field to susceptibility; motion-corrupted phase-encoding lines are found by cross-validated data consistency and
dropped from the mask (:func:`reject_corrupted_lines`). Nothing here imports :mod:`tfmri_zoo.models` or :mod:`tfmri_zoo.training`; the
Deep Image Prior, which trains a zoo network on one scan, is :func:`tfmri_zoo.training.deep_image_prior`.
"""
from tfmri_zoo.recon.gradient_descent import gradient_descent
from tfmri_zoo.recon.grappa import CoilReconstruction, grappa
from tfmri_zoo.recon.l1_wavelet import l1_wavelet, soft_threshold
from tfmri_zoo.recon.line_rejection import LineRejection, cross_validated_line_scores, reject_corrupted_lines
from tfmri_zoo.recon.model_based import (fit_parametric, gauss_newton, initial_params, log_linear_rate,
                                         model_based_reconstruction)
from tfmri_zoo.recon.pnp import pnp_admm, pnp_proximal_gradient, red, red_residual
from tfmri_zoo.recon.qsm import qsm_tikhonov, qsm_tkd
from tfmri_zoo.recon.raki import raki
from tfmri_zoo.recon.sense import sense
from tfmri_zoo.recon.tuning import LAM_GRIDS, select_lam
from tfmri_zoo.recon.tv import tv
from tfmri_zoo.recon.wavelets import dwt2, idwt2, wavedec2, waverec2
from tfmri_zoo.recon.zero_filled import zero_filled

__all__ = ["CoilReconstruction", "LineRejection", "cross_validated_line_scores", "dwt2", "fit_parametric", "gauss_newton", "gradient_descent", "grappa", "idwt2",
           "initial_params", "l1_wavelet", "log_linear_rate", "model_based_reconstruction", "pnp_admm", "pnp_proximal_gradient", "qsm_tikhonov", "qsm_tkd", "raki", "reject_corrupted_lines",
           "red", "red_residual", "select_lam", "LAM_GRIDS", "sense", "soft_threshold", "tv", "wavedec2", "waverec2",
           "zero_filled"]
