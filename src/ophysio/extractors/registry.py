"""The format registry: the :class:`FormatSpec` of every format, detection, and :func:`open_imaging`.

A format is declared once, as ``SPEC`` in its package (``ophysio.extractors.<format>``); this module
collects them in detection order. ``ophysio formats`` and :func:`open_imaging` both read :data:`FORMATS`.
A spec names the extractor by import path, so the heavy module is imported only when a file of that
format is opened. Detection reads a file's head once and hands it to every format's sniff.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FileSetError, OptionError, UnknownFormatError
from ._head import FileHead
from .spec import FormatSpec

if TYPE_CHECKING:  # pragma: no cover
    from .imaging import ImagingExtractor

__all__ = [
    "FormatSpec",
    "FORMAT_PACKAGES",
    "FORMATS",
    "get_format",
    "detect_format",
    "read_head",
    "resolve_source",
    "open_imaging",
]

PathLike = str | os.PathLike


# Order matters: more specific formats come before the general ones they are a special case of. Each
# is a package of this one that declares its format as ``SPEC``.
FORMAT_PACKAGES: tuple[str, ...] = (
    "scanimage",
    "scanimage_legacy",
    "ome_tiff",
    "tiff",
    "mat",
    "hdf5",
    "suite2p",
    "miniscope",
    "video",
    "numpy",
    "binary",
)

FORMATS: tuple[FormatSpec, ...] = tuple(
    importlib.import_module(f"{__package__}.{name}").SPEC for name in FORMAT_PACKAGES
)

HEAD_BYTES = 4096


def read_head(path: Path, size: int = HEAD_BYTES) -> FileHead:
    """The first ``size`` bytes of a regular file (b"" for a directory), as a :class:`FileHead`.

    A sniff that needs more of the file reads it through the head (:meth:`FileHead.read_at`), and what
    one sniff works out (a TIFF's first IFD text) is kept in the head for the next.
    """
    path = Path(path)
    if path.is_dir():
        return FileHead(b"", path)
    with open(path, "rb") as fh:
        return FileHead(fh.read(size), path)


@contextmanager
def _open_head(path: Path, size: int = HEAD_BYTES) -> Iterator[FileHead]:
    """The head of ``path`` with its file kept open while the sniffs run: detection opens a file once."""
    if path.is_dir():
        yield FileHead(b"", path)
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        yield FileHead(os.pread(fd, size, 0), path, fd)
    finally:
        os.close(fd)


def get_format(format_id: str) -> FormatSpec:
    """The spec of ``format_id``; an error lists the known ids."""
    for spec in FORMATS:
        if spec.id == format_id:
            return spec
    known = ", ".join(spec.id for spec in FORMATS)
    raise UnknownFormatError(f"unknown format {format_id!r}; known formats: {known}")


def _suffix_matches(spec: FormatSpec, path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(suffix) for suffix in spec.suffixes)


def detect_format(path: PathLike) -> FormatSpec:
    """The format of ``path``: content first, file name suffix second.

    Raises
    ------
    FileSetError
        The path does not exist.
    UnknownFormatError
        No format accepts the content; the message says why each declined.
    """
    path = Path(path)
    if not path.exists():
        raise FileSetError(f"{path} does not exist")
    accepted: list[FormatSpec] = []
    reasons: list[tuple[str, str]] = []
    with _open_head(path) as head:
        for spec in FORMATS:
            verdict = spec.check(path, head)
            if verdict is True:
                accepted.append(spec)
            else:
                reasons.append((spec.id, str(verdict)))
    if not accepted:
        raise UnknownFormatError(
            f"could not tell the format of {path}; each format said:\n"
            + "\n".join(f"  {spec_id}: {verdict}" for spec_id, verdict in reasons)
            + "\nPass format=... to open it as one of them.",
            summary=_unknown_summary(path), reasons=tuple(reasons),
        )
    by_suffix = [spec for spec in accepted if _suffix_matches(spec, path)]
    return (by_suffix or accepted)[0]


def _unknown_summary(path: Path) -> str:
    """One line on a path no format accepts: an empty or unrelated folder, a suffix no format has, or else
    that the content was not recognised."""
    if path.is_dir():
        return f"no imaging files in {path}"
    suffix = path.suffix.lower()
    known = {s for spec in FORMATS for s in spec.suffixes}
    if suffix and not any(path.name.lower().endswith(s) for s in known):
        return f"{path}: `{suffix}` is not a format ophysio reads; `ophysio formats` lists them"
    return f"could not tell the format of {path}; pass format=... to open it as one of `ophysio formats`"


_GLOB_CHARS = set("*?[")


def _expand_source(path: PathLike) -> list[Path]:
    """One path as the files it stands for: a glob pattern expands (naturally sorted)."""
    text = os.fspath(path)
    if not os.path.exists(text) and _GLOB_CHARS & set(text):
        import glob

        from natsort import natsorted

        matches = natsorted(glob.glob(text))
        if not matches:
            raise FileSetError(f"no file matches the pattern {text}")
        return [Path(m) for m in matches]
    return [Path(text)]


def _folder_files(folder: Path) -> list[Path]:
    """The files of a folder that share the suffix of its naturally-first imaging file."""
    from natsort import natsorted

    suffixes = {suffix for spec in FORMATS for suffix in spec.suffixes}
    files = natsorted(
        (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
         and any(p.name.lower().endswith(s) for s in suffixes)),
        key=lambda p: p.name,
    )
    if not files:
        return []
    first_suffix = files[0].suffix.lower()
    return [p for p in files if p.suffix.lower() == first_suffix]


def resolve_source(
    path_or_paths: PathLike | Sequence[PathLike], format: str | None = None
) -> tuple[FormatSpec, dict[str, Any]]:
    """The format of a source and the path keyword(s) to open it with.

    A single path may be a file, a folder or a glob pattern. A folder that no format reads as a whole
    (suite2p does) stands for its files that share the suffix of its naturally-first imaging file.
    """
    if isinstance(path_or_paths, (str, os.PathLike)):
        paths = _expand_source(path_or_paths)
    else:
        paths = [Path(p) for p in path_or_paths]
        if not paths:
            raise FileSetError("no input path given")
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise FileSetError(f"{missing[0]} does not exist")
    if format is not None:
        spec = get_format(format)
    else:
        try:
            spec = detect_format(paths[0])
        except UnknownFormatError:
            files = _folder_files(paths[0]) if len(paths) == 1 and paths[0].is_dir() else []
            if not files:
                raise
            paths, spec = files, detect_format(files[0])
    if len(paths) == 1:
        return spec, {spec.path_argument: os.fspath(paths[0])}
    if spec.paths_argument is None:
        raise FileSetError(
            f"the {spec.id} format reads one path at a time (got {len(paths)}: {paths[0].name}, ...); open "
            f"each and join them with MultiImagingExtractor"
        )
    return spec, {spec.paths_argument: [os.fspath(p) for p in paths]}


def open_imaging(
    path_or_paths: PathLike | Sequence[PathLike], format: str | None = None, **kwargs: Any
) -> ImagingExtractor:
    """Open imaging data with the extractor that fits it.

    Parameters
    ----------
    path_or_paths : path or list of paths
        A file, a folder (suite2p, or a folder of TIFF files), a glob pattern, or several files of one
        series.
    format : str, optional
        A registry id (see ``ophysio formats``) to skip detection; required for raw binary.
    **kwargs
        Passed on to the extractor (channel_name, plane_index, sampling_frequency, ...).
    """
    spec, path_kwargs = resolve_source(path_or_paths, format)
    cls = spec.load_class()
    shown = next(iter(path_kwargs.values()))
    refuse_unknown_options(cls, kwargs, f"{shown[0] if isinstance(shown, list) else shown} was "
                           f"{'opened' if format else 'detected'} as {spec.id}", detected=format is None)
    return cls(**path_kwargs, **kwargs)


def refuse_unknown_options(cls: type, kwargs: dict[str, Any], what: str, detected: bool = False) -> None:
    """Raise :class:`OptionError` for keywords that ``cls(...)`` does not take (say which, and why
    ``what``), rather than the bare TypeError of the call; nothing when ``cls`` takes ``**kwargs``."""
    import inspect

    parameters = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(k for k in kwargs if k not in parameters)
    if unknown:
        raise OptionError(f"{what} ({cls.__name__}), which takes no option {', '.join(unknown)}"
                          + ("; pass format= if the source is of another format" if detected else ""))
