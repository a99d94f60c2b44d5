"""Deterministic synthetic multi-coil MRI data in the fastMRI HDF5 schema — the zoo's embedded demo/test data.

What it is: seeded random tissue volumes (:mod:`tfmri_zoo.data.synthetic_phantom`: ellipsoids and star polygons of
tissues with PD/T1/T2 values, spin-echo contrast, smooth multi-scale texture, smooth phase), seen by a ring of
Biot-Savart loop coils (:mod:`tfmri_zoo.data.synthetic_coils`, ``Σ|S|² = 1``), Fourier-encoded with the zoo's
centred orthonormal FFT and corrupted by correlated complex coil noise. Optionally a series per slice: cine frames
with cardiac contraction and respiratory translation and their known displacement fields, a multi-echo T2 series or
an inversion-recovery T1 series with known parameter maps (:mod:`tfmri_zoo.data.synthetic_series`).

What it is not: real anatomy or real scanner data. No organs, vessels, B0/B1 inhomogeneity, off-resonance, Gibbs
ringing from a finite acquisition beyond the grid, or vendor-specific scaling. It is for demos, tests and smoke
training; models trained on it must be validated on real data (fastMRI) before any claim.

Every file is fully determined by its seed. Besides the fastMRI datasets (``kspace``, ``reconstruction_rss``,
``ismrmrd_header``, attributes) each file stores: ``sensitivities`` (true maps, complex64 like ``kspace``),
``image`` (noise-free complex image, ``(slices, [T,] H, W)``), ``labels``, ``pd_map``, ``t1_map``, ``t2_map``
(per slice), ``noise_covariance`` (``(slices, C, C)``, same for all slices), and for series ``displacement``
(cine, ``(slices, T, H, W, 2)`` pull fields in pixels, (row, column)), ``echo_times`` /
``inversion_times`` (ms, per slice).
"""
import os

import numpy as np

from tfmri_zoo.data.fastmri import write_fastmri_file
from tfmri_zoo.data.synthetic_coils import (biot_savart_sensitivities, correlated_noise, loop_coils,
                                            noise_covariance)
from tfmri_zoo.data.synthetic_phantom import Phantom
from tfmri_zoo.data.synthetic_series import cine_series, ir_series, t2_series
from tfmri_zoo.data.transforms import center_crop
from tfmri_zoo.physics.coils import rss
from tfmri_zoo.physics.fft import fft2c, ifft2c

SERIES = (None, "cine", "t2", "t1")
DEFAULT_ECHO_TIMES = (10.0, 30.0, 50.0, 80.0, 120.0, 160.0)
DEFAULT_INVERSION_TIMES = (50.0, 150.0, 400.0, 800.0, 1500.0, 3000.0)
DEFAULT_SPLITS = {"train": 8, "val": 2, "test": 2}


