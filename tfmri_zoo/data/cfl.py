"""BART ``.cfl``/``.hdr`` file I/O and conversion between BART's and the zoo's k-space layouts.

A BART array ``name`` is two files:

* ``name.hdr``: text, the line ``# Dimensions`` followed by one line with the size of every axis, space separated;
* ``name.cfl``: raw little-endian ``complex64`` samples in column-major (Fortran) order, first axis fastest.

BART has 16 named axes (``DIMS = 16``), in this order:

====  ========  ================================================
axis  name      meaning
====  ========  ================================================
0     READ      readout / x
1     PHS1      first phase encoding / y
2     PHS2      second phase encoding / z (partition)
3     COIL      receive coils
4     MAPS      ESPIRiT map sets
5     TE        echoes
6     COEFF     coefficients (e.g. subspace, signal model)
7     COEFF2    second coefficient axis
8     ITER      iterations
9     CSHIFT    chemical shift
10    TIME      time frames
11    TIME2     second time axis (e.g. cardiac phase vs respiration)
12    LEVEL     levels (e.g. wavelet scales)
13    SLICE     slices
14    AVG       averages
15    BATCH     batch
====  ========  ================================================

Layout mapping for 2D multi-coil k-space (and coil images) used by :func:`bart_to_zoo` / :func:`zoo_to_bart`:

* BART ``[x=READ, y=PHS1, z=1, coils]`` ↔ zoo ``[coils, H, W]`` with **H = READ (x, BART axis 0)** and
  **W = PHS1 (y, BART axis 1)**. The zoo's last axis holds the phase-encoding columns (as fastMRI), and BART's
  first phase-encoding axis is PHS1, so a BART 1D-undersampling pattern along y becomes a zoo mask along W.
  No data are flipped or conjugated: ``zoo[c, h, w] == bart[h, w, 0, c]``.
"""
import os

import numpy as np

BART_AXES = ("READ", "PHS1", "PHS2", "COIL", "MAPS", "TE", "COEFF", "COEFF2", "ITER", "CSHIFT", "TIME", "TIME2",
             "LEVEL", "SLICE", "AVG", "BATCH")
"""Names of BART's 16 axes, in BART's order (index = BART axis number)."""

_BART_MAX_DIMS = len(BART_AXES)


def _base(name):
    name = os.fspath(name)
    for ext in (".cfl", ".hdr"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def read_cfl(name, squeeze_trailing=True):
    """Reads a BART array from ``name.hdr`` / ``name.cfl``.

    Args:
        name: path without extension (a trailing ``.cfl``/``.hdr`` is accepted and dropped).
        squeeze_trailing: drop trailing axes of size 1 (BART writes all 16); at least one axis is kept.

    Returns:
        ``complex64`` numpy array with BART's axis order (axis 0 = READ, ...), C-contiguous in memory.

    Raises:
        ValueError: if the header is malformed or the data file has the wrong size.
    """
    base = _base(name)
    with open(base + ".hdr", "r") as f:
        lines = [line.strip() for line in f]
    dims = None
    for i, line in enumerate(lines):
        if line.startswith("# Dimensions"):
            if i + 1 >= len(lines):
                break
            dims = [int(v) for v in lines[i + 1].split()]
            break
    if not dims:
        raise ValueError(f"name: {base}.hdr has no '# Dimensions' line followed by the axis sizes.")
    if any(d < 0 for d in dims):
        raise ValueError(f"name: {base}.hdr has negative axis sizes {dims}.")
    count = int(np.prod(dims))
    data = np.fromfile(base + ".cfl", dtype="<c8")
    if data.size != count:
        raise ValueError(f"name: {base}.cfl holds {data.size} complex samples, the header {dims} needs {count}.")
    if squeeze_trailing:
        while len(dims) > 1 and dims[-1] == 1:
            dims.pop()
    array = data.reshape(dims, order="F")
    return np.ascontiguousarray(array, dtype=np.complex64)


def write_cfl(name, array):
    """Writes ``array`` as BART's ``name.hdr`` / ``name.cfl``.

    Args:
        name: path without extension (a trailing ``.cfl``/``.hdr`` is accepted and dropped).
        array: numeric array with at most 16 axes in BART's axis order; converted to ``complex64``.

    Raises:
        ValueError: if ``array`` has more than 16 axes.
        TypeError: if ``array`` is not numeric.
    """
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"array: expected a numeric array, got dtype {array.dtype}.")
    if array.ndim > _BART_MAX_DIMS:
        raise ValueError(f"array: BART supports at most {_BART_MAX_DIMS} axes, got shape {array.shape}.")
    base = _base(name)
    dims = list(array.shape) or [1]
    dims += [1] * (_BART_MAX_DIMS - len(dims))
    with open(base + ".hdr", "w") as f:
        f.write("# Dimensions\n")
        f.write(" ".join(str(d) for d in dims) + "\n")
    np.asarray(array, dtype="<c8").ravel(order="F").tofile(base + ".cfl")


def bart_to_zoo(array):
    """Converts BART 2D multi-coil data ``[x, y, 1, coils]`` (``[x, y]`` for one coil) to zoo ``[coils, H, W]``.

    H is BART's READ axis (x), W is BART's PHS1 axis (y); see the module docstring.

    Args:
        array: ``[x, y]``, ``[x, y, 1]`` or ``[x, y, 1, coils, 1, ...]`` array (trailing size-1 axes allowed).

    Returns:
        ``complex64`` array ``[coils, H, W]``.
    """
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"array: expected BART layout [x, y, 1, coils], got shape {array.shape}.")
    shape = list(array.shape) + [1] * max(0, 4 - array.ndim)
    if shape[2] != 1 or any(d != 1 for d in shape[4:]):
        raise ValueError(f"array: expected BART layout [x, y, 1, coils] (2D, PHS2 and higher axes of size 1), "
                         f"got shape {array.shape}.")
    array = array.reshape(shape[:4])[:, :, 0, :]
    return np.ascontiguousarray(np.transpose(array, (2, 0, 1)), dtype=np.complex64)


def zoo_to_bart(array):
    """Converts zoo 2D multi-coil data ``[coils, H, W]`` to BART ``[x=H, y=W, 1, coils]``.

    Args:
        array: ``[coils, H, W]`` array.

    Returns:
        ``complex64`` array ``[H, W, 1, coils]`` (write it with :func:`write_cfl`).
    """
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"array: expected zoo layout [coils, H, W], got shape {array.shape}.")
    return np.ascontiguousarray(np.transpose(array, (1, 2, 0))[:, :, None, :], dtype=np.complex64)
