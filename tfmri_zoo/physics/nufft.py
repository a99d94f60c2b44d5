"""Non-uniform FFT (NUFFT) by Kaiser-Bessel gridding, in pure TensorFlow.

Convention (the one of tensorflow-mri, and of :func:`tfmri_zoo.physics.fftnc`):

* ``points`` are k-space locations in **radians per pixel**, one column per image axis in the image's axis order
  (``points[..., 0]`` pairs with the first spatial axis, e.g. H), shape ``[..., M, ndim]``. The Nyquist range is
  ``[-π, π)``; values outside are taken modulo 2π (the transform is periodic).
* Image pixel ``i`` along an axis of length ``N`` sits at the centred coordinate ``n = i - N // 2``.
* Forward (type 2, image → non-uniform samples)::

      y_j = 1/sqrt(prod N) · Σ_n x_n · exp(-i ⟨k_j, n⟩)

  so on a Cartesian trajectory ``k = 2π (i - N//2) / N`` it reproduces ``fftnc`` (centred, orthonormal).
* Adjoint (type 1, samples → image): ``x_n = 1/sqrt(prod N) · Σ_j y_j · exp(+i ⟨k_j, n⟩)``, computed as the exact
  adjoint of the approximate forward (same indices and weights), so ⟨A x, y⟩ = ⟨x, Aᴴ y⟩ to rounding.

Algorithm (Beatty, Nishimura, Pauly, IEEE TMI 2005): divide the image by the Fourier transform of the gridding
kernel (deapodisation / roll-off correction), zero-pad to an oversampled grid ``G = σN`` (rounded up to even),
a centred orthonormal FFT on that grid, then interpolate to each sample with a separable Kaiser-Bessel kernel
of ``kernel_width`` grid cells, ``φ(t) = I0(β sqrt(1 - (2t/W)²))``, ``β = π sqrt((W/σ)² (σ - 1/2)² - 0.8)``. Interpolation is a
precomputed real sparse matrix ``S`` (samples × grid points, block-diagonal over the trajectories of ``points``)
applied with ``tf.sparse.sparse_dense_matmul`` — ``S`` for the forward, ``Sᴴ`` for the adjoint — to the real view
of a ``[grid points, batch·coils·2]`` matrix: no Python loop over samples, no scatter, the same graph on CPU and
GPU. Under XLA (``jit_compile``), which has no sparse matrices, the same ``S`` is applied by gather and
segment-sum. The grid is even, so the centring of its FFT is two (−1) checkerboards (:mod:`tfmri_zoo.physics.fft`):
one is folded into the deapodisation, the other into the weights of ``S``, and the transform itself is a plain FFT.

Accuracy against an exact non-uniform DFT (σ = 2, measured in ``tests/physics/test_nufft.py``): relative error
about 7e-4 for W = 4, 7e-5 for W = 5 (the default), 7e-6 for W = 6 (float64, 2D and 3D).
"""
import math

import numpy as np
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.physics.fft import dft

DEFAULT_OVERSAMPLING = 2.0
DEFAULT_KERNEL_WIDTH = 5


def kaiser_bessel_beta(kernel_width, oversampling):
    """Beatty et al. (2005) Eq. 5: the Kaiser-Bessel shape ``β`` minimising aliasing for width ``W`` and ratio ``σ``."""
    value = (kernel_width / oversampling) ** 2 * (oversampling - 0.5) ** 2 - 0.8
    if value <= 0:
        raise ValueError(f"kernel_width: {kernel_width} is too narrow for oversampling {oversampling} "
                         f"(Beatty's β would be imaginary); use a wider kernel.")
    return math.pi * math.sqrt(value)


def oversampled_size(n, oversampling):
    """Length of the oversampled grid for an image axis of length ``n``: ``ceil(σ n)`` rounded up to even."""
    g = int(math.ceil(oversampling * n - 1e-9))
    return g + (g % 2)


def kaiser_bessel_transform(nu, kernel_width, beta):
    """Continuous Fourier transform ``∫ φ(t) exp(2πi ν t) dt`` of the Kaiser-Bessel kernel (numpy, float64).

    ``= W sinh(sqrt(β² - (πWν)²)) / sqrt(β² - (πWν)²)``, continued with ``sin`` where the root is imaginary.
    """
    arg = beta ** 2 - (np.pi * kernel_width * np.asarray(nu, np.float64)) ** 2
    root = np.sqrt(np.abs(arg))
    safe = np.where(root == 0, 1.0, root)
    ratio = np.where(arg >= 0, np.sinh(safe), np.sin(safe)) / safe
    return kernel_width * np.where(root == 0, 1.0, ratio)


