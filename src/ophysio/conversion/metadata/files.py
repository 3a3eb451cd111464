"""Metadata files: YAML or JSON read (:func:`load_metadata`, YAML loaded safely) and written
(:func:`dump_metadata`)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from ...errors import MetadataError
from .._neuroconv_layout import to_ophysio_layout
from .models import Metadata

__all__ = ["load_metadata", "dump_metadata"]


def _yaml():
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True)


def load_metadata(path: str | os.PathLike) -> dict:
    """Read a metadata file (``.yaml``/``.yml`` through a safe YAML loader, or ``.json``) as a dictionary.

    The result is checked for unknown keys and wrong types (:class:`MetadataError` names the field path).
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = _yaml().load(text)
    except Exception as exc:
        raise MetadataError(f"{path} could not be parsed: {_parse_problem(exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MetadataError(f"{path} must hold a mapping (NWBFile:, Subject:, Ophys:), not {type(data).__name__}")
    Metadata.from_dict(data, source=str(path))  # validate early, with the file named
    return to_ophysio_layout(data)  # neuroconv's layouts, as ophysio's lists


def _parse_problem(exc: Exception) -> str:
    """One line for a YAML or JSON syntax error: what is wrong and where (line, column)."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        context = getattr(exc, "context", None)
        return f"{problem}{f' {context}' if context else ''} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def dump_metadata(metadata: Metadata | dict, path: str | os.PathLike | None = None, fmt: str | None = None) -> str:
    """Write metadata as YAML (default) or JSON; return the text (and write it to ``path`` if given)."""
    data = metadata.to_dict() if isinstance(metadata, Metadata) else Metadata.from_dict(metadata).to_dict()
    if fmt is None:
        fmt = "json" if path is not None and str(path).lower().endswith(".json") else "yaml"
    if fmt == "json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        stream = io.StringIO()
        yaml = _yaml()
        yaml.default_flow_style = False
        yaml.dump(data, stream)
        text = stream.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
