"""Classical dipole inversion for quantitative susceptibility mapping (QSM): field → susceptibility.

Inverts ``φ = F⁻¹ D F χ`` (:mod:`tfmri_zoo.physics.dipole`) on 3D maps ``[B, D, H, W]``:

* :func:`qsm_tkd` — thresholded k-space division (Shmueli et al., MRM 2009): ``χ = F⁻¹ D̃⁻¹ F φ`` with
  ``D̃⁻¹ = 1/D`` where ``|D| > t`` and ``sign(D)/t`` elsewhere (``sign(0) = 1`` at the magic angle, 0 at ``k = 0``).
* :func:`qsm_tikhonov` — ``argmin ‖Aχ − φ‖² + λ‖χ‖²`` by the package's conjugate gradient on ``(AᴴA + λI)χ = Aᴴφ``
  (its closed form ``F⁻¹ D/(D² + λ) F φ`` is the test's reference).

Both return the real part, float32 ``[B, D, H, W]``, multiplied by ``mask`` (the tissue region) when one is given.
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.dipole import DipoleOperator


def _prepare(field, voxel_size, b0_direction):
    field = tf.convert_to_tensor(field)
    if field.dtype.is_complex:
        field = tf.math.real(field)
    if not field.dtype.is_floating:
        raise TypeError(f"field: expected a real float tensor [B, D, H, W] (ppm), got {field.dtype.name}.")
    if field.shape.rank != 4 or None in field.shape[1:]:
        raise ValueError(f"field: expected [B, D, H, W] with known D, H, W, got shape {field.shape}.")
    return DipoleOperator(field.shape[1:], voxel_size, b0_direction), tf.cast(field, tf.complex64)


def _finish(chi, mask):
    chi = tf.math.real(chi)
    return chi if mask is None else chi * tf.cast(mask, chi.dtype)


def qsm_tkd(field, voxel_size=(1.0, 1.0, 1.0), b0_direction=(1.0, 0.0, 0.0), *, threshold=0.19, mask=None):
    """Thresholded k-space division.

    Args:
      field: real ``[B, D, H, W]`` tissue field (background removed), in the unit the susceptibility is wanted in
        (e.g. ppm).
      voxel_size, b0_direction: as :func:`tfmri_zoo.physics.dipole_kernel` (array axis order).
      threshold: ``t`` in ``(0, 2/3]``; smaller divides closer to the cone (sharper, more streaking).
      mask: optional real/bool ``[B, D, H, W]`` (or broadcastable) tissue mask applied to the result.

    Returns:
      float32 ``[B, D, H, W]`` susceptibility.
    """
    operator, field = _prepare(field, voxel_size, b0_direction)
    threshold = validation.as_float(threshold, "threshold", minimum=0.0, exclusive=True)
    kernel = operator.kernel
    inverse = np.where(np.abs(kernel) > threshold, 1.0 / np.where(kernel == 0, 1.0, kernel),
                       np.where(kernel < 0, -1.0, 1.0) / threshold)
    inverse[kernel.shape[0] // 2, kernel.shape[1] // 2, kernel.shape[2] // 2] = 0.0   # k = 0: the mean is unknown
    return _finish(operator.filter(field, inverse), mask)


def qsm_tikhonov(field, voxel_size=(1.0, 1.0, 1.0), b0_direction=(1.0, 0.0, 0.0), *, lam=0.01, max_iter=50,
                 mask=None):
    """Tikhonov-regularised dipole inversion by CG.

    Args:
      field: real ``[B, D, H, W]`` tissue field.
      voxel_size, b0_direction: as :func:`tfmri_zoo.physics.dipole_kernel`.
      lam: Tikhonov weight λ > 0 (in the field's units squared).
      max_iter: CG iterations.
      mask: optional tissue mask applied to the result.

    Returns:
      float32 ``[B, D, H, W]`` susceptibility.
    """
    operator, field = _prepare(field, voxel_size, b0_direction)
    lam = validation.as_float(lam, "lam", minimum=0.0, exclusive=True)
    rhs = operator.adjoint(field)
    chi = conjugate_gradient(lambda x: operator.normal(x) + lam * x, rhs, max_iter=max_iter)
    return _finish(chi, mask)
