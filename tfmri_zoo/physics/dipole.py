"""The unit magnetic dipole: susceptibility χ → tissue field (QSM's forward model, review Sec. IV-C).

The field perturbation (in ppm of B0) of a susceptibility distribution ``χ`` is the convolution of ``χ`` with the unit
dipole, a multiplication in k-space (Salomir et al. 2003; Marques & Bowtell 2005):

    φ = F⁻¹ D F χ,        D(k) = 1/3 − (k·b̂)² / |k|²,   D(0) = 0,

with ``k`` the spatial frequency of the voxel grid (``k_i = fftfreq(n_i, voxel_i)``, cycles per unit length) and
``b̂`` the unit B0 direction in the array's axis order. ``D`` is real and even, so the operator is self-adjoint and
its normal operator is ``F⁻¹ D² F``; ``D`` vanishes on the magic-angle cone ``(k·b̂)² = |k|²/3``, which makes the
inversion ill-posed (hence thresholded division, Tikhonov/TV or a learned prior: :mod:`tfmri_zoo.recon.qsm`).

Layout: χ and φ are ``[B, D, H, W]`` (any leading axes, three trailing spatial axes), complex or real;
:func:`dipole_kernel` returns ``D`` centred (index ``i − n // 2`` is frequency 0 at ``n // 2``, as ``fftnc``).
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.fft import dft


def dipole_kernel(shape, voxel_size=(1.0, 1.0, 1.0), b0_direction=(1.0, 0.0, 0.0)):
    """The unit dipole ``D(k) = 1/3 − (k·b̂)²/|k|²`` (0 at ``k = 0``) on the centred k-space grid of ``shape``.

    Args:
      shape: three spatial sizes ``(D, H, W)``.
      voxel_size: three voxel sizes in the same unit (e.g. mm), same axis order.
      b0_direction: the B0 direction in the same axis order (normalised here; need not be a unit vector).

    Returns:
      float64 numpy ``shape`` array.

    Raises:
      ValueError: not three positive sizes / voxel sizes, or a zero B0 direction.
    """
    shape = tuple(int(n) for n in shape)
    voxel_size = tuple(float(v) for v in voxel_size)
    direction = np.asarray(b0_direction, np.float64)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape: expected three positive sizes (D, H, W), got {shape}.")
    if len(voxel_size) != 3 or min(voxel_size) <= 0:
        raise ValueError(f"voxel_size: expected three positive sizes, got {voxel_size}.")
    if direction.shape != (3,) or not np.linalg.norm(direction) > 0:
        raise ValueError(f"b0_direction: expected a non-zero 3-vector, got {b0_direction!r}.")
    direction = direction / np.linalg.norm(direction)
    k = np.meshgrid(*[np.fft.fftshift(np.fft.fftfreq(n, v)) for n, v in zip(shape, voxel_size)], indexing="ij")
    squared = sum(ki ** 2 for ki in k)
    along = sum(ki * bi for ki, bi in zip(k, direction))
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = 1.0 / 3.0 - along ** 2 / squared
    kernel[squared == 0] = 0.0
    return kernel


class DipoleOperator:
    """``A χ = F⁻¹ D F χ`` on ``[..., D, H, W]`` tensors (module docstring); ``A`` is self-adjoint.

    Args:
      shape, voxel_size, b0_direction: as :func:`dipole_kernel`.
      dtype: complex dtype of the computation (``complex64`` default).
    """

    def __init__(self, shape, voxel_size=(1.0, 1.0, 1.0), b0_direction=(1.0, 0.0, 0.0), dtype=tf.complex64):
        self.dtype = tf.as_dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.kernel = dipole_kernel(self.shape, voxel_size, b0_direction)
        # the plain FFT's frequency order: a convolution needs no centring (the ramps of fftnc cancel)
        self._plain_kernel = tf.constant(np.fft.ifftshift(self.kernel), self.dtype)

    def _check(self, x, name):
        x = tf.convert_to_tensor(x)
        x = tf.cast(x, self.dtype) if not x.dtype.is_complex else validation.as_complex(x, name, self.dtype)
        if x.shape.rank is None or x.shape.rank < 3 or tuple(x.shape[-3:]) != self.shape:
            raise ValueError(f"{name}: expected trailing spatial shape {self.shape} ([..., D, H, W]), got {x.shape}.")
        return x

    def _filter(self, x, kernel):
        return dft(dft(x, 3) * kernel, 3, inverse=True)

    def forward(self, susceptibility):
        """Field ``[..., D, H, W]`` of a susceptibility map of that shape (complex, the operator's dtype)."""
        return self._filter(self._check(susceptibility, "susceptibility"), self._plain_kernel)

    def adjoint(self, field):
        """``Aᴴ = A`` (``D`` is real): field → susceptibility."""
        return self._filter(self._check(field, "field"), self._plain_kernel)

    def normal(self, susceptibility):
        """``AᴴA = F⁻¹ D² F`` in one filtering."""
        return self._filter(self._check(susceptibility, "susceptibility"), self._plain_kernel ** 2)

    def regularised_inverse(self, field, prior, lam):
        """``(AᴴA + λI)⁻¹(Aᴴφ + λ·prior) = F⁻¹[(D·Fφ + λ·F prior) / (D² + λ)]`` in closed form (differentiable in λ):
        the data-consistency step of an unrolled dipole inversion, Tikhonov towards ``prior``.

        Args:
          field: ``φ`` ``[..., D, H, W]`` (real or complex).
          prior: the same shape.
          lam: ``λ > 0``: a scalar or a real tensor broadcastable to ``[..., D, H, W]`` (e.g. ``[B, 1, 1, 1]``).

        Returns:
          complex ``[..., D, H, W]`` of the operator's dtype.
        """
        field, prior = self._check(field, "field"), self._check(prior, "prior")
        lam = tf.cast(tf.convert_to_tensor(lam), self.dtype)
        numerator = self._plain_kernel * dft(field, 3) + lam * dft(prior, 3)
        return dft(numerator / (self._plain_kernel ** 2 + lam), 3, inverse=True)

    def filter(self, x, kernel):
        """``F⁻¹ K F x`` with another real centred kernel ``K`` of the operator's shape (e.g. a TKD inverse)."""
        kernel = tf.constant(np.fft.ifftshift(np.asarray(kernel, np.float64)), self.dtype)
        return self._filter(self._check(x, "x"), kernel)
