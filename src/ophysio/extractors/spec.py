"""What a format declares about itself: :class:`FormatSpec`, and lazy access to its reader's names.

Every format package (``ophysio.extractors.<format>``) declares ``SPEC = FormatSpec(...)`` in its
``__init__.py``, which stays light: the reader module is imported only when one of its names is used.
:mod:`ophysio.extractors.registry` collects the specs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .imaging import ImagingExtractor
    from .segmentation import SegmentationExtractor

__all__ = ["FormatSpec", "lazy_attributes", "PHOTON_SERIES_TYPES"]

#: The NWB types a photon series can be written as.
PHOTON_SERIES_TYPES = ("TwoPhotonSeries", "OnePhotonSeries")


@dataclass(frozen=True)
class FormatSpec:
    """How to recognise and open one format.

    Attributes
    ----------
    id : str
        Short name, used as ``format=`` in :func:`open_imaging` (:func:`open_segmentation`) and on the
        command line.
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
    writer : str or None
        The id of the format's writer (:func:`ophysio.write_imaging`), the same as ``id``; None when
        ophysio does not write the format.
    name : str
        The format's name as class names spell it (``"ScanImage"`` gives ``ScanImageImagingInterface``);
        by default the id with each word capitalised.
    photon_series_type : str
        The NWB series a conversion writes by default: ``"TwoPhotonSeries"`` (laser scanning) or
        ``"OnePhotonSeries"`` (widefield cameras, miniscopes); ``photon_series_type=`` of an interface,
        of :func:`ophysio.write_nwb` or ``ophysio convert --one-photon`` overrides it.
    kind : {"imaging", "segmentation"}
        What the loader reads: a movie (an :class:`~ophysio.extractors.imaging.ImagingExtractor`, declared as
        ``SPEC``) or a segmentation (a :class:`~ophysio.extractors.segmentation.SegmentationExtractor`,
        declared as ``SEGMENTATION_SPEC``). A format folder may declare both (suite2p writes a movie and
        the segmentation made from it), each with its own sniff and loader.
    remote : bool
        Whether the extractor also streams a URL (HTTP(S), S3, DANDI) given as its path.
    """

    id: str
    suffixes: tuple[str, ...]
    sniff: Callable[[Path, bytes], bool | str] | None
    loader: str
    description: str
    path_argument: str = "file_path"
    paths_argument: str | None = None
    writer: str | None = None
    extras: tuple[str, ...] = field(default=())
    name: str = ""
    photon_series_type: str = "TwoPhotonSeries"
    kind: str = "imaging"
    remote: bool = False

    def __post_init__(self) -> None:
        if self.photon_series_type not in ("TwoPhotonSeries", "OnePhotonSeries"):
            raise ValueError(f"FormatSpec {self.id!r}: photon_series_type must be 'TwoPhotonSeries' or "
                             f"'OnePhotonSeries', not {self.photon_series_type!r}")

    @property
    def class_name(self) -> str:
        """:attr:`name`, or the id with each word capitalised (``"hdf5"`` -> ``"Hdf5"``)."""
        return self.name or "".join(word[:1].upper() + word[1:] for word in self.id.split("_") if word)

    def load_class(self) -> type[ImagingExtractor] | type[SegmentationExtractor]:
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


def lazy_attributes(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package that hands on ``names`` (public name -> module of
    the package that defines it, e.g. ``".reader"``), importing that module on first use."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
