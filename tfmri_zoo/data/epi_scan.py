"""A real brain scan made by others: nibabel's example EPI volume as multi-coil fastMRI-schema files.

For generalisation tests (review Sec. V) on anatomy, contrast and image texture this project did not make: the
magnitude images are slices of ``example4d.nii.gz``, an axial T2*-weighted gradient-echo EPI of a human brain
(128 × 96 × 24 voxels of 2 × 2 × 2.2 mm, two volumes, int16) that ships inside the ``nibabel`` wheel among its test
data (read locally, nothing is downloaded). Its contrast (EPI: dark white matter, bright grey matter and CSF), its
matrix (96 × 128, non-square), its blur and its own noise are the scanner's, not the MNI template's.

What is simulated on top (documented, as for every other domain): a smooth random background phase (the EPI files
store magnitudes), a coil array of Biot-Savart loops (:mod:`tfmri_zoo.data.synthetic_coils`, 12 coils by default —
an array none of the shipped weights was trained on), correlated complex k-space noise of ``noise_level ×`` the mean
magnitude over the head, and ESPIRiT maps estimated from the noisy data's ``24 × 24`` centre
(:func:`tfmri_zoo.data.brain.espirit_acs_maps`). The stored ``image`` (the scan with its phase) and
``sensitivities_true`` give the pipeline's ``reference="noise_free"`` target; the scan's own noise is part of that
object.

Splits by disjoint slabs of the 24 axial slices: validation slices 3 and 5, test slices 8–19 (two per file, in
order), so no test slice lies within 6 mm of a validation slice. Slices 0–2 and 20–23 (partial brain) are not used.
"""
import functools
import os

import numpy as np

from tfmri_zoo.data.fastmri import write_fastmri_file

#: Axial slice indices of each split (see the module docstring).
SPLIT_SLICES = {"val": (3, 5), "test": tuple(range(8, 20))}
SLICES_PER_FILE = 2
FILE_NAME = "example4d.nii.gz"


@functools.lru_cache(maxsize=1)
def load_epi_volume():
    """The first volume of nibabel's ``example4d.nii.gz`` as float32 ``[24, 96, 128]`` (slice, anterior→posterior,
    right→left), scaled to a maximum of 1.

    Raises:
      ImportError: ``nibabel`` is not installed (the message names the package to install).
      FileNotFoundError: the installed nibabel does not ship its test data.
    """
    try:
        import nibabel
    except ImportError as error:  # pragma: no cover - exercised by a test with the import blocked
        raise ImportError("The EPI scan domain needs 'nibabel': pip install nibabel "
                          "(or pip install 'tfmri-zoo[dev]').") from error
    path = os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", FILE_NAME)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: this nibabel installation does not ship its test data ({FILE_NAME}); "
                                "install nibabel from its wheel (pip install nibabel).")
    data = np.asarray(nibabel.load(path).dataobj[..., 0], np.float32)           # [x 128, y 96, z 24]
    slices = np.flip(np.transpose(data, (2, 1, 0)), axis=1)                         # [z, y (anterior first), x]
    return np.ascontiguousarray(slices / max(float(slices.max()), 1e-12))


