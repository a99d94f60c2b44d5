"""Classical reconstruction (Sec. II of the review): zero-filled, CG-SENSE, gradient descent, ℓ1-wavelet (FISTA),
total variation (primal-dual). All take 2D multi-coil Cartesian k-space ``[B, C, H, W]`` and return ``[B, H, W]``."""
from tfmri_zoo.recon.gradient_descent import gradient_descent
from tfmri_zoo.recon.l1_wavelet import l1_wavelet, soft_threshold
from tfmri_zoo.recon.sense import sense
from tfmri_zoo.recon.tv import tv
from tfmri_zoo.recon.wavelets import dwt2, idwt2, wavedec2, waverec2
from tfmri_zoo.recon.zero_filled import zero_filled

__all__ = ["dwt2", "gradient_descent", "idwt2", "l1_wavelet", "sense", "soft_threshold", "tv", "wavedec2",
           "waverec2", "zero_filled"]
