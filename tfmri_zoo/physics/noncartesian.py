"""Non-Cartesian multi-coil encoding operator ``E = A C`` (Eq. 1 of the review with the NUFFT ``A`` as F and M).

Same interface as :class:`tfmri_zoo.physics.sense.SenseOperator` (it subclasses it, reusing ``coil_expand`` /
``coil_combine`` and the ``image_transform`` hook), so the package's ``conjugate_gradient`` and solvers use it
unchanged:

  image         complex ``[batch, *extra, *spatial]``          e.g. ``[B, H, W]`` or ``[B, T, H, W]``
  sensitivities complex ``[batch, coils, *extra, *spatial]``  (``None``: single coil, unit sensitivity)
  k-space       complex ``[batch, coils, *extra, M]``          M non-uniform samples
  points        real ``[*P, M, ndim]`` in radians, ``P`` aligned to the right with ``[batch, coils, *extra]``
                (``[M, 2]`` shared; ``[T, M, 2]`` one trajectory per frame)
  density       real ``[*P', M]`` broadcastable to k-space, or ``None``

Density compensation ``w`` enters as a weighted k-space inner product ``⟨y, z⟩_w = Σ w·conj(y)·z``: ``forward``
is ``A C x`` (unweighted, so it predicts measured samples), ``adjoint`` is ``Cᴴ Aᴴ (w·y)`` — the adjoint with
respect to ``⟨·,·⟩_w`` — and ``normal`` is ``Cᴴ Aᴴ w A C``. CG on ``normal(x) = adjoint(y)`` then solves the
density-weighted least squares ``min ‖w^½ (E x - y)‖²``, which converges in far fewer iterations than the
unweighted problem; with ``density=None`` all three are the ordinary operators.
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.nufft import DEFAULT_KERNEL_WIDTH, DEFAULT_OVERSAMPLING, NUFFT
from tfmri_zoo.physics.sense import SenseOperator


class NonCartesianSenseOperator(SenseOperator):
    """Multi-coil non-Cartesian encoding operator ``E = A C`` with optional density weighting.

    Args:
      sensitivities: complex ``[B, C, *extra, *spatial]`` coil maps, or ``None`` for single-coil data (then
        ``image_shape`` is required).
      points: real ``[*P, M, ndim]`` k-space trajectory in radians, ``[-π, π)`` per axis; ``ndim`` (2 or 3) is the
        spatial rank.
      density: optional real ``[..., M]`` density compensation weights broadcastable to k-space
        (:mod:`tfmri_zoo.physics.density`), defining the k-space inner product (module docstring).
      image_shape: spatial sizes; defaults to the trailing ``ndim`` axes of ``sensitivities``.
      oversampling: NUFFT grid oversampling ratio.
      kernel_width: NUFFT Kaiser-Bessel width in oversampled grid cells.
      dtype: complex dtype of the computation.
      interpolation: ``None`` or a shared NUFFT plan ``(indices, weights)`` of ``points`` (:class:`NUFFT`).
    """

    cartesian = False

    def __init__(self, sensitivities=None, points=None, density=None, image_shape=None,
                 oversampling=DEFAULT_OVERSAMPLING, kernel_width=DEFAULT_KERNEL_WIDTH, dtype=tf.complex64,
                 interpolation=None):
        if points is None:
            raise ValueError("points: a trajectory [..., M, ndim] in radians is required.")
        points = tf.convert_to_tensor(points)
        spatial_rank = points.shape[-1] if points.shape.rank else None
        if spatial_rank not in (2, 3):
            raise ValueError(f"points: expected shape [..., M, 2] or [..., M, 3], got {points.shape}.")
        super().__init__(sensitivities, mask=None, spatial_rank=spatial_rank, dtype=dtype)
        if image_shape is None:
            if self.sensitivities is None:
                raise ValueError("image_shape: required when sensitivities is None (single-coil operator).")
            image_shape = self.sensitivities.shape[-spatial_rank:]
        image_shape = tuple(image_shape)
        if len(image_shape) != spatial_rank or any(n is None for n in image_shape):
            raise ValueError(f"image_shape: expected {spatial_rank} known sizes, got {image_shape}.")
        if self.sensitivities is not None and tuple(self.sensitivities.shape[-spatial_rank:]) != image_shape:
            raise ValueError(f"image_shape: {image_shape} does not match sensitivities shape "
                             f"{self.sensitivities.shape}.")
        self.nufft = NUFFT(points, image_shape, oversampling, kernel_width, self.dtype, interpolation=interpolation)
        self.image_shape = image_shape
        self.density = None
        if density is not None:
            density = tf.convert_to_tensor(density)
            if density.dtype.is_complex or not density.dtype.is_floating:
                raise TypeError(f"density: expected real float weights [..., M], got {density.dtype.name}.")
            if density.shape.rank is None or density.shape.rank < 1 or density.shape[-1] not in (
                    None, self.nufft.points.shape[-2]):
                raise ValueError(f"density: expected shape [..., M] with M = {self.nufft.points.shape[-2]}, "
                                 f"got {density.shape}.")
            validation.check_finite(density, "density")
            self.density = tf.cast(tf.cast(density, self.dtype.real_dtype), self.dtype)

    def _check_image(self, image):
        image = super()._check_image(image)
        if tuple(image.shape[-self.spatial_rank:]) != self.image_shape:
            raise ValueError(f"image: expected spatial shape {self.image_shape}, got shape {image.shape}.")
        return image

    def _check_kspace(self, kspace):
        kspace = validation.as_complex(kspace, "kspace", self.dtype)
        min_rank = 3
        if kspace.shape.rank is None or kspace.shape.rank < min_rank:
            raise ValueError(f"kspace: expected rank >= {min_rank} [batch, coils, *extra, M], got {kspace.shape}.")
        if self.sensitivities is not None and kspace.shape.rank != self.sensitivities.shape.rank - self.spatial_rank + 1:
            raise ValueError(f"kspace: expected rank {self.sensitivities.shape.rank - self.spatial_rank + 1} "
                             f"[batch, coils, *extra, M] to match sensitivities {self.sensitivities.shape}, "
                             f"got shape {kspace.shape}.")
        if kspace.shape[1] is not None and self.num_coils is not None and kspace.shape[1] != self.num_coils:
            raise ValueError(f"kspace: has {kspace.shape[1]} coils on axis 1 but the operator has {self.num_coils} "
                             f"(sensitivities=None means a single coil).")
        if self.density is not None:
            validation.check_broadcastable(self.density, kspace.shape, "density", "kspace")
        return kspace

    def apply_density(self, kspace):
        """W: multiplies k-space ``[B, C, *extra, M]`` by the density weights (identity without them)."""
        return kspace if self.density is None else kspace * self.density

    def forward(self, image):
        """E x: complex image ``[B, *extra, *spatial]`` → non-uniform k-space ``[B, C, *extra, M]``."""
        image = self._check_image(image)
        return self.nufft.forward(self.coil_expand(self.image_transform(image)))

    def adjoint(self, kspace):
        """Eᴴ W y: k-space ``[B, C, *extra, M]`` → image ``[B, *extra, *spatial]`` (density-weighted adjoint)."""
        kspace = self._check_kspace(kspace)
        return self.image_adjoint(self.coil_combine(self.nufft.adjoint(self.apply_density(kspace))))

    def normal(self, image):
        """Eᴴ W E x, image → image."""
        return self.adjoint(self.forward(image))
