"""The facts a movie's container records (see :class:`~ophysio.extractors.facts.AcquisitionFacts`).

A movie says little about its acquisition:

- ``session_start_time``: the container's ``creation_time`` tag (MP4/MOV and Matroska writers set it,
  in UTC), when present.
- ``software``: the container's ``encoder``, ``software`` or ``writing_application`` tag (often the
  muxing library, e.g. ``Lavf62.12.102``).
- the rate is the extractor's; the whole container description is the source header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..facts import AcquisitionFacts
from ..imaging import ImagingExtractor

__all__ = ["video_facts"]


def _tag(tags: dict, *names: str) -> str | None:
    lowered = {str(k).lower(): v for k, v in tags.items()}
    for name in names:
        value = lowered.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def video_facts(extractor: ImagingExtractor) -> AcquisitionFacts:
    """The facts of one channel of a movie file."""
    facts = ImagingExtractor.get_acquisition_facts(extractor)
    video = facts.source_header.get("video") or {}
    tags = {**(video.get("stream_metadata") or {}), **(video.get("container_metadata") or {})}
    changes: dict[str, Any] = {}
    software = _tag(tags, "encoder", "software", "writing_application")
    if software:
        changes["software"] = software
    created = _tag(tags, "creation_time", "date")
    if created:
        try:
            changes["session_start_time"] = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            pass
    return facts.replace(**changes)
