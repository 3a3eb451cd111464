"""Exception types of ophysio.

Every error ophysio raises on purpose is an :class:`OphysioError`, and each type also subclasses the
built-in exception that fits, so that ``except FileNotFoundError`` or ``except ValueError`` in existing
code keeps working.
"""

from __future__ import annotations

__all__ = [
    "OphysioError",
    "FormatError",
    "CorruptFileError",
    "UnknownFormatError",
    "FileSetError",
    "SelectionError",
    "SampleIndexError",
    "MetadataError",
    "OptionError",
    "ReadTooLargeError",
]


class OphysioError(Exception):
    """Base class of every error ophysio raises on purpose."""


class FormatError(OphysioError, ValueError):
    """A file is not of the format asked for, or breaks that format's rules."""


class CorruptFileError(FormatError):
    """A file of the right format whose structure is damaged (truncated, looping or dangling offsets)."""


class UnknownFormatError(OphysioError, ValueError):
    """No registered format accepted a path; the message lists what each format said."""


class FileSetError(OphysioError, FileNotFoundError):
    """A file is missing, or a multi-file series is incomplete or inconsistent."""


class SelectionError(OphysioError, ValueError):
    """A channel, plane, ROI, variable or dataset that the source does not have was asked for."""


class SampleIndexError(OphysioError, IndexError):
    """A sample, plane or pixel index is outside the data."""


class MetadataError(OphysioError, ValueError):
    """Metadata is missing, malformed or contradicts the data."""


class OptionError(OphysioError, TypeError):
    """A keyword option that the reader chosen for a source does not take."""


class ReadTooLargeError(OphysioError, MemoryError):
    """A read would need more memory than the machine has (often a damaged header's sizes); read fewer
    samples at a time."""
