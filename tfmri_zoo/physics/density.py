"""Density compensation weights for non-Cartesian k-space, in Cartesian-cell units.

A weight ``w_j`` is the k-space area (volume in 3D) that sample ``j`` represents, divided by the area of one Cartesian
cell ``(2π)^d / prod N``. With this scaling a fully sampled Cartesian trajectory has ``w = 1`` and, for the
orthonormal NUFFT ``A`` of :mod:`tfmri_zoo.physics.nufft`, ``Aᴴ (w · A x) ≈ x`` for a well-sampled trajectory
(gridding reconstruction). Weights are float32 ``[*P, M]`` matching ``points [*P, M, ndim]``.

* :func:`radial_density` — analytic ramp for full-diameter radial spokes: a sample at radius ``|k|`` represents the
  area ``|k| · (π / spokes) · Δk``, ``Δk = 2π / num_readout``; the spokes' shared centre sample gets the disc
  ``π (Δk/2)² / spokes`` (radius clamped at ``Δk / 4``).
* :func:`pipe_menon_density` — iterative estimate for any trajectory (Pipe & Menon, MRM 1999):
  ``w ← w / (C ∗ w)`` evaluated at the samples, where ``C ∗`` is gridding then interpolation with the NUFFT's
  Kaiser-Bessel kernel, ``S Sᴴ`` — a convolution with the kernel's autocorrelation ``ψ``. The fixed point has
  ``Σ_j w_j ψ(u_i - u_j) = 1``; since ``∫ψ = (∫φ)^2`` per axis, converting to Cartesian-cell units multiplies by
  ``(∫φ)^(2d) / prod σ`` (``∫φ = W sinh β / β``, ``σ_i = G_i / N_i`` grid cells per Cartesian cell).
"""
import math

import numpy as np
import tensorflow as tf

from tfmri_zoo.physics.nufft import DEFAULT_KERNEL_WIDTH, DEFAULT_OVERSAMPLING, NUFFT, kaiser_bessel_transform


def radial_density(points, image_shape, num_spokes, num_readout):
    """Analytic ramp weights for a 2D radial trajectory of full-diameter spokes.

    Args:
      points: real ``[*P, M, 2]`` radial trajectory in radians (e.g. from
        :func:`tfmri_zoo.physics.trajectories.radial_trajectory`), spokes covering 180°.
      image_shape: ``(H, W)`` of the image.
      num_spokes: spokes per image (per frame for a dynamic trajectory).
      num_readout: samples per spoke spanning ``[-π, π)`` (readout spacing ``2π / num_readout``).

    Returns:
      float32 ``[*P, M]`` weights in Cartesian-cell units.
    """
    points = np.asarray(points, np.float64)
    if points.ndim < 2 or points.shape[-1] != 2:
        raise ValueError(f"points: expected a 2D trajectory [..., M, 2], got shape {points.shape}.")
    if len(image_shape) != 2:
        raise ValueError(f"image_shape: expected (H, W), got {image_shape}.")
    for value, name in ((num_spokes, "num_spokes"), (num_readout, "num_readout")):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}.")
    spacing = 2.0 * math.pi / num_readout
    radius = np.maximum(np.linalg.norm(points, axis=-1), spacing / 4.0)
    cell = (2.0 * math.pi) ** 2 / float(np.prod(image_shape))
    return (radius * (math.pi / num_spokes) * spacing / cell).astype(np.float32)


def pipe_menon_density(points, image_shape, num_iterations=10, oversampling=DEFAULT_OVERSAMPLING,
                       kernel_width=DEFAULT_KERNEL_WIDTH):
    """Iterative density compensation (Pipe & Menon 1999) with the NUFFT's gridding kernel.

    Args:
      points: real ``[*P, M, ndim]`` trajectory in radians; leading axes (e.g. frames) get independent weights.
      image_shape: the ``ndim`` spatial sizes of the image.
      num_iterations: fixed-point iterations (10 to 20 suffice in practice).
      oversampling: grid oversampling ratio of the kernel used.
      kernel_width: Kaiser-Bessel width in oversampled grid cells.

    Returns:
      float32 ``[*P, M]`` weights in Cartesian-cell units.
    """
    if not isinstance(num_iterations, (int, np.integer)) or num_iterations < 1:
        raise ValueError(f"num_iterations: expected a positive int, got {num_iterations!r}.")
    plan = NUFFT(points, image_shape, oversampling, kernel_width, dtype=tf.complex64)
    real = plan.points.dtype
    weights = tf.ones(tf.shape(plan.points)[:-1], real)
    for _ in range(num_iterations):
        smoothed = tf.math.real(plan.interpolate(plan.spread(tf.complex(weights, tf.zeros_like(weights)))))
        weights = weights / tf.maximum(smoothed, np.finfo(np.float32).tiny)
    kernel_integral = float(kaiser_bessel_transform(0.0, plan.kernel_width, plan.beta))
    ratio = np.prod([g / n for g, n in zip(plan.grid_shape, plan.image_shape)])
    return (weights * (kernel_integral ** (2 * plan.ndim) / ratio)).numpy().astype(np.float32)
