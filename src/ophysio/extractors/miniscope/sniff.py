"""The cheap content check of Miniscope folders: metaData.json, timeStamps.csv and 0.avi where the software
puts them (a device folder, a recording folder of device folders, or a session folder of recordings)."""

from __future__ import annotations

from pathlib import Path

from ...errors import MetadataError, SelectionError
from .files import METADATA_NAME, camera_reason, find_device_folder, is_device_folder, read_metadata

__all__ = ["sniff_miniscope"]


def _session(folder: Path) -> dict | None:
    path = folder / METADATA_NAME
    try:
        return read_metadata(path) if path.is_file() else None
    except MetadataError:
        return None


def sniff_miniscope(path: Path, head: bytes) -> bool | str:
    """A Miniscope device folder (not a behaviour camera's), a recording folder holding one, or a session folder
    of such recordings."""
    if not path.is_dir():
        if path.suffix.lower() == ".avi" and is_device_folder(path.parent):
            return (f"a video of the Miniscope device folder {path.parent}: open the folder to read the recording "
                    "with its timestamps")
        return "not a folder (a Miniscope recording is a folder: metaData.json, timeStamps.csv, 0.avi...)"
    try:
        if is_device_folder(path):
            device = read_metadata(path / METADATA_NAME)
            reason = camera_reason(path, device, _session(path.parent))
            return True if reason is None else reason
        if find_device_folder(path, None) is not None:
            return True
        for sub in path.iterdir():
            if sub.is_dir() and find_device_folder(sub, None) is not None:
                return True
    except SelectionError:  # several Miniscopes: a Miniscope folder, the reader asks which
        return True
    except MetadataError as exc:
        return f"a Miniscope-like folder whose metaData.json cannot be read ({exc})"
    return "no Miniscope device folder (metaData.json, timeStamps.csv and 0.avi) here or in its subfolders"
