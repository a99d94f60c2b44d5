"""Executes the Colab notebooks of ``training/notebooks`` at tiny scale and checks what they print and write.

Each notebook runs in its own kernel (the interpreter running pytest, through a kernelspec written to a temporary
folder, so a fresh CI machine with only ``pip install -e .[dev]`` needs no installed kernelspec) with
``TFMRI_ZOO_NOTEBOOK_SCALE=tiny`` and its own temporary working directory. The notebooks run concurrently
(each is mostly a single-threaded TensorFlow process), which keeps the wall time of this file near that of the
slowest notebook.
"""
import concurrent.futures
import importlib.util
import json
import math
import os
import re
import sys

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "training", "notebooks")
NOTEBOOKS = ["01_quickstart.ipynb", "02_train_fastmri_tfds.ipynb", "03_ssdu_self_supervised.ipynb",
             "04_export_and_serve.ipynb", "05_cine_motion.ipynb"]
KERNEL_NAME = "tfmri-zoo-notebook-test"
CELL_TIMEOUT = 300


def _write_kernelspec(directory):
    """A kernelspec for this interpreter whose environment selects the tiny scale."""
    spec_dir = os.path.join(directory, KERNEL_NAME)
    os.makedirs(spec_dir, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "tfmri-zoo tests", "language": "python",
        "env": {"TFMRI_ZOO_NOTEBOOK_SCALE": "tiny", "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
                "MPLBACKEND": "Agg"},
    }
    with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
        json.dump(spec, f)
    return directory


def _execute(name, kernels_dir, workdir):
    notebook = nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)
    os.makedirs(workdir, exist_ok=True)
    manager = KernelManager(kernel_name=KERNEL_NAME,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels_dir]))
    client = NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": workdir}})
    error = None
    try:
        client.execute()
    except Exception as exc:  # reported by the test of this notebook, with the failing cell
        error = f"{type(exc).__name__}: {exc}"
    return {"notebook": notebook, "error": error, "workdir": workdir}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """name → {"notebook": executed NotebookNode, "error": str or None, "workdir": its cwd}."""
    kernels_dir = _write_kernelspec(str(tmp_path_factory.mktemp("kernels")))
    root = tmp_path_factory.mktemp("notebooks")
    with concurrent.futures.ThreadPoolExecutor(len(NOTEBOOKS)) as pool:
        futures = {name: pool.submit(_execute, name, kernels_dir, str(root / name.split("_")[0]))
                   for name in NOTEBOOKS}
        return {name: future.result() for name, future in futures.items()}


def _stdout(notebook):
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.output_type == "stream"
                   and output.name == "stdout")


def _ran_cleanly(result):
    assert result["error"] is None, result["error"][-4000:]
    notebook = result["notebook"]
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell did not run"
    # The install cell finds tfmri_zoo importable and so runs no pip (and prints nothing).
    assert "%pip install" in code[0].source and code[0].outputs == []
    text = _stdout(notebook)
    assert "scale: tiny" in text and "GPUs:" in text
    return text


def _scores(text, name):
    """(SSIM, PSNR, NMSE) from a line ``name: SSIM s  PSNR p dB  NMSE n``."""
    match = re.search(rf"{name}: SSIM ([-\d.]+)\s+PSNR ([-\d.]+) dB\s+NMSE ([-\d.]+)", text)
    assert match, f"no metrics line for {name}"
    return tuple(float(v) for v in match.groups())


def _path(result, *parts):
    return os.path.join(result["workdir"], *parts)


def test_quickstart_notebook(executed):
    result = executed["01_quickstart.ipynb"]
    text = _ran_cleanly(result)
    with open(_path(result, "runs", "01_quickstart", "metrics.json")) as f:
        summary = json.load(f)
    assert summary["data"]["shape"] == [32, 32] and summary["data"]["coils"] == 4
    methods = {"zero_filled", "sense", "l1_wavelet", "modl"}
    for acc in ("R=4", "R=8"):
        assert set(summary["results"][acc]) == methods
        for name, scores in summary["results"][acc].items():
            assert 0.0 < scores["ssim"] <= 1.0 and math.isfinite(scores["psnr"])
            # the notebook's table shows the values of metrics.json
            assert f"| {acc} | {name} | {scores['ssim']:.4f} | {scores['psnr']:.2f} |" in text
    assert os.path.getsize(_path(result, "runs", "01_quickstart", "figure.png")) > 1000
    assert os.path.exists(os.path.join(result["workdir"], summary["export"], "saved_model.pb"))
    images = [o for c in result["notebook"].cells for o in c.get("outputs", [])
              if o.output_type == "display_data" and "image/png" in o.data]
    assert images, "the figure was not displayed"


