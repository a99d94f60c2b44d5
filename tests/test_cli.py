"""The command line: list, export, evaluate and recon on a tiny saved model and tiny synthetic files."""
import os

import h5py
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tfmri_zoo import cli, models
from tfmri_zoo.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import keras

    directory = tmp_path_factory.mktemp("cli")
    # The same initial weights whatever ran before: ZS-SSL lowers the held-out loss of this untrained model within 2
    # epochs, but not of every initialisation (then --adapt rightly returns the model's own image; 2 of 4 seeds tried).
    keras.utils.set_random_seed(0)
    model = models.get("modl", preset="small")
    inputs, _ = zoo_contract.toy_problem(batch=1, coils=4, height=32, width=32)
    model(inputs)
    path = str(directory / "modl.keras")
    model.save(path)
    files = write_synthetic_dataset(str(directory / "data"), 1, 2, (32, 32), 4, seed=3)
    return path, files, directory


def test_list_names_every_model(capsys):
    cli.main(["list"])
    out = capsys.readouterr().out
    for name in models.list():
        assert name in out


def test_export_from_keras_file(saved_model, capsys):
    path, _, directory = saved_model
    cli.main(["export", "--model", path, "--out", str(directory / "serving"), "--version", "2"])
    exported = capsys.readouterr().out.strip().splitlines()[-1]
    assert exported.endswith(os.path.join("modl", "2"))
    assert "serving_default" in tf.saved_model.load(exported).signatures
    assert "name: 'modl'" in (directory / "serving" / "models.config").read_text()


def test_evaluate_prints_a_table(saved_model, capsys, tmp_path):
    path, files, _ = saved_model
    cli.main(["evaluate", "--model", path, "--data", os.path.dirname(files[0]), "--accelerations", "4",
              "--json", str(tmp_path / "table.json")])
    out = capsys.readouterr().out
    assert "SSIM" in out and "R=4" in out
    assert (tmp_path / "table.json").exists()


def test_recon_writes_h5(saved_model, tmp_path):
    path, files, _ = saved_model
    output = str(tmp_path / "recon.h5")
    cli.main(["recon", "--model", path, "--input", files[0], "--output", output, "--acceleration", "4",
              "--png", str(tmp_path / "recon.png")])
    with h5py.File(output, "r") as f:
        assert f["reconstruction"].shape == (2, 32, 32)
        assert np.all(np.isfinite(f["reconstruction"][()]))
    assert (tmp_path / "recon.png").exists()


def test_recon_adapt_fine_tunes_per_slice_and_leaves_the_model_file(saved_model, tmp_path):
    path, files, _ = saved_model
    before = open(path, "rb").read()
    plain, adapted = str(tmp_path / "plain.h5"), str(tmp_path / "adapted.h5")
    cli.main(["recon", "--model", path, "--input", files[0], "--output", plain, "--acceleration", "4"])
    cli.main(["recon", "--model", path, "--input", files[0], "--output", adapted, "--acceleration", "4", "--adapt",
              "--adapt-epochs", "2"])
    with h5py.File(plain, "r") as f, h5py.File(adapted, "r") as g:
        assert g["reconstruction"].shape == (2, 32, 32) and np.all(np.isfinite(g["reconstruction"][()]))
        assert not np.allclose(f["reconstruction"][()], g["reconstruction"][()])  # an untrained model adapts
    assert open(path, "rb").read() == before


def test_recon_prior_l1_ends_with_the_l1_wavelet_that_has_the_model_image_as_prior(saved_model, tmp_path):
    path, files, _ = saved_model
    out = {name: str(tmp_path / f"{name}.h5") for name in ("plain", "dominant", "mixed")}
    cli.main(["recon", "--model", path, "--input", files[0], "--output", out["plain"], "--acceleration", "4"])
    for name, weight in (("dominant", "1e6"), ("mixed", "0.1")):
        cli.main(["recon", "--model", path, "--input", files[0], "--output", out[name], "--acceleration", "4",
                  "--prior-l1", "0.001", weight])
    images = {}
    for name, file in out.items():
        with h5py.File(file, "r") as f:
            images[name] = f["reconstruction_complex"][()]
    plain = images["plain"]
    # μ ≫ 1: the prior term dominates and the model's image comes back; μ = 0.1: the data and sparsity change it.
    assert np.linalg.norm(images["dominant"] - plain) <= 1e-3 * np.linalg.norm(plain)
    assert np.linalg.norm(images["mixed"] - plain) >= 1e-2 * np.linalg.norm(plain)
    assert np.all(np.isfinite(images["mixed"]))


