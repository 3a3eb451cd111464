"""The format registry: the :class:`FormatSpec` of every format, detection, :func:`open_imaging` and
:func:`open_segmentation`.

A format is declared once, as ``SPEC`` in its package (``ophysio.extractors.<format>``); a package that
also (or only) reads segmentations declares ``SEGMENTATION_SPEC``. This module collects them in detection
order: ``ophysio formats`` and :func:`open_imaging` read :data:`FORMATS`, :func:`open_segmentation` reads
:data:`SEGMENTATION_FORMATS`.
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
    from .segmentation import SegmentationExtractor

__all__ = [
    "FormatSpec",
    "FORMAT_PACKAGES",
    "FORMATS",
    "SEGMENTATION_FORMATS",
    "get_format",
    "detect_format",
    "read_head",
    "resolve_source",
    "open_imaging",
    "open_segmentation",
]

PathLike = str | os.PathLike


# Order matters: more specific formats come before the general ones they are a special case of. Each
# is a package of this one that declares its imaging format as ``SPEC`` and/or its segmentation format
# as ``SEGMENTATION_SPEC``.
FORMAT_PACKAGES: tuple[str, ...] = (
    "scanimage",
    "scanimage_legacy",
    "bruker",  # before ome_tiff: Prairie View's files are OME-TIFF, read through the PVScan XML beside them
    "micromanager",  # before ome_tiff: Micro-Manager's stacks are OME-TIFF files with a stack header at byte 8
    "thor",
    "ome_tiff",
    "tiff",
    "scanbox",
    "inscopix",
    "hcimage",
    "extract",  # before mat: EXTRACT's output is a MAT v7.3 file with an output/extractAnalysisOutput struct
    "cnmfe",  # before mat: CNMF-E's results are a MAT v7.3 file with a struct holding A and C
    "mat",
    "nwb",
    "femtonics",
    "caiman",  # before hdf5: a CaImAn segmentation is an HDF5 file with estimates/ and params/ groups
    "hdf5",
    "zarr",
    "suite2p",
    "minian",
    "miniscope",
    "video",
    "numpy",
    "binary",
)

_PACKAGES = [importlib.import_module(f"{__package__}.{name}") for name in FORMAT_PACKAGES]
#: The imaging formats (movies), in detection order.
FORMATS: tuple[FormatSpec, ...] = tuple(p.SPEC for p in _PACKAGES if getattr(p, "SPEC", None) is not None)
#: The segmentation formats (ROIs, traces, summary images), in detection order.
SEGMENTATION_FORMATS: tuple[FormatSpec, ...] = tuple(
    p.SEGMENTATION_SPEC for p in _PACKAGES if getattr(p, "SEGMENTATION_SPEC", None) is not None
)
del _PACKAGES

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


def _specs(kind: str) -> tuple[FormatSpec, ...]:
    if kind == "imaging":
        return FORMATS
    if kind == "segmentation":
        return SEGMENTATION_FORMATS
    raise ValueError(f"kind must be 'imaging' or 'segmentation', not {kind!r}")


def get_format(format_id: str, kind: str = "imaging") -> FormatSpec:
    """The spec of ``format_id`` (of the imaging formats, or with ``kind="segmentation"`` of the
    segmentation formats); an error lists the known ids."""
    for spec in _specs(kind):
        if spec.id == format_id:
            return spec
    known = ", ".join(spec.id for spec in _specs(kind))
    what = "format" if kind == "imaging" else "segmentation format"
    raise UnknownFormatError(f"unknown {what} {format_id!r}; known {what}s: {known}")


def _suffix_matches(spec: FormatSpec, path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(suffix) for suffix in spec.suffixes)


def detect_format(path: PathLike, kind: str = "imaging") -> FormatSpec:
    """The format of ``path``: content first, file name suffix second (among the segmentation formats
    with ``kind="segmentation"``).

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
        for spec in _specs(kind):
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
            summary=_unknown_summary(path, kind), reasons=tuple(reasons),
        )
    by_suffix = [spec for spec in accepted if _suffix_matches(spec, path)]
    return (by_suffix or accepted)[0]


