"""Physics: centred FFTs, the encoding operator E = M F C, conjugate gradient, sampling masks and coil maps."""
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.coils import coil_compress, espirit, estimate_sensitivities, rss, walsh
from tfmri_zoo.physics.fft import fft2c, fftnc, ifft2c, ifftnc
from tfmri_zoo.physics.sampling import (EquispacedMaskFractionFunc, EquispacedMaskFunc, GaussianMaskFunc, KtMaskFunc,
                                        MaskFunc, PoissonDiscMaskFunc, RandomMaskFunc, center_slice)
from tfmri_zoo.physics.sense import SenseOperator

__all__ = ["EquispacedMaskFractionFunc", "EquispacedMaskFunc", "GaussianMaskFunc", "KtMaskFunc", "MaskFunc",
           "PoissonDiscMaskFunc", "RandomMaskFunc", "SenseOperator", "center_slice", "coil_compress",
           "conjugate_gradient", "espirit", "estimate_sensitivities", "fft2c", "fftnc", "ifft2c", "ifftnc", "rss",
           "walsh"]
