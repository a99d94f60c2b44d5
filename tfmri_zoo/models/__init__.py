"""The model zoo. Every module in this package defines one network and registers it (see ``registry``).

``tfmri_zoo.models.get(name, preset="small", **config)`` builds one; ``tfmri_zoo.models.list()`` names them all;
``tfmri_zoo.models.get(name, weights="brain")`` loads shipped pretrained weights (``list_weights(name)``).
Importing this package imports every model module, so registration never depends on import order.
"""
import importlib
import pkgutil

from tfmri_zoo.models.base import ReconModel
from tfmri_zoo.models.registry import get, list, presets, register  # noqa: A004
from tfmri_zoo.models.weights import list_weights

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in ("base", "registry", "weights"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["ReconModel", "get", "list", "list_weights", "presets", "register"]