def _unknown_summary(path: Path, kind: str = "imaging") -> str:
    """One line on a path no format accepts: an empty or unrelated folder, a suffix no format has, or else
    that the content was not recognised."""
    if path.is_dir():
        return f"no {'imaging files' if kind == 'imaging' else 'segmentation'} in {path}"
    suffix = path.suffix.lower()
    known = {s for spec in _specs(kind) for s in spec.suffixes}
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
    (suite2p does) stands for its files that share the suffix of its naturally-first imaging file. A URL
    (``https://``, ``s3://``, ``dandi://``...) is read by a format that streams (NWB, Zarr), told apart by its
    content.
    """
    from ._remote.urls import is_remote

    if isinstance(path_or_paths, str) and is_remote(path_or_paths):
        return _resolve_url(path_or_paths, format)
    if isinstance(path_or_paths, (list, tuple)) and any(is_remote(p) for p in path_or_paths):
        if len(path_or_paths) != 1:
            raise FileSetError(f"a URL is opened alone (got {len(path_or_paths)} sources: {path_or_paths[0]}, ...)")
        return _resolve_url(path_or_paths[0], format)
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


def _resolve_url(url: str, format: str | None) -> tuple[FormatSpec, dict[str, Any]]:
    """The format of a URL: the one named, else NWB for an HDF5 file and Zarr (or NWB for NWB-Zarr) for a store."""
    streaming = [spec.id for spec in FORMATS if spec.remote]
    if format is not None:
        spec = get_format(format)
    else:
        from ._remote.detect import remote_format

        spec = get_format(remote_format(url))
    if not spec.remote:
        raise UnknownFormatError(f"{url}: the {spec.id} format is read from local files only; URLs are streamed for "
                                 f"{', '.join(streaming)} (download the file to read it as {spec.id})")
    return spec, {spec.path_argument: url}


def open_imaging(
    path_or_paths: PathLike | Sequence[PathLike], format: str | None = None, **kwargs: Any
) -> ImagingExtractor:
    """Open imaging data with the extractor that fits it.

    Parameters
    ----------
    path_or_paths : path or list of paths
        A file, a folder (suite2p, a Zarr store, or a folder of TIFF files), a glob pattern, several files
        of one series, or a URL of an NWB file or a Zarr store (``https://...``, ``s3://bucket/key``,
        ``dandi://DANDI/000123/sub-x/...``, a DANDI asset URL), streamed without downloading.
    format : str, optional
        A registry id (see ``ophysio formats``) to skip detection; required for raw binary.
    **kwargs
        Passed on to the extractor (channel_name, plane_index, sampling_frequency, ...; for a URL
        ``cache_dir=`` keeps the fetched bytes on disk).
    """
    spec, path_kwargs = resolve_source(path_or_paths, format)
    cls = spec.load_class()
    shown = next(iter(path_kwargs.values()))
    refuse_unknown_options(cls, kwargs, f"{shown[0] if isinstance(shown, list) else shown} was "
                           f"{'opened' if format else 'detected'} as {spec.id}", detected=format is None)
    return cls(**path_kwargs, **kwargs)


def _open_remote_segmentation(url: str, format: str | None, kwargs: dict[str, Any]) -> SegmentationExtractor:
    """A segmentation streamed from a URL: NWB is the one segmentation format read remotely."""
    from ._remote.detect import remote_format
    from ._remote.urls import display_url

    found = format or remote_format(url)
    if found != "nwb":
        raise UnknownFormatError(f"{display_url(url)} holds {found}, not an NWB file: only NWB segmentations are "
                                 "read from a URL (download the files of other formats and open the folder)")
    spec = get_format("nwb", "segmentation")
    cls = spec.load_class()
    refuse_unknown_options(cls, kwargs, f"{display_url(url)} was opened as nwb")
    return cls(**{spec.path_argument: url}, **kwargs)


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


def open_segmentation(path: PathLike, format: str | None = None, **kwargs: Any) -> SegmentationExtractor:
    """Open a segmentation (ROIs, traces, summary images) with the extractor that fits it.

    Parameters
    ----------
    path : path
        A file or folder of a segmentation format (``ophysio formats`` lists them), e.g. a suite2p output
        folder, or the URL of an NWB file (``https://...``, ``s3://...``, ``dandi://...``), streamed as
        :func:`open_imaging` streams movies.
    format : str, optional
        A segmentation format id, to skip detection.
    **kwargs
        Passed on to the extractor (``channel_name``, ``plane_name``, ``sampling_frequency``...).
    """
    from ._remote.urls import is_remote

    if isinstance(path, str) and is_remote(path):
        return _open_remote_segmentation(path, format, kwargs)
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileSetError(f"{path} does not exist")
    spec = get_format(format, "segmentation") if format is not None else detect_format(path, "segmentation")
    cls = spec.load_class()
    refuse_unknown_options(cls, kwargs, f"{path} was {'opened' if format else 'detected'} as {spec.id}",
                           detected=format is None)
    return cls(**{spec.path_argument: os.fspath(path)}, **kwargs)
