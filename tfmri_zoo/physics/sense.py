"""The encoding operator E = M F C (Eq. 1 of the review) for Cartesian multi-coil MRI.

Layouts (docs/design.md):
  image        complex ``[batch, *extra, *spatial]``            e.g. 2D ``[B, H, W]``, 2D+t ``[B, T, H, W]``
  coil images  complex ``[batch, coils, *extra, *spatial]``     coil axis is 1 (= -3 for 2D)
  k-space      same as coil images
  sensitivities same layout as coil images; ``extra`` axes (e.g. time) may be 1 and broadcast
  mask         float32/bool, broadcastable to k-space, e.g. ``[B, 1, 1, W]`` for 1D Cartesian lines

``spatial_rank`` (2 or 3) says how many trailing axes the FFT covers; any axes between the coil axis and the spatial
axes (time, echoes, ...) are carried along. Single-coil data is the case ``sensitivities=None``: one coil with unit
sensitivity, k-space ``[B, 1, ...]``.

The operator is a light Python object rebuilt inside Keras layers from call inputs, never serialised itself.
It checks dtypes, ranks and static shapes only: the values (NaN/Inf, an all-zero mask, run-time shapes) are checked
once where data enter the package — ``ReconModel.parse_inputs``, the classical solvers, the serving signatures — with
:mod:`tfmri_zoo.validation`, not at each of the many constructions inside one model call.
``SenseOperator.image_transform`` / ``image_adjoint`` are hooks for composed operators (a motion warp W inserts
itself there: E = M F C W).
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.fft import fftnc, ifftnc


class SenseOperator:
    """Multi-coil Cartesian encoding operator ``E = M F C``.

    Args:
      sensitivities: complex ``[B, C, *extra, *spatial]`` coil maps, or ``None`` for single-coil data.
      mask: float32/bool sampling mask broadcastable to k-space ``[B, C, *extra, *spatial]``, or ``None`` (fully
        sampled).
      spatial_rank: 2 (FFT over the last two axes) or 3.
      dtype: complex dtype of the computation (``complex64`` default; ``complex128`` for gradient checks).
    """

    def __init__(self, sensitivities=None, mask=None, spatial_rank=2, dtype=tf.complex64):
        if spatial_rank not in (2, 3):
            raise ValueError(f"spatial_rank: expected 2 or 3, got {spatial_rank}.")
        self.spatial_rank = spatial_rank
        self.dtype = tf.as_dtype(dtype)
        self.axes = tuple(range(-spatial_rank, 0))
        if sensitivities is not None:
            sensitivities = validation.as_complex(sensitivities, "sensitivities", self.dtype)
            if sensitivities.shape.rank is None or sensitivities.shape.rank < spatial_rank + 2:
                raise ValueError(f"sensitivities: expected rank >= {spatial_rank + 2} "
                                 f"[batch, coils, *extra, *spatial], got shape {sensitivities.shape}.")
        self.sensitivities = sensitivities
        self.mask = None if mask is None else validation.as_mask(mask, "mask", self.dtype)

    # -- stages ---------------------------------------------------------------------------------------------------
    @property
    def num_coils(self):
        """Static number of coils (1 for single-coil), or ``None`` when unknown."""
        return 1 if self.sensitivities is None else self.sensitivities.shape[1]

    def image_transform(self, image):
        """Image-space transform applied before the coils (identity here; a motion warp in subclasses)."""
        return image

    def image_adjoint(self, image):
        """Adjoint of :meth:`image_transform`."""
        return image

    def _check_image(self, image):
        image = validation.as_complex(image, "image", self.dtype)
        min_rank = self.spatial_rank + 1
        if image.shape.rank is None or image.shape.rank < min_rank:
            raise ValueError(f"image: expected rank >= {min_rank} [batch, *extra, *spatial], got shape {image.shape}.")
        if self.sensitivities is not None and image.shape.rank != self.sensitivities.shape.rank - 1:
            raise ValueError(f"image: rank {image.shape.rank} does not match sensitivities rank "
                             f"{self.sensitivities.shape.rank} minus the coil axis (image shape {image.shape}, "
                             f"sensitivities shape {self.sensitivities.shape}).")
        return image

    def _check_kspace(self, kspace):
        kspace = validation.as_complex(kspace, "kspace", self.dtype)
        min_rank = self.spatial_rank + 2
        if kspace.shape.rank is None or kspace.shape.rank < min_rank:
            raise ValueError(f"kspace: expected rank >= {min_rank} [batch, coils, *extra, *spatial], "
                             f"got shape {kspace.shape}.")
        if self.sensitivities is not None:
            if kspace.shape.rank != self.sensitivities.shape.rank:
                raise ValueError(f"kspace: rank {kspace.shape.rank} does not match sensitivities rank "
                                 f"{self.sensitivities.shape.rank} ([batch, coils, *extra, *spatial]).")
            kc, sc = kspace.shape[1], self.sensitivities.shape[1]
            if kc is not None and sc is not None and kc != sc:
                raise ValueError(f"kspace: has {kc} coils on axis 1 but sensitivities have {sc}.")
        elif kspace.shape[1] is not None and kspace.shape[1] != 1:
            raise ValueError(f"kspace: single-coil operator (sensitivities=None) expects 1 coil on axis 1, "
                             f"got shape {kspace.shape}.")
        if self.mask is not None:
            validation.check_broadcastable(self.mask, kspace.shape, "mask", "kspace")
        return kspace

    def coil_expand(self, image):
        """C: ``[B, *extra, *spatial]`` → coil images ``[B, C, *extra, *spatial]``."""
        image = tf.expand_dims(image, 1)
        return image if self.sensitivities is None else image * self.sensitivities

    def coil_combine(self, coil_images):
        """Cᴴ: coil images ``[B, C, ...]`` → image ``[B, ...]`` (sum of conj(S)·x over coils)."""
        if self.sensitivities is None:
            return coil_images[:, 0]
        return tf.reduce_sum(tf.math.conj(self.sensitivities) * coil_images, axis=1)

    def apply_mask(self, kspace):
        """M (a real diagonal, so self-adjoint)."""
        return kspace if self.mask is None else kspace * self.mask

    # -- the operator ---------------------------------------------------------------------------------------------
    def forward(self, image):
        """E x: complex image ``[B, *extra, *spatial]`` → masked k-space ``[B, C, *extra, *spatial]``."""
        image = self._check_image(image)
        return self.apply_mask(fftnc(self.coil_expand(self.image_transform(image)), self.axes))

    def adjoint(self, kspace):
        """Eᴴ y: k-space ``[B, C, *extra, *spatial]`` → image ``[B, *extra, *spatial]``."""
        kspace = self._check_kspace(kspace)
        return self.image_adjoint(self.coil_combine(ifftnc(self.apply_mask(kspace), self.axes)))

    def normal(self, image):
        """Eᴴ E x, image → image."""
        return self.adjoint(self.forward(image))

    def __call__(self, image):
        return self.forward(image)
