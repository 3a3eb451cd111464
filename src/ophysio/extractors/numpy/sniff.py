"""The cheap content check of numpy .npy files (the magic)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_npy"]


def sniff_npy(path: Path, head: bytes) -> bool | str:
    """A numpy .npy file."""
    return True if head[:6] == b"\x93NUMPY" else "no .npy magic"