class NUFFT:
    """A planned NUFFT: interpolation indices, weights and deapodisation computed once for a trajectory.

    Args:
      points: real ``[*P, M, ndim]`` k-space locations in radians (see module docstring). The leading axes ``P``
        broadcast, aligned to the right, against the leading axes of the image (e.g. ``[T, M, 2]`` for a per-frame
        trajectory with images ``[B, C, T, H, W]``); ``[M, ndim]`` is shared by all leading axes.
      image_shape: the ``ndim`` spatial sizes, e.g. ``(H, W)`` or ``(D, H, W)``; ``ndim`` is 1, 2 or 3.
      oversampling: grid oversampling ratio ``σ`` (> 1).
      kernel_width: Kaiser-Bessel kernel width ``W`` in oversampled grid cells (an int ≥ 2).
      dtype: complex dtype of the data (``complex64`` default, ``complex128`` for precise checks).
      interpolation: ``None`` (computed here) or the ``(indices, weights)`` of an earlier plan of the same
        ``points``, ``image_shape``, ``oversampling`` and ``kernel_width`` (:attr:`interpolation`), so that operators
        rebuilt at every call of a model share one plan (:func:`tfmri_zoo.physics.operators.plan_sampling`).

    Attributes:
      interpolation: ``(indices int32 [*P, M, W^ndim], weights real [*P, M, W^ndim])``: the flat oversampled-grid
        index and the kernel weight (centring sign included) of every sample's ``W^ndim`` neighbours.
    """

    def __init__(self, points, image_shape, oversampling=DEFAULT_OVERSAMPLING, kernel_width=DEFAULT_KERNEL_WIDTH,
                 dtype=tf.complex64, interpolation=None):
        self.dtype = tf.as_dtype(dtype)
        if not self.dtype.is_complex:
            raise TypeError(f"dtype: expected complex64 or complex128, got {self.dtype.name}.")
        real = self.dtype.real_dtype
        self.image_shape = tuple(int(n) for n in image_shape)
        self.ndim = len(self.image_shape)
        if not 1 <= self.ndim <= 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape: expected 1 to 3 positive sizes, got {image_shape}.")
        if not isinstance(kernel_width, (int, np.integer)) or kernel_width < 2:
            raise ValueError(f"kernel_width: expected an int >= 2, got {kernel_width!r}.")
        if not oversampling > 1.0:
            raise ValueError(f"oversampling: expected a ratio > 1, got {oversampling!r}.")
        self.kernel_width = int(kernel_width)
        self.oversampling = float(oversampling)
        self.beta = kaiser_bessel_beta(self.kernel_width, self.oversampling)
        self.grid_shape = tuple(oversampled_size(n, self.oversampling) for n in self.image_shape)
        self.points = _check_points(points, self.ndim, real)
        self.points_lead_rank = self.points.shape.rank - 2
        self.num_points = tf.shape(self.points)[-2]
        # axes of points with a static size other than 1 index diagonal blocks of S (see _layout)
        self._block_axes = [i for i, n in enumerate(self.points.shape[:-2]) if n != 1]
        if interpolation is None:
            self.interpolation = self._interpolation()
        else:
            indices, weights = interpolation
            self.interpolation = (tf.cast(indices, tf.int32), tf.cast(weights, real))
        self._matrix = self._interpolation_matrix(*self.interpolation)
        deapodisation = self._deapodisation()
        grid_size = float(np.prod(self.grid_shape))
        # the plain FFT's scale: 1/sqrt(G) forward; its adjoint is G·ifft, so sqrt(G) after the ifft
        self.deapodisation = tf.constant(deapodisation / np.sqrt(grid_size), dtype=self.dtype)
        self.adjoint_deapodisation = tf.constant(deapodisation * np.sqrt(grid_size), dtype=self.dtype)

    # -- plan -----------------------------------------------------------------------------------------------------
    def _deapodisation(self):
        """Real ``image_shape`` array ``sqrt(prod G / prod N) / prod_d Φ(n_d / G_d)`` (roll-off correction × scale),
        times the centring checkerboard ``(−1)^p`` of each pixel's position ``p`` on the zero-padded grid."""
        out = np.ones((), np.float64)
        for n, g in zip(self.image_shape, self.grid_shape):
            centred = np.arange(n) - n // 2
            checkerboard = (-1.0) ** (g // 2 + centred)
            correction = np.sqrt(g / n) / kaiser_bessel_transform(centred / g, self.kernel_width, self.beta)
            out = out[..., None] * (correction * checkerboard)
        return out

    def _interpolation(self):
        """Flat grid indices ``int32 [*P, M, W^ndim]`` and real kernel weights of the same shape."""
        width = self.kernel_width
        real = self.points.dtype
        offsets = tf.range(width, dtype=real)
        indices, weights = None, None
        for axis, g in enumerate(self.grid_shape):
            u = self.points[..., axis] * (g / (2.0 * math.pi))                # grid units, [*P, M]
            start = tf.floor(u - width / 2.0) + 1.0
            cells = start[..., None] + offsets                                  # [*P, M, W]
            distance = 2.0 * (u[..., None] - cells) / width
            index = tf.math.floormod(tf.cast(cells, tf.int32) + g // 2, g)
            # the centring checkerboard of the plain FFT's output, (−1)^(g/2 + index), folded into the weights
            sign = 1.0 - 2.0 * tf.cast(tf.math.floormod(index + g // 2, 2), real)
            argument = self.beta * tf.sqrt(tf.maximum(1.0 - distance ** 2, 0.0))
            weight = sign * tf.math.bessel_i0e(argument) * tf.exp(argument)   # I0; BesselI0 has no XLA kernel
            if indices is None:
                indices, weights = index, weight
            else:
                indices = (indices[..., :, None] * g + index[..., None, :])
                weights = weights[..., :, None] * weight[..., None, :]
                merged = tf.concat([tf.shape(indices)[:-2], [-1]], 0)
                indices, weights = tf.reshape(indices, merged), tf.reshape(weights, merged)
        return indices, weights

    # -- helpers --------------------------------------------------------------------------------------------------
    def _layout(self, rank):
        """How data with ``rank`` leading axes ``L`` maps onto the block-diagonal interpolation matrix.

        ``points``' leading axes ``P`` align with the trailing axes of ``L``. An axis where ``P`` has static size 1
        is shared by the whole axis of ``L`` (e.g. the coils): it becomes a column of the dense operand, like the
        axes of ``L`` before ``P``; every other axis of ``P`` indexes a diagonal block. Returns ``(blocks, columns)``,
        two lists of axes of ``L``.
        """
        self._check_lead_rank(rank)
        cut = rank - self.points_lead_rank
        blocks = [cut + i for i in self._block_axes]
        return blocks, [a for a in range(rank) if a not in blocks]

    def _check_lead_rank(self, rank, name="data"):
        if rank < self.points_lead_rank:
            raise ValueError(f"{name}: has {rank} leading axes but points have {self.points_lead_rank} "
                             f"(points' leading axes align with the trailing leading axes of {name}).")

    def _to_rows(self, data, rank):
        """``[*L, N]`` → ``[blocks·N, columns]``: each diagonal block's ``N`` values stacked, shared axes as columns."""
        blocks, columns = self._layout(rank)
        lead = tf.shape(data)[:rank]
        moved = tf.transpose(data, blocks + [rank] + columns)
        return tf.reshape(moved, [-1, tf.reduce_prod(_take(lead, columns))]), (lead, blocks, columns)

    def _from_rows(self, rows, layout, size):
        """Inverse of :meth:`_to_rows` for ``size`` values per block: ``[blocks·size, columns]`` → ``[*L, size]``."""
        lead, blocks, columns = layout
        rank = len(blocks) + len(columns)
        moved = tf.reshape(rows, tf.concat([_take(lead, blocks), [size], _take(lead, columns)], 0))
        return tf.transpose(moved, np.argsort(blocks + [rank] + columns).tolist())

    # -- gridding: the sparse interpolation matrix S (samples × grid) and its adjoint -----------------------------
    def _interpolation_matrix(self, indices, weights):
        """S as a block-diagonal ``SparseTensor [blocks·M, blocks·G]`` from the grid ``indices`` and real kernel
        ``weights`` ``[*P, M, W^ndim]`` (one block per trajectory of ``points``; row-major, ``W^ndim`` entries per
        sample)."""
        k = self.kernel_width ** self.ndim
        grid_size = int(np.prod(self.grid_shape))
        indices = tf.reshape(tf.cast(indices, tf.int64), [-1, self.num_points, k])
        num_blocks = tf.shape(indices, out_type=tf.int64)[0]
        num_points = tf.cast(self.num_points, tf.int64)
        block = tf.range(num_blocks)[:, None, None]
        columns = indices + block * grid_size
        rows = tf.broadcast_to(block * num_points + tf.range(num_points)[None, :, None], tf.shape(columns))
        coordinates = tf.stack([tf.reshape(rows, [-1]), tf.reshape(columns, [-1])], axis=1)
        return tf.sparse.SparseTensor(coordinates, tf.reshape(weights, [-1]),
                                      tf.stack([num_blocks * num_points, num_blocks * grid_size]))

    def _apply(self, rows, adjoint):
        """``S @ rows`` (``[blocks·G, A]`` → ``[blocks·M, A]``) or ``Sᴴ @ rows``, complex.

        Outside XLA: one ``sparse_dense_matmul`` on the real view ``[·, 2A]`` (S is real), which is 2.5× faster than
        a scatter-add for the adjoint on the CPU (``benchmarks/nufft.py``). XLA cannot compile sparse matrices, so
        inside ``jit_compile`` the same matrix is applied as a kernel-weighted gather / ``unsorted_segment_sum``.
        """
        if _in_xla_context():
            # S's column of every entry is already the global row of the dense operand (block offset included)
            k = self.kernel_width ** self.ndim
            indices = tf.reshape(tf.cast(self._matrix.indices[:, 1], tf.int32), [-1, self.num_points, k])
            weights = tf.cast(tf.reshape(self._matrix.values, tf.shape(indices)), rows.dtype)[..., None]
            if adjoint:
                values = tf.reshape(rows, [tf.shape(indices)[0], self.num_points, 1, -1]) * weights
                return tf.math.unsorted_segment_sum(values, indices, tf.cast(self._matrix.dense_shape[1], tf.int32))
            values = tf.reduce_sum(tf.gather(rows, indices) * weights, axis=2)
            return tf.reshape(values, [-1, tf.shape(rows)[1]])
        columns = tf.shape(rows)[1]
        as_real = tf.reshape(_real_view(rows), [tf.shape(rows)[0], 2 * columns])
        product = tf.sparse.sparse_dense_matmul(self._matrix, as_real, adjoint_a=adjoint)
        return _complex_view(tf.reshape(product, [tf.shape(product)[0], columns, 2]))

    def interpolate(self, grid):
        """S: oversampled k-space grid ``[*L, *grid_shape]`` → samples ``[*L, M]``. The grid is the plain FFT of the
        padded image as :meth:`forward` makes it; the centring signs are in the weights of S."""
        d = self.ndim
        rank = grid.shape.rank - d
        flat = tf.reshape(grid, tf.concat([tf.shape(grid)[:rank], [-1]], 0))
        rows, layout = self._to_rows(flat, rank)
        return self._from_rows(self._apply(rows, adjoint=False), layout, self.num_points)

    def spread(self, samples):
        """Sᴴ (gridding): samples ``[*L, M]`` → oversampled grid ``[*L, *grid_shape]`` (kernel-weighted sums)."""
        rank = samples.shape.rank - 1
        rows, layout = self._to_rows(samples, rank)
        grid = self._from_rows(self._apply(rows, adjoint=True), layout, int(np.prod(self.grid_shape)))
        return tf.reshape(grid, tf.concat([tf.shape(samples)[:rank], self.grid_shape], 0))

    # -- the transforms -------------------------------------------------------------------------------------------
    def forward(self, image):
        """Type-2 NUFFT: complex image ``[*L, *image_shape]`` → samples ``[*L, M]``."""
        image = validation.as_complex(image, "image", self.dtype)
        d = self.ndim
        if image.shape.rank is None or image.shape.rank < d or tuple(image.shape[-d:]) != self.image_shape:
            raise ValueError(f"image: expected trailing spatial shape {self.image_shape}, got shape {image.shape}.")
        self._check_lead_rank(image.shape.rank - d, "image")
        pad_before = [g // 2 - n // 2 for n, g in zip(self.image_shape, self.grid_shape)]
        paddings = [[0, 0]] * (image.shape.rank - d) + [
            [b, g - n - b] for b, n, g in zip(pad_before, self.image_shape, self.grid_shape)]
        grid = dft(tf.pad(image * self.deapodisation, paddings), d)
        return self.interpolate(grid)

    def adjoint(self, kspace):
        """Type-1 NUFFT (adjoint of :meth:`forward`): samples ``[*L, M]`` → complex image ``[*L, *image_shape]``."""
        kspace = validation.as_complex(kspace, "kspace", self.dtype)
        if kspace.shape.rank is None or kspace.shape.rank < 1:
            raise ValueError(f"kspace: expected shape [..., M], got {kspace.shape}.")
        m = kspace.shape[-1]
        if m is not None and self.points.shape[-2] is not None and m != self.points.shape[-2]:
            raise ValueError(f"kspace: last axis has {m} samples but points have {self.points.shape[-2]}.")
        self._check_lead_rank(kspace.shape.rank - 1, "kspace")
        d = self.ndim
        grid = self.spread(kspace)
        grid = dft(grid, d, inverse=True)
        begin = [0] * (kspace.shape.rank - 1) + [g // 2 - n // 2 for n, g in zip(self.image_shape, self.grid_shape)]
        size = [-1] * (kspace.shape.rank - 1) + list(self.image_shape)
        return tf.slice(grid, begin, size) * self.adjoint_deapodisation

    def __call__(self, image):
        return self.forward(image)


def _take(shape, axes):
    """The sizes of ``axes`` (a Python list, possibly empty) of a dynamic shape vector."""
    return tf.gather(shape, tf.constant(axes, tf.int32))


@tf.custom_gradient
def _real_view(values):
    """Complex ``[..., n]`` → real ``[..., n, 2]`` (real, imaginary), without a copy (``tf.bitcast``).

    TensorFlow's gradient of a complex tensor is ``∂L/∂re + i ∂L/∂im``, so each view's gradient is the other view.
    """
    return tf.bitcast(values, values.dtype.real_dtype), lambda upstream: _complex_view(upstream)


@tf.custom_gradient
def _complex_view(values):
    """Real ``[..., n, 2]`` (real, imaginary) → complex ``[..., n]``, without a copy; inverse of :func:`_real_view`."""
    dtype = tf.complex64 if values.dtype == tf.float32 else tf.complex128
    return tf.bitcast(values, dtype), lambda upstream: _real_view(upstream)


def _in_xla_context():
    """True while tracing inside ``tf.function(jit_compile=True)`` (or a function it calls)."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - TensorFlow moved it; the sparse path then also serves XLA-free use
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _check_points(points, ndim, real_dtype):
    points = tf.convert_to_tensor(points)
    if points.dtype.is_complex or not (points.dtype.is_floating or points.dtype.is_integer):
        raise TypeError(f"points: expected a real float tensor [..., M, ndim] in radians, got {points.dtype.name}.")
    points = tf.cast(points, real_dtype)
    if points.shape.rank is None or points.shape.rank < 2 or points.shape[-1] != ndim:
        raise ValueError(f"points: expected shape [..., M, {ndim}] (ndim = len(image_shape)), got {points.shape}.")
    validation.check_finite(points, "points")
    return points


def nufft(image, points, oversampling=DEFAULT_OVERSAMPLING, kernel_width=DEFAULT_KERNEL_WIDTH):
    """Forward (type-2) NUFFT: uniform image → non-uniform k-space samples.

    Args:
      image: complex ``[*L, *spatial]`` image; ``spatial`` has ``ndim = points.shape[-1]`` axes (1, 2 or 3).
      points: real ``[*P, M, ndim]`` k-space locations in radians, ``[-π, π)`` per axis; ``P`` broadcasts against
        the trailing axes of ``L``.
      oversampling: grid oversampling ratio.
      kernel_width: Kaiser-Bessel width in oversampled grid cells.

    Returns:
      complex ``[*L, M]`` samples ``1/sqrt(N) Σ_n x_n exp(-i⟨k, n⟩)`` (same dtype as ``image``).
    """
    image = validation.as_complex(image, "image")
    points = tf.convert_to_tensor(points)
    ndim = points.shape[-1] if points.shape.rank else None
    if ndim is None or image.shape.rank is None or image.shape.rank < ndim:
        raise ValueError(f"points: expected shape [..., M, ndim] with ndim <= rank of image {image.shape}, "
                         f"got {points.shape}.")
    return NUFFT(points, image.shape[-ndim:], oversampling, kernel_width, image.dtype).forward(image)


def nufft_adjoint(kspace, points, image_shape, oversampling=DEFAULT_OVERSAMPLING,
                  kernel_width=DEFAULT_KERNEL_WIDTH):
    """Adjoint (type-1) NUFFT: non-uniform samples → uniform image.

    Args:
      kspace: complex ``[*L, M]`` samples.
      points: real ``[*P, M, ndim]`` k-space locations in radians.
      image_shape: the ``ndim`` spatial sizes of the output image.
      oversampling: grid oversampling ratio.
      kernel_width: Kaiser-Bessel width in oversampled grid cells.

    Returns:
      complex ``[*L, *image_shape]`` image, the exact adjoint of :func:`nufft` with the same settings.
    """
    kspace = validation.as_complex(kspace, "kspace")
    return NUFFT(points, image_shape, oversampling, kernel_width, kspace.dtype).adjoint(kspace)
