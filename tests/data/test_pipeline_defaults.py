"""``make_dataset`` with its defaults reads real-fastMRI-style files (no stored coil maps): ``sensitivities="auto"``
uses stored maps where a file has them and ESPIRiT otherwise, and says so in the log once."""
import logging
import os

import h5py
import numpy as np

from tfmri_zoo.data.fastmri import write_fastmri_file
from tfmri_zoo.data.pipeline import make_dataset
from tfmri_zoo.data.synthetic import write_synthetic_dataset
from tfmri_zoo.physics.sampling import EquispacedMaskFunc


def test_defaults_read_a_fastmri_file_without_maps_and_mix_with_stored_maps(tmp_path, caplog):
    # One synthetic file (stores maps) and one fastMRI-style copy of the same k-space without them.
    synthetic = write_synthetic_dataset(tmp_path / "mixed", 1, 2, (32, 24), 4, seed=3)[0]
    with h5py.File(synthetic, "r") as f:
        kspace, stored = f["kspace"][()], f["sensitivities"][()]
        rss = f["reconstruction_rss"][()] if "reconstruction_rss" in f else None
    write_fastmri_file(tmp_path / "mixed" / "zz_fastmri_like.h5", kspace, reconstruction_rss=rss,
                       attrs={"acquisition": "CORPD_FBK", "max": 1.0})
    with caplog.at_level(logging.INFO, logger="tfmri_zoo.data.pipeline"):
        dataset = make_dataset(str(tmp_path / "mixed"), mask_func=EquispacedMaskFunc([0.25], [2]), batch_size=4,
                               espirit_kwargs={"calib_size": 12, "kernel_size": 4}, return_info=True)
        (inputs, target, info), = list(dataset)
    messages = [r.getMessage() for r in caplog.records if "sensitivities='auto'" in r.getMessage()]
    assert len(messages) == 1 and "1 of 2 files store no coil maps" in messages[0] and "ESPIRiT" in messages[0]
    maps = inputs["sensitivities"].numpy()
    assert maps.shape == (4, 4, 32, 24) and target.dtype.is_complex
    names = [n.decode() for n in info["fname"].numpy()]
    slices = info["slice"].numpy()
    own = np.array([n == os.path.basename(synthetic) for n in names])
    assert own.sum() == 2
    np.testing.assert_array_equal(maps[own], stored[slices[own]])         # stored maps used as they are
    estimated, truth = maps[~own], stored[slices[~own]]
    assert not np.allclose(estimated, truth, atol=1e-2)                   # the others are ESPIRiT estimates ...
    energy = np.sum(np.abs(estimated) ** 2, axis=1)
    assert np.mean(np.abs(energy[energy > 0.5] - 1.0)) < 1e-3             # ... unit-norm where the object is
    # Inside the object, the ESPIRiT maps span the same coil profile as the true ones (up to a phase per pixel).
    inner = np.abs(np.sum(np.conj(estimated) * truth, axis=1))
    assert np.median(inner[energy > 0.5]) > 0.9
