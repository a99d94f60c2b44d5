"""tf.data pipeline for non-Cartesian training and evaluation: fastMRI-schema files → radial (any trajectory) inputs.

The files hold fully sampled Cartesian k-space; each slice's coil images ``ifft2c(k)`` are sampled on the given
trajectory by the NUFFT (the same forward operator the ``operator="nufft"`` models use), so k-space, maps and target
stay consistent, and the Cartesian pipeline's reading, sharding, shuffling, cropping and ESPIRiT maps are reused
(:func:`tfmri_zoo.data.pipeline.make_dataset` with all lines kept). Elements, for :func:`noncartesian_dataset`::

  inputs["kspace"]         complex64 [B, C, M]   NUFFT samples of the coil images, divided by the scale s
  inputs["trajectory"]     float32   [B, M, 2]   radians, [-π, π) (the same trajectory for every example)
  inputs["density"]        float32   [B, M]      density compensation weights (present when given)
  inputs["sensitivities"]  complex64 [B, C, H, W]
  target                   complex64 [B, H, W]   SENSE combination of the fully sampled coil images, divided by s

Normalisation: ``s = max |Eᴴ W y|`` per example (the density-weighted adjoint, i.e. the gridding image the model
itself normalises by), so targets end up near ``[0, 1]`` and a served model sees data scaled the same way.
"""
import tensorflow as tf

from tfmri_zoo import validation
from tfmri_zoo.data.pipeline import make_dataset
from tfmri_zoo.physics.fft import ifft2c
from tfmri_zoo.physics.nufft import NUFFT
from tfmri_zoo.physics.operators import make_operator
from tfmri_zoo.recon.problem import data_scale


def noncartesian_dataset(files, trajectory, density=None, batch_size=1, crop=None, sensitivities="auto", **kwargs):
    """Builds the non-Cartesian ``tf.data.Dataset`` of ``(inputs, target)`` described in the module docstring.

    Args:
      files: list of fastMRI-schema ``.h5`` paths (fully sampled 2D k-space), or a directory holding them. All slices
        must have one image size (after ``crop``): the NUFFT grid is static.
      trajectory: real ``[M, 2]`` k-space locations in radians (e.g.
        :func:`tfmri_zoo.physics.trajectories.radial_trajectory`).
      density: optional real ``[M]`` density compensation weights (e.g. :func:`tfmri_zoo.physics.radial_density`).
      batch_size: examples per batch.
      crop: ``(h, w)`` centre crop in image space, or ``None``.
      sensitivities: ``"auto"``, ``"stored"`` or ``"espirit"`` (maps are required: the NUFFT operator is SENSE).
      **kwargs: further :func:`~tfmri_zoo.data.pipeline.make_dataset` arguments (``shuffle``, ``seed``,
        ``cache_dir``, ``num_shards``, ...); not ``mask_func``, ``normalize`` or ``return_info``.

    Returns:
      ``tf.data.Dataset`` (with the ``slices``/``skipped`` attributes of ``make_dataset``).

    Raises:
      ValueError: a trajectory not ``[M, 2]``, a density not ``[M]``, ``sensitivities=None``, ``mask_func``,
        ``normalize`` or ``return_info`` passed, or files of several image sizes.
    """
    trajectory = tf.convert_to_tensor(trajectory, tf.float32)
    if trajectory.shape.rank != 2 or trajectory.shape[-1] != 2:
        raise ValueError(f"trajectory: expected float32 [M, 2] in radians, got shape {trajectory.shape}.")
    trajectory = validation.check_trajectory(trajectory)
    if density is not None:
        density = tf.convert_to_tensor(density, tf.float32)
        if density.shape != trajectory.shape[:1]:
            raise ValueError(f"density: expected [M] = [{trajectory.shape[0]}], got shape {density.shape}.")
    if sensitivities is None:
        raise ValueError("sensitivities: non-Cartesian inputs need coil maps ('auto', 'stored' or 'espirit').")
    for name in ("mask_func", "normalize", "return_info"):
        if name in kwargs:
            raise ValueError(f"{name}: not an option of noncartesian_dataset (the trajectory replaces the mask, and "
                             f"the scale is max|EᴴWy|, not the Cartesian pipeline's).")
    dataset = make_dataset(files, mask_func=None, normalize=None, batch_size=batch_size, crop=crop,
                           sensitivities=sensitivities, **kwargs)
    sizes = {tuple(info["kspace_shape"][-2:]) if crop is None else tuple(crop) for info in dataset.slices.files}
    if len(sizes) != 1:
        raise ValueError(f"files: hold images of several sizes {sorted(sizes)}; the NUFFT grid is static, so pass "
                         f"crop=(h, w) or files of one size.")
    nufft = NUFFT(trajectory, sizes.pop())

    def to_noncartesian(inputs, target, *rest):
        maps = inputs["sensitivities"]
        batch = tf.shape(maps)[0]
        sampling = {"trajectory": tf.broadcast_to(trajectory, tf.concat([[batch], tf.shape(trajectory)], 0))}
        if density is not None:
            sampling["density"] = tf.broadcast_to(density, tf.concat([[batch], tf.shape(density)], 0))
        kspace = nufft.forward(ifft2c(inputs["kspace"]))                          # [B, C, M]
        gridded = make_operator(sampling, maps).adjoint(kspace)
        scale = data_scale(gridded)
        complex_scale = tf.complex(scale, tf.zeros_like(scale))
        out = {"kspace": kspace / complex_scale[:, None, None], **sampling, "sensitivities": maps}
        return (out, target / complex_scale[:, None, None]) + tuple(rest)

    mapped = dataset.map(to_noncartesian, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    mapped.slices, mapped.skipped, mapped.num_skipped = dataset.slices, dataset.skipped, dataset.num_skipped
    return mapped
