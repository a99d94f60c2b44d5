"""Zero-filled reconstruction: the inverse FFT of the measured k-space, coil-combined."""
import tensorflow as tf

from tfmri_zoo.physics.coils import rss, sense_combine
from tfmri_zoo.physics.fft import ifft2c
from tfmri_zoo.recon import problem


@tf.autograph.experimental.do_not_convert   # plain graph code: skip AutoGraph's costly AST pass
def zero_filled(kspace, mask=None, sensitivities=None):
    """Zero-filled image of 2D multi-coil Cartesian k-space.

    With ``sensitivities`` the coil images are combined by pixelwise least squares,
    ``Σ_c conj(S_c) x_c / Σ_c |S_c|²`` (:func:`tfmri_zoo.physics.coils.sense_combine`); for maps normalised to ``Σ|S|² = 1`` this is ``Eᴴy``.
    Without sensitivities a single coil is returned as is and several coils by root-sum-of-squares (real-valued,
    returned as complex with zero phase).

    Args:
      kspace: complex ``[B, C, H, W]`` k-space (unsampled entries zero or masked by ``mask``).
      mask: float32/bool mask broadcastable to ``[B, C, H, W]``, or ``None``.
      sensitivities: complex ``[B, C, H, W]`` coil maps, or ``None``.

    Returns:
      complex ``[B, H, W]`` image in k-space's dtype.
    """
    operator, kspace = problem.make_operator(kspace, mask, sensitivities)
    if sensitivities is None:
        coils = ifft2c(operator.apply_mask(kspace))
        if kspace.shape[1] == 1:
            return coils[:, 0]
        return tf.cast(rss(coils, axis=1), kspace.dtype)
    return sense_combine(ifft2c(operator.apply_mask(kspace)), operator.sensitivities)
