"""What one worker needs to convert one session: paths and plain metadata, nothing open."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["WORKER_ENV"]

#: Environment given to every worker (and set by every task): HDF5 file locks fail on many network
#: file systems, and a batch never has two writers on one file.
WORKER_ENV = {"HDF5_USE_FILE_LOCKING": "FALSE"}


@dataclass
class _Task:
    """What one worker needs: paths and plain metadata, nothing open."""

    session_id: str
    sources: list[str]
    format: str | None
    options: dict[str, Any]
    metadata: dict[str, Any]
    conversion: dict[str, Any]
    target: str
    compression_threads: int | None = 1
    timeout: float | None = None

    def inputs(self) -> dict[str, Any]:
        """What the manifest records and a re-run compares."""
        return {"sources": _stat_files(self.sources), "format": self.format, "options": self.options,
                "metadata": self.metadata, "conversion": self.conversion}


def _stat_files(paths: Sequence[str]) -> list[dict[str, Any]]:
    files = []
    for path in paths:
        try:
            st = os.stat(path)
            files.append({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
        except OSError:
            files.append({"path": str(path), "size": None, "mtime_ns": None})
    return files


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, sort_keys=True))
