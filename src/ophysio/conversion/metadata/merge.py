"""Merging metadata field by field (:func:`merge_metadata`) and giving naive times a zone
(:func:`apply_timezone`)."""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel

from ...errors import MetadataError
from .._neuroconv_layout import to_ophysio_layout
from .models import Metadata

__all__ = ["merge_metadata", "apply_timezone"]


def merge_metadata(base: dict | Metadata | None, override: dict | Metadata | None) -> dict:
    """Merge ``override`` over ``base``, field by field: what ``override`` does not say, ``base`` keeps.

    Dictionaries merge recursively. Lists of entries (``Ophys.Device``, ``Ophys.ImagingPlane``,
    ``Ophys.PhotonSeries``, a plane's ``optical_channel``) merge entry by entry: an entry merges into the
    base entry of the same ``name``; the others, in order, into the base entries no name matched, and are
    added when none is left; a list
    holding one entry without a name is shared and merges into every base entry. A device or plane renamed
    that way is renamed where it is referenced. Other lists and values are replaced. ``None`` values in
    ``override`` do not erase what ``base`` gives.
    """

    def as_dict(value: Any) -> dict:
        if value is None:
            return {}
        if isinstance(value, BaseModel):
            return value.model_dump(exclude_none=True)
        return copy.deepcopy(dict(to_ophysio_layout(value)))

    return _merge(as_dict(base), as_dict(override))


def _merge(a: dict, b: dict, path: str = "") -> dict:
    out = dict(a)
    if path == "Ophys":
        out, b = _rename_references(out, b)
    for key, value in b.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, f"{path}.{key}" if path else key)
        elif _entries(value) and _entries(out.get(key)):
            out[key] = _merge_entries(out[key], value)[0]
        else:
            out[key] = copy.deepcopy(value)
    return out


def _entries(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _merge_entries(base: list[dict], over: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """``over`` merged into ``base`` by name, then in order; and the base names that changed (old -> new)."""
    out = [copy.deepcopy(e) for e in base]
    if len(over) == 1 and over[0].get("name") is None:  # one shared entry: over each of the source's
        return [_merge(e, over[0]) for e in out], {}
    by_name = {e["name"]: i for i, e in enumerate(out) if e.get("name") is not None}
    claimed: set[int] = set()
    pending = []
    for entry in over:
        i = by_name.get(entry.get("name"))
        if i is not None and i not in claimed:
            claimed.add(i)
            out[i] = _merge(out[i], entry)
        else:
            pending.append(entry)
    renames: dict[str, str] = {}
    free = iter([i for i in range(len(base)) if i not in claimed])
    for entry in pending:
        i = next(free, None)
        if i is None:
            out.append(copy.deepcopy(entry))
            continue
        old = out[i].get("name")
        out[i] = _merge(out[i], entry)
        if old is not None and out[i].get("name") != old:
            renames[old] = out[i]["name"]
    return out, renames


def _rename_references(ophys: dict, over: dict) -> tuple[dict, dict]:
    """Merge the Device and ImagingPlane lists first, renaming references to a renamed device or plane."""
    ophys, over = dict(ophys), dict(over)
    references = (("Device", (("ImagingPlane", "device"),)),
                  ("ImagingPlane", (("PhotonSeries", "imaging_plane"), ("PlaneSegmentation", "imaging_plane"))),
                  ("PlaneSegmentation", (("RoiResponseSeries", "plane_segmentation"),)))
    for kind, referrers in references:
        if not (_entries(ophys.get(kind)) and _entries(over.get(kind))):
            continue
        ophys[kind], renames = _merge_entries(ophys[kind], over.pop(kind))
        for referrer, field in referrers:
            for entry in ophys.get(referrer) or []:
                if isinstance(entry, dict) and entry.get(field) in renames:
                    entry[field] = renames[entry[field]]
    return ophys, over


def apply_timezone(metadata: Metadata, timezone: str | None) -> Metadata:
    """Give a naive session start time (and date of birth) the zone ``timezone`` (an IANA name or ±HH:MM)."""
    if timezone is None:
        return metadata
    tz = _parse_timezone(timezone)
    start = metadata.NWBFile.session_start_time
    if start is not None and start.tzinfo is None:
        metadata.NWBFile.session_start_time = start.replace(tzinfo=tz)
    if metadata.Subject is not None and metadata.Subject.date_of_birth is not None:
        dob = metadata.Subject.date_of_birth
        if dob.tzinfo is None:
            metadata.Subject.date_of_birth = dob.replace(tzinfo=tz)
    return metadata


def _parse_timezone(name: str):
    from datetime import timedelta
    from datetime import timezone as fixed
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    match = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2}):?(\d{2})?", name.strip())
    if match:
        sign = 1 if match.group(1) == "+" else -1
        return fixed(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0)))
    if name.strip().upper() in ("UTC", "Z"):
        return fixed.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MetadataError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'America/New_York', "
            "or an offset such as '+02:00'"
        ) from None


