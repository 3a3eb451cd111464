"""The cheap content check of Micro-Manager stacks: the stack header at byte 8 of a file, or a folder that
holds such a file.

Micro-Manager's stack files are OME-TIFF files too, so this format is detected before OME-TIFF. What sets
them apart is the 32 bytes after the TIFF header (index map offset header 54773648 ... summary header
2355492): other OME-TIFF writers, pymmcore-plus's OMETiffWriter (tifffile) among them, put the first IFD
right there, at byte 8.
"""

from __future__ import annotations

import os
from pathlib import Path

from .header import is_mmstack_head

__all__ = ["sniff_micromanager", "mmstack_files_in"]

TIFF_SUFFIXES = (".tif", ".tiff")


def mmstack_files_in(folder: Path) -> list[Path]:
    """The files of ``folder`` whose name says MMStack (``*MMStack*.tif``), in name order."""
    try:
        names = sorted(name for name in os.listdir(folder)
                       if "MMStack" in name and name.lower().endswith(TIFF_SUFFIXES) and not name.startswith("."))
    except OSError:
        return []
    return [folder / name for name in names if (folder / name).is_file()]


def sniff_micromanager(path: Path, head: bytes) -> bool | str:
    """A Micro-Manager stack file (header at byte 8), or a folder holding ``*MMStack*.tif`` stack files."""
    if path.is_dir():
        for candidate in mmstack_files_in(path):
            with open(candidate, "rb") as fh:
                if is_mmstack_head(fh.read(40)) is True:
                    return True
        return "no Micro-Manager stack file (*MMStack*.ome.tif) in this folder"
    return is_mmstack_head(bytes(head[:40]))
