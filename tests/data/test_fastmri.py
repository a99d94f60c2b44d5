"""fastMRI HDF5 reader/writer: round trip, files made independently with h5py in fastMRI's schema, bad files."""
import h5py
import numpy as np
import pytest

from tests.conftest import crandn
from tfmri_zoo.data.fastmri import SliceDataset, read_volume_info, write_fastmri_file
from tfmri_zoo.data.ismrmrd_header import parse_header

# Written by hand (not by the zoo's make_header), shaped like a fastMRI knee header.
HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<studyInformation><studyTime>10:00:00</studyTime></studyInformation>
<encoding><trajectory>cartesian</trajectory>
<encodedSpace><matrixSize><x>{ex}</x><y>{ey}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>280</x><y>161</y><z>4.5</z></fieldOfView_mm></encodedSpace>
<reconSpace><matrixSize><x>{rx}</x><y>{ry}</y><z>1</z></matrixSize>
<fieldOfView_mm><x>140</x><y>140</y><z>3</z></fieldOfView_mm></reconSpace>
<encodingLimits>
<kspace_encoding_step_1><minimum>0</minimum><maximum>{maximum}</maximum><center>{center}</center></kspace_encoding_step_1>
<kspace_encoding_step_2><minimum>0</minimum><maximum>0</maximum><center>0</center></kspace_encoding_step_2>
</encodingLimits></encoding></ismrmrdHeader>"""


def _h5(path, datasets, attrs, header):
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)
        f.create_dataset("ismrmrd_header", data=np.bytes_(header))
        for key, value in attrs.items():
            f.attrs[key] = value


def test_writer_round_trip(tmp_path, rng):
    kspace = crandn(rng, 3, 4, 32, 24)
    target = rng.random((3, 16, 16)).astype(np.float32)
    sens = crandn(rng, 3, 4, 32, 24)
    path = tmp_path / "vol.h5"
    write_fastmri_file(path, kspace, reconstruction_rss=target, sensitivities=sens,
                       attrs={"acquisition": "CORPD_FBK", "patient_id": "p1"}, encoding_size=(32, 24, 1),
                       recon_size=(16, 16, 1), enc_limits_center=11, enc_limits_max=20)
    data = SliceDataset([path])
    assert len(data) == 3 and data.num_skipped == 0
    for s in range(3):
        item = data[s]
        np.testing.assert_array_equal(item["kspace"], kspace[s])
        np.testing.assert_array_equal(item["target"], target[s])
        np.testing.assert_array_equal(item["sensitivities"], sens[s])
        assert item["kspace"].dtype == np.complex64 and item["target"].dtype == np.float32
    meta = data[1]["metadata"]
    assert meta["encoding_size"] == (32, 24, 1) and meta["recon_size"] == (16, 16, 1)
    # fastMRI: left = 24 // 2 - 11 = 1, right = left + (maximum + 1) = 1 + 20
    assert (meta["padding_left"], meta["padding_right"]) == (1, 21)
    assert meta["fname"] == "vol.h5" and meta["slice"] == 1 and meta["num_slices"] == 3
    attrs = data[0]["attrs"]
    assert attrs["acquisition"] == "CORPD_FBK" and attrs["patient_id"] == "p1"
    assert attrs["max"] == pytest.approx(target.max()) and attrs["norm"] == pytest.approx(np.linalg.norm(target))


def test_reader_knee_like_file_made_with_h5py(tmp_path, rng):
    # knee multi-coil: 640 readout points (2x oversampled), 368 phase-encoding columns, recon 320x320
    kspace = crandn(rng, 2, 3, 640, 368)
    target = rng.random((2, 320, 320)).astype(np.float32)
    path = tmp_path / "file1000001.h5"
    _h5(path, {"kspace": kspace, "reconstruction_rss": target},
        {"acquisition": "CORPD_FBK", "max": float(target.max()), "norm": float(np.linalg.norm(target)),
         "patient_id": "abc123"}, HEADER.format(ex=640, ey=368, rx=320, ry=320, maximum=355, center=178))
    info = read_volume_info(path)
    assert info["multicoil"] and info["num_slices"] == 2 and info["kspace_shape"] == (3, 640, 368)
    item = SliceDataset([path])[1]
    np.testing.assert_array_equal(item["kspace"], kspace[1])
    np.testing.assert_array_equal(item["target"], target[1])
    assert "mask" not in item and "sensitivities" not in item
    meta = item["metadata"]
    assert meta["encoding_size"] == (640, 368, 1) and meta["recon_size"] == (320, 320, 1)
    assert (meta["padding_left"], meta["padding_right"]) == (368 // 2 - 178, 368 // 2 - 178 + 356)
    assert item["attrs"]["acquisition"] == "CORPD_FBK" and item["attrs"]["patient_id"] == "abc123"


def test_reader_brain_like_test_file_with_mask(tmp_path, rng):
    # brain multi-coil test file: k-space already undersampled, mask stored, no target
    mask = np.zeros(320, np.float32)
    mask[::4] = 1
    mask[147:173] = 1
    kspace = crandn(rng, 2, 4, 640, 320) * mask
    path = tmp_path / "file_brain_AXT2_200_2000001.h5"
    _h5(path, {"kspace": kspace, "mask": mask},
        {"acquisition": "AXT2", "patient_id": "b1", "acceleration": 4, "num_low_frequency": 26},
        HEADER.format(ex=640, ey=320, rx=320, ry=320, maximum=319, center=160))
    item = SliceDataset([path])[0]
    assert item["kspace"].shape == (4, 640, 320) and "target" not in item
    np.testing.assert_array_equal(item["mask"], mask)
    assert item["attrs"]["acceleration"] == 4 and item["attrs"]["num_low_frequency"] == 26
    assert (item["metadata"]["padding_left"], item["metadata"]["padding_right"]) == (0, 320)


def test_reader_single_coil_gets_a_coil_axis(tmp_path, rng):
    kspace = crandn(rng, 2, 64, 48)
    esc = rng.random((2, 32, 32)).astype(np.float32)
    path = tmp_path / "single.h5"
    rss = rng.random((2, 32, 32)).astype(np.float32)  # single-coil val files store both; ESC is the target
    _h5(path, {"kspace": kspace, "reconstruction_esc": esc, "reconstruction_rss": rss},
        {"acquisition": "CORPDFS_FBK", "max": 1.0},
        HEADER.format(ex=64, ey=48, rx=32, ry=32, maximum=47, center=24))
    item = SliceDataset([path])[1]
    assert item["kspace"].shape == (1, 64, 48)
    np.testing.assert_array_equal(item["kspace"][0], kspace[1])
    np.testing.assert_array_equal(item["target"], esc[1])


def test_bad_files_are_skipped_and_counted(tmp_path, rng, caplog):
    good = tmp_path / "a_good.h5"
    write_fastmri_file(good, crandn(rng, 2, 2, 16, 16))
    (tmp_path / "b_truncated.h5").write_bytes(good.read_bytes()[:3000])
    (tmp_path / "c_not_hdf5.h5").write_bytes(b"this is not an HDF5 file")
    with h5py.File(tmp_path / "d_no_kspace.h5", "w") as f:
        f.create_dataset("reconstruction_rss", data=np.zeros((2, 4, 4), np.float32))
    with h5py.File(tmp_path / "e_real_kspace.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((2, 4, 4), np.float32))
    data = SliceDataset(tmp_path)
    assert data.num_skipped == 4 and len(data) == 2
    reasons = dict(data.skipped)
    assert "truncated" in reasons[str(tmp_path / "b_truncated.h5")]
    assert "kspace" in reasons[str(tmp_path / "d_no_kspace.h5")]
    assert "complex" in reasons[str(tmp_path / "e_real_kspace.h5")]
    assert sum("Skipping" in r.message for r in caplog.records) == 4
    assert all(item["kspace"].shape == (2, 16, 16) for item in (data[0], data[1]))


def test_header_errors_name_the_missing_field():
    with pytest.raises(ValueError, match="reconSpace"):
        parse_header('<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding><encodedSpace><matrixSize>'
                     '<x>4</x><y>4</y><z>1</z></matrixSize></encodedSpace></encoding></ismrmrdHeader>')
    with pytest.raises(ValueError, match="not valid XML"):
        parse_header(b"<ismrmrdHeader")


def test_contiguous_records_and_chunked_h5py_reads_agree(tmp_path, rng):
    kspace = crandn(rng, 3, 2, 16, 12)
    sens = crandn(rng, 3, 2, 16, 12)
    write_fastmri_file(tmp_path / "plain.h5", kspace, sensitivities=sens)
    with h5py.File(tmp_path / "chunked.h5", "w") as f:  # compressed: only h5py can read it
        f.create_dataset("kspace", data=kspace, chunks=(1, 2, 16, 12), compression="gzip")
        f.create_dataset("sensitivities", data=sens, chunks=(1, 2, 16, 12), compression="gzip")
    plain, chunked = read_volume_info(tmp_path / "plain.h5"), read_volume_info(tmp_path / "chunked.h5")
    assert set(plain["layouts"]) == {"kspace", "sensitivities"} and chunked["layouts"] == {}
    data = SliceDataset([tmp_path / "plain.h5", tmp_path / "chunked.h5"])
    for s in range(3):
        np.testing.assert_array_equal(data[s]["kspace"], kspace[s])
        np.testing.assert_array_equal(data[s]["sensitivities"], sens[s])
        np.testing.assert_array_equal(data[3 + s]["kspace"], kspace[s])
        np.testing.assert_array_equal(data[3 + s]["sensitivities"], sens[s])
