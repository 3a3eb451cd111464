import pytest

from ophysio.testing.data import sample_data_folder


@pytest.fixture(scope="session")
def shared_data():
    """The folder of real sample files (../shared/data or $OPHYSIO_TEST_DATA)."""
    return sample_data_folder()
