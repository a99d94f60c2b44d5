"""Every benchmark runs to the end at a tiny size and prints its table (a smoke test, not a timing assertion).

Most run with ``--quick``; the memory and cine benchmarks, whose quick modes take minutes, get explicit tiny sizes
(cine with ``--quick`` for its small networks: explicit sizes override its quick defaults).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    # script: (arguments, a phrase its output must contain)
    "classical.py": (["--quick"], "ratio"),
    "nufft.py": (["--quick"], "forward+adjoint"),
    "operators.py": (["--quick"], "SENSE normal"),
    "inference.py": (["--quick", "--no-torch"], "VarNet"),
    "pipeline.py": (["--quick"], "examples/s"),
    "memory.py": (["--size", "96", "--coils", "4", "--filters", "16", "--layers", "4", "--cg-iterations", "3",
                   "--iterations", "1", "3"], "peak(3) / peak(1)"),
    "serving.py": (["--quick", "--prior-l1", "0.003", "0.3"], "SavedModel with the prior-ℓ1 step"),
    "cine.py": (["--quick", "--size", "16", "--frames", "4", "--coils", "2", "--train", "2", "--test", "2",
                 "--steps", "2", "--cg", "2", "--models", "cinenet"], "PSNR"),
    "zoo.py": (["--quick"], "zero_filled"),
    "generalisation.py": (["--quick", "--reference", "noise_free", "--test-subjects", "2", "--accelerations", "2", "8",
                           "--mask-type", "equispaced", "--calibration-table", "8", "--prior-l1"], "brain-48"),
    "xla.py": (["--quick"], "XLA / graph"),
    "grappa.py": (["--quick"], "RAKI"),
    "noise_adaptive.py": (["--quick"], "modl_noise_adaptive"),
    "line_rejection.py": (["--quick"], "MoDL, rejected"),
    "recon_seg.py": (["--quick"], "recon_seg head"),
    "qsm.py": (["--quick"], "qsm network"),
    "parameter_mapping.py": (["--quick"], "learned, Eq. 30"),
    "gan.py": (["--quick"], "CycleGAN (unpaired)"),
    "rare.py": (["--quick"], "RED, RARE"),
    "inverse_gan.py": (["--quick"], "inverse GAN, latent only"),
    "cross_domain.py": (["--quick"], "(phantom-trained)"),
    "final_dc.py": (["--quick", "--models", "unet"], "network + DC"),
    "heldout.py": (["--quick", "--models", "unet"], "slices below CG-SENSE"),
    "training.py": (["--quick", "--models", "modl"], "examples/s"),
    "adaptation.py": (["--quick"], "scans changed"),
    "dc_sweep.py": (["--quick"], "chosen on 1 validation files"),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_quick_mode(script, tmp_path):
    if script in ("classical.py", "grappa.py") and shutil.which("bart") is None:
        pytest.skip("BART is not installed (apt-get install bart); .ci/run installs it")
    args, phrase = CASES[script]
    if script in ("generalisation.py", "noise_adaptive.py", "line_rejection.py", "gan.py", "final_dc.py",
                  "heldout.py", "adaptation.py", "dc_sweep.py"):
        from tfmri_zoo.models import weights

        if not weights.manifest():
            pytest.skip("no shipped weights (tfmri_zoo/weights/manifest.json) to test for generalisation")
    extra = (["--out", str(tmp_path / "out")] if script in ("zoo.py", "generalisation.py", "noise_adaptive.py",
                                                        "line_rejection.py", "recon_seg.py", "qsm.py",
                                                        "parameter_mapping.py", "gan.py", "rare.py",
                                                        "inverse_gan.py", "final_dc.py", "heldout.py",
                                                        "adaptation.py", "dc_sweep.py") else [])
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args, *extra],
                            capture_output=True, text=True, cwd=str(tmp_path), timeout=900,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert phrase in result.stdout, result.stdout[-3000:]
    if script == "generalisation.py":   # --test-subjects 2: two test subjects in the brain domain's own folder
        assert len(os.listdir(tmp_path / "out" / "data" / "brain-48-test2" / "test")) == 2
        with open(tmp_path / "out" / "generalisation.json") as f:
            report = json.load(f)
        assert report["mask_type"] == "equispaced"
        assert sorted(report["domains"]["brain-48"]["table"]) == ["R=2", "R=8"]
        name = report["models"][0]      # its row with a table calibrated at R=8 only, read at R=2 too
        assert {f"{name}+table"} <= set(report["domains"]["brain-48"]["table"]["R=2"])
        for rows in report["domains"]["brain-48"]["table"].values():    # the learned image as ℓ1 prior
            chosen = rows[f"{name}+l1"]["prior_l1"]
            assert chosen["weight"] is None or chosen["weight"] >= 0
            if chosen["weight"] is None:      # μ = ∞ chosen on validation: the model's own image
                assert rows[f"{name}+l1"]["slice_psnr"] == pytest.approx(rows[name]["slice_psnr"], abs=1e-6)
        for domain, found in report["domains"].items():   # flagged when any slice is below CG-SENSE
            for key, rows in found["table"].items():
                below = [n for n in found["margins"]
                         if min(np.subtract(rows[n]["slice_psnr"], rows["sense"]["slice_psnr"])) < 0]
                line = next(x for x in result.stdout.splitlines() if f" {domain} (" in x and f") {key}:" in x)
                assert ("BELOW CG-SENSE" in line) == bool(below), line
                assert all(f"{n} on " in line for n in below), line


def test_dc_sweep_of_a_final_step_saves_the_chosen_step(tmp_path):
    from tfmri_zoo.models import weights

    if "unet" not in weights.manifest():
        pytest.skip("no shipped unet weights")
    saved = tmp_path / "unet-dc.keras"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "dc_sweep.py"), "--quick", "--model",
                             "unet", "--save", str(saved), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=str(tmp_path), timeout=900,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "unet: chosen on 1 validation files" in result.stdout, result.stdout[-3000:]
    with open(tmp_path / "out" / "dc_sweep-unet.json") as f:
        report = json.load(f)
    grid = [(row["lam"], row["noise_lam"], row["cg_iterations"]) for row in report["rows"]]
    assert grid == [(0.01, 300.0, 10), (0.003, 300.0, 10)]
    import keras
    import tensorflow as tf

    step = keras.saving.load_model(str(saved)).final_proximal
    assert float(tf.math.real(step.nonnegative(step.lam))) == pytest.approx(report["chosen"]["lam"], rel=1e-4)


def test_radial_benchmark_tunes_both_cg_senses_and_saves_the_fine_tuned_model(tmp_path):
    from tfmri_zoo.models import weights

    if "modl" not in weights.manifest():
        pytest.skip("no shipped modl weights")
    saved, out = tmp_path / "modl-radial.keras", tmp_path / "radial.json"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "radial.py"), "--quick", "--save",
                             str(saved), "--out", str(out)], capture_output=True, text=True, cwd=str(tmp_path),
                            timeout=900, env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    report = json.loads(out.read_text())
    rows = [name.split(" / ")[1] for name in report if name.startswith("16 spokes / ")]
    for label in ("CG-SENSE density-weighted", "CG-SENSE unweighted", "ℓ1-wavelet density-weighted",
                  "ℓ1-wavelet unweighted", "MoDL zero-shot", "MoDL radial"):
        assert sum(row.startswith(label) for row in rows) == 1, (label, rows)
    # the CG count rule: fewest validation slices below CG-SENSE, then the highest PSNR (quick grid: 1, 2)
    sweep = report["validation: MoDL zero-shot by CG iterations"]["32², 4 coils, 16 spokes"]
    chosen = max(("1", "2"), key=lambda n: (-sweep[n]["below_cg_sense"], sweep[n]["psnr"]))
    import keras

    model = keras.saving.load_model(str(saved))
    assert model.operator == "nufft" and model.cg_iterations == int(chosen)


def test_gpu_script_writes_one_json_report(tmp_path):
    # benchmarks/gpu.sh on the CPU with QUICK=1, restricted to the NUFFT benchmark: one atomic JSON file holding the
    # command, exit status, time and printed table of each benchmark it ran.
    out = tmp_path / "report.json"
    env = dict(os.environ, QUICK="1", ONLY="nufft", LIMIT="300", PYTHONPATH=ROOT)
    result = subprocess.run(["bash", os.path.join(ROOT, "benchmarks", "gpu.sh"), str(out)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert set(report["benchmarks"]) == {"nufft"} and report["tensorflow"] == __import__("tensorflow").__version__
    nufft = report["benchmarks"]["nufft"]
    assert nufft["returncode"] == 0 and nufft["seconds"] > 0
    assert any("forward+adjoint" in line for line in nufft["output"])
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]   # no temporary file left behind
