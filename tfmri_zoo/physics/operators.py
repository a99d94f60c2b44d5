"""The encoding-operator protocol and the one factory that builds an operator from a call's sampling inputs.

Protocol (what every solver, data-consistency layer, loss and model relies on; :class:`SenseOperator`,
:class:`NonCartesianSenseOperator` and :class:`MotionSenseOperator` implement it):

  forward(image)    E x:   complex ``[B, *extra, *spatial]``  → k-space ``[B, C, *extra, *kspace]``
  adjoint(kspace)   Eᴴ y:  k-space → image (for non-Cartesian data the density-weighted adjoint)
  normal(image)     Eᴴ E x: image → image (the operator of every CG solve)
  dtype             the complex dtype of the computation
  spatial_rank      the number of spatial axes (2 or 3)
  cartesian         ``True`` when k-space lies on the image's Cartesian grid (``kspace`` = ``spatial``), so that
                    k-space replacement and k-space CNNs apply; ``False`` for M non-uniform samples

An operator is a light Python object, rebuilt from tensors at each call (inside Keras layers, ``tf.function`` and
SavedModel signatures) and never stored on a layer between calls.

Sampling inputs (``sampling`` below, the same in models, layers and solvers):

  Cartesian      the mask: float32/bool broadcastable to k-space, e.g. ``[B, 1, 1, W]``; ``None``: fully sampled
  non-Cartesian  a dict ``{"trajectory": float32 [B, M, ndim] (radians, [-π, π)), "density": float32 [B, M]
                 (optional)}``, one trajectory per batch element, shared by the coils (and ``extra`` axes); or
                 ``{"trajectory": [B, *extra, M, ndim], "density": [B, *extra, M]}``, one trajectory per frame
                 (dynamic data: ``[B, T, M, ndim]``), shared by the coils; :func:`plan_sampling` adds the NUFFT
                 plan (``"nufft_indices"``, ``"nufft_weights"``) so that the operators a model rebuilds at every
                 data-consistency call share one plan
"""
import tensorflow as tf

from tfmri_zoo.physics.noncartesian import NonCartesianSenseOperator
from tfmri_zoo.physics.nufft import NUFFT
from tfmri_zoo.physics.sense import SenseOperator

#: The encoding kinds a model can be built for (the ``operator`` argument of every zoo model).
OPERATOR_KINDS = ("cartesian", "nufft")
#: Keys of a non-Cartesian sampling dict: the inputs, then the NUFFT plan that :func:`plan_sampling` adds.
SAMPLING_KEYS = ("trajectory", "density")
PLAN_KEYS = ("nufft_indices", "nufft_weights")


def plan_sampling(sampling, image_shape):
    """A non-Cartesian sampling dict with its NUFFT plan added (a Cartesian mask or ``None`` is returned as is).

    The plan (the interpolation indices and kernel weights of :class:`~tfmri_zoo.physics.nufft.NUFFT`, default
    oversampling and kernel width) is a pair of tensors, so it travels with the dict through layers, ``recompute``
    and SavedModel graphs; every :func:`make_operator` of that dict then reuses it instead of planning again.

    Args:
      sampling: ``{"trajectory": [B, (*extra,) M, ndim], "density": ...}`` (module docstring), or a mask / ``None``.
      image_shape: the ``ndim`` spatial sizes (static).

    Returns:
      the dict with ``"nufft_indices"`` int32 and ``"nufft_weights"`` real, each ``[B, (*extra,) M, W^ndim]``.
    """
    if not isinstance(sampling, dict) or all(key in sampling for key in PLAN_KEYS):
        return sampling
    indices, weights = NUFFT(tf.convert_to_tensor(sampling["trajectory"]), tuple(image_shape)).interpolation
    return {**sampling, "nufft_indices": indices, "nufft_weights": weights}


def operator_kind(sampling):
    """``"nufft"`` for a non-Cartesian sampling dict, ``"cartesian"`` for a mask or ``None``."""
    return "nufft" if isinstance(sampling, dict) else "cartesian"


def make_operator(sampling, sensitivities, spatial_rank=2, dtype=tf.complex64):
    """The encoding operator of one call.

    Args:
      sampling: a Cartesian mask (or ``None``), or a non-Cartesian ``{"trajectory", "density"}`` dict (module
        docstring).
      sensitivities: complex ``[B, C, *extra, *spatial]`` coil maps, or ``None`` for single-coil Cartesian data. A
        non-Cartesian operator needs them (their static spatial sizes give the image size).
      spatial_rank: 2 or 3.
      dtype: complex dtype of the computation.

    Returns:
      a :class:`SenseOperator` or a :class:`NonCartesianSenseOperator`.

    Raises:
      ValueError: a sampling dict without ``trajectory``, with unknown keys, or without sensitivities.
    """
    if not isinstance(sampling, dict):
        return SenseOperator(sensitivities, sampling, spatial_rank=spatial_rank, dtype=dtype)
    unknown = set(sampling) - set(SAMPLING_KEYS + PLAN_KEYS)
    if "trajectory" not in sampling or unknown:
        raise ValueError(f"sampling: a non-Cartesian sampling dict has 'trajectory' [B, M, ndim] and optionally "
                         f"'density' [B, M], got keys {sorted(sampling)}.")
    if sensitivities is None:
        raise ValueError("sensitivities: required for non-Cartesian data (they give the image size); for one coil "
                         "pass ones of shape [B, 1, *spatial].")
    sensitivities = tf.convert_to_tensor(sensitivities)
    # [B, M, ndim] → [B, 1, (1,)*extra, M, ndim]: one trajectory per batch element, shared by coils and extra axes;
    # [B, *extra, M, ndim] → [B, 1, *extra, M, ndim]: one per frame, shared by the coils.
    points, density = tf.convert_to_tensor(sampling["trajectory"]), sampling.get("density")
    inserted = sensitivities.shape.rank - spatial_rank + 2 - points.shape.rank
    if inserted < 1:
        raise ValueError(f"sampling: a trajectory of shape {points.shape} has more axes than the k-space of maps "
                         f"{sensitivities.shape} ([B, M, ndim] or [B, *extra, M, ndim]).")
    density = None if density is None else tf.convert_to_tensor(density)
    plan = [sampling[key] for key in PLAN_KEYS] if all(key in sampling for key in PLAN_KEYS) else None
    for _ in range(inserted):
        points = tf.expand_dims(points, 1)
        density = None if density is None else tf.expand_dims(density, 1)
        plan = None if plan is None else [tf.expand_dims(part, 1) for part in plan]
    return NonCartesianSenseOperator(sensitivities, points=points, density=density, dtype=dtype, interpolation=plan)
