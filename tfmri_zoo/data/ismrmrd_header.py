"""The ISMRMRD XML header that fastMRI stores as the ``ismrmrd_header`` dataset of every HDF5 file.

Only the fields the fastMRI data loaders use are read: the encoded and reconstructed matrix sizes and the limits of
``kspace_encoding_step_1`` (the phase-encoding lines). fastMRI's k-space is zero-padded along the phase-encoding axis
(the last axis, ``W``); the acquired lines are ``[padding_left, padding_right)`` with

    padding_left  = encoded_y // 2 - center
    padding_right = padding_left + maximum + 1

exactly as ``fastmri.data.mri_data.retrieve_metadata`` computes them (``encoded_y`` is ``encodedSpace/matrixSize/y``).
:func:`make_header` writes a minimal, valid header with the same fields so that written files read back the same.
"""
import xml.etree.ElementTree as ET

NAMESPACE = "http://www.ismrm.org/ISMRMRD"


def _find_int(root, path):
    node = root
    for tag in path:
        node = node.find(f"{{{NAMESPACE}}}{tag}")
        if node is None:
            raise ValueError(f"ismrmrd_header: missing element {'/'.join(path)}.")
    try:
        return int(float(node.text))
    except (TypeError, ValueError):
        raise ValueError(f"ismrmrd_header: element {'/'.join(path)} is not a number: {node.text!r}.") from None


def parse_header(xml):
    """Reads matrix sizes and phase-encoding padding from an ISMRMRD XML header.

    Args:
      xml: the header as ``str`` or ``bytes`` (fastMRI stores it as a bytes scalar).

    Returns:
      dict with ``encoding_size`` and ``recon_size`` (``(x, y, z)`` int tuples), ``enc_limits_center``,
      ``enc_limits_max`` (the ISMRMRD ``maximum`` + 1, as fastMRI), ``padding_left`` and ``padding_right``.

    Raises:
      ValueError: the XML is malformed or lacks one of these fields.
    """
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="replace")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise ValueError(f"ismrmrd_header: not valid XML ({error}).") from None
    enc = ["encoding", "encodedSpace", "matrixSize"]
    rec = ["encoding", "reconSpace", "matrixSize"]
    lims = ["encoding", "encodingLimits", "kspace_encoding_step_1"]
    encoding_size = tuple(_find_int(root, enc + [axis]) for axis in "xyz")
    recon_size = tuple(_find_int(root, rec + [axis]) for axis in "xyz")
    center = _find_int(root, lims + ["center"])
    maximum = _find_int(root, lims + ["maximum"]) + 1
    padding_left = encoding_size[1] // 2 - center
    return {
        "encoding_size": encoding_size,
        "recon_size": recon_size,
        "enc_limits_center": center,
        "enc_limits_max": maximum,
        "padding_left": padding_left,
        "padding_right": padding_left + maximum,
    }


def make_header(encoding_size, recon_size, enc_limits_center=None, enc_limits_max=None):
    """Writes a minimal ISMRMRD XML header with the fields :func:`parse_header` reads.

    Args:
      encoding_size: ``(x, y, z)`` encoded matrix (fastMRI knee: ``(640, 368, 1)``, readout oversampled 2×).
      recon_size: ``(x, y, z)`` reconstructed matrix (fastMRI knee: ``(320, 320, 1)``).
      enc_limits_center: centre line of ``kspace_encoding_step_1``; default ``encoding_size[1] // 2`` (no padding).
      enc_limits_max: number of phase-encoding lines (the ISMRMRD ``maximum`` + 1); default ``encoding_size[1]``.

    Returns:
      the XML document as ``str``.
    """
    ex, ey, ez = (int(v) for v in encoding_size)
    rx, ry, rz = (int(v) for v in recon_size)
    center = ey // 2 if enc_limits_center is None else int(enc_limits_center)
    count = ey if enc_limits_max is None else int(enc_limits_max)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <experimentalConditions><H1resonanceFrequency_Hz>127000000</H1resonanceFrequency_Hz></experimentalConditions>
  <encoding>
    <encodedSpace>
      <matrixSize><x>{ex}</x><y>{ey}</y><z>{ez}</z></matrixSize>
      <fieldOfView_mm><x>{ex}</x><y>{ey}</y><z>{ez}</z></fieldOfView_mm>
    </encodedSpace>
    <reconSpace>
      <matrixSize><x>{rx}</x><y>{ry}</y><z>{rz}</z></matrixSize>
      <fieldOfView_mm><x>{rx}</x><y>{ry}</y><z>{rz}</z></fieldOfView_mm>
    </reconSpace>
    <encodingLimits>
      <kspace_encoding_step_1>
        <minimum>0</minimum><maximum>{count - 1}</maximum><center>{center}</center>
      </kspace_encoding_step_1>
      <kspace_encoding_step_2><minimum>0</minimum><maximum>0</maximum><center>0</center></kspace_encoding_step_2>
      <slice><minimum>0</minimum><maximum>0</maximum><center>0</center></slice>
    </encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
</ismrmrdHeader>
"""
