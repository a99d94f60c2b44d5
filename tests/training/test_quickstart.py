"""The README's main job at a tiny scale: brain data, every artefact written, the export serves the trained model,
the table is honest (baselines tuned on validation, margins computed from the table)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.training import quickstart


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    lines = []
    summary = quickstart.run(str(out), weights=None, steps=2, batch_size=2, shape=(48, 48), coils=4, num_slices=2,
                             splits={"train": 1, "val": 1, "test": 1}, log=lines.append,
                             lam_grid={"sense": [0.01], "l1_wavelet": [1e-3, 3e-3]},
                             classical_iterations={"l1_wavelet": 20}, iterations=2, cg_iterations=2,
                             regularizer={"name": "unet", "filters": 4, "depth": 1})
    return out, summary, lines


def test_quickstart_writes_metrics_figure_and_export(run):
    out, summary, lines = run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["results"].keys() == {"R=4", "R=8"}
    assert metrics["training"] == "trained from scratch for 2 steps" and metrics["weights"] is None
    for table in metrics["results"].values():
        assert set(table) == {"zero_filled", "sense", "l1_wavelet", "modl"}
        for scores in table.values():
            assert 0 < scores["ssim"] <= 1 and np.isfinite(scores["psnr"]) and scores["nmse"] >= 0
            assert len(scores["slice_psnr"]) == 2
        assert table["sense"]["lam"] == 0.01                             # a one-value grid is a fixed λ
        steps = np.log(table["l1_wavelet"]["lam"] / 1e-3) / np.log(3.0)  # the grid 1e-3·3^k or its extension
        assert abs(steps - round(steps)) < 1e-6 and -4 <= round(steps) <= 5
        # Classical baselines must improve on zero filling even on tiny data (sanity of the evaluation path).
        assert table["sense"]["psnr"] > table["zero_filled"]["psnr"]
    for key, row in metrics["margins"].items():
        table = metrics["results"][key]
        assert row["l1_wavelet"]["psnr"] == pytest.approx(table["modl"]["psnr"] - table["l1_wavelet"]["psnr"])
        worst = min(np.subtract(table["modl"]["slice_psnr"], table["sense"]["slice_psnr"]))
        assert row["sense"]["worst_slice_psnr"] == pytest.approx(worst)
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.exists(os.path.join(metrics["export"], "saved_model.pb"))
    assert summary["results"] == metrics["results"]
    assert any("R=8" in line for line in lines) and any("brain data" in line for line in lines)


def test_exported_model_is_the_evaluated_model(run):
    """The SavedModel reproduces the per-slice PSNR that metrics.json reports for the model (same test data)."""
    out, summary, _ = run
    from tfmri_zoo.training.comparison import evaluation_batches, slice_psnr

    files = [str(p) for p in sorted((out / "data" / "test").glob("*.h5"))]
    signature = tf.saved_model.load(summary["export"]).signatures["complex"]
    served, targets = [], []
    for inputs, target, _ in evaluation_batches(files, 4):
        result = signature(kspace=tf.constant(inputs["kspace"]), mask=tf.constant(inputs["mask"][:, 0]),
                           sensitivities=tf.constant(inputs["sensitivities"]))
        served.append(result["image"].numpy())
        targets.append(target)
    psnr = slice_psnr(np.concatenate(targets), np.concatenate(served))
    np.testing.assert_allclose(psnr, summary["results"]["R=4"]["modl"]["slice_psnr"], atol=1e-3)
