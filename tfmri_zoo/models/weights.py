"""Pretrained weights, Keras-style: ``models.list_weights(name)`` and ``models.get(name, weights=...)``.

Weight files ship inside the package (``tfmri_zoo/weights/``, offline) and are listed in
``tfmri_zoo/weights/manifest.json``:

  {"<model>": {"<weights name>": {"file": "<model>-<weights>.weights.h5", "sha256": "<hex>", "config": {...},
                                   "build": {"coils": 4, "shape": [64, 64]}, "command": "...", "card": "..."}}}

``config`` is the full constructor configuration the weights were trained with (independent of presets);
``build`` gives the shapes of the dummy call that creates the variables before loading. Every load verifies the
file's SHA-256 first: a corrupted, truncated or replaced file raises a ``ValueError``, never a half-loaded model.
"""
import hashlib
import json
import os

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "weights")
MANIFEST = os.path.join(WEIGHTS_DIR, "manifest.json")


def manifest():
    """The parsed manifest ``{model: {weights: entry}}`` (empty when no weights ship)."""
    if not os.path.exists(MANIFEST):
        return {}
    with open(MANIFEST) as f:
        return json.load(f)


def list_weights(name):
    """Sorted names of the weight sets shipped for model ``name`` (``[]`` when there are none)."""
    return sorted(manifest().get(name, {}))


def weights_entry(name, weights):
    """The manifest entry of ``name``/``weights``; ``ValueError`` listing what exists when unknown."""
    available = manifest()
    if weights not in available.get(name, {}):
        listing = {model: sorted(sets) for model, sets in sorted(available.items())}
        raise ValueError(f"weights: no weight set '{weights}' for model '{name}'; available: {listing}.")
    return available[name][weights]


def sha256(path):
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dummy_inputs(coils=4, shape=(64, 64), operator="cartesian"):
    """Zero k-space, full mask (or, for ``operator="nufft"``, 8 radial spokes) and unit-norm maps of the given size:
    the call that creates a 2D model's variables."""
    import numpy as np

    height, width = shape
    maps = np.full((1, coils, height, width), 1.0 / np.sqrt(coils), np.complex64)
    if operator == "nufft":
        from tfmri_zoo.physics.trajectories import radial_trajectory

        trajectory = np.asarray(radial_trajectory(8, 2 * max(shape)), np.float32)[None]
        return {"kspace": np.zeros((1, coils, trajectory.shape[1]), np.complex64), "trajectory": trajectory,
                "sensitivities": maps}
    return {"kspace": np.zeros((1, coils, height, width), np.complex64),
            "mask": np.ones((1, 1, 1, width), np.float32), "sensitivities": maps}


def load_pretrained(model, name, weights):
    """Builds ``model`` with a dummy call and loads the verified weight file of ``name``/``weights`` into it."""
    entry = weights_entry(name, weights)
    path = os.path.join(WEIGHTS_DIR, entry["file"])
    if not os.path.exists(path):
        raise ValueError(f"weights: file {path} of '{name}/{weights}' is missing from the installation.")
    actual = sha256(path)
    if actual != entry["sha256"]:
        raise ValueError(f"weights: {path} has SHA-256 {actual}, expected {entry['sha256']} (corrupted or "
                         "replaced file; reinstall tfmri-zoo).")
    build = entry.get("build", {})
    model(dummy_inputs(build.get("coils", 4), tuple(build.get("shape", (64, 64))),
                       getattr(model, "operator", "cartesian")))
    model.load_weights(path)
    return model


def transfer_weights(source, target):
    """Copies ``source``'s weights into ``target`` (both built), in order, where ``target`` has the same variables
    plus new ones (e.g. MoDL with ``noise_lam``): a target variable whose name (last path component) or shape differs
    from the next source variable is left at its initial value.

    Returns:
      the paths of the target variables left at their initial values.

    Raises:
      ValueError: a source variable finds no target variable (the models do not correspond).
    """
    left, queue = [], list(source.weights)
    for variable in target.weights:
        if queue and (queue[0].path.split("/")[-1], tuple(queue[0].shape)) == (variable.path.split("/")[-1],
                                                                             tuple(variable.shape)):
            variable.assign(queue.pop(0))
        else:
            left.append(variable.path)
    if queue:
        raise ValueError(f"target: no variable for source variable {queue[0].path} {tuple(queue[0].shape)} "
                         f"({len(queue)} left); the models do not correspond.")
    return left


def reference_case(seed=123, shape=(96, 96), coils=6, acceleration=4):
    """A small fixed held-out brain case (test slabs) for checking shipped weights: ``(inputs, target)`` numpy.

    One T2-weighted axial test slice, fastMRI random mask (centre fraction
    :func:`~tfmri_zoo.physics.sampling.center_fraction`: 0.08 for R=4, 0.04 for R=8; fixed seed), the slice's ESPIRiT
    maps, normalised like the pipeline (``zero_filled_max``).
    """
    import numpy as np

    from tfmri_zoo.data.brain import brain_volume
    from tfmri_zoo.physics.coils import sense_combine
    from tfmri_zoo.physics.fft import ifft2c
    from tfmri_zoo.physics.sampling import RandomMaskFunc, center_fraction

    volume = brain_volume(seed, "test", num_slices=1, shape=shape, coils=coils, contrast="t2w",
                          orientation="axial", noise_level=0.02)
    kspace, maps = volume["kspace"], volume["sensitivities"]
    mask, _ = RandomMaskFunc([center_fraction(acceleration)], [acceleration])((1, 1, *shape), seed=seed)
    mask = np.asarray(mask, np.float32).reshape(1, 1, 1, shape[1])
    masked = kspace * mask
    scale = float(np.sqrt(np.sum(np.abs(ifft2c(masked).numpy()) ** 2, axis=1)).max())
    target = sense_combine(ifft2c(kspace), maps).numpy() / scale
    return {"kspace": (masked / scale).astype(np.complex64), "mask": mask, "sensitivities": maps}, target


def save_pretrained(model, name, weights, config, command, card, build=None):
    """Writes ``model``'s weights as ``tfmri_zoo/weights/<name>-<weights>.weights.h5`` (atomically), with its
    SHA-256, ``config``, ``command``, ``card`` and the PSNR (dB) of :func:`reference_case` at R=4 and R=8 in the
    manifest. Returns the manifest entry."""
    import numpy as np

    from tfmri_zoo import metrics

    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    filename = f"{name}-{weights}.weights.h5"
    tmp = os.path.join(WEIGHTS_DIR, f"tmp-{filename}")
    model.save_weights(tmp)
    os.replace(tmp, os.path.join(WEIGHTS_DIR, filename))
    reference = {}
    for acceleration in (4, 8):
        inputs, target = reference_case(acceleration=acceleration)
        output = np.asarray(model(inputs, training=False))
        reference[f"R={acceleration}"] = float(metrics.psnr(np.abs(target), np.abs(output)))
    entry = {"file": filename, "sha256": sha256(os.path.join(WEIGHTS_DIR, filename)), "config": config,
             "build": build or {"coils": 4, "shape": [64, 64]}, "command": command, "card": card,
             "reference_psnr": reference, "parameters": int(model.count_params())}
    table = manifest()
    table.setdefault(name, {})[weights] = entry
    with open(MANIFEST + ".tmp", "w") as f:
        json.dump(table, f, indent=2, sort_keys=True)
    os.replace(MANIFEST + ".tmp", MANIFEST)
    return entry
