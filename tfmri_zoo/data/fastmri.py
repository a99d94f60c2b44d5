"""fastMRI HDF5 files: read one slice at a time, write the same schema, index slices over many files.

The schema (https://github.com/facebookresearch/fastMRI, "fastMRI: An Open Dataset and Benchmarks"):

  ``kspace``              complex64 ``(slices, coils, H, W)`` multi-coil or ``(slices, H, W)`` single-coil; ``H`` is
                          the readout (2× oversampled for knee: 640), ``W`` the phase encoding (zero-padded columns
                          outside ``[padding_left, padding_right)``)
  ``reconstruction_rss``  float32 ``(slices, h, w)`` root-sum-of-squares target (multi-coil), cropped to the recon
                          matrix (320×320 for knee)
  ``reconstruction_esc``  float32 ``(slices, h, w)`` emulated single-coil target (single-coil files)
  ``mask``                float32/bool ``(W,)`` sampling mask, only in test/challenge files (k-space already sampled)
  ``ismrmrd_header``      bytes scalar, ISMRMRD XML (see :mod:`tfmri_zoo.data.ismrmrd_header`)
  attributes              ``acquisition`` (e.g. ``CORPD_FBK``), ``max``, ``norm``, ``patient_id``, and in test files
                          ``acceleration``, ``num_low_frequency``

Extensions written by the zoo's synthetic generator and read here when present: ``sensitivities`` (complex64, same
shape as ``kspace``, the true coil maps), and a time/echo axis after the coil axis (``(slices, coils, T, H, W)``) for
cine and relaxometry series, with extra datasets (``displacement``, ``t1_map``, ...) returned under ``extras``.
Single-coil k-space is returned with a coil axis of 1 (``[1, H, W]``).
"""
import logging
import os

import h5py
import numpy as np

from tfmri_zoo.data.ismrmrd_header import make_header, parse_header

logger = logging.getLogger(__name__)

TARGET_KEYS = ("reconstruction_rss", "reconstruction_esc")
KNOWN_KEYS = ("kspace", "mask", "ismrmrd_header", "sensitivities") + TARGET_KEYS
ATTR_KEYS = ("acquisition", "max", "norm", "patient_id", "acceleration", "num_low_frequency")


