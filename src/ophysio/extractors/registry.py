"""The format registry: one :class:`FormatSpec` per format, and :func:`open_imaging`.

A format is declared once, here. ``ophysio formats`` and :func:`open_imaging` both read this list. A
spec names the extractor by import path, so the heavy module is imported only when a file of that
format is opened.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FileSetError, OptionError, UnknownFormatError
from . import _sniff

if TYPE_CHECKING:  # pragma: no cover
    from .imaging import ImagingExtractor

__all__ = ["FormatSpec", "FORMATS", "get_format", "detect_format", "resolve_source", "open_imaging"]

PathLike = str | os.PathLike


@dataclass(frozen=True)
class FormatSpec:
    """How to recognise and open one format.

    Attributes
    ----------
    id : str
        Short name, used as ``format=`` in :func:`open_imaging` and on the command line.
    suffixes : tuple of str
        File name endings the format uses (lower case, with the dot); they break ties between formats
        whose content checks both accept a file.
    sniff : callable or None
        ``sniff(path, head) -> True | reason``; None means the format cannot be recognised from content
        and must be named.
    loader : str
        ``"module:Class"`` of the extractor.
    description : str
        One line for ``ophysio formats``.
    path_argument : str
        Name of the extractor's keyword for one path.
    paths_argument : str or None
        Name of its keyword for a list of paths, if it takes one.
    """

    id: str
    suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes], bool | str] | None
    loader: str
    description: str
    path_argument: str = "file_path"
    paths_argument: str | None = None
    extras: tuple[str, ...] = field(default=())

    def load_class(self) -> type[ImagingExtractor]:
        module_name, _, class_name = self.loader.partition(":")
        return getattr(importlib.import_module(module_name), class_name)

    def check(self, path: Path, head: bytes) -> bool | str:
        """True if the content is this format's, else the reason it is not."""
        if self.sniff is None:
            return f"{self.id} cannot be recognised from content; pass format={self.id!r}"
        try:
            verdict = self.sniff(path, head)
        except OSError as exc:
            return f"could not be read ({exc})"
        if verdict is True:
            return True
        return verdict or f"content does not match {self.description}"


# Order matters: more specific formats come before the general ones they are a special case of.
FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec(
        "scanimage",
        (".tif", ".tiff"),
        _sniff.sniff_scanimage,
        "ophysio.extractors.scanimage:ScanImageImagingExtractor",
        "ScanImage 2016 and later TIFF (single or multi-file series, channels, volumes, mROI)",
        paths_argument="file_paths",
    ),
    FormatSpec(
        "scanimage_legacy",
        (".tif", ".tiff"),
        _sniff.sniff_scanimage_legacy,
        "ophysio.extractors.scanimage_legacy:ScanImageLegacyImagingExtractor",
        "ScanImage 3.x, 4.x and 5.0/5.1 TIFF",
    ),
    FormatSpec(
        "ome_tiff",
        (".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf"),
        _sniff.sniff_ome_tiff,
        "ophysio.extractors.ome_tiff:OMETiffImagingExtractor",
        "OME-TIFF (with pymmcore-plus/mesofield per-frame sidecars)",
    ),
    FormatSpec(
        "tiff",
        (".tif", ".tiff", ".btf", ".tf8"),
        _sniff.sniff_tiff,
        "ophysio.extractors.tiff:TiffImagingExtractor",
        "plain multi-page TIFF, ImageJ hyperstack, or a multi-file TIFF series",
        paths_argument="file_paths",
    ),
    FormatSpec(
        "mat",
        (".mat",),
        _sniff.sniff_mat,
        "ophysio.extractors.mat:MatImagingExtractor",
        "MATLAB .mat movie (v5/v7 and v7.3)",
    ),
    FormatSpec(
        "hdf5",
        (".h5", ".hdf5", ".hdf", ".he5"),
        _sniff.sniff_hdf5,
        "ophysio.extractors.hdf5:Hdf5ImagingExtractor",
        "HDF5 movie dataset (CaImAn mov, PySight, any 3-D/4-D dataset)",
    ),
    FormatSpec(
        "suite2p",
        (".npy", ".bin"),
        _sniff.sniff_suite2p,
        "ophysio.extractors.suite2p:Suite2pImagingExtractor",
        "suite2p binary (data.bin / data_raw.bin beside ops.npy)",
        path_argument="folder_path",
    ),
    FormatSpec(
        "numpy",
        (".npy",),
        _sniff.sniff_npy,
        "ophysio.extractors.memory:NumpyImagingExtractor",
        "numpy .npy array of shape (samples, rows, columns[, planes])",
        path_argument="timeseries",
    ),
    FormatSpec(
        "binary",
        (".bin", ".raw", ".dat"),
        None,
        "ophysio.extractors.binary:NumpyMemmapImagingExtractor",
        "raw binary movie read through a memory map (needs its structure, dtype and rate)",
    ),
)


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
    head = _sniff.read_head(path)
    accepted: list[FormatSpec] = []
    reasons: list[str] = []
    for spec in FORMATS:
        verdict = spec.check(path, head)
        if verdict is True:
            accepted.append(spec)
        else:
            reasons.append(f"  {spec.id}: {verdict}")
    if not accepted:
        raise UnknownFormatError(
            f"could not tell the format of {path}; each format said:\n" + "\n".join(reasons)
            + "\nPass format=... to open it as one of them."
        )
    by_suffix = [spec for spec in accepted if _suffix_matches(spec, path)]
    return (by_suffix or accepted)[0]


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
