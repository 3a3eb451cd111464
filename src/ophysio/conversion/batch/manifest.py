"""The manifest beside each output file: what was converted from what, and whether the write finished.

A re-run skips a session only when its manifest says ``done`` for the same inputs, the same files read
(sizes and modification times) and the same ophysio version."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..._version import __version__
from .task import _json_ready, _stat_files, _Task

__all__ = ["manifest_path"]


def manifest_path(nwbfile_path: str | os.PathLike) -> Path:
    """The manifest beside an output file: ``.<stem>.ophysio.json`` (hidden, so dandi does not upload it)."""
    path = Path(nwbfile_path)
    return path.with_name(f".{path.stem}.ophysio.json")


def _read_manifest(target: Path) -> dict | None:
    try:
        return json.loads(manifest_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_manifest(target: Path, content: dict) -> None:
    path = manifest_path(target)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(content, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temp, path)


def _is_current(task: _Task) -> bool:
    target = Path(task.target)
    manifest = _read_manifest(target)
    # only a conversion that finished counts: "writing" is what an interrupted or failed one leaves behind
    if not (target.is_file() and manifest is not None and manifest.get("status") == "done"
            and manifest.get("ophysio_version") == __version__
            and manifest.get("inputs") == _json_ready(task.inputs())):
        return False
    # every file the extractor read (a series found from its first file, say) is unchanged
    read = manifest.get("files_read") or []
    return _stat_files([f["path"] for f in read]) == read
