"""The cheap content check of suite2p output (an ops.npy where suite2p puts it)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_suite2p"]


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
