"""Realistic multi-coil brain data in the fastMRI schema: domain-randomised "subjects" from the MNI ICBM152 template.

Each file is one subject (:mod:`tfmri_zoo.data.brain_anatomy` for the anatomy): one orientation, ``num_slices``
slices from its split's slabs, one random contrast (T1w, T2w, PDw or random tissue values), one elastic deformation,
rotation, flips and field of view, one matrix size (96–256 per side by default, non-square too), one random coil
array (4–16 Biot-Savart loops, varied ring radius and loop size), one noise level (image SNR ≈ 15–200 relative to
the mean tissue magnitude, correlated coil noise). The existing phantom generator (:mod:`tfmri_zoo.data.synthetic`)
stays as a second domain.

Splits by disjoint slabs: along each orientation's axis the brain's slice range is cut into slabs of
``SLAB`` slices, assigned in the repeating pattern :data:`SLAB_PATTERN` (6 train, 1 validation, 1 test); slices at a
slab border are dropped from validation and test slabs, so no validation/test slice has a training slice of the same
orientation within 2 mm. (Slices of different orientations cross along a line of voxels; the per-subject
deformation, contrast, coils and noise make every example distinct.)

Coil maps "as users reconstruct": the stored ``sensitivities`` are ESPIRiT maps (BART-equivalent,
:func:`tfmri_zoo.physics.coils.espirit`, one map, 6×6 kernel, crop 0.8) estimated from the noisy data's ``24 × 24``
k-space centre (a calibration region as ``bart ecalib -r 24`` uses; fastMRI's 4–8 % ACS of a 128-wide matrix is
5–10 lines, too few for a 6×6 kernel), not the simulation's true maps (stored as ``sensitivities_true``). Maps are
zero where ESPIRiT finds no signal (background). The pipeline's target is therefore the SENSE combination with the ESPIRiT maps, and every
method (learned or classical) sees the same maps.
"""
import os

import numpy as np

from tfmri_zoo.data import brain_anatomy as anatomy
from tfmri_zoo.data.fastmri import write_fastmri_file
from tfmri_zoo.data.synthetic_coils import (biot_savart_sensitivities, correlated_noise, loop_coils,
                                            noise_covariance)

SPLITS = ("train", "val", "test")
SLAB = 8
SLAB_PATTERN = ("train", "train", "train", "val", "train", "train", "train", "test")
SIZES = (96, 112, 128, 144, 160, 192, 224, 256)
NOISE_RANGE = (5e-3, 7e-2)
DEFAULT_SPLITS = {"train": 24, "val": 3, "test": 4}
#: The classes of :func:`segmentation_labels` (the ``recon_seg`` model's default four).
SEGMENTATION_CLASSES = ("background", "csf", "gm", "wm")


def segmentation_labels(labels):
    """The generator's tissue labels (:data:`~tfmri_zoo.data.brain_anatomy.LABELS`) as the four classes of
    :data:`SEGMENTATION_CLASSES`: background, CSF, GM, WM ("other" tissue — skull, scalp — counts as background).
    int ``[..., H, W]`` → int32 of the same shape."""
    labels = np.asarray(labels).astype(np.int32)
    return np.where(labels == anatomy.LABELS["other"], anatomy.LABELS["background"], labels)


