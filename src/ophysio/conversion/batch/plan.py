"""Planning a run: merge each session's metadata over the spec's, check them (DANDI fields too) and choose
each output path, before anything starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import MetadataError
from .spec import BatchSpec, SessionEntry
from .task import _json_ready, _Task

__all__ = ["session_metadata", "plan_sessions"]


def session_metadata(spec: BatchSpec, entry: SessionEntry) -> dict[str, Any]:
    """The session's metadata over the spec's, with ``NWBFile.session_id`` set to the entry's ``session_id``."""
    from ..metadata import merge_metadata

    own = ((entry.metadata or {}).get("NWBFile") or {}).get("session_id")
    if own is not None and str(own) != entry.session_id:
        raise MetadataError(f"session {entry.session_id!r}: metadata.NWBFile.session_id is {own!r}; the session's "
                            "session_id is the NWB session_id, drop one of them")
    merged = merge_metadata(spec.metadata, entry.metadata)
    merged.setdefault("NWBFile", {})["session_id"] = entry.session_id
    return merged


def plan_sessions(spec: BatchSpec, output_folder: str | os.PathLike) -> list[_Task]:
    """Merge metadata, check every session (DANDI fields too) and choose each output path.

    Raises
    ------
    MetadataError
        One message listing every session with invalid or missing metadata, and what is missing.
    """
    from ..metadata import Metadata
    from .dandi import dandi_field_problems, dandi_relative_path

    output = Path(output_folder)
    base = Path(spec.base_folder) if spec.base_folder else Path.cwd()
    tasks: list[_Task] = []
    problems: list[str] = []
    targets: dict[str, str] = {}
    for entry in spec.sessions:
        try:
            merged = session_metadata(spec, entry)
            # validated with the defaults filled in, but the task carries only what the user wrote: the
            # model's default Ophys lists would replace the per-channel defaults the source gives
            metadata = Metadata.from_dict(merged, source=f"metadata of session {entry.session_id!r}").to_dict()
        except MetadataError as exc:
            problems.append(str(exc))
            continue
        if spec.dandi:
            missing = dandi_field_problems(metadata)
            if missing:
                problems.append(f"session {entry.session_id!r} lacks what DANDI requires:\n    "
                                + "\n    ".join(str(p) for p in missing))
                continue
            relative = dandi_relative_path(metadata["Subject"]["subject_id"], metadata["NWBFile"]["session_id"])
            target = output / relative
        else:
            target = output / f"{entry.session_id}.nwb"
        key = str(target)
        if key in targets:
            problems.append(f"sessions {targets[key]!r} and {entry.session_id!r} would both write {target}")
            continue
        targets[key] = entry.session_id
        raw = entry.source if isinstance(entry.source, list) else [entry.source]
        sources = [str((base / p).resolve()) if not Path(p).is_absolute() else str(p) for p in raw]
        tasks.append(_Task(
            session_id=entry.session_id, sources=sources, format=entry.format or spec.format,
            options=_json_ready({**spec.options, **entry.options}), metadata=_json_ready(merged),
            conversion=spec.conversion.model_dump(), target=str(target),
        ))
    if problems:
        raise MetadataError(f"{len(problems)} of {len(spec.sessions)} sessions cannot start; nothing was "
                            "converted:\n  - " + "\n  - ".join(problems))
    return tasks
