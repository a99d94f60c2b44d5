"""What every benchmark writes: its results as JSON, atomically (never a half-written file)."""
import json
import os


def write_json(path, data):
    """Writes ``data`` (JSON-serialisable) to ``path`` through a temporary file renamed over it; returns ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)
    return path


def model_file_reconstructors(items):
    """``--model-files LABEL=FILE.keras ...`` → ``{label: inputs → complex numpy [B, H, W]}`` (trained ``.keras``
    files, e.g. a new training stage, evaluated beside the shipped weights)."""
    import keras

    learned = {}
    for item in items:
        label, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"--model-files: expected LABEL=FILE.keras, got {item!r}")
        model = keras.saving.load_model(path, safe_mode=True)
        learned[label] = lambda x, m=model: m(x, training=False).numpy()
    return learned
