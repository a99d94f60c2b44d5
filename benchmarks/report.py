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
