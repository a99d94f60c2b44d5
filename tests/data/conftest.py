"""Fixtures for the data tests: small synthetic fastMRI-schema files written once per session; a blocked import."""
import builtins

import pytest

from tfmri_zoo.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """Three 3-slice volumes, 32×24, 4 coils, with stored sensitivities."""
    directory = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(directory, num_files=3, num_slices=3, shape=(32, 24), coils=4, seed=7)
    return directory


@pytest.fixture
def block_import(monkeypatch):
    """``block_import("nilearn")``: from then on, importing that package (or a submodule) raises ``ImportError``
    as if it were not installed; undone after the test."""
    real_import = builtins.__import__

    def block(package):
        def guarded(name, *args, **kwargs):
            if name == package or name.startswith(package + "."):
                raise ImportError(f"No module named '{name}'")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", guarded)

    return block
