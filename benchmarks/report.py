"""What every benchmark writes: its results as JSON, atomically (never a half-written file)."""
import os
from report import write_json  # noqa: E402


def write_json(path, data):
    """Writes ``data`` (JSON-serialisable) to ``path`` through a temporary file renamed over it; returns ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_json(path, data)
    return path
