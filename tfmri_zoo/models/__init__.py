"""The model zoo. Every module in this package defines one network and registers it (see ``registry``).

``tfmri_zoo.models.get(name, preset="small", **config)`` builds one; ``tfmri_zoo.models.list()`` names them all.
Importing this package imports every model module, so registration never depends on import order.
"""
import importlib
import pkgutil

from tfmri_zoo.models.base import ReconModel
from tfmri_zoo.models.registry import get, list, presets, register  # noqa: A004

for _info in pkgutil.iter_modules(__path__):
    if _info.name not in ("base", "registry"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["ReconModel", "get", "list", "presets", "register"]
