"""The README's main job at a tiny scale: every artefact is written and the export serves the trained model."""
import json
import os

import numpy as np
import tensorflow as tf

from tfmri_zoo.training import quickstart


def test_quickstart_writes_metrics_figure_and_export(tmp_path):
    lines = []
    summary = quickstart.run(str(tmp_path), steps=4, batch_size=2, shape=(32, 32), coils=4, num_slices=2,
                             splits={"train": 2, "val": 1, "test": 1}, log=lines.append,
                             lam_grid={"sense": [0.01], "l1_wavelet": [1e-3, 3e-3]},
                             iterations=2, cg_iterations=3, regularizer={"name": "unet", "filters": 4, "depth": 1})
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["results"].keys() == {"R=4", "R=8"}
    for table in metrics["results"].values():
        assert set(table) == {"zero_filled", "sense", "l1_wavelet", "modl"}
        for scores in table.values():
            assert 0 < scores["ssim"] <= 1 and np.isfinite(scores["psnr"]) and scores["nmse"] >= 0
        # Classical baselines must improve on zero filling even on tiny data (sanity of the evaluation path).
        assert table["sense"]["psnr"] > table["zero_filled"]["psnr"]
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    export = metrics["export"]
    assert os.path.exists(os.path.join(export, "saved_model.pb"))
    assert "serving_default" in tf.saved_model.load(export).signatures
    assert summary["results"] == metrics["results"]
    assert any("R=8" in line for line in lines)
