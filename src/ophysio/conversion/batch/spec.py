"""The batch spec: global metadata, options and the sessions of a run (see :mod:`ophysio.conversion.batch`).

Read from YAML (safe loader), JSON or a mapping, and validated by pydantic with errors that name the
session and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...errors import MetadataError

__all__ = ["BatchSpec", "SessionEntry", "ConversionOptions", "load_batch_spec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversionOptions(_Strict):
    """Options of :func:`ophysio.write_nwb` that every session of a batch uses."""

    compression: str = Field(
        "gzip", description="As write_nwb's compression: 'gzip' (shuffle + fast deflate), 'gzip:LEVEL', "
        "'zstd[:LEVEL]', 'blosc[:CNAME[:LEVEL]]', 'lzf' or 'none'.")
    timezone: str | None = Field(None, description="Zone of naive start times, e.g. 'Europe/Berlin' or '+02:00'.")
    stub_test: bool = Field(False, description="Write only the first samples of each session (a dry run).")
    photon_series_type: str | None = Field(
        None, description="'TwoPhotonSeries' or 'OnePhotonSeries' (default: the format's).")


class SessionEntry(_Strict):
    """One session of a batch."""

    session_id: str = Field(description="The session's identifier; names the file and is NWBFile.session_id.")
    source: str | list[str] = Field(description="Source file, folder, or list of files of one series.")
    format: str | None = Field(None, description="Format id (see `ophysio formats`); overrides the spec's.")
    options: dict[str, Any] = Field(default_factory=dict, description="Extractor keywords, over the spec's.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Metadata merged over the spec's.")

    @field_validator("session_id")
    @classmethod
    def _label(cls, value: str) -> str:
        if not str(value).strip():
            raise ValueError("must not be empty")
        if "/" in value:
            raise ValueError("must not contain '/'")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("must name at least one file")
        return value


class BatchSpec(_Strict):
    """A batch: global metadata and options, and the sessions."""

    metadata: dict[str, Any] = Field(default_factory=dict, description="Metadata for every session.")
    format: str | None = Field(None, description="Format id of every session (detected when omitted).")
    options: dict[str, Any] = Field(default_factory=dict, description="Extractor keywords for every session.")
    conversion: ConversionOptions = Field(default_factory=ConversionOptions, description="write_nwb options.")
    dandi: bool = Field(True, description="DANDI file names and required subject fields.")
    sessions: list[SessionEntry] = Field(min_length=1, description="The sessions to convert.")
    base_folder: str | None = Field(None, description="Folder relative source paths start from "
                                    "(default: the spec file's folder).")

    @model_validator(mode="after")
    def _unique(self):
        seen: set[str] = set()
        for entry in self.sessions:
            if entry.session_id in seen:
                raise ValueError(f"session_id {entry.session_id!r} appears twice")
            seen.add(entry.session_id)
        return self


def _explain(exc: ValidationError, data: Any, source: str) -> str:
    sessions = data.get("sessions") if isinstance(data, Mapping) else None
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "sessions" and isinstance(loc[1], int):
            entry = sessions[loc[1]] if isinstance(sessions, list) and loc[1] < len(sessions) else None
            name = entry.get("session_id") if isinstance(entry, Mapping) else None
            where = f"session {name!r} (sessions[{loc[1]}])" if name else f"sessions[{loc[1]}]"
            loc = loc[2:]
        path = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        if err["type"] == "extra_forbidden":
            what = "unknown key (check its spelling and where it is nested)"
        elif err["type"] == "missing":
            what = "required"
        else:
            what = f"{err['msg']} (got {err.get('input')!r})"
        lines.append(f"{where + ': ' if where else ''}{path or '(top level)'}: {what}")
    return f"invalid batch spec {source}:\n  - " + "\n  - ".join(lines)


def load_batch_spec(spec: str | os.PathLike | Mapping | BatchSpec) -> BatchSpec:
    """Read and check a batch spec (a YAML/JSON file, a dict, or a :class:`BatchSpec`).

    Raises
    ------
    MetadataError
        The spec is malformed; every problem is listed with its session and field.
    """
    if isinstance(spec, BatchSpec):
        return spec
    source = "(given as a mapping)"
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                from ruamel.yaml import YAML

                data = YAML(typ="safe", pure=True).load(text)
        except Exception as exc:
            raise MetadataError(f"{path} could not be parsed: {exc}") from None
        if isinstance(data, dict):
            data.setdefault("base_folder", str(path.resolve().parent))
        source = str(path)
    else:
        data = dict(spec)
    if not isinstance(data, Mapping):
        raise MetadataError(f"batch spec {source} must hold a mapping with a 'sessions' list")
    try:
        return BatchSpec.model_validate(data)
    except ValidationError as exc:
        raise MetadataError(_explain(exc, data, source)) from None
