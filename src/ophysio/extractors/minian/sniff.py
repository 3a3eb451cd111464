"""Detection of Minian output: a folder holding the ``A.zarr`` and ``C.zarr`` Zarr groups."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_minian"]


def _is_group(path: Path) -> bool:
    return (path / ".zgroup").is_file() or (path / "zarr.json").is_file()


def minian_folder(path: Path) -> Path | None:
    """The Minian output folder ``path`` is, or is a group (``A.zarr``...) of; None when it is neither."""
    path = Path(path)
    for folder in (path, path.parent):
        if folder.is_dir() and _is_group(folder / "A.zarr") and _is_group(folder / "C.zarr"):
            return folder
    return None


def sniff_minian(path: Path, head: bytes) -> bool | str:
    """A folder holding Minian's ``A.zarr`` and ``C.zarr`` groups (or one of its groups, or a file beside them)."""
    if minian_folder(path) is not None:
        return True
    return "no Minian A.zarr and C.zarr Zarr groups here"