def _attr_value(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_volume_info(path):
    """Reads everything about one file except the bulk data.

    Args:
      path: path of a fastMRI-schema HDF5 file.

    Returns:
      dict with ``path``, ``num_slices``, ``kspace_shape`` (per slice, coil axis included, e.g. ``(C, H, W)``),
      ``multicoil`` (bool), ``attrs`` (dict), ``metadata`` (matrix sizes and padding, see :func:`parse_header`; from the
      k-space shape when the header is absent), and ``datasets`` (names present).

    Raises:
      OSError: the file cannot be opened (truncated, not HDF5).
      ValueError: the file does not follow the schema.
    """
    with h5py.File(path, "r") as f:
        if "kspace" not in f:
            raise ValueError(f"{path}: no 'kspace' dataset (has {sorted(f.keys())}).")
        kspace = f["kspace"]
        if kspace.dtype.kind != "c":
            raise ValueError(f"{path}: 'kspace' must be complex, got dtype {kspace.dtype}.")
        if kspace.ndim not in (3, 4, 5) or 0 in kspace.shape:
            raise ValueError(f"{path}: 'kspace' must be (slices, [coils, [T,]] H, W), got shape {kspace.shape}.")
        # Touch the very last element: a file cut short fails here (or at open), not in the middle of an epoch.
        kspace[(-1,) * kspace.ndim]
        multicoil = kspace.ndim >= 4
        slice_shape = tuple(kspace.shape[1:]) if multicoil else (1,) + tuple(kspace.shape[1:])
        height, width = slice_shape[-2:]
        if "ismrmrd_header" in f:
            metadata = parse_header(f["ismrmrd_header"][()])
        else:
            metadata = {"encoding_size": (height, width, 1), "recon_size": (height, width, 1),
                        "enc_limits_center": width // 2, "enc_limits_max": width, "padding_left": 0,
                        "padding_right": width}
        for key in TARGET_KEYS + ("sensitivities",):
            if key in f and f[key].shape[0] != kspace.shape[0]:
                raise ValueError(f"{path}: '{key}' has {f[key].shape[0]} slices, 'kspace' has {kspace.shape[0]}.")
        attrs = {key: _attr_value(value) for key, value in f.attrs.items()}
        size = os.path.getsize(path)
        layouts = {key: contiguous_layout(f[key], size) for key in ("kspace", "sensitivities") if key in f}
        shapes = {key: tuple(f[key].shape[1:]) for key in layouts}
        return {"path": os.fspath(path), "num_slices": int(kspace.shape[0]), "kspace_shape": slice_shape,
                "multicoil": multicoil, "attrs": attrs, "metadata": metadata, "datasets": sorted(f.keys()),
                "layouts": {key: value for key, value in layouts.items() if value is not None}, "shapes": shapes}


def read_slice(path, index, info=None, extras=False):
    """Reads slice ``index`` of one file (only that slice is read from disk).

    Args:
      path: path of a fastMRI-schema HDF5 file.
      index: slice index (``0 <= index < num_slices``).
      info: the file's :func:`read_volume_info` result (read again when ``None``).
      extras: also return the non-schema datasets (``displacement``, parameter maps, ...) under ``extras``.

    Returns:
      dict: ``kspace`` complex64 ``[C, (T,) H, W]``; ``target`` float32 ``[h, w]`` when a reconstruction is stored
      (``reconstruction_rss`` for multi-coil, ``reconstruction_esc`` first for single-coil, as fastMRI);
      ``mask`` float32 ``[W]`` when stored; ``sensitivities`` complex64 like ``kspace`` when stored; ``attrs``;
      ``metadata`` (with ``fname``, ``slice``, ``num_slices`` added); and ``extras`` when asked.
    """
    info = read_volume_info(path) if info is None else info
    item = {"attrs": dict(info["attrs"])}
    for key in ("kspace", "sensitivities"):
        if key in info["layouts"]:
            item[key] = _read_record(info, key, index)
    with h5py.File(path, "r") as f:
        for key in ("kspace", "sensitivities"):
            if key in f and key not in item:
                item[key] = np.asarray(f[key][index], dtype=np.complex64)
        if not info["multicoil"]:
            item["kspace"] = item["kspace"][np.newaxis]
            if "sensitivities" in item:
                item["sensitivities"] = item["sensitivities"][np.newaxis]
        # fastMRI's targets: RSS for multi-coil, emulated single-coil (ESC) for single-coil files that store both
        for key in TARGET_KEYS if info["multicoil"] else TARGET_KEYS[::-1]:
            if key in f:
                item["target"] = np.asarray(f[key][index], dtype=np.float32)
                break
        if "mask" in f:
            item["mask"] = np.asarray(f["mask"][()], dtype=np.float32)
        if extras:
            item["extras"] = {key: f[key][index] if f[key].ndim and f[key].shape[0] == info["num_slices"]
                              else f[key][()] for key in f.keys() if key not in KNOWN_KEYS}
    item["metadata"] = dict(info["metadata"], fname=os.path.basename(info["path"]), slice=int(index),
                            num_slices=info["num_slices"])
    return item


def contiguous_layout(dataset, file_size):
    """Byte layout of an HDF5 dataset that can be read without HDF5 (uncompressed, contiguous, ``<c8``).

    fastMRI files and the zoo's writer store ``kspace`` this way, so a slice is a fixed-length record of the file
    and is read with ``numpy.fromfile`` (which releases the GIL and avoids h5py's global lock, so interleaved
    readers really run in parallel).

    Args:
      dataset: an open ``h5py.Dataset``.
      file_size: size of its file in bytes.

    Returns:
      ``(header_bytes, record_bytes)``, one record per slice (first axis), or ``None`` when the dataset is chunked,
      compressed, of another dtype, not allocated, or extends past the end of the file.
    """
    if dataset.chunks is not None or dataset.compression is not None or dataset.dtype != np.dtype("<c8"):
        return None
    offset = dataset.id.get_offset()
    total = int(dataset.size) * 8
    if offset is None or dataset.ndim < 2 or offset + total > file_size:
        return None
    return int(offset), total // int(dataset.shape[0])


def _read_record(info, key, index):
    """Slice ``index`` of a contiguous dataset read with ``numpy.fromfile`` (see :func:`contiguous_layout`)."""
    header, record = info["layouts"][key]
    data = np.fromfile(info["path"], dtype=np.complex64, count=record // 8, offset=header + index * record)
    return data.reshape(info["shapes"][key])


def write_fastmri_file(path, kspace, reconstruction_rss=None, reconstruction_esc=None, mask=None,
                       sensitivities=None, attrs=None, encoding_size=None, recon_size=None, enc_limits_center=None,
                       enc_limits_max=None, extras=None):
    """Writes one volume in the fastMRI schema.

    Args:
      path: output ``.h5`` path.
      kspace: complex ``(slices, coils, H, W)``, ``(slices, H, W)`` single-coil, or ``(slices, coils, T, H, W)``.
      reconstruction_rss: optional float32 ``(slices, h, w)`` RSS target.
      reconstruction_esc: optional float32 ``(slices, h, w)`` emulated single-coil target.
      mask: optional float32 ``(W,)`` sampling mask (test-file style: ``kspace`` is then already undersampled).
      sensitivities: optional complex coil maps with the shape of ``kspace`` (zoo extension).
      attrs: dict of file attributes (``acquisition``, ``max``, ``norm``, ``patient_id``, ``acceleration``,
        ``num_low_frequency``); ``max`` and ``norm`` default to those of the stored target.
      encoding_size: ``(x, y, z)`` encoded matrix for the header; default ``(H, W, 1)``.
      recon_size: ``(x, y, z)`` recon matrix; default the target's ``(h, w, 1)`` or ``encoding_size``.
      enc_limits_center: phase-encoding centre line; default ``W // 2``.
      enc_limits_max: number of acquired phase-encoding lines; default ``W``.
      extras: dict of further named arrays stored as datasets.
    """
    kspace = np.asarray(kspace)
    if not np.iscomplexobj(kspace) or kspace.ndim not in (3, 4, 5):
        raise ValueError(f"kspace: expected complex (slices, [coils, [T,]] H, W), got {kspace.dtype} {kspace.shape}.")
    height, width = kspace.shape[-2:]
    target = reconstruction_rss if reconstruction_rss is not None else reconstruction_esc
    encoding_size = (height, width, 1) if encoding_size is None else tuple(encoding_size)
    if recon_size is None:
        recon_size = (target.shape[-2], target.shape[-1], 1) if target is not None else encoding_size
    attrs = dict(attrs or {})
    if target is not None:
        attrs.setdefault("max", float(np.max(target)))
        attrs.setdefault("norm", float(np.linalg.norm(target)))
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64))
        if reconstruction_rss is not None:
            f.create_dataset("reconstruction_rss", data=np.asarray(reconstruction_rss, np.float32))
        if reconstruction_esc is not None:
            f.create_dataset("reconstruction_esc", data=np.asarray(reconstruction_esc, np.float32))
        if mask is not None:
            f.create_dataset("mask", data=np.asarray(mask, np.float32).reshape(-1))
        if sensitivities is not None:
            sensitivities = np.asarray(sensitivities, np.complex64)
            if sensitivities.shape != kspace.shape:
                raise ValueError(f"sensitivities: shape {sensitivities.shape} must equal kspace shape {kspace.shape}.")
            f.create_dataset("sensitivities", data=sensitivities)
        for key, value in (extras or {}).items():
            f.create_dataset(key, data=np.asarray(value))
        f.create_dataset("ismrmrd_header", data=make_header(encoding_size, recon_size, enc_limits_center,
                                                            enc_limits_max).encode("utf-8"))
        for key, value in attrs.items():
            f.attrs[key] = value


