"""BART .cfl/.hdr I/O: round trip, on-disk format, layout conversion, and the real ``bart`` binary as peer."""
import subprocess

import numpy as np
import pytest

from tests.conftest import crandn, requires_bart
from tfmri_zoo.data.cfl import BART_AXES, bart_to_zoo, read_cfl, write_cfl, zoo_to_bart


def _fft2c_np(x, axes):
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def test_round_trip_keeps_values_and_shape(tmp_path, rng):
    x = crandn(rng, 5, 6, 1, 3)
    write_cfl(tmp_path / "x", x)
    y = read_cfl(tmp_path / "x")
    assert y.dtype == np.complex64 and y.shape == (5, 6, 1, 3)
    np.testing.assert_array_equal(y, x)
    assert read_cfl(str(tmp_path / "x") + ".cfl", squeeze_trailing=False).shape == (5, 6, 1, 3) + (1,) * 12


def test_file_format_is_bart_column_major(tmp_path):
    x = (np.arange(6).reshape(2, 3) + 1j * np.arange(6).reshape(2, 3)).astype(np.complex64)
    write_cfl(tmp_path / "a", x)
    header = (tmp_path / "a.hdr").read_text().splitlines()
    assert header[0] == "# Dimensions"
    assert [int(v) for v in header[1].split()] == [2, 3] + [1] * 14
    raw = np.fromfile(tmp_path / "a.cfl", dtype="<c8")
    # first axis fastest: x[0,0], x[1,0], x[0,1], ...
    np.testing.assert_array_equal(raw, x.T.ravel())
    assert len(BART_AXES) == 16 and BART_AXES[3] == "COIL" and BART_AXES[10] == "TIME"


def test_layout_conversion_maps_read_to_h_and_phs1_to_w(rng):
    bart = crandn(rng, 4, 6, 1, 3)
    zoo = bart_to_zoo(bart)
    assert zoo.shape == (3, 4, 6)
    assert zoo[2, 1, 5] == bart[1, 5, 0, 2]
    np.testing.assert_array_equal(zoo_to_bart(zoo), bart)
    with pytest.raises(ValueError, match="array"):
        bart_to_zoo(crandn(rng, 4, 6, 2, 3))
    with pytest.raises(ValueError, match="array"):
        zoo_to_bart(crandn(rng, 4, 6))


def test_bad_header_raises(tmp_path):
    (tmp_path / "b.hdr").write_text("nonsense\n")
    (tmp_path / "b.cfl").write_bytes(b"")
    with pytest.raises(ValueError, match="Dimensions"):
        read_cfl(tmp_path / "b")
    (tmp_path / "c.hdr").write_text("# Dimensions\n2 2\n")
    np.zeros(3, np.complex64).tofile(tmp_path / "c.cfl")
    with pytest.raises(ValueError, match="needs 4"):
        read_cfl(tmp_path / "c")


@requires_bart
def test_bart_fft_matches_numpy_centred_orthonormal_fft(tmp_path, rng):
    zoo = crandn(rng, 3, 8, 10)
    write_cfl(tmp_path / "in", zoo_to_bart(zoo))
    subprocess.run(["bart", "fft", "-u", "3", str(tmp_path / "in"), str(tmp_path / "out")], check=True,
                   capture_output=True)
    out = bart_to_zoo(read_cfl(tmp_path / "out"))
    np.testing.assert_allclose(out, _fft2c_np(zoo, axes=(-2, -1)), atol=1e-5)


@requires_bart
def test_bart_phantom_reads_as_zoo_kspace(tmp_path):
    subprocess.run(["bart", "phantom", "-k", "-s", "4", "-x", "32", str(tmp_path / "ph")], check=True,
                   capture_output=True)
    subprocess.run(["bart", "fft", "-i", "-u", "3", str(tmp_path / "ph"), str(tmp_path / "img")], check=True,
                   capture_output=True)
    subprocess.run(["bart", "rss", "8", str(tmp_path / "img"), str(tmp_path / "rss")], check=True,
                   capture_output=True)
    kspace = bart_to_zoo(read_cfl(tmp_path / "ph"))
    assert kspace.shape == (4, 32, 32)
    coil_images = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(kspace, axes=(-2, -1)), axes=(-2, -1),
                                               norm="ortho"), axes=(-2, -1))
    rss = np.sqrt(np.sum(np.abs(coil_images) ** 2, axis=0))
    rss_bart = np.abs(read_cfl(tmp_path / "rss"))
    np.testing.assert_allclose(rss, rss_bart.reshape(32, 32), atol=1e-4 * rss.max())
    assert rss.max() > 0
