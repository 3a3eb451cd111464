"""Where the real sample files are: ``$OPHYSIO_TEST_DATA``, else ``../shared/data`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["sample_data_folder", "sample_file"]


def sample_data_folder() -> Path:
    """The folder of real sample files; a clear error when it cannot be found."""
    env = os.environ.get("OPHYSIO_TEST_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [parent / "shared" / "data" for parent in here.parents]
    candidates.append(Path.cwd().parent / "shared" / "data")
    for folder in candidates:
        if (folder / "PROVENANCE.md").is_file():
            return folder
    raise FileNotFoundError(
        "the real sample files were not found: set OPHYSIO_TEST_DATA to the folder that holds "
        "PROVENANCE.md, or put shared/data beside the checkout"
    )


def sample_file(relative: str) -> Path:
    """The path of one sample file (relative to the sample folder); an error if it is missing."""
    path = sample_data_folder() / relative
    if not path.exists():
        raise FileNotFoundError(f"sample file {relative} is missing from {path.parent}")
    return path
