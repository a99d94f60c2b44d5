"""Motion-aware encoding operator ``E_t = M_t F C W_t`` (review Sec. IV-C-4) and motion-compensated CG-SENSE.

One reference image ``x`` ``[B, H, W]`` is pulled to every frame ``t`` by a known displacement field ``u_t``
(``W_t x (p) = x(p + u_t(p))``, the convention of :mod:`tfmri_zoo.layers.warp` and of the synthetic cine data),
multiplied by the coil maps, Fourier transformed and masked with the frame's k-t mask:

    E x = [M_t F C W_t x]_t          image [B, H, W] → k-space [B, C, T, H, W]
    Eᴴ y = Σ_t W_tᴴ Cᴴ Fᴴ M_t y_t    k-space → image [B, H, W]

It subclasses :class:`tfmri_zoo.physics.sense.SenseOperator` and only fills its ``image_transform`` /
``image_adjoint`` hooks: the coil, FFT and mask stages are the 2D+t SENSE operator's.

Motion-compensated reconstruction solves ``(EᴴE + λI) x = Eᴴy`` with the package's one CG and returns the frames
``W_t x`` (or the reference ``x``). :func:`rigid_displacement` is the field of an in-plane rigid motion (rotation about
the image centre, then translation) in the same convention.
"""
import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.warp import warp, warp_adjoint
from tfmri_zoo.physics.cg import conjugate_gradient
from tfmri_zoo.physics.sense import SenseOperator


class MotionSenseOperator(SenseOperator):
    """``E = [M_t F C W_t]_t``: one reference image warped to each frame, then 2D+t SENSE.

    Args:
      sensitivities: complex ``[B, C, 1, H, W]`` (or ``[B, C, T, H, W]``), or ``None`` for single-coil data.
      mask: float32/bool broadcastable to k-space ``[B, C, T, H, W]``, e.g. ``[B, 1, T, 1, W]``.
      displacements: float32 ``[B, T, H, W, 2]`` fields in pixels (row, column) pulling the reference to frame t.
      dtype: complex dtype (``complex128`` for gradient checks).
    """

    def __init__(self, sensitivities, mask, displacements, dtype=tf.complex64):
        super().__init__(sensitivities, mask, spatial_rank=2, dtype=dtype)
        if self.sensitivities is not None and self.sensitivities.shape.rank != 5:
            raise ValueError(f"sensitivities: expected rank 5 [B, C, 1 or T, H, W], got shape "
                             f"{self.sensitivities.shape}.")
        displacements = tf.convert_to_tensor(displacements)
        if displacements.dtype.is_complex or not displacements.dtype.is_floating:
            raise TypeError(f"displacements: expected a real float tensor, got {displacements.dtype.name}.")
        if displacements.shape.rank != 5 or displacements.shape[-1] != 2:
            raise ValueError(f"displacements: expected [B, T, H, W, 2] (row, column) in pixels, got shape "
                             f"{displacements.shape}.")
        validation.check_finite(displacements, "displacements")
        self.displacements = tf.cast(displacements, self.dtype.real_dtype)

    def _check_image(self, image):
        image = validation.as_complex(image, "image", self.dtype)
        if image.shape.rank != 3:
            raise ValueError(f"image: expected the reference frame [B, H, W], got shape {image.shape}.")
        return image

    def image_transform(self, image):
        """W: reference ``[B, H, W]`` → frames ``[B, T, H, W]`` (``W_t x`` for every t)."""
        frames = tf.broadcast_to(image[:, None], tf.shape(self.displacements)[:4])
        return warp(frames, self.displacements)

    def image_adjoint(self, frames):
        """Wᴴ: frames ``[B, T, H, W]`` → reference ``[B, H, W]`` (``Σ_t W_tᴴ y_t``)."""
        return tf.reduce_sum(warp_adjoint(frames, self.displacements), axis=1)

    def frames(self, image):
        """The motion-resolved frames ``W_t x`` ``[B, T, H, W]`` of a reference image ``[B, H, W]``."""
        return self.image_transform(self._check_image(image))


def motion_compensated_sense(kspace, mask, sensitivities, displacements, max_iter=20, tol=None, lam=0.0,
                             x0=None, return_reference=False):
    """Motion-compensated CG-SENSE: ``x = (EᴴE + λI)⁻¹ Eᴴy`` with ``E = [M_t F C W_t]_t``.

    Args:
      kspace: complex64 ``[B, C, T, H, W]``.
      mask: float32/bool broadcastable to ``kspace`` (``[B, 1, T, 1, W]`` or ``[B, 1, T, H, W]``).
      sensitivities: complex64 ``[B, C, 1, H, W]``, or ``None`` for single-coil data.
      displacements: float32 ``[B, T, H, W, 2]`` (reference → frame t, pixels).
      max_iter: CG iterations.
      tol: CG relative tolerance, or ``None`` for exactly ``max_iter`` iterations.
      lam: Tikhonov weight ``λ ≥ 0``.
      x0: optional initial reference complex ``[B, H, W]``.
      return_reference: return the reference ``x`` ``[B, H, W]`` instead of the frames.

    Returns:
      complex ``[B, T, H, W]`` frames ``W_t x`` (or ``[B, H, W]``).
    """
    if lam < 0:
        raise ValueError(f"lam: expected >= 0, got {lam}.")
    op = MotionSenseOperator(sensitivities, mask, displacements)
    lam_c = tf.cast(lam, op.dtype)
    rhs = op.adjoint(kspace)
    reference = conjugate_gradient(lambda v: op.normal(v) + lam_c * v, rhs, x0=x0, max_iter=max_iter, tol=tol)
    return reference if return_reference else op.frames(reference)


def rigid_displacement(shape, angle, shift):
    """Displacement field of an in-plane rigid motion, for :func:`tfmri_zoo.physics.warp`.

    The moved image is ``x'(p) = x(p + u(p))`` with ``p + u(p) = R(angle)(p − c) + c + shift``: the object seen at
    pixel ``p`` after the motion is the one that was at ``R(p − c) + c + shift`` (rotation about the image centre
    ``c = (H/2, W/2)``, counter-clockwise in (row, column) for positive ``angle``).

    Args:
      shape: ``(H, W)``.
      angle: rotation in radians (float).
      shift: ``(row, column)`` translation in pixels.

    Returns:
      float32 numpy ``[H, W, 2]`` (row, column) displacements in pixels.

    Raises:
      ValueError: a ``shape`` that is not two positive sizes or a ``shift`` that is not two numbers.
    """
    if len(shape) != 2 or min(int(n) for n in shape) < 1:
        raise ValueError(f"shape: expected (H, W) with positive sizes, got {shape!r}.")
    shift = np.asarray(shift, np.float64)
    if shift.shape != (2,):
        raise ValueError(f"shift: expected (row, column) in pixels, got {shift.tolist()!r}.")
    rows, cols = np.meshgrid(np.arange(shape[0]) - shape[0] / 2, np.arange(shape[1]) - shape[1] / 2, indexing="ij")
    cos, sin = np.cos(angle), np.sin(angle)
    moved_rows = cos * rows - sin * cols + shift[0]
    moved_cols = sin * rows + cos * cols + shift[1]
    return np.stack([moved_rows - rows, moved_cols - cols], axis=-1).astype(np.float32)