def synthetic_volume(num_slices, shape, coils, seed, oversampling=1.0, noise_level=0.02, series=None,
                     num_frames=8, echo_times=DEFAULT_ECHO_TIMES, inversion_times=DEFAULT_INVERSION_TIMES):
    """Generates one volume.

    Args:
      num_slices: number of slices (cross-sections at evenly spaced heights).
      shape: ``(H, W)`` image / k-space size.
      coils: number of receive coils ``C``.
      seed: integer seed; the volume is a deterministic function of all arguments.
      oversampling: readout oversampling (2 for fastMRI-knee-like data: the object fills half the rows).
      noise_level: k-space noise standard deviation relative to the mean magnitude inside the object.
      series: ``None`` (one image per slice), ``"cine"``, ``"t2"`` (multi-echo) or ``"t1"`` (inversion recovery).
      num_frames: cine frames ``T``.
      echo_times: TE in ms for ``"t2"``.
      inversion_times: TI in ms for ``"t1"``.

    Returns:
      dict of numpy arrays: ``kspace`` complex64 ``(S, C, [T,] H, W)``, ``sensitivities`` (same shape),
      ``image`` complex64 ``(S, [T,] H, W)``, ``labels``, ``pd_map``, ``t1_map``, ``t2_map`` ``(S, H, W)``
      (``labels`` ``(S, T, H, W)`` for cine), ``noise_covariance`` ``(S, C, C)``, ``displacement`` for cine, and
      ``attrs`` (acquisition, patient_id, seed, weighting).
    """
    if series not in SERIES:
        raise ValueError(f"series: expected one of {SERIES}, got {series!r}.")
    shape = (int(shape[0]), int(shape[1]))
    rng = np.random.default_rng(seed)
    phantom = Phantom(rng)
    coil_list = loop_coils(coils, rng)
    covariance = noise_covariance(coils, rng)
    heights = np.linspace(-0.5, 0.5, num_slices) if num_slices > 1 else np.zeros(1)
    out = {key: [] for key in ("kspace", "sensitivities", "image", "labels", "pd_map", "t1_map", "t2_map",
                               "displacement")}
    for z in heights:
        slice_ = phantom.render(shape, z, oversampling)
        sens = biot_savart_sensitivities(shape, coil_list, z, oversampling)
        image, labels = slice_["image"], slice_["labels"]
        if series == "cine":
            cine = cine_series(slice_, num_frames, rng, weighting=phantom.weighting)
            image, labels = cine["frames"], cine["labels"]
            out["displacement"].append(cine["displacement"])
        elif series == "t2":
            image = t2_series(slice_, echo_times)
        elif series == "t1":
            image = ir_series(slice_, inversion_times)
        maps = sens if image.ndim == 2 else sens[:, np.newaxis]
        coil_images = maps * image[np.newaxis]
        support = slice_["support"]
        sigma = noise_level * (float(np.mean(np.abs(image[..., support]))) if support.any() else 1.0)
        noise = correlated_noise(coil_images.shape[1:], covariance, sigma, rng)
        out["kspace"].append(fft2c(coil_images).numpy() + noise)
        out["sensitivities"].append(np.broadcast_to(maps, coil_images.shape))
        out["image"].append(image)
        out["labels"].append(labels)
        for key, name in (("pd_map", "pd"), ("t1_map", "t1"), ("t2_map", "t2")):
            out[key].append(slice_[name])
    volume = {key: np.stack(value) for key, value in out.items() if value}
    volume["noise_covariance"] = np.broadcast_to(covariance.astype(np.complex64), (num_slices, coils, coils))
    if series == "t2":
        volume["echo_times"] = np.broadcast_to(np.asarray(echo_times, np.float32), (num_slices, len(echo_times)))
    if series == "t1":
        volume["inversion_times"] = np.broadcast_to(np.asarray(inversion_times, np.float32),
                                                    (num_slices, len(inversion_times)))
    volume["attrs"] = {"acquisition": f"SYNTHETIC_{phantom.weighting.upper()}{'_' + series.upper() if series else ''}",
                       "patient_id": f"synthetic-{seed}", "seed": int(seed), "weighting": phantom.weighting}
    return volume


def recon_size(shape, oversampling=1.0):
    """fastMRI-style recon matrix of a synthetic volume: rows without oversampling, width capped at that."""
    rows = int(round(shape[0] / oversampling))
    return rows, min(int(shape[1]), rows)


def write_synthetic_file(path, num_slices, shape, coils, seed, oversampling=1.0, **kwargs):
    """Generates a volume (:func:`synthetic_volume`) and writes it in the fastMRI schema; returns ``path``."""
    volume = synthetic_volume(num_slices, shape, coils, seed, oversampling=oversampling, **kwargs)
    kspace = volume.pop("kspace")
    crop = recon_size(shape, oversampling)
    target = center_crop(rss(ifft2c(kspace), axis=1).numpy(), crop)
    attrs = volume.pop("attrs")
    write_fastmri_file(path, kspace, reconstruction_rss=target, sensitivities=volume.pop("sensitivities"),
                       attrs=attrs, encoding_size=(shape[0], shape[1], 1), recon_size=crop + (1,), extras=volume)
    return path


def write_synthetic_dataset(directory, num_files, num_slices, shape, coils, seed, prefix="synthetic", **kwargs):
    """Writes ``num_files`` synthetic volumes to ``directory`` (created if needed).

    File ``i`` is named ``{prefix}_{seed}_{i:04d}.h5`` and generated with seed ``seed * 100003 + i``, so datasets
    with different seeds never share a volume. Extra keyword arguments go to :func:`synthetic_volume`.

    Returns:
      sorted list of the written paths.
    """
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i in range(num_files):
        path = os.path.join(directory, f"{prefix}_{seed}_{i:04d}.h5")
        write_synthetic_file(path, num_slices, shape, coils, seed * 100003 + i, **kwargs)
        paths.append(path)
    return paths


def default_dataset(directory, shape=(64, 64), coils=8, num_slices=4, splits=None, seed=0):
    """The embedded default: small train/val/test splits generated in seconds (nothing is stored in git).

    Writes ``{directory}/{split}/*.h5`` (defaults: 8/2/2 volumes of 4 slices, 64×64, 8 coils, different seeds per
    split). Files already present with the expected names are reused, so calling it twice costs nothing.

    Returns:
      dict ``split -> sorted list of paths``.
    """
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    result = {}
    for offset, (split, count) in enumerate(sorted(splits.items())):
        split_dir = os.path.join(directory, split)
        split_seed = seed * 10 + offset
        expected = [os.path.join(split_dir, f"{split}_{split_seed}_{i:04d}.h5") for i in range(count)]
        if all(os.path.exists(p) for p in expected):
            result[split] = expected
            continue
        result[split] = write_synthetic_dataset(split_dir, count, num_slices, shape, coils, split_seed, prefix=split)
    return result
