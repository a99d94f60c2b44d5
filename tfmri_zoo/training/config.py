"""Config-driven training: ``train_from_config(path_or_dict, data_dir=None, synthetic=False, out_dir=...)``.

A YAML file (or dict) with these sections; every field is optional and has the default shown in :data:`DEFAULTS`
(``training/configs/*.yaml`` are documented examples):

  model:      name (registry name, default ``modl``), preset (``small``), config (constructor overrides, ``{}``),
              init (``null``, or a ``.keras`` file whose weights the model starts from: a second training stage),
              weights (``null``, or a shipped weight set (``models.list_weights(name)``) to fine-tune: the model is
              ``models.get(name, weights=...)``, its configuration the set's with ``config`` on top)
              — a model card's ``models/<name>/config.yaml`` is accepted too and means that model's paper
              configuration (its ``config`` section) with every other section at its default
  data:       source (``files`` | ``synthetic`` | ``brain`` | ``brain+phantom``: both generators' files in every
              split; phantom_shape ([96, 96]), phantom_coils (8), phantom_splits (null: the phantom default),
              phantom_repeat (1: each phantom training file listed that many times)), shape ([64, 64], generated data; ``null`` for the brain
              data's random matrix sizes), coils (8, generated data; ``null`` for brain: random 4–16), num_slices (4),
              splits (subjects per split of generated data, null: the generator's default), sizes (brain: matrix
              sizes drawn per side, null: 96–256), noise_range (brain: ``[low, high]`` of the log-uniform
              noise level, null: 0.005–0.07), texture (brain: ``atlas`` | ``scanner`` | ``mixed``, null: atlas;
              see :func:`tfmri_zoo.data.brain.brain_volume`), seed (0),
              batch_size (4), crop (null), normalize (``zero_filled_max``), sensitivities (``stored``)
  masks:      type (``random`` | ``equispaced`` | ``mixed``: both, chosen per example), center_fractions
              ([0.08, 0.04]), accelerations ([4, 8])
  loss:       name (``l1``; see tfmri_zoo.training.losses.get), config ({})
  optimizer:  name (``adam`` | ``adamw`` | ``sgd``), learning_rate (0.001), config ({})
  training:   mode (``supervised`` | ``ssdu``), epochs (8), steps_per_epoch (50), validation_steps (null),
              patience (null), seed (0), strategy (null | ``mirrored`` | ``multi_worker``), verbose (1),
              ssdu: {rho: 0.4, selection: uniform, centre_size: 4}
  evaluate:   accelerations ([4, 8]) — after training, fastMRI metrics on the test split (synthetic) written to
              ``out_dir/metrics.json``; ``[]`` to skip

Data: ``data.source: synthetic`` (or ``synthetic=True``) generates the embedded phantom dataset
(:func:`tfmri_zoo.data.synthetic.default_dataset`), ``data.source: brain`` the realistic brain dataset
(:func:`tfmri_zoo.data.brain.brain_dataset`), in ``data_dir`` (default ``out_dir/data``); otherwise ``data_dir``
holds ``train/``, ``val/`` (and optionally ``test/``) folders of fastMRI-schema ``.h5`` files.
"""
import copy
import glob
import json
import os

DEFAULTS = {
    "model": {"name": "modl", "preset": "small", "config": {}, "init": None, "weights": None},
    "data": {"source": "files", "shape": [64, 64], "coils": 8, "num_slices": 4, "splits": None, "sizes": None,
             "noise_range": None, "texture": None, "seed": 0,
             "phantom_shape": [96, 96], "phantom_coils": 8, "phantom_splits": None, "phantom_repeat": 1,
             "batch_size": 4, "crop": None,
             "normalize": "zero_filled_max", "sensitivities": "stored"},
    "masks": {"type": "random", "center_fractions": [0.08, 0.04], "accelerations": [4, 8]},
    "loss": {"name": "l1", "config": {}},
    "optimizer": {"name": "adam", "learning_rate": 1e-3, "config": {}},
    "training": {"mode": "supervised", "epochs": 8, "steps_per_epoch": 50, "validation_steps": None,
                 "patience": None, "seed": 0, "strategy": None, "verbose": 1,
                 "ssdu": {"rho": 0.4, "selection": "uniform", "centre_size": 4}},
    "evaluate": {"accelerations": [4, 8]},
}


