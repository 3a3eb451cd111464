"""JSON found inside source files (ScanImage ROI data, frame metadata sidecars), parsed with a nesting limit.

Python's JSON decoder recurses once per nesting level, and so do ``copy.deepcopy`` and the JSON encoder
that later store the header in NWB: a damaged or hostile document nested thousands of levels deep would
surface as a RecursionError far from the file it came from. No real header nests deeper than a dozen
levels, so anything past :data:`MAX_DEPTH` is refused here as a :class:`~ophysio.errors.MetadataError`
that names the file.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import MetadataError

__all__ = ["MAX_DEPTH", "loads_json", "nesting_depth"]

#: Deepest nesting of lists and objects accepted in a source's JSON (ScanImage's ROI data nests ~6 deep).
MAX_DEPTH = 64


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply lists and dicts nest in ``value`` (0 for a scalar), counted without recursion; stops
    counting once past ``limit``."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def loads_json(text: str | bytes, where: str, what: str = "JSON") -> Any:
    """Parse ``text`` as JSON; ``where`` says what and where it is (``"x.tif: the ScanImage ROI data at
    offset 9807"``) for the error message, ``what`` what it should be (``"UTF-8 JSON"``).

    Raises
    ------
    MetadataError
        The text is not JSON, or nests lists and objects deeper than :data:`MAX_DEPTH`.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise MetadataError(f"{where} nests lists and objects deeper than Python can parse; it is damaged") from None
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for bytes
        raise MetadataError(f"{where} is not valid {what} ({exc})") from None
    if nesting_depth(value) > MAX_DEPTH:
        raise MetadataError(f"{where} nests lists and objects more than {MAX_DEPTH} levels deep; no real header "
                            "does, so it is damaged")
    return value