class SliceDataset:
    """All slices of many fastMRI-schema files, indexable like a list.

    Files are opened once at construction to build the index; a file that cannot be read (truncated, not HDF5, wrong
    schema) is skipped with a logged warning and recorded in :attr:`skipped` as ``(path, reason)``, so iterating never
    fails in the middle of an epoch. Items are read lazily, one slice per ``__getitem__``.

    Args:
      files: iterable of paths, or a directory (all ``*.h5`` files in it, sorted).
      extras: also return non-schema datasets under ``extras`` (see :func:`read_slice`).

    Attributes:
      files: per readable file, its :func:`read_volume_info` dict.
      index: list of ``(file_number, slice)`` pairs.
      skipped: list of ``(path, reason)`` for the files left out.
    """

    def __init__(self, files, extras=False):
        if isinstance(files, (str, os.PathLike)):
            if not os.path.isdir(files):
                raise ValueError(f"files: {files!r} is not a directory; pass a list of paths or a directory.")
            files = sorted(os.path.join(files, name) for name in os.listdir(files) if name.endswith(".h5"))
        self.extras = extras
        self.files = []
        self.skipped = []
        self.index = []
        for path in files:
            try:
                info = read_volume_info(path)
            except (OSError, ValueError, KeyError, RuntimeError) as error:
                reason = f"{type(error).__name__}: {error}"
                logger.warning("Skipping %s: %s", path, reason)
                self.skipped.append((os.fspath(path), reason))
                continue
            self.index.extend((len(self.files), s) for s in range(info["num_slices"]))
            self.files.append(info)

    @property
    def num_skipped(self):
        """Number of files left out at index time."""
        return len(self.skipped)

    def __len__(self):
        return len(self.index)

    def __getitem__(self, i):
        if not -len(self) <= i < len(self):
            raise IndexError(f"slice index {i} out of range for {len(self)} slices.")
        file_number, slice_index = self.index[i]
        info = self.files[file_number]
        return read_slice(info["path"], slice_index, info, extras=self.extras)