def _merge(defaults, overrides, path=""):
    out = copy.deepcopy(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            raise ValueError(f"config: unknown field '{path}{key}'; known: {sorted(defaults)}.")
        if isinstance(defaults[key], dict) and key != "config" and isinstance(value, dict):
            out[key] = _merge(defaults[key], value, f"{path}{key}.")
        else:
            out[key] = value
    return out


def load_config(path_or_dict):
    """Reads a YAML file (or takes a dict) and fills every missing field from :data:`DEFAULTS`."""
    if isinstance(path_or_dict, dict):
        raw = path_or_dict
    else:
        import yaml

        with open(path_or_dict) as f:
            raw = yaml.safe_load(f) or {}
    if "model" not in raw and "name" in raw and "config" in raw:
        # A model card's models/<name>/config.yaml: train that model with its paper configuration and the
        # default data/loss/optimizer settings.
        raw = {"model": {"name": raw["name"], "preset": None, "config": dict(raw["config"])}}
    return _merge(DEFAULTS, raw)


def _mask_func(masks, seed):
    from tfmri_zoo.physics.sampling import EquispacedMaskFractionFunc, MixedMaskFunc, RandomMaskFunc

    kinds = {"random": RandomMaskFunc, "equispaced": EquispacedMaskFractionFunc}
    if masks["type"] not in (*kinds, "mixed"):
        raise ValueError(f"masks.type: expected one of {sorted(kinds) + ['mixed']}, got {masks['type']!r}.")
    make = lambda kind: kinds[kind](list(masks["center_fractions"]), list(masks["accelerations"]), seed=seed)
    if masks["type"] == "mixed":
        return MixedMaskFunc([make("random"), make("equispaced")], seed=seed)
    return make(masks["type"])


def _optimizer(spec):
    import keras

    kinds = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW, "sgd": keras.optimizers.SGD}
    if spec["name"] not in kinds:
        raise ValueError(f"optimizer.name: expected one of {sorted(kinds)}, got {spec['name']!r}.")
    return kinds[spec["name"]](learning_rate=spec["learning_rate"], **spec["config"])


def _splits(data, data_dir, synthetic, out_dir):
    source = "synthetic" if synthetic else data["source"]
    sources = ("files", "synthetic", "brain", "brain+phantom")
    if source not in sources:
        raise ValueError(f"data.source: expected one of {sources}, got {source!r}.")
    if source == "brain+phantom":
        if isinstance(data["phantom_repeat"], bool) or not isinstance(data["phantom_repeat"], int) \
                or data["phantom_repeat"] < 1:
            raise ValueError(f"data.phantom_repeat: expected a positive int, got {data['phantom_repeat']!r}.")
        brain = _splits({**data, "source": "brain"}, data_dir, False, out_dir)
        phantom = _splits({**data, "source": "synthetic", "shape": data["phantom_shape"],
                           "coils": data["phantom_coils"], "splits": data["phantom_splits"]},
                          os.path.join(data_dir or os.path.join(out_dir, "data"), "phantom"), False, out_dir)
        # phantom_repeat > 1 lists every phantom training file that many times (the domain's share of the steps)
        repeat = {"train": data["phantom_repeat"]}
        return {split: brain.get(split, []) + phantom.get(split, []) * repeat.get(split, 1) for split in brain}
    if source == "synthetic":
        from tfmri_zoo.data.synthetic import default_dataset

        return default_dataset(data_dir or os.path.join(out_dir, "data"), shape=tuple(data["shape"]),
                               coils=data["coils"], num_slices=data["num_slices"], splits=data["splits"],
                               seed=data["seed"])
    if source == "brain":
        from tfmri_zoo.data.brain import brain_dataset

        return brain_dataset(data_dir or os.path.join(out_dir, "data"), splits=data["splits"],
                             num_slices=data["num_slices"], seed=data["seed"],
                             shape=None if data["shape"] is None else tuple(data["shape"]), coils=data["coils"],
                             **({} if data["sizes"] is None else {"sizes": tuple(data["sizes"])}),
                             **({} if data["noise_range"] is None else {"noise_range": tuple(data["noise_range"])}),
                             **({} if data["texture"] is None else {"texture": data["texture"]}))
    if data_dir is None:
        raise ValueError("data_dir: required unless synthetic=True (a folder with train/ and val/ .h5 files).")
    splits = {s: sorted(glob.glob(os.path.join(data_dir, s, "*.h5"))) for s in ("train", "val", "test")}
    if not splits["train"]:
        raise ValueError(f"data_dir: no .h5 files in {os.path.join(data_dir, 'train')}.")
    return {k: v for k, v in splits.items() if v}