def test_calibrate_saves_the_model_with_the_chosen_step_per_acceleration(saved_model, tmp_path, capsys):
    import json

    from tfmri_zoo.training.calibration import calibrated_step, step_weights

    path, files, _ = saved_model
    out = str(tmp_path / "calibrated.keras")
    cli.main(["calibrate", "--model", path, "--data", os.path.dirname(files[0]), "--acceleration", "4", "2",
              "--out", out, "--json", str(tmp_path / "calibration.json")])
    chosen = json.loads((tmp_path / "calibration.json").read_text())["dc"]
    assert sorted(chosen) == ["2", "4"]
    for choice in chosen.values():
        assert len(choice["points"]) >= 3                                  # this preset's step: a fixed λ, no ν
        eligible = [p for p in choice["points"] if p["worst_margin"] >= 0]  # at or above CG-SENSE on every slice
        if eligible:
            assert choice["ssim"] == max(p["ssim"] for p in eligible)       # scored by SSIM (the default)
        else:
            assert choice["worst_margin"] == max(p["worst_margin"] for p in choice["points"])
    table = calibrated_step(cli._load(out)).calibration                    # saved in the .keras file
    assert table["accelerations"] == [2.0, 4.0] and table["noise_lam"] is None
    assert table["lam"] == pytest.approx([chosen["2"]["lam"], chosen["4"]["lam"]], rel=1e-6)
    assert step_weights(cli._load(path)) == pytest.approx((chosen["4"]["trained"]["lam"], None), rel=1e-5)
    assert calibrated_step(cli._load(path)).calibration is None            # the input file is untouched
    with pytest.raises(SystemExit, match="NAME/WEIGHTS"):
        cli.main(["calibrate", "--model", "modl", "--data", os.path.dirname(files[0]), "--out", out])


def test_calibrate_prior_l1_saves_the_chosen_step_that_a_served_call_reads(saved_model, tmp_path):
    import json

    from tfmri_zoo.training.comparison import evaluation_batches

    path, files, _ = saved_model
    out = str(tmp_path / "prior-l1.keras")
    cli.main(["calibrate", "--model", path, "--data", os.path.dirname(files[0]), "--acceleration", "4",
              "--steps", "prior-l1", "--out", out, "--json", str(tmp_path / "chosen.json")])
    chosen = json.loads((tmp_path / "chosen.json").read_text())
    assert list(chosen) == ["prior_l1"]
    choice = chosen["prior_l1"]["4"]
    scores = choice["scores"]
    assert len(scores) == 9                                               # μ from 0 (ℓ1-wavelet) to ∞ (the model)
    best = max(v["psnr"] for v in scores.values())                        # within 0.1 dB of the best, largest μ
    assert scores[str(float(choice["weight"]))]["psnr"] >= best - 0.1 - 1e-9
    loaded, plain = cli._load(out), cli._load(path)
    weight = None if choice["weight"] == float("inf") else choice["weight"]
    lam = None if weight is None else choice["lam"]
    assert loaded.get_config()["prior_l1"] == {"accelerations": [4.0], "lam": [lam], "weight": [weight]}
    inputs = evaluation_batches(files, 4, 2)[0][0]
    if weight is not None:
        assert not np.allclose(loaded(inputs).numpy(), plain(inputs).numpy())
    assert plain.get_config()["prior_l1"] is None                          # the input file is untouched


def test_train_requires_a_data_source():
    with pytest.raises(SystemExit, match="--data"):
        cli.main(["train", "--config", "models/modl/config.yaml"])