def test_fastmri_tfds_notebook(executed):
    result = executed["02_train_fastmri_tfds.ipynb"]
    text = _ran_cleanly(result)
    work = _path(result, "runs", "02_fastmri")
    for split in ("train", "val"):  # the fake manual_dir in the fastMRI layout
        assert os.listdir(os.path.join(work, "fake_manual_dir", "knee", f"multicoil_{split}"))
    assert "'train': <SplitInfo num_examples=2" in text and "'validation': <SplitInfo num_examples=2" in text
    assert "{'kspace': (TensorShape([2, 4, 32, 32]), 'complex64'), 'mask': (TensorShape([2, 1, 1, 32])" in text
    for key in ("loss", "ssim", "val_loss", "val_ssim"):  # model.fit's history with the zoo's metrics
        value = re.search(rf"'{key}': \[([-\d.e]+)\]", text)
        assert value and math.isfinite(float(value.group(1))), f"history has no {key}"
    for name in ("zero_filled", "varnet"):
        ssim, psnr, nmse = _scores(text, name)
        assert 0.0 < ssim <= 1.0 and math.isfinite(psnr) and nmse > 0.0
    assert "TensorBoard skipped" in text
    assert os.path.exists(os.path.join(work, "train", "final.keras"))
    assert os.listdir(os.path.join(work, "train", "logs"))
    assert os.path.exists(os.path.join(work, "validation.png"))


def test_ssdu_notebook(executed):
    result = executed["03_ssdu_self_supervised.ipynb"]
    text = _ran_cleanly(result)
    split = re.search(r"Ω lines: (\d+) Θ lines: (\d+) Λ lines: (\d+) \| packed target \(2, 10, 32, 32\) \| "
                      r"image target all zeros: True", text)
    assert split, "SSDU split summary missing"
    omega, theta, lam = (int(v) for v in split.groups())
    assert theta + lam == omega and theta > 0 and lam == round(0.4 * omega)  # ρ = |Λ|/|Ω| = 0.4
    losses = re.search(r"SSDU loss per epoch: \[([-\d.e]+)\]", text)
    assert losses and math.isfinite(float(losses.group(1))) and float(losses.group(1)) > 0
    for name in ("zero_filled", "ssdu_modl"):
        ssim, psnr, _ = _scores(text, name)
        assert 0.0 < ssim <= 1.0 and math.isfinite(psnr)
    assert os.path.exists(_path(result, "runs", "03_ssdu", "train", "final.keras"))


def test_export_and_serve_notebook(executed):
    result = executed["04_export_and_serve.ipynb"]
    text = _ran_cleanly(result)
    version = _path(result, "runs", "04_export", "serving", "modl", "1")
    assert os.path.exists(os.path.join(version, "saved_model.pb"))
    assert os.path.exists(os.path.join(version, "assets.extra", "tf_serving_warmup_requests"))
    assert os.path.exists(_path(result, "runs", "04_export", "serving", "models.config"))
    assert "input  kspace         float32    (None, None, None, None, 2)" in text
    assert "input  kspace         complex64  (None, None, None, None)" in text
    for kind in ("REST image (2, 32, 32) complex64 max relative difference to Keras", "gRPC image (2, 32, 32), "
                 "max relative difference to Keras"):
        match = re.search(re.escape(kind) + r": ([\d.e+-]+)", text)
        assert match and float(match.group(1)) < 1e-4
    assert "warm-up: modl serving_default" in text
    assert "tensorflow/serving:latest-gpu" in text
    with open(_path(result, "runs", "04_export", "body.json")) as f:
        assert set(json.load(f)["inputs"]) == {"kspace", "mask", "sensitivities"}


def test_cine_motion_notebook(executed):
    result = executed["05_cine_motion.ipynb"]
    text = _ran_cleanly(result)
    assert "kspace (1, 4, 4, 32, 32) mask (1, 1, 4, 1, 32) sensitivities (1, 4, 1, 32, 32) " \
           "displacements (1, 4, 32, 32, 2)" in text
    assert "nominal R = 8" in text
    with open(_path(result, "runs", "05_cine", "metrics.json")) as f:
        summary = json.load(f)
    assert summary["acceleration"] == 8 and summary["steps"] == 2
    results = summary["results"]
    assert set(results) == {"frame-wise SENSE", "MC-CG, true fields", "cinenet", "motion_net"}
    for name, scores in results.items():
        assert 0.0 < scores["ssim"] <= 1.0 and math.isfinite(scores["psnr"])
        assert f"| {name} | {scores['psnr']:.2f} | {scores['ssim']:.4f} |" in text  # the table shows metrics.json
    # the true fields make motion compensation far better than frame-wise SENSE even at tiny scale
    assert results["MC-CG, true fields"]["psnr"] > results["frame-wise SENSE"]["psnr"] + 5.0
    for name in ("cinenet", "motion_net"):
        assert re.search(rf"{name}: \d+ parameters, 2 steps in \d+ s, final loss [\d.e+-]+", text)
    assert os.path.getsize(_path(result, "runs", "05_cine", "frames.png")) > 1000


def test_committed_notebooks_match_generator():
    """The .ipynb files are what ``make_notebooks.py`` writes (edit the generator, not the JSON)."""
    spec = importlib.util.spec_from_file_location("make_notebooks", os.path.join(NOTEBOOK_DIR, "make_notebooks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sorted(module.NOTEBOOKS) == NOTEBOOKS
    for name in NOTEBOOKS:
        committed = nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)
        generated = module.build(name)
        assert [(c.cell_type, c.id, c.source) for c in committed.cells] == \
               [(c.cell_type, c.id, c.source) for c in generated.cells], name
        nbformat.validate(committed)
        assert committed.metadata["accelerator"] == "GPU"