def epi_volume(split, file_index=0, coils=12, noise_level=0.02, seed=0):
    """Slices ``2·file_index``, ``2·file_index + 1`` of ``split``'s slab with simulated coils, phase and noise.

    Args:
      split: ``"val"`` or ``"test"`` (:data:`SPLIT_SLICES`).
      file_index: which pair of the split's slices (``0 ≤ file_index < len(SPLIT_SLICES[split]) // 2``).
      coils: number of simulated receive coils.
      noise_level: k-space noise std relative to the mean magnitude over the head.
      seed: seed of the phase, the coil array and the noise.

    Returns:
      dict: ``kspace`` complex64 ``[2, C, 96, 128]`` (fully sampled, noisy), ``sensitivities`` (ESPIRiT) and
      ``sensitivities_true`` complex64 ``[2, C, 96, 128]``, ``image`` complex64 ``[2, 96, 128]`` (the scan with its
      phase), ``epi_slice`` int64 ``[2]``, ``attrs``.

    Raises:
      ValueError: an unknown ``split`` or a ``file_index`` outside the split.
    """
    from tfmri_zoo.data.brain import espirit_acs_maps
    from tfmri_zoo.data.brain_anatomy import smooth_field
    from tfmri_zoo.data.synthetic_coils import (biot_savart_sensitivities, correlated_noise, loop_coils,
                                                noise_covariance)
    from tfmri_zoo.physics.fft import fft2c

    if split not in SPLIT_SLICES:
        raise ValueError(f"split: expected one of {sorted(SPLIT_SLICES)}, got {split!r}.")
    files = len(SPLIT_SLICES[split]) // SLICES_PER_FILE
    if not 0 <= int(file_index) < files:
        raise ValueError(f"file_index: the {split} split has {files} files of {SLICES_PER_FILE} slices, got "
                         f"{file_index!r}.")
    indices = np.asarray(SPLIT_SLICES[split][SLICES_PER_FILE * file_index:SLICES_PER_FILE * (file_index + 1)])
    magnitude = load_epi_volume()[indices]
    shape = magnitude.shape[1:]
    rng = np.random.default_rng(seed)
    coil_list = loop_coils(coils, rng, ring_radius=rng.uniform(1.15, 1.8), loop_radius=rng.uniform(0.3, 0.7))
    covariance = noise_covariance(coils, rng)
    out = {key: [] for key in ("kspace", "sensitivities_true", "image")}
    for slice_magnitude in magnitude:
        phase = smooth_field(rng, shape, max(shape) / 3, rng.uniform(0.3, np.pi)) + rng.uniform(-np.pi, np.pi)
        image = (slice_magnitude * np.exp(1j * phase)).astype(np.complex64)
        maps = biot_savart_sensitivities(shape, coil_list, z=rng.uniform(-0.2, 0.2))
        head = slice_magnitude > 0.1 * slice_magnitude.max()
        sigma = noise_level * float(np.mean(slice_magnitude[head]))
        out["kspace"].append(fft2c(maps * image[np.newaxis]).numpy() + correlated_noise(shape, covariance, sigma, rng))
        out["sensitivities_true"].append(maps)
        out["image"].append(image)
    volume = {key: np.stack(value).astype(np.complex64) for key, value in out.items()}
    volume["sensitivities"] = espirit_acs_maps(volume["kspace"])
    volume["epi_slice"] = indices.astype(np.int64)
    volume["attrs"] = {"acquisition": "EPI_T2STAR_AXIAL", "patient_id": f"nibabel-example4d-{split}-{file_index}",
                       "seed": int(seed), "noise_level": float(noise_level), "source": f"nibabel {FILE_NAME}"}
    return volume


def write_epi_file(path, split, file_index=0, **kwargs):
    """Writes :func:`epi_volume` atomically in the fastMRI schema (RSS target of the noisy data, ESPIRiT
    ``sensitivities``; ``image`` and ``sensitivities_true`` for the noise-free target); returns ``path``."""
    from tfmri_zoo.physics.coils import rss
    from tfmri_zoo.physics.fft import ifft2c

    volume = epi_volume(split, file_index, **kwargs)
    kspace, attrs = volume.pop("kspace"), volume.pop("attrs")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{os.path.basename(path)}")
    write_fastmri_file(tmp, kspace, reconstruction_rss=rss(ifft2c(kspace), axis=1).numpy(),
                       sensitivities=volume.pop("sensitivities"), attrs=attrs, extras=volume)
    os.replace(tmp, path)
    return path


def epi_dataset(directory, test_files=1, seed=0, **kwargs):
    """Writes ``{directory}/{split}/epi_{split}_{i}.h5``: one validation file and ``test_files`` test files (at most
    6), each with its own seed; files already present are reused. Keyword arguments (``coils``, ``noise_level``) go
    to :func:`epi_volume`.

    Returns:
      dict ``split -> sorted list of paths``.
    """
    result = {}
    for offset, (split, count) in enumerate((("val", 1), ("test", int(test_files)))):
        paths = []
        for i in range(count):
            path = os.path.join(directory, split, f"epi_{split}_{i}.h5")
            if not os.path.exists(path):
                write_epi_file(path, split, i, seed=seed * 1000003 + offset * 10007 + i, **kwargs)
            paths.append(path)
        result[split] = paths
    return result
