"""Pieces every ``ophysio`` sub-command shares."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["parse_key_values", "UsageError", "in_cli_words"]


class UsageError(Exception):
    """The command line itself is wrong (a missing PATH, an output name that says no format, flags that
    contradict each other or a metadata file): exit status 2, like argparse's own errors."""


#: Library keywords that are a flag of their own on the command line.
_FLAGS = {"overwrite": "--overwrite", "format": "--format", "channel_name": "--channel", "timezone": "--timezone",
          "append": "--append"}
#: Writer keywords (``--to``): given with -W.
_WRITER_KEYWORDS = {"compression", "compression_level", "version", "split", "bigtiff", "chunks"}
_ADVICE = re.compile(r"\b([Pp]ass|write with|use|give) ([a-z_]+)=(True\b|'[^']*'|\"[^\"]*\"|[^\s;,)]*)")


def in_cli_words(message: str, writing_other_format: bool = False) -> str:
    """A library message with its keyword advice (``pass overwrite=True``, ``pass format=...``,
    ``pass sampling_frequency=``) told as the command line's flags (``--overwrite``, ``--format``,
    ``-O sampling_frequency=HZ``)."""

    def flag(match: re.Match) -> str:
        verb, key, value = match.groups()
        verb = "Pass" if verb == "Pass" else "pass"
        value = value.strip("'\"").strip(".")
        if key in _FLAGS:
            if value in ("True", "true"):
                return f"{verb} {_FLAGS[key]}"
            return f"{verb} {_FLAGS[key]} {value or key.upper().split('_')[0]}"
        if key == "compression" and not writing_other_format:
            return f"{verb} --compression {value or 'C'}"
        option = "-W" if key in _WRITER_KEYWORDS else "-O"
        placeholder = "HZ" if key == "sampling_frequency" else "VALUE"
        return f"{verb} {option} {key}={value or placeholder}"

    message = message.replace(", or set_times() with the times you measured", "")  # no such thing on the command line
    return _ADVICE.sub(flag, message)


def parse_key_values(pairs: Sequence[str], flag: str = "--option") -> dict[str, Any]:
    """``KEY=VALUE`` pairs as keywords; a VALUE is parsed as JSON when it can be (``5``, ``[1, 2]``, ``true``)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} needs KEY=VALUE, got {pair!r}")
        try:
            values[key] = json.loads(value)
        except json.JSONDecodeError:
            values[key] = value
    return values
