"""The DANDI checklist of a session and its planned DANDI file name."""

from __future__ import annotations

from typing import Any

from .stats import StreamPreview


def _checklist(metadata: Any, nwb_fields: dict, streams: list[StreamPreview]) -> tuple[str | None, list]:
    from ..conversion.batch.dandi import dandi_field_problems, dandi_relative_path

    md = nwb_fields or metadata or {}
    if hasattr(md, "model_dump"):
        md = md.model_dump(exclude_none=True)
    problems = dandi_field_problems(md)
    bad = {p.field for p in problems}
    items: list[tuple[bool, str]] = []
    for fld in ("Subject.subject_id", "Subject.species", "Subject.sex", "Subject.age", "NWBFile.session_id"):
        match = [p for p in problems if p.field == fld]
        items.append((not match, str(match[0]) if match else f"{fld} given"))
    if metadata is not None and not nwb_fields:
        try:
            from ..conversion.metadata import Metadata

            for line in Metadata.from_dict(metadata).missing(dandi=True):
                if line.split(":")[0] not in bad and not line.startswith("Subject."):
                    items.append((False, line))
        except Exception as exc:  # metadata invalid, or the conversion module not there yet
            items.append((False, f"metadata: {exc}"))
    elif metadata is None and not nwb_fields:
        items.append((False, "no metadata given: subject, session and imaging plane details will be asked for"))
    for sp in streams:
        if len(sp.irregular_samples):
            items.append((True, f"{sp.name}: {len(sp.irregular_samples)} sample intervals off by more than half the "
                                f"median (not a DANDI error; the NWB file keeps the timestamps)"))
    name = None
    subject = (md.get("Subject") or {}).get("subject_id")
    session = (md.get("NWBFile") or {}).get("session_id")
    if subject and session and "Subject.subject_id" not in bad and "NWBFile.session_id" not in bad:
        name = str(dandi_relative_path(subject, session))
    return name, items
