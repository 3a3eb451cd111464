"""The cheap content check of movie files: the container's magic in the first bytes."""

from __future__ import annotations

from pathlib import Path

from .._video.container import container_kind

__all__ = ["sniff_video"]


def sniff_video(path: Path, head: bytes) -> bool | str:
    """An AVI (``RIFF....AVI``), Matroska/WebM (EBML ``1A45DFA3``) or MP4/QuickTime (``ftyp``) file."""
    if not head and path.is_dir():
        return "a folder, not a movie file"
    if container_kind(head) is not None:
        return True
    return "no AVI (RIFF....AVI), Matroska (EBML 1A45DFA3) or MP4/QuickTime (ftyp) magic at its start"
