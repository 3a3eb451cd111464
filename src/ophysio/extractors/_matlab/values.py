"""The one MATLAB value parser: the ``key = value`` text that ScanImage (all versions) writes.

Values are MATLAB literals; :func:`parse_matlab_value` turns one into a Python value, and nothing is
evaluated:

- numbers -> ``int`` (when integral and written without a decimal point or exponent) or ``float``;
  ``Inf``/``-Inf``/``NaN`` -> ``float``; ``true``/``false`` -> ``bool``; ``'text'`` -> ``str`` (``''``
  is an escaped quote); an empty value -> ``""``;
- ``[a b c]`` (a row) and ``[a;b;c]`` (a column) -> flat ``list``; ``[]`` -> ``[]``; a matrix with
  several rows and columns -> ``list`` of row lists;
- ``[x]`` -> ``x``: a 1x1 MATLAB matrix *is* a scalar (``isequal([5], 5)``), and ScanImage writes the
  same setting as ``5`` or ``[5]`` depending on the version (``SI.hChannels.channelSave = 1`` for one
  saved channel, ``[1;2]`` for two), so callers that want a list normalise a scalar anyway.
  (tifffile's ``matlabstr2py``, behind ``read_scanimage_metadata`` and roiextractors, gives ``[5]``;
  ours gives the value MATLAB itself holds.);
- ``{a b}`` cell arrays -> ``list`` (one level per cell row, like matrices; never collapsed to a scalar);
- anything else (enumeration names, ``<nonscalar struct/object>``, function handles, expressions such as
  ``zeros(0,2)``) is kept as the text as written (``zeros``/``ones`` with a zero size become ``[]``).

:func:`parse_key_values` reads ScanImage 2016+ ``key = value`` lines (a line without `` = ``
continues the previous value); :func:`parse_header_lines` reads the ``key=value`` lines of ScanImage
3.x-5.1 (``\\r``, ``\\n`` or both between them).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_matlab_value", "parse_key_values", "parse_header_lines"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^']|'')*')
      | (?P<open>[\[{])
      | (?P<close>[\]}])
      | (?P<sep>[,;\n])
      | (?P<atom>[^\s\[\]{},;']+)
    )""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|inf|NaN|nan)$")
_EMPTY_CALL = re.compile(r"(?:zeros|ones|cell)\((\d+),(\d+)\)$")


def _atom(text: str) -> Any:
    if _NUMBER.match(text):
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        return float(text)
    if text == "true":
        return True
    if text == "false":
        return False
    return text


class _Unparsed(Exception):
    pass


_MAX_NESTING = 32  # brackets inside brackets; real values nest two or three deep


def _parse_container(tokens: list[tuple[str, str]], pos: int, closer: str, depth: int = 1) -> tuple[Any, int]:
    if depth > _MAX_NESTING:  # kept as text rather than recursing without end
        raise _Unparsed
    rows: list[list[Any]] = [[]]
    while pos < len(tokens):
        kind, text = tokens[pos]
        if kind == "close":
            if text != closer:
                raise _Unparsed
            rows = [row for row in rows if row]
            if closer == "]":
                if not rows:
                    return [], pos + 1
                if len(rows) == 1:
                    row = rows[0]
                    return (row[0] if len(row) == 1 else row), pos + 1
                if all(len(row) == 1 for row in rows):
                    return [row[0] for row in rows], pos + 1
                return rows, pos + 1
            if not rows:
                return [], pos + 1
            if len(rows) == 1:
                return rows[0], pos + 1
            if all(len(row) == 1 for row in rows):
                return [row[0] for row in rows], pos + 1
            return rows, pos + 1
        if kind == "open":
            value, pos = _parse_container(tokens, pos + 1, "]" if text == "[" else "}", depth + 1)
            rows[-1].append(value)
            continue
        if kind == "sep":
            if text in ";\n":
                rows.append([])
            pos += 1
            continue
        rows[-1].append(text[1:-1].replace("''", "'") if kind == "str" else _atom(text))
        pos += 1
    raise _Unparsed


def parse_matlab_value(text: str) -> Any:
    """Parse one value as ScanImage writes it (MATLAB syntax); see the module docstring for the mapping."""
    stripped = text.strip()
    if not stripped:
        return ""
    empty = _EMPTY_CALL.match(stripped)
    if empty:
        return [] if 0 in (int(empty.group(1)), int(empty.group(2))) else stripped
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(stripped):
        match = _TOKEN.match(stripped, pos)
        if match is None or match.end() == pos:
            return stripped
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    try:
        if tokens[0][0] == "open":
            value, end = _parse_container(tokens, 1, "]" if tokens[0][1] == "[" else "}")
            if end == len(tokens):
                return value
            return stripped
    except _Unparsed:
        return stripped
    if len(tokens) == 1:
        kind, token = tokens[0]
        return token[1:-1].replace("''", "'") if kind == "str" else _atom(token)
    return stripped


def parse_key_values(text: str) -> dict[str, Any]:
    """Parse ``key = value`` lines (frame data or one frame's description) into a dict of Python values.

    A line without `` = `` continues the previous value.
    """
    result: dict[str, Any] = {}
    raw: dict[str, str] = {}
    last = None
    for line in text.split("\n"):
        key, sep, value = line.partition(" = ")
        if sep and key and " " not in key.strip():
            last = key.strip()
            raw[last] = value
        elif last is not None and line.strip():
            raw[last] += "\n" + line
    for key, value in raw.items():
        result[key] = parse_matlab_value(value)
    return result




def parse_header_lines(text: str) -> dict[str, Any]:
    """``key = value`` or ``key=value`` lines (separated by CR, LF or both) as a dict of Python values."""
    result: dict[str, Any] = {}
    for line in re.split(r"[\r\n]+", text):
        line = line.strip().rstrip("\x00")
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip()
        if key:
            result[key] = parse_matlab_value(value)
    return result
