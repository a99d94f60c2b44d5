"""Shared test set-up: TensorFlow backend, quiet logs, deterministic seeds, small helpers."""
import os
import shutil

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    """A seeded numpy Generator, fresh per test."""
    return np.random.default_rng(1234)


def crandn(rng, *shape, dtype=np.complex64):
    """Standard complex Gaussian array of ``shape``."""
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


requires_bart = pytest.mark.skipif(shutil.which("bart") is None,
                                   reason="BART is not installed (apt-get install bart); .ci/run installs it")
