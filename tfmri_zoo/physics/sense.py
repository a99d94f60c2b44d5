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

No ``fftshift`` rolls: the centred FFT's input ramp (the (−1)ⁿ checkerboard for even sizes, see
:func:`tfmri_zoo.physics.fft.centring_ramps`) is folded into the coil maps once per operator, its output ramp into one
k-space multiply, and ``normal`` (Eᴴ E, the operator of every CG solve) needs neither: it is coil maps, plain FFT,
mask, plain inverse FFT, conjugate maps.
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.fft import centring_ramps, dft


def coil_support(sensitivities, dtype=tf.float32):
    """Where any coil map is non-zero: ``[B, *extra, *spatial]`` 1/0 in ``dtype`` from complex maps
    ``[B, C, *extra, *spatial]``. Outside it an image lies in the null space of ``E = M F C``: the data say nothing
    there (ESPIRiT maps are zero outside the object's support), so a solver should return 0 there rather than what its
    prior invents — CG-SENSE started at 0 does by construction, the ℓ1-wavelet projects onto it, and every
    :class:`~tfmri_zoo.models.ReconModel` multiplies its output by it (``zero_outside_support``)."""
    power = tf.reduce_sum(tf.math.real(sensitivities * tf.math.conj(sensitivities)), axis=1)
    return tf.cast(power > 0, dtype)


