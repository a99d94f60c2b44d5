"""Physics: centred FFTs, the encoding operator E = M F C, conjugate gradient, sampling masks and coil maps."""
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.fft import fft2c, fftnc, ifft2c, ifftnc
from tfmri_zoo.physics.sense import SenseOperator

__all__ = ["SenseOperator", "conjugate_gradient", "fft2c", "fftnc", "ifft2c", "ifftnc"]
