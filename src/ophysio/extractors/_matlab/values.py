"""Parse the ``key = value`` text headers that ScanImage 3.x, 4.x and 5.x write into TIFF descriptions.

Values are MATLAB literals: numbers, ``Inf``/``NaN``, ``true``/``false``, single-quoted strings (``''`` is
an escaped quote), numeric arrays ``[1 2;3 4]`` and cell arrays ``{'a' 'b'}``. Nothing is evaluated: a
value that is none of these is kept as its text.
"""

from __future__ import annotations

import re

__all__ = ["parse_matlab_value", "parse_header_lines"]

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|Inf|inf|NaN|nan)$")


def _number(text: str) -> int | float:
    if text.lower().lstrip("+-") in ("inf", "nan"):
        return float(text)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


def _split_items(body: str) -> list[str]:
    """Items of a MATLAB row separated by spaces or commas, keeping quoted strings whole."""
    items, current, quoted, i = [], "", False, 0
    while i < len(body):
        ch = body[i]
        if ch == "'":
            if quoted and i + 1 < len(body) and body[i + 1] == "'":
                current += "''"
                i += 2
                continue
            quoted = not quoted
            current += ch
        elif not quoted and ch in " ,\t":
            if current:
                items.append(current)
            current = ""
        else:
            current += ch
        i += 1
    if current:
        items.append(current)
    return items


_MAX_NESTING = 32  # brackets inside brackets; real values nest two or three deep


def parse_matlab_value(text: str, _depth: int = 0):
    """A Python value for one MATLAB literal (see the module docstring); unknown forms stay text."""
    text = text.strip()
    if not text:
        return None
    if _NUMBER.match(text):
        return _number(text)
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] in "[{" and text[-1] == {"[": "]", "{": "}"}[text[0]] and _depth < _MAX_NESTING:
        body = text[1:-1].strip()
        if not body:
            return []
        rows = [_split_items(row) for row in body.split(";")]
        rows = [[parse_matlab_value(item, _depth + 1) for item in row] for row in rows if row]
        if len(rows) == 1:
            return rows[0]
        if all(len(row) == 1 for row in rows):  # a column vector [1;2]
            return [row[0] for row in rows]
        return rows
    return text


def parse_header_lines(text: str) -> dict:
    """``key = value`` or ``key=value`` lines (separated by CR, LF or both) as a dict of Python values."""
    result: dict = {}
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