class SenseOperator:
    """Multi-coil Cartesian encoding operator ``E = M F C``.

    Args:
      sensitivities: complex ``[B, C, *extra, *spatial]`` coil maps, or ``None`` for single-coil data.
      mask: float32/bool sampling mask broadcastable to k-space ``[B, C, *extra, *spatial]``, or ``None`` (fully
        sampled).
      spatial_rank: 2 (FFT over the last two axes) or 3.
      dtype: complex dtype of the computation (``complex64`` default; ``complex128`` for gradient checks).
    """

    #: k-space lies on the image's Cartesian grid (the operator protocol, tfmri_zoo.physics.operators); the FFT's
    #: centring ramps are then folded into the coil maps at construction. The NUFFT subclass sets ``False``.
    cartesian = True

    def __init__(self, sensitivities=None, mask=None, spatial_rank=2, dtype=tf.complex64):
        if spatial_rank not in (2, 3):
            raise ValueError(f"spatial_rank: expected 2 or 3, got {spatial_rank}.")
        self.spatial_rank = spatial_rank
        self.dtype = tf.as_dtype(dtype)
        if sensitivities is not None:
            sensitivities = validation.as_complex(sensitivities, "sensitivities", self.dtype)
            if sensitivities.shape.rank is None or sensitivities.shape.rank < spatial_rank + 2:
                raise ValueError(f"sensitivities: expected rank >= {spatial_rank + 2} "
                                 f"[batch, coils, *extra, *spatial], got shape {sensitivities.shape}.")
        self.sensitivities = sensitivities
        self.mask = None if mask is None else validation.as_mask(mask, "mask", self.dtype)
        self._centred_maps = self._ramps = None
        self._outer_axis_constant = None
        self._normal_weight = None if self.mask is None else self.mask * self.mask   # MᴴM (= M for a binary mask)
        if (self.mask is not None and self.varying_axes() == spatial_rank and self.mask.shape.rank is not None
                and self.mask.shape.rank >= spatial_rank):
            # bool scalar: the mask is constant along the first spatial axis (lines given as a full 2D mask)
            first = self.mask[(Ellipsis, slice(0, 1)) + (slice(None),) * (spatial_rank - 1)]
            self._outer_axis_constant = tf.reduce_all(tf.equal(self.mask, first))
        if sensitivities is not None and self.cartesian:
            self._ramps = self.centring(sensitivities)
            self._centred_maps = sensitivities * self._ramps[0]

    def centring(self, like):
        """``(pre, post, adjoint_post)`` ramps of ``like``'s trailing spatial axes: ``fftnc(x) = post ⊙ fft(pre ⊙ x)``,
        ``ifftnc(X) = adjoint_post ⊙ ifft(conj(pre) ⊙ X)`` (the last two axes' sizes read at run time)."""
        if self._ramps is not None:
            return self._ramps
        size = tf.shape(like)[-self.spatial_rank:]
        pre, post = centring_ramps(size, self.dtype)
        return pre, post, tf.cast(tf.reduce_prod(size), self.dtype) * tf.math.conj(post)

    def _centred_coils(self, image):
        """``pre ⊙ C x``: coil images with the centring input ramp applied, ``[B, C, *extra, *spatial]``."""
        image = tf.expand_dims(image, 1)
        if self._centred_maps is not None:
            return image * self._centred_maps
        return image * self.centring(image)[0]

    def _centred_combine(self, coil_images):
        """``Cᴴ (conj(pre) ⊙ ·)``: the adjoint of :meth:`_centred_coils`."""
        if self._centred_maps is not None:
            return tf.reduce_sum(tf.math.conj(self._centred_maps) * coil_images, axis=1)
        return coil_images[:, 0] * tf.math.conj(self.centring(coil_images)[0])

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

    def support(self):
        """:func:`coil_support` of this operator's maps in its real dtype (``None`` without maps)."""
        if self.sensitivities is None:
            return None
        return coil_support(self.sensitivities, self.dtype.real_dtype)

    def apply_mask(self, kspace):
        """M (a real diagonal, so self-adjoint)."""
        return kspace if self.mask is None else kspace * self.mask

    # -- the operator ---------------------------------------------------------------------------------------------
    def forward(self, image):
        """E x: complex image ``[B, *extra, *spatial]`` → masked k-space ``[B, C, *extra, *spatial]``."""
        image = self._check_image(image)
        coils = self._centred_coils(self.image_transform(image))
        return self.apply_mask(self.centring(coils)[1] * dft(coils, self.spatial_rank))

    def adjoint(self, kspace):
        """Eᴴ y: k-space ``[B, C, *extra, *spatial]`` → image ``[B, *extra, *spatial]``."""
        kspace = self._check_kspace(kspace)
        coils = dft(self.centring(kspace)[2] * self.apply_mask(kspace), self.spatial_rank, inverse=True)
        return self.image_adjoint(self._centred_combine(coils))

    def varying_axes(self):
        """Number of trailing spatial axes along which the mask varies (static shapes; an unknown size counts as
        varying): 2 for a 2D mask ``[B, 1, H, W]``, 1 for Cartesian lines ``[B, 1, 1, W]``, 0 without a mask."""
        if self.mask is None:
            return 0
        shape = [1] * self.spatial_rank + list(self.mask.shape)
        leading = 0
        for size in shape[-self.spatial_rank:]:
            if size != 1:
                break
            leading += 1
        return self.spatial_rank - leading

    def normal(self, image):
        """Eᴴ E x, image → image.

        No centring ramp (``|post|² N = 1`` cancels between the FFT pair), and the FFT only over the axes the mask
        varies along: a mask constant along an axis commutes with the FFT along it, so ``F⁻¹ M F`` of Cartesian lines
        ``[B, 1, 1, W]`` is a 1D FFT pair along W (exact, half the work of the 2D pair)."""
        image = self._check_image(image)
        coils = self._centred_coils(self.image_transform(image))
        if self.mask is not None:                  # without a mask F⁻¹F = I: nothing to transform
            coils = self._masked_pair(coils, self.varying_axes())
        return self.image_adjoint(self._centred_combine(coils))

    def _masked_pair(self, coils, rank):
        """``F⁻¹ MᴴM F`` over the last ``rank`` axes. When the mask's static shape does not show that it is constant
        along the first spatial axis (a served ``[B, H, W]`` line mask), that is decided at run time, once per
        operator (``_outer_axis_constant``), and the pair drops that axis."""
        weight = self._normal_weight
        if rank == self.spatial_rank and self._outer_axis_constant is not None:
            row = weight[(Ellipsis, slice(0, 1)) + (slice(None),) * (self.spatial_rank - 1)]
            return tf.cond(self._outer_axis_constant, lambda: weighted_fft_pair(coils, rank - 1, row),
                           lambda: weighted_fft_pair(coils, rank, weight))
        return weighted_fft_pair(coils, rank, weight)

    def __call__(self, image):
        return self.forward(image)


def weighted_fft_pair(x, rank, weight):
    """``ifft(weight ⊙ fft(x))`` over the last ``rank`` axes of ``x`` (``weight ⊙ x`` when ``rank`` is 0)."""
    if rank == 0:
        return x * weight
    return dft(weight * dft(x, rank), rank, inverse=True)
