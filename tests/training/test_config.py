"""Config-driven training on tiny synthetic data: defaults fill every field, training runs, metrics are written."""
import json

import pytest

from tfmri_zoo.training.config import DEFAULTS, load_config, train_from_config


def test_yaml_configs_load_with_defaults():
    config = load_config("training/configs/ssdu_synthetic.yaml")
    assert config["training"]["mode"] == "ssdu" and config["training"]["ssdu"]["selection"] == "gaussian"
    assert config["optimizer"] == DEFAULTS["optimizer"]
    assert load_config("training/configs/modl_synthetic.yaml") == DEFAULTS  # the file documents the defaults
    with pytest.raises(ValueError, match="training.epoch"):
        load_config({"training": {"epoch": 3}})


def test_train_from_config_synthetic(tmp_path):
    config = {"model": {"name": "modl", "config": {"iterations": 1, "cg_iterations": 2}},
              "data": {"shape": [32, 32], "coils": 4, "num_slices": 1, "batch_size": 2},
              "training": {"epochs": 2, "steps_per_epoch": 3, "verbose": 0}, "evaluate": {"accelerations": [4]}}
    model, history, full = train_from_config(config, synthetic=True, out_dir=str(tmp_path))
    assert len(history.history["loss"]) == 2 and full["masks"] == DEFAULTS["masks"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == {"R=4"} and 0 < metrics["R=4"]["ssim"] <= 1 and metrics["R=4"]["volumes"] == 2
    assert (tmp_path / "final.keras").exists() and (tmp_path / "config.json").exists()
    # reconstruct one held-out file (what `tfmri-zoo recon` does) and check it against evaluate's model output
    import glob

    import h5py
    import numpy as np

    from tfmri_zoo.training.evaluate import reconstruct_file

    source = sorted(glob.glob(str(tmp_path / "data" / "test" / "*.h5")))[0]
    image = reconstruct_file(model, source, str(tmp_path / "recon.h5"), acceleration=4,
                             png_path=str(tmp_path / "recon.png"))
    with h5py.File(tmp_path / "recon.h5") as f:
        np.testing.assert_allclose(f["reconstruction"][()], np.abs(image), rtol=1e-6)
        assert f["reconstruction"].shape == (1, 32, 32) and f.attrs["acceleration"] == 4
    assert (tmp_path / "recon.png").stat().st_size > 0


def test_model_card_config_is_accepted():
    import os

    from tfmri_zoo.training.config import load_config

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    config = load_config(os.path.join(root, "models", "modl", "config.yaml"))
    assert config["model"]["name"] == "modl" and config["model"]["preset"] is None
    assert config["model"]["config"]["iterations"] == 10
    assert config["optimizer"]["learning_rate"] == 1e-3


@pytest.mark.parametrize("repeat", [0, 1.5, True])
def test_phantom_repeat_must_be_a_positive_int(tmp_path, repeat):
    config = {"data": {"source": "brain+phantom", "phantom_repeat": repeat}}
    with pytest.raises(ValueError, match="data.phantom_repeat: expected a positive int"):
        train_from_config(config, out_dir=str(tmp_path))


def test_model_weights_fine_tunes_a_shipped_set(tmp_path):
    import numpy as np

    from tfmri_zoo import models

    config = {"model": {"name": "vn", "weights": "brain"},
              "data": {"shape": [32, 32], "coils": 4, "num_slices": 1, "batch_size": 2, "splits": {"train": 2, "val": 1}},
              "optimizer": {"learning_rate": 0.0}, "evaluate": {"accelerations": []},
              "training": {"epochs": 1, "steps_per_epoch": 1, "verbose": 0}}
    model, _, _ = train_from_config(config, synthetic=True, out_dir=str(tmp_path))
    shipped = models.get("vn", weights="brain")
    assert len(model.weights) == len(shipped.weights)
    for trained, reference in zip(model.weights, shipped.weights):   # lr 0: still the shipped weights
        np.testing.assert_allclose(np.asarray(trained), np.asarray(reference), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="init .* or weights"):
        train_from_config({**config, "model": {"name": "vn", "weights": "brain", "init": "x.keras"}},
                          synthetic=True, out_dir=str(tmp_path / "both"))
