"""The batch package keeps the import paths that scripts and the docs used before it was one folder."""

import importlib

import pytest


@pytest.mark.parametrize(("old", "new"), [
    ("ophysio.conversion.dandi", "ophysio.conversion.batch.dandi"),
    ("ophysio.conversion.validate", "ophysio.conversion.batch.validate"),
    ("ophysio.conversion.batch_spec", "ophysio.conversion.batch.spec"),
])
def test_an_old_module_path_is_the_moved_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_from_the_conversion_package_import_the_old_names():
    from ophysio.conversion import dandi, validate
    from ophysio.conversion.batch import dandi as moved_dandi
    from ophysio.conversion.batch import validate as moved_validate

    assert dandi is moved_dandi and validate is moved_validate


def test_the_public_batch_names_stay_where_they_were():
    import ophysio
    from ophysio.conversion import batch

    for name in batch.__all__:
        assert getattr(batch, name) is not None
    assert ophysio.convert_sessions is batch.convert_sessions
    from ophysio.conversion.dandi import upload_folder, write_dandiset_yaml  # noqa: F401
    from ophysio.conversion.validate import validate_path  # noqa: F401
