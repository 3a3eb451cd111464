"""The cheap content checks of suite2p output: an ops.npy where suite2p puts it (the movie), with stat.npy
beside it (the segmentation)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_suite2p", "sniff_suite2p_segmentation"]


def _suite2p_ops(path: Path) -> bool:
    if path.is_file():
        if path.name == "ops.npy":
            with open(path, "rb") as fh:
                return fh.read(6) == b"\x93NUMPY"
        return path.suffix == ".bin" and (path.parent / "ops.npy").is_file()
    if path.is_dir():
        return (
            (path / "ops.npy").is_file()
            or (path / "plane0" / "ops.npy").is_file()
            or (path / "suite2p" / "plane0" / "ops.npy").is_file()
        )
    return False


def sniff_suite2p(path: Path, head: bytes) -> bool | str:
    """A suite2p folder (ops.npy, planeN/ops.npy or suite2p/planeN/ops.npy), its ops.npy or a .bin beside it."""
    return True if _suite2p_ops(path) else "no suite2p ops.npy here"


def _has_stat(folder: Path) -> bool:
    return (folder / "stat.npy").is_file() and (folder / "ops.npy").is_file()


def sniff_suite2p_segmentation(path: Path, head: bytes) -> bool | str:
    """A suite2p folder whose planes (or combined/) hold stat.npy beside ops.npy, a plane folder, or a file in one."""
    if path.is_file():
        return True if _has_stat(path.parent) else "no suite2p stat.npy and ops.npy beside this file"
    if not path.is_dir():
        return "not a suite2p folder"
    for root in (path, path / "suite2p"):
        if _has_stat(root) or _has_stat(root / "plane0") or _has_stat(root / "combined"):
            return True
    return "no suite2p stat.npy beside an ops.npy (in plane0/, combined/ or suite2p/plane0/)"
