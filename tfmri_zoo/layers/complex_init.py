"""Complex weight initialisers (Trabelsi et al., "Deep complex networks", ICLR 2018).

A complex kernel ``W`` of shape ``[*kernel_size, in, out]`` is stored as one real variable of shape
``[*kernel_size, in, out, 2]`` (last axis: real, imaginary part).  The fans are those of the *complex* kernel:
``fan_in = prod(kernel_size) * in`` and ``fan_out = prod(kernel_size) * out`` (the trailing 2 is not a fan).

The variance target is on the complex weight, ``Var(W) = E|W|^2``:

* ``criterion="glorot"``: ``Var(W) = 2 / (fan_in + fan_out)``;
* ``criterion="he"``:     ``Var(W) = 2 / fan_in``.

With ``σ² = Var(W) / 2`` the ``distribution`` draws

* ``"normal"``:   real and imaginary parts i.i.d. ``N(0, σ²)``;
* ``"uniform"``:  real and imaginary parts i.i.d. ``U(-√3 σ, √3 σ)``;
* ``"rayleigh"``: magnitude ``Rayleigh(σ)`` and phase ``U(-π, π)`` (the variant of Trabelsi et al.).

All three give ``E|W|^2 = 2σ² = Var(W)``.
"""
import math

import keras
import numpy as np

_CRITERIA = ("glorot", "he")
_DISTRIBUTIONS = ("normal", "uniform", "rayleigh")


def complex_fans(shape):
    """Fan-in and fan-out of the complex kernel stored with real ``shape = [*kernel_size, in, out, 2]``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or shape[-1] != 2:
        raise ValueError(f"shape: expected [..., 2] (real, imaginary part last), got {shape}.")
    cshape = shape[:-1]
    if len(cshape) == 1:
        return cshape[0], cshape[0]
    receptive = int(np.prod(cshape[:-2])) if len(cshape) > 2 else 1
    return receptive * cshape[-2], receptive * cshape[-1]


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexInitializer(keras.initializers.Initializer):
    """Initialiser of a complex kernel stored as a real ``[..., 2]`` tensor.

    Args:
        criterion: ``"glorot"`` or ``"he"`` (see module docstring).
        distribution: ``"normal"``, ``"uniform"`` or ``"rayleigh"``.
        seed: optional integer seed.
    """

    def __init__(self, criterion="glorot", distribution="normal", seed=None):
        if criterion not in _CRITERIA:
            raise ValueError(f"criterion: expected one of {_CRITERIA}, got {criterion!r}.")
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"distribution: expected one of {_DISTRIBUTIONS}, got {distribution!r}.")
        self.criterion = criterion
        self.distribution = distribution
        self.seed = seed
        self._generator = keras.random.SeedGenerator(seed) if seed is not None else None

    def complex_variance(self, shape):
        """Target ``E|W|^2`` for a real storage ``shape = [..., 2]``."""
        fan_in, fan_out = complex_fans(shape)
        return 2.0 / (fan_in + fan_out) if self.criterion == "glorot" else 2.0 / fan_in

    def __call__(self, shape, dtype=None):
        """Draws a real tensor of ``shape = [..., 2]`` (dtype ``float32`` unless given)."""
        dtype = dtype or "float32"
        sigma = math.sqrt(self.complex_variance(shape) / 2.0)
        seed = self._generator
        cshape = tuple(shape[:-1])
        if self.distribution == "normal":
            w = keras.random.normal(tuple(shape), stddev=sigma, dtype=dtype, seed=seed)
        elif self.distribution == "uniform":
            limit = math.sqrt(3.0) * sigma
            w = keras.random.uniform(tuple(shape), -limit, limit, dtype=dtype, seed=seed)
        else:
            u = keras.random.uniform(cshape, 1e-12, 1.0, dtype=dtype, seed=seed)
            magnitude = sigma * keras.ops.sqrt(-2.0 * keras.ops.log(u))  # inverse CDF of Rayleigh(σ)
            phase = keras.random.uniform(cshape, -math.pi, math.pi, dtype=dtype, seed=seed)
            w = keras.ops.stack([magnitude * keras.ops.cos(phase), magnitude * keras.ops.sin(phase)], axis=-1)
        return w

    def get_config(self):
        return {"criterion": self.criterion, "distribution": self.distribution, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexGlorot(ComplexInitializer):
    """Complex Glorot initialiser, ``E|W|^2 = 2/(fan_in+fan_out)``; ``distribution`` as :class:`ComplexInitializer`."""

    def __init__(self, distribution="normal", seed=None):
        super().__init__("glorot", distribution, seed)

    def get_config(self):
        return {"distribution": self.distribution, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfmri_zoo")
class ComplexHe(ComplexInitializer):
    """Complex He initialiser, ``E|W|^2 = 2/fan_in``; ``distribution`` as :class:`ComplexInitializer`."""

    def __init__(self, distribution="normal", seed=None):
        super().__init__("he", distribution, seed)

    def get_config(self):
        return {"distribution": self.distribution, "seed": self.seed}


_ALIASES = {
    "complex_glorot": lambda: ComplexGlorot("normal"),
    "complex_glorot_uniform": lambda: ComplexGlorot("uniform"),
    "complex_glorot_rayleigh": lambda: ComplexGlorot("rayleigh"),
    "complex_he": lambda: ComplexHe("normal"),
    "complex_he_uniform": lambda: ComplexHe("uniform"),
    "complex_he_rayleigh": lambda: ComplexHe("rayleigh"),
}


def get_complex_initializer(identifier):
    """Resolves a complex initialiser from a name (``"complex_glorot"``, ``"complex_he_rayleigh"``, ...), a config
    dict or an instance.  Any other Keras initialiser is accepted too (it then fills the ``[..., 2]`` storage)."""
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    return keras.initializers.get(identifier)