def train_from_config(path_or_dict, data_dir=None, synthetic=False, out_dir="runs/train"):
    """Trains the model a config describes (module docstring); returns ``(model, history, config)``.

    Writes ``out_dir/config.json`` (the full config with defaults), the :func:`~tfmri_zoo.training.train` outputs
    (``final.keras``, ``best.keras``, ``logs/``) and, when a test split exists, ``out_dir/metrics.json``.
    """
    from tfmri_zoo import models
    from tfmri_zoo.data.pipeline import make_dataset
    from tfmri_zoo.training import losses
    from tfmri_zoo.training.distribute import make_strategy
    from tfmri_zoo.training.evaluate import evaluate, format_table
    from tfmri_zoo.training.ssdu import ssdu_dataset
    from tfmri_zoo.training.supervised import train

    config = load_config(path_or_dict)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    data, run = config["data"], config["training"]
    if run["mode"] not in ("supervised", "ssdu"):
        raise ValueError(f"training.mode: expected 'supervised' or 'ssdu', got {run['mode']!r}.")
    splits = _splits(data, data_dir, synthetic, out_dir)
    common = dict(batch_size=int(data["batch_size"]), crop=data["crop"], normalize=data["normalize"],
                  sensitivities=data["sensitivities"], seed=run["seed"])
    mask_func = _mask_func(config["masks"], run["seed"])
    train_ds = make_dataset(splits["train"], mask_func=mask_func, shuffle=True, **common).repeat()
    val_ds = make_dataset(splits["val"], mask_func=mask_func, validation=True, **common) if "val" in splits else None
    loss = losses.get(config["loss"]["name"], **config["loss"]["config"])
    if run["mode"] == "ssdu":
        train_ds = ssdu_dataset(train_ds, seed=run["seed"], **run["ssdu"])
        if val_ds is not None:
            val_ds = ssdu_dataset(val_ds, seed=run["seed"] + 1, **run["ssdu"])
        if config["loss"]["name"] == DEFAULTS["loss"]["name"]:
            loss = losses.SSDULoss()
    spec = config["model"]

    def build():
        if spec["weights"]:
            if spec["init"]:
                raise ValueError("model: give init (a .keras file) or weights (a shipped set), not both.")
            return models.get(spec["name"], weights=spec["weights"], **spec["config"])
        model = models.get(spec["name"], preset=spec["preset"], **spec["config"])
        if spec["init"]:
            import keras

            from tfmri_zoo.models.weights import dummy_inputs, transfer_weights

            model(dummy_inputs())
            new = transfer_weights(keras.saving.load_model(spec["init"], safe_mode=True), model)
            if new:
                print(f"model.init: {len(new)} variables not in {spec['init']} keep their initial values: {new}")
        return model

    model, history = train(build, train_ds, val_ds, out_dir=out_dir, epochs=run["epochs"], loss=loss,
                           optimizer=_optimizer(config["optimizer"]), steps_per_epoch=run["steps_per_epoch"],
                           validation_steps=run["validation_steps"], patience=run["patience"],
                           strategy=make_strategy(run["strategy"]), seed=run["seed"], verbose=run["verbose"])
    accelerations = config["evaluate"]["accelerations"]
    if accelerations and "test" in splits:
        table = evaluate(model, splits["test"], accelerations, sensitivities=data["sensitivities"])
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump(table, f, indent=2)
        if run["verbose"]:
            print(format_table(table))
    return model, history, config
