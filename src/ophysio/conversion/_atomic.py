"""Outputs that appear at their path only when complete.

Every writer of ophysio writes beside the final path under a hidden temporary name, syncs it to disk,
and renames it into place at the end, so that an interrupted or failed write (or a power loss) leaves
nothing at the output path, and an existing file is replaced only when the caller said
``overwrite=True``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OphysioError, OutputExistsError

__all__ = ["atomic_output", "OutputExistsError", "partial_name_prefix"]

#: Temporary outputs are named ``.<name>.<random>.partial`` beside the final path.
PARTIAL_SUFFIX = ".partial"


def partial_name_prefix(path: str | os.PathLike) -> str:
    """The name prefix of temporary outputs for ``path`` (to find leftovers of killed writers)."""
    return f".{Path(path).name}."


def _sync(path: Path) -> None:
    """fsync a file or folder where the platform allows it (folders cannot be opened on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sync_tree(path: Path) -> None:
    """fsync a written file, or every file and folder of a written folder, before it is renamed in."""
    if path.is_dir():
        for folder, _, files in os.walk(path):
            for name in files:
                _sync(Path(folder) / name)
            _sync(Path(folder))
    else:
        _sync(path)


@contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on failure remove it.

    Works for files and for folders (Zarr stores, multi-file outputs): whatever the block creates at the
    temporary path is moved into place as a whole.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False (checked before and again after writing).
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise OutputExistsError(f"{final} exists; pass overwrite=True to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f"{partial_name_prefix(final)}{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")
    try:
        yield temp
        if not temp.exists():
            raise OphysioError(f"the writer produced nothing for {final}")
        _sync_tree(temp)
        if final.exists():
            if not overwrite:
                raise OutputExistsError(f"{final} appeared while writing; pass overwrite=True to replace it")
            if final.is_dir():  # os.replace cannot replace a folder
                shutil.rmtree(final)
            elif temp.is_dir():
                final.unlink()
        os.replace(temp, final)
        _sync(final.parent)  # make the rename itself durable
    finally:
        if temp.exists():
            shutil.rmtree(temp) if temp.is_dir() else temp.unlink()