def split_slices(split, orientation):
    """Atlas slice indices of ``split`` along ``orientation``'s axis (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}.")
    first, stop = anatomy.slice_range(orientation)
    indices = []
    for start in range(first, stop, SLAB):
        slab = list(range(start, min(start + SLAB, stop)))
        if SLAB_PATTERN[(start - first) // SLAB % len(SLAB_PATTERN)] != split:
            continue
        indices += slab if split == "train" else slab[2:-2]
    return np.asarray(indices, np.int64)


def espirit_acs_maps(kspace):
    """ESPIRiT maps (one map, 6×6 kernel, crop 0.8) from the noisy ``24 × 24`` k-space centre of ``[S, C, H, W]``."""
    from tfmri_zoo.physics.coils import espirit

    calib = (min(24, kspace.shape[-2]), min(24, kspace.shape[-1]))
    maps = [espirit(kspace[i:i + 1], calib_size=calib, kernel_size=6, crop=0.8).numpy()
            for i in range(kspace.shape[0])]
    return np.concatenate(maps).astype(np.complex64)


def brain_volume(seed, split="train", num_slices=4, shape=None, coils=None, noise_level=None, contrast=None,
                 orientation=None, sizes=SIZES, noise_range=NOISE_RANGE, texture="atlas"):
    """Generates one subject.

    Args:
      seed: integer seed; the subject is a deterministic function of all arguments.
      split: ``"train"``, ``"val"`` or ``"test"`` (which slabs slices come from).
      num_slices: slices per subject (distinct atlas slices of the split, sorted).
      shape: ``(H, W)``; default random from ``sizes`` per side (non-square allowed).
      coils: number of coils; default random in 4–16.
      noise_level: k-space noise std relative to the mean tissue magnitude; default log-uniform in ``noise_range``.
      contrast: one of :data:`~tfmri_zoo.data.brain_anatomy.CONTRASTS`; default random (T1w/T2w/PDw/random with
        probabilities 0.3/0.3/0.2/0.2).
      orientation: one of :data:`~tfmri_zoo.data.brain_anatomy.ORIENTATIONS`; default random.
      sizes: matrix sizes drawn from when ``shape`` is None (default :data:`SIZES`, 96–256).
      noise_range: ``(low, high)`` of the log-uniform noise level when ``noise_level`` is None (default
        :data:`NOISE_RANGE`, 0.005–0.07).
      texture: ``"atlas"`` (default), ``"scanner"`` (a scanner's contrast, fine texture and resolution:
        :mod:`~tfmri_zoo.data.brain_anatomy`) or ``"mixed"`` (either, with probability 1/2 per subject). Its random
        draws come from their own stream, so an ``"atlas"`` subject is the same whatever this argument.

    Returns:
      dict: ``kspace`` complex64 ``[S, C, H, W]``, ``sensitivities`` (ESPIRiT, same shape), ``sensitivities_true``,
      ``image`` complex64 ``[S, H, W]`` (noise-free), ``labels`` int8 ``[S, H, W]``, ``noise_covariance``
      ``[S, C, C]``, ``atlas_slice`` int ``[S]``, ``pixel_mm`` ``[S]``, and ``attrs``.
    """
    if texture not in anatomy.TEXTURES + ("mixed",):
        raise ValueError(f"texture: expected one of {anatomy.TEXTURES + ('mixed',)}, got {texture!r}.")
    scanner_rng = np.random.default_rng([seed, 1])
    if texture == "mixed":
        texture = "scanner" if scanner_rng.random() < 0.5 else "atlas"
    rng = np.random.default_rng(seed)
    orientation = orientation or str(rng.choice(anatomy.ORIENTATIONS))
    contrast = contrast or str(rng.choice(anatomy.CONTRASTS, p=[0.3, 0.3, 0.2, 0.2]))
    if shape is None:
        shape = tuple(int(s) for s in rng.choice(sizes, size=2))
    shape = (int(shape[0]), int(shape[1]))
    if min(shape) < 32:
        raise ValueError(f"shape: expected at least 32×32, got {shape}.")
    coils = int(coils if coils is not None else rng.integers(4, 17))
    if noise_level is None:
        low, high = (float(v) for v in noise_range)
        if not 0 < low <= high:
            raise ValueError(f"noise_range: expected (low, high) with 0 < low <= high, got {noise_range!r}.")
        noise_level = np.exp(rng.uniform(np.log(low), np.log(high)))
    noise_level = float(noise_level)
    available = split_slices(split, orientation)
    if num_slices > len(available):
        raise ValueError(f"num_slices: the {split} split has {len(available)} {orientation} slices, asked for "
                         f"{num_slices}.")
    indices = np.sort(rng.choice(available, size=num_slices, replace=False))
    values = anatomy.random_contrast(rng, contrast)
    if texture == "scanner":
        values = anatomy.scanner_contrast(scanner_rng, values)
    coil_list = loop_coils(coils, rng, ring_radius=rng.uniform(1.15, 1.8), loop_radius=rng.uniform(0.3, 0.7))
    covariance = noise_covariance(coils, rng)
    grid_seed = int(rng.integers(2 ** 32))                       # each slice: its own placement and deformation
    out = {key: [] for key in ("kspace", "sensitivities_true", "image", "labels", "pixel_mm")}
    from tfmri_zoo.physics.fft import fft2c

    for n, index in enumerate(indices):
        rendered = anatomy.render_slice(np.random.default_rng([grid_seed, n]), orientation, int(index), shape, values,
                                        texture=texture)
        image = rendered["image"]
        maps = biot_savart_sensitivities(shape, coil_list, z=rng.uniform(-0.2, 0.2))
        support = rendered["support"]
        sigma = noise_level * float(np.mean(np.abs(image[support]))) if support.any() else noise_level
        coil_images = maps * image[np.newaxis]
        out["kspace"].append(fft2c(coil_images).numpy() + correlated_noise(shape, covariance, sigma, rng))
        out["sensitivities_true"].append(maps)
        out["image"].append(image)
        out["labels"].append(rendered["labels"])
        out["pixel_mm"].append(rendered["pixel_mm"])
    volume = {key: np.stack(value) for key, value in out.items()}
    volume["sensitivities"] = espirit_acs_maps(volume["kspace"])
    volume["noise_covariance"] = np.broadcast_to(covariance.astype(np.complex64), (num_slices, coils, coils))
    volume["atlas_slice"] = indices
    volume["attrs"] = {"acquisition": f"BRAIN_{contrast.upper()}_{orientation.upper()}",
                       "patient_id": f"brain-{split}-{seed}", "seed": int(seed), "contrast": contrast,
                       "orientation": orientation, "noise_level": noise_level, "texture": texture}
    return volume


def brain_slices(split, subjects, shape, seed, coils=8, noise_level=0.02, num_slices=4):
    """In-memory slices of ``subjects`` subjects (seeds ``seed, seed + 1, ...``), for benchmarks that train on arrays.

    Returns:
      dict of numpy arrays over all slices: ``kspace`` complex64 ``[S, C, H, W]`` (fully sampled, noisy),
      ``sensitivities`` (ESPIRiT) complex64 ``[S, C, H, W]``, ``reference`` complex64 ``[S, H, W]`` (the noise-free
      object combined with those maps, as ``make_dataset(reference="noise_free")``) and ``labels`` int32
      ``[S, H, W]`` (:func:`segmentation_labels`).
    """
    from tfmri_zoo.physics.coils import sense_combine

    out = {key: [] for key in ("kspace", "sensitivities", "reference", "labels")}
    for n in range(subjects):
        volume = brain_volume(seed + n, split, num_slices=num_slices, shape=shape, coils=coils,
                              noise_level=noise_level)
        out["kspace"].append(volume["kspace"])
        out["sensitivities"].append(volume["sensitivities"])
        clean = volume["sensitivities_true"] * volume["image"][:, None]
        out["reference"].append(sense_combine(clean, volume["sensitivities"]).numpy().astype(np.complex64))
        out["labels"].append(segmentation_labels(volume["labels"]))
    return {key: np.concatenate(value) for key, value in out.items()}


def undersample(slices, mask_func, seed, copies=1):
    """Each slice of :func:`brain_slices` ``copies`` times, each copy with its own line mask
    (:func:`tfmri_zoo.physics.sampling.line_masks`).

    Returns:
      ``(inputs, repeated)``: model inputs ``{"kspace" [N, C, H, W] (masked), "mask" [N, 1, 1, W], "sensitivities"}``
      and the slices' other arrays (``reference``, ``labels``, ...) repeated to match, ``N = copies · S``.
    """
    from tfmri_zoo.physics.sampling import line_masks

    repeated = {key: np.concatenate([value] * int(copies)) for key, value in slices.items()}
    masks = line_masks(mask_func, len(repeated["kspace"]), repeated["kspace"].shape[-1], seed)
    inputs = {"kspace": (repeated["kspace"] * masks).astype(np.complex64), "mask": masks,
              "sensitivities": repeated["sensitivities"]}
    return inputs, repeated


def write_brain_file(path, seed, split="train", num_slices=4, **kwargs):
    """Generates a subject (:func:`brain_volume`) and writes it atomically in the fastMRI schema; returns ``path``."""
    from tfmri_zoo.physics.coils import rss
    from tfmri_zoo.physics.fft import ifft2c

    volume = brain_volume(seed, split, num_slices, **kwargs)
    kspace = volume.pop("kspace")
    target = rss(ifft2c(kspace), axis=1).numpy()
    attrs = volume.pop("attrs")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.path.basename(path)}")
    write_fastmri_file(tmp, kspace, reconstruction_rss=target, sensitivities=volume.pop("sensitivities"),
                       attrs=attrs, extras=volume)
    os.replace(tmp, path)
    return path


def brain_dataset(directory, splits=None, num_slices=4, seed=0, **kwargs):
    """Writes ``{directory}/{split}/brain_{split}_{seed}_{i:04d}.h5`` (default :data:`DEFAULT_SPLITS` subjects of
    ``num_slices`` slices); files already present are reused. Extra keyword arguments (``shape``, ``coils``,
    ``noise_level``, ``noise_range``, ``contrast``, ``orientation``, ``sizes``, ``texture``) go to
    :func:`brain_volume`.

    Returns:
      dict ``split -> sorted list of paths``.
    """
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    result = {}
    for offset, (split, count) in enumerate(sorted(splits.items())):
        paths = []
        for i in range(count):
            path = os.path.join(directory, split, f"brain_{split}_{seed}_{i:04d}.h5")
            if not os.path.exists(path):
                write_brain_file(path, seed * 1000003 + offset * 10007 + i, split, num_slices, **kwargs)
            paths.append(path)
        result[split] = paths
    return result
