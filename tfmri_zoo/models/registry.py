"""Model registry: ``tfmri_zoo.models.get(name, preset="small", **config)`` and ``tfmri_zoo.models.list()``.

Each model file registers its class with ``@register("name", presets={"small": {...}, "default": {...}})``. The
``default`` preset holds the original paper's hyperparameters, ``small`` a size for tests and CPU demos.
"""
_REGISTRY = {}


def register(name, presets):
    """Class decorator adding a model class to the registry under ``name`` with its named ``presets`` (dicts)."""
    if "small" not in presets or "default" not in presets:
        raise ValueError(f"presets: model '{name}' must define 'small' and 'default' presets.")

    def decorate(cls):
        if name in _REGISTRY:
            raise ValueError(f"name: a model named '{name}' is already registered.")
        _REGISTRY[name] = (cls, {k: dict(v) for k, v in presets.items()})
        cls.registry_name = name
        return cls

    return decorate


def _load_all():
    # Importing the package registers every model file.
    import tfmri_zoo.models  # noqa: F401


def list():  # noqa: A001 - the public name the issue asks for
    """Names of all registered models, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def presets(name):
    """The preset dicts of model ``name``: ``{"small": {...}, "default": {...}, ...}``."""
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"name: unknown model '{name}'; registered: {sorted(_REGISTRY)}.")
    return {k: dict(v) for k, v in _REGISTRY[name][1].items()}


def get(name, preset="small", weights=None, **config):
    """Builds model ``name`` from a preset overridden by ``config`` keywords, or with pretrained ``weights``.

    Args:
      name: a registered model name (see :func:`list`).
      preset: a preset name (``"small"`` or ``"default"``), or ``None`` for the class defaults.
      weights: ``None`` (random initialisation) or the name of a shipped weight set
        (:func:`tfmri_zoo.models.list_weights`): the model is built with the configuration the weights were
        trained with (``preset`` is then ignored; ``config`` may only override non-structural arguments such as
        ``recompute``) and the SHA-256-verified weights are loaded, offline.
      **config: constructor arguments overriding the preset.

    Returns:
      a ``keras.Model`` called as ``model({"kspace", "mask", "sensitivities"})`` (unbuilt unless ``weights``).

    Raises:
      ValueError: an unknown name, preset or weight set (the message lists what exists), or a weight file whose
        checksum does not match.
    """
    _load_all()
    if name not in _REGISTRY:
        raise ValueError(f"name: unknown model '{name}'; registered: {sorted(_REGISTRY)}.")
    cls, named = _REGISTRY[name]
    if weights is not None:
        from tfmri_zoo.models.weights import load_pretrained, weights_entry

        return load_pretrained(cls(**{**weights_entry(name, weights)["config"], **config}), name, weights)
    if preset is not None and preset not in named:
        raise ValueError(f"preset: model '{name}' has presets {sorted(named)}, got '{preset}'.")
    kwargs = dict(named[preset]) if preset is not None else {}
    kwargs.update(config)
    return cls(**kwargs)
