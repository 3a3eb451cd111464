"""The files of a ThorImageLS acquisition folder: ``Experiment.xml``, the TIFF series or the ``.raw`` file.

ThorImageLS names each saved TIFF ``<channel>_<index>_<subwell>_<plane>_<time>.tif`` (``ChanA_001_001_
001_001.tif``; numbers 1-based, zero-padded to the same width, wider when they outgrow it) and a raw
stream ``Image_<index>_<subwell>.raw`` (``Image_0001_0001.raw``, older versions ``Image_001_001.raw``).
The folder is listed once (one ``os.scandir``); no image file is opened here. Which files a channel
needs comes from the Experiment.xml (:mod:`.experiment`); a missing one is a
:class:`~ophysio.errors.FileSetError` that names it. Files are only looked for inside the acquisition
folder; one that is a symbolic link leading out of it is refused (:mod:`~ophysio.extractors._contain`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import FileSetError, MetadataError, SelectionError
from .._contain import ReferencePolicy
from .experiment import EXPERIMENT_XML

__all__ = ["ThorFolder", "TiffGroup", "scan_folder", "TIMING_FILE", "read_timing"]

TIFF_NAME = re.compile(r"^(?P<channel>.+?)_(?P<index>\d+)_(?P<subwell>\d+)_(?P<z>\d+)_(?P<t>\d+)(?P<suffix>\.tiff?)$",
                       re.IGNORECASE)
RAW_NAME = re.compile(r"^Image_(?P<index>\d+)_(?P<subwell>\d+)\.raw$", re.IGNORECASE)
#: ThorImageLS's per-frame software times (seconds from the first frame, one per line), when it wrote them.
TIMING_FILE = "timing.txt"
_MAX_TIMING_BYTES = 64 << 20


@dataclass
class TiffGroup:
    """The TIFF files of one channel of one (index, subwell) found in the folder."""

    channel: str
    index: str
    subwell: str
    suffix: str
    names: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str]:
        return self.index, self.subwell

    @property
    def max_t(self) -> int:
        """The largest time number of the files (1-based)."""
        return max(int(name[: -len(self.suffix)].rsplit("_", 1)[1]) for name in self.names)

    def name(self, z: int, t: int) -> str:
        """The file name of plane ``z`` at time ``t`` (both 0-based)."""
        return self.names_of([z], [t])[0]

    def names_of(self, planes, times) -> list[str]:
        """The file names of every plane of every time (0-based), time major."""
        width = len(self.index)
        pattern = f"{self.channel}_{self.index}_{self.subwell}_{{:0{width}d}}_{{:0{width}d}}{self.suffix}".format
        return [pattern(z + 1, t + 1) for t in times for z in planes]


@dataclass
class ThorFolder:
    """What one listing of an acquisition folder found.

    Attributes
    ----------
    folder : Path
    experiment_path : Path
        Its Experiment.xml.
    opened : Path or None
        The file the user named (None for the folder or the Experiment.xml).
    groups : dict
        (channel, index, subwell) -> :class:`TiffGroup`.
    raw_files : list of str
        Names of the ``Image_*.raw`` files.
    timing : Path or None
        ``timing.txt``, when present.
    links : set of str
        Names of the entries that are symbolic links (checked before use).
    """

    folder: Path
    experiment_path: Path
    opened: Path | None
    groups: dict[tuple[str, str, str], TiffGroup]
    raw_files: list[str]
    timing: Path | None
    links: set[str]
    policy: ReferencePolicy

    prefix: str = ""

    def __post_init__(self) -> None:
        self.prefix = os.path.join(self.folder, "")  # the folder's path with a trailing separator

    def checked(self, name: str) -> str:
        """The path of ``name`` in the folder, after refusing a link that leads out of the folder."""
        path = self.prefix + name
        if name in self.links:
            self.policy.check(path, f"the file {name} (a symbolic link)", self.experiment_path)
        return path

    # ------------------------------------------------------------------ choices
    def tiff_key(self) -> tuple[str, str] | None:
        """The (index, subwell) whose TIFF files to read: the opened file's, else the only one there is."""
        if self.opened is not None:
            match = TIFF_NAME.match(self.opened.name)
            if match:
                return match["index"], match["subwell"]
        keys = sorted({group.key for group in self.groups.values()})
        if len(keys) > 1:
            listing = ", ".join(f"{i}_{s}" for i, s in keys)
            raise SelectionError(f"{self.folder} holds TIFF series of several acquisitions (index_subwell {listing}); "
                                 "open one of their TIFF files to choose")
        return keys[0] if keys else None

    def raw_name(self) -> str | None:
        """The .raw file to read: the opened one, else the only one there is."""
        if self.opened is not None and RAW_NAME.match(self.opened.name):
            return self.opened.name
        if len(self.raw_files) > 1:
            raise SelectionError(f"{self.folder} holds several raw files ({', '.join(sorted(self.raw_files))}); open "
                                 "the one to read")
        return self.raw_files[0] if self.raw_files else None


def scan_folder(file_path: str | os.PathLike) -> ThorFolder:
    """List the acquisition folder of ``file_path`` (the folder, its Experiment.xml, or one of its image files)."""
    path = Path(file_path)
    if not path.exists():
        raise FileSetError(f"{path} does not exist")
    if path.is_dir():
        folder, opened = path, None
    else:
        folder = path.parent
        opened = None if path.name == EXPERIMENT_XML else path
    experiment_path = folder / EXPERIMENT_XML
    policy = ReferencePolicy.for_dataset(folder, False, None if opened is None else opened)
    groups: dict[tuple[str, str, str], TiffGroup] = {}
    raw_files: list[str] = []
    links: set[str] = set()
    timing = None
    by_prefix: dict[str, TiffGroup] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if entry.is_symlink():
                links.add(name)
            stem, dot, extension = name.rpartition(".")
            if extension in ("tif", "tiff", "TIF", "TIFF", "Tif", "Tiff"):
                # <channel>_<index>_<subwell>_<z>_<t>: grouped by everything before <z>, checked once per group
                head, _, t = stem.rpartition("_")
                prefix, _, z = head.rpartition("_")
                group = by_prefix.get(prefix + dot + extension)
                if group is None:
                    match = TIFF_NAME.match(name)
                    if match is None:
                        continue
                    group = by_prefix[prefix + dot + extension] = groups.setdefault(
                        (match["channel"], match["index"], match["subwell"]),
                        TiffGroup(match["channel"], match["index"], match["subwell"], suffix=match["suffix"]))
                if z.isdigit() and t.isdigit():
                    group.names.add(name)
            elif RAW_NAME.match(name):
                raw_files.append(name)
            elif name == TIMING_FILE:
                timing = folder / name
    if EXPERIMENT_XML in links:
        policy.check(experiment_path, f"{EXPERIMENT_XML} (a symbolic link)", folder)
    return ThorFolder(folder, experiment_path, opened, groups, raw_files, timing, links, policy)


def read_timing(path: Path) -> np.ndarray:
    """The seconds of ``timing.txt``, one number per line (blank lines ignored)."""
    size = path.stat().st_size
    if size > _MAX_TIMING_BYTES:
        raise MetadataError(f"{path} is {size} bytes; a timing file that large is refused")
    values = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            text = line.strip()
            if not text:
                continue
            try:
                values.append(float(text))
            except ValueError:
                raise MetadataError(f"{path}, line {number}: {text[:40]!r} is not a number of seconds") from None
    return np.asarray(values, dtype=np.float64)
