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
    "RateUnknownError",
    "OptionError",
    "OptionValueError",
    "DandiUploadError",
    "WriterError",
    "MissingExtraError",
    "MissingPluginError",
    "MissingBackendError",
    "OutputExistsError",
    "ContainmentError",
    "ReadTooLargeError",
    "RemoteSourceError",
    "MissingDependencyError",
]


class OphysioError(Exception):
    """Base class of every error ophysio raises on purpose."""


class FormatError(OphysioError, ValueError):
    """A file is not of the format asked for, or breaks that format's rules."""


class CorruptFileError(FormatError):
    """A file of the right format whose structure is damaged (truncated, looping or dangling offsets)."""


class UnknownFormatError(OphysioError, ValueError):
    """No registered format accepted a path; the message lists what each format said.

    ``summary`` is the one-line gist (``no imaging files in DIR``, ``.txt is not a format ophysio reads``)
    and ``reasons`` the ``(format id, what it said)`` pairs; the command line prints the summary, and the
    reasons with ``--verbose``. ``str()`` is the full text, reasons included.
    """

    def __init__(self, message: str, *, summary: str | None = None, reasons: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.summary = summary
        self.reasons = tuple(reasons)


class FileSetError(OphysioError, FileNotFoundError):
    """A file is missing, or a multi-file series is incomplete or inconsistent."""


class SelectionError(OphysioError, ValueError):
    """A channel, plane, ROI, variable or dataset that the source does not have was asked for, or one must be
    chosen. When the choice is one keyword among known values (``channel_name=`` of a multi-channel source),
    ``keyword`` names it and ``choices`` lists the values (else None and ``()``)."""

    def __init__(self, message: str, *, keyword: str | None = None, choices=()):
        super().__init__(message)
        self.keyword = keyword
        self.choices = tuple(choices)


class SampleIndexError(OphysioError, IndexError):
    """A sample, plane or pixel index is outside the data."""


class MetadataError(OphysioError, ValueError):
    """Metadata is missing, malformed or contradicts the data."""


class RateUnknownError(MetadataError):
    """The source states no sampling rate and none was given; needed for times and for conversion, not for
    pixels (pass ``sampling_frequency=``, or ``set_times`` with measured times)."""


class OptionError(OphysioError, TypeError):
    """A keyword option that the reader chosen for a source does not take."""


class OptionValueError(OptionError, ValueError):
    """An option of a conversion or writer has a value it cannot take; ``option`` names it."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option


class DandiUploadError(OphysioError, RuntimeError):
    """An upload could not start or did not finish; the message says which files reached the archive."""


class WriterError(OphysioError, ValueError):
    """A batch or an option a writer cannot store as asked (the message says why and what to do)."""


class MissingExtraError(OphysioError, ImportError):
    """A feature needs an optional package that is not installed; the message names the extra that installs
    it (``pip install "ophysio[dask]"``), and ``extra`` holds that extra's name (None when none does)."""

    def __init__(self, message: str, extra: str | None = None):
        super().__init__(message)
        self.extra = extra


class MissingPluginError(MissingExtraError):
    """A compression needs the ``hdf5plugin`` package, which is not installed."""


class MissingBackendError(MissingExtraError):
    """``backend="zarr"`` needs hdmf-zarr, which is not installed."""


class OutputExistsError(OphysioError, FileExistsError):
    """The output path exists and overwrite was not asked for."""


class OutputRefusedError(OphysioError, IsADirectoryError):
    """The output path is a folder ophysio did not write (or a link to a folder): overwrite does not replace it."""


class ContainmentError(OphysioError, PermissionError):
    """A file of a dataset refers to a file outside the dataset's folder (an HDF5 external link, a virtual
    dataset's source, external raw storage, an OME ``FileName``, a suite2p ``reg_file``...), and following
    it was not allowed (``allow_outside=``). The message names the reference and the file that holds it."""


class ReadTooLargeError(OphysioError, MemoryError):
    """A read would need more memory than the machine has (often a damaged header's sizes); read fewer
    samples at a time."""


class RemoteSourceError(OphysioError, ConnectionError):
    """A remote source (an HTTP(S), S3 or DANDI URL) could not be read: the server refused, the connection
    failed or was cut again after the retries. The message names the URL and the bytes or object asked for.
    Never wrong pixels: a read either returns the stored bytes or raises this."""


class MissingDependencyError(OphysioError, ImportError):
    """A feature needs an optional dependency (an extra) that is not installed; the message names the
    ``pip install 'ophysio[...]'`` that adds it."""
