"""Fixtures for the data tests: small synthetic fastMRI-schema files written once per session."""
import pytest

from tfmri_zoo.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    """Three 3-slice volumes, 32×24, 4 coils, with stored sensitivities."""
    directory = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(directory, num_files=3, num_slices=3, shape=(32, 24), coils=4, seed=7)
    return directory
