"""The files of a Micro-Manager stack dataset, and where each image of one position is.

Micro-Manager names a file set ``<prefix>_MMStack_<position>.ome.tif`` (one set per stage position, its
default) or ``<prefix>_MMStack.ome.tif`` (every position in one set), and continues a set that reaches
about 4 GB in ``..._1.ome.tif``, ``..._2.ome.tif``. Only the names link the files. Each file's index map
says which (channel, slice, frame, position) each of its images is and where its IFD is, so images are
placed by those indices, whatever order the acquisition wrote them in (``AxisOrder``). A file whose index
map is unusable is placed by the coordinates in each image's own JSON (tag 51123), as Micro-Manager's
reader does.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from .._contain import ReferencePolicy
from .._json import loads_json
from .._tiff.header import pread_exact
from .._tiff.index import TiffIndex
from .header import MMStackHeader, is_mmstack_head, read_mmstack_header

__all__ = ["StackFile", "find_stack_files", "image_entries", "declared_sizes", "position_labels", "channel_names"]

_SUFFIX = re.compile(r"(\.ome)?\.tiff?$", re.IGNORECASE)
_SPLIT = re.compile(r"^(?P<series>.*)_(?P<split>\d+)$")


@dataclass
class StackFile:
    """One file of a dataset: its path, header, and place in its series (``split`` 0 is the first file)."""

    path: str
    header: MMStackHeader
    series: str
    split: int

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def positions(self) -> set[int] | None:
        """Positions its index map holds (None without a usable index map)."""
        if self.header.index_map is None:
            return None
        return set(np.unique(self.header.index_map[:, 3]).tolist())


def _stem(name: str) -> str:
    return _SUFFIX.sub("", name)


def _prefix(name: str) -> str:
    """The acquisition prefix Micro-Manager put before ``_MMStack`` (the whole stem for other names)."""
    stem = _stem(name)
    if "_MMStack" in stem:
        return stem.rpartition("_MMStack")[0]
    if stem.startswith("MMStack"):
        return ""
    return stem


def _read_header(path: Path) -> MMStackHeader:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return read_mmstack_header(fd, os.fspath(path))
    finally:
        os.close(fd)


def _candidates(folder: Path) -> list[Path]:
    """Files of ``folder`` that start with Micro-Manager's stack header: those named ``*MMStack*`` when there
    are any (a folder of many other TIFFs is not opened file by file), else every TIFF (renamed stacks)."""
    names = [name for name in sorted(os.listdir(folder))
             if not name.startswith(".") and name.lower().endswith((".tif", ".tiff"))]
    if any("MMStack" in name for name in names):
        names = [name for name in names if "MMStack" in name]
    found = []
    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        with open(path, "rb") as fh:
            head = fh.read(40)
        if is_mmstack_head(head) is True or ("MMStack" in name and head[:4] in (b"II*\x00", b"MM\x00*")):
            found.append(path)  # a cut MMStack file is kept: reading it says what is wrong with it
    return found


def find_stack_files(path: Path, references: ReferencePolicy) -> tuple[list[StackFile], StackFile | None]:
    """The files of the dataset ``path`` names (a folder, or one of its files) in series order, and the file
    named (None for a folder).

    Raises
    ------
    FileSetError
        Nothing there, no stack file in the folder, or a file of a series missing.
    SelectionError
        The folder holds several acquisitions (prefixes).
    """
    if not path.exists():
        raise FileSetError(f"{path} does not exist")
    named = path if path.is_file() else None
    folder = path.parent if named is not None else path
    candidates = _candidates(folder)
    if named is not None:
        with open(named, "rb") as fh:
            head = fh.read(40)
        if is_mmstack_head(head) is not True:
            _read_header(named)  # raises the error that says what the file is
        if not any(os.path.samefile(c, named) for c in candidates):
            candidates.append(named)
        prefix = _prefix(named.name)
    else:
        if not candidates:
            raise FileSetError(f"{folder} holds no Micro-Manager stack file (*_MMStack*.ome.tif)")
        prefixes = sorted({_prefix(c.name) for c in candidates})
        if len(prefixes) > 1:
            raise SelectionError(f"{folder} holds {len(prefixes)} Micro-Manager acquisitions (prefixes {prefixes}); "
                                 "pass one of their files as folder_path")
        prefix = prefixes[0]
    mine = [c for c in candidates if _prefix(c.name) == prefix]
    if named is not None and "MMStack" not in named.name:
        mine = [named]  # a renamed file: no series to follow by name
    stems = {_stem(c.name) for c in mine}
    files = []
    for candidate in mine:
        references.check(candidate, f"the stack file {candidate.name} (found by name)", os.fspath(path))
        stem = _stem(candidate.name)
        match = _SPLIT.match(stem)
        series, split = (match["series"], int(match["split"])) if match and match["series"] in stems else (stem, 0)
        files.append(StackFile(os.fspath(candidate), _read_header(candidate), series, split))
    files.sort(key=lambda f: (f.series, f.split))
    _check_series(files, folder)
    chosen = None
    if named is not None:
        chosen = next(f for f in files if os.path.samefile(f.path, named))
    return files, chosen


def _check_series(files: list[StackFile], folder: Path) -> None:
    """Every series numbered without gaps: ``X.ome.tif``, ``X_1.ome.tif``, ``X_2.ome.tif``..."""
    by_series: dict[str, list[StackFile]] = {}
    for f in files:
        by_series.setdefault(f.series, []).append(f)
    for series, members in by_series.items():
        present = {f.split for f in members}
        missing = [k for k in range(max(present) + 1) if k not in present]
        if missing:
            k = missing[0]
            suffix = _SUFFIX.search(members[0].name).group(0)
            name = f"{series}{suffix}" if k == 0 else f"{series}_{k}{suffix}"
            raise FileSetError(f"{name} is missing from {folder}: the series {series} continues in "
                               f"{', '.join(f.name for f in members)}, and Micro-Manager numbers its files without "
                               "gaps")


def declared_sizes(summary: dict) -> dict[str, int | None]:
    """Frames, channels, slices and positions the summary declares (None where it says nothing)."""
    intended = summary.get("IntendedDimensions")
    intended = intended if isinstance(intended, dict) else {}

    def size(axis: str, key: str) -> int | None:
        for value in (intended.get(axis), summary.get(key)):
            try:
                number = int(value)
            except (TypeError, ValueError):
                continue
            if number > 0:
                return number
        return None

    return {"time": size("time", "Frames"), "channel": size("channel", "Channels"), "z": size("z", "Slices"),
            "position": size("position", "Positions")}


def channel_names(summary: dict, channels_seen: int = 0) -> list[str]:
    """The channel names (``ChNames``) for as many channels as the summary declares or the images use;
    a channel without a name is called by its index ("0", "1"...)."""
    names = summary.get("ChNames")
    names = [str(n) for n in names] if isinstance(names, list) else []
    count = max(declared_sizes(summary)["channel"] or 0, len(names), channels_seen, 1)
    return [names[c] if c < len(names) else str(c) for c in range(count)]


def position_labels(summary: dict, count: int) -> list[str | None]:
    """The label of each stage position in the summary's position list (None where it has none)."""
    positions = summary.get("StagePositions") or summary.get("InitialPositionList") or []
    labels: list[str | None] = []
    for p in range(count):
        entry = positions[p] if isinstance(positions, list) and p < len(positions) else None
        label = entry.get("Label", entry.get("LABEL")) if isinstance(entry, dict) else None
        labels.append(str(label) if label not in (None, "") else None)
    return labels


def _record_coords(record: dict) -> tuple[int, int, int, int] | None:
    """(channel, slice, frame, position) of an image from its JSON (Micro-Manager 1.4 and 2 keys)."""
    def first(*keys):
        for key in keys:
            if key in record:
                return record[key]
        return 0

    complete = record.get("completeCoords")
    if isinstance(complete, dict):
        values = (complete.get("channel", 0), complete.get("z", 0), complete.get("time", 0),
                  complete.get("position", 0))
    else:
        values = (first("ChannelIndex"), first("SliceIndex", "Slice"), first("FrameIndex", "Frame"),
                  first("PositionIndex"))
    try:
        coords = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        return None
    return coords if min(coords) >= 0 else None


def image_entries(stack: StackFile, index: TiffIndex, fd: int) -> tuple[np.ndarray, str]:
    """(images, 5) int64 rows of (channel, slice, frame, position, page of the file), and where they came from.

    From the index map when it is usable and every entry points at an IFD of the file; otherwise from each
    page's JSON (with a warning saying why).
    """
    header = stack.header
    problem = header.index_problem
    if header.index_map is not None:
        entries = header.index_map
        pages = np.searchsorted(index.ifd_offsets, entries[:, 4])
        inside = pages < index.num_pages
        hit = inside & (index.ifd_offsets[np.minimum(pages, index.num_pages - 1)] == entries[:, 4])
        if hit.all():
            return np.column_stack([entries[:, :4], pages]), "index map"
        k = int(np.flatnonzero(~hit)[0])
        problem = (f"index map entry {k} (channel {entries[k, 0]}, slice {entries[k, 1]}, frame {entries[k, 2]}) "
                   f"points at offset {entries[k, 4]}, where the file has no image IFD")
    if index.mm_spans is None:
        raise CorruptFileError(f"{stack.path}: {problem}, and its images carry no Micro-Manager metadata (tag 51123) "
                               "to place them by; the file is damaged")
    warnings.warn(f"{stack.path}: {problem}; placing its images by their own Micro-Manager metadata instead",
                  UserWarning, stacklevel=4)
    rows = []
    for page, (offset, count) in enumerate(index.mm_spans.tolist()):
        if offset < 0:
            continue
        raw = pread_exact(fd, count, offset, stack.path, f"Micro-Manager metadata of IFD {page}").rstrip(b"\x00")
        if raw.strip() == b"NULL":  # a blank image written to complete an aborted acquisition's last frame
            continue
        record = loads_json(raw, f"{stack.path}, IFD {int(index.ifd_numbers[page])}: the Micro-Manager metadata "
                                 "(tag 51123)", "UTF-8 JSON")
        coords = _record_coords(record) if isinstance(record, dict) else None
        if coords is None:
            raise MetadataError(f"{stack.path}, IFD {int(index.ifd_numbers[page])}: the Micro-Manager metadata has no "
                                "ChannelIndex/SliceIndex/FrameIndex/PositionIndex to place the image by")
        rows.append((*coords, page))
    if not rows:
        raise FormatError(f"{stack.path}: no image could be placed ({problem})")
    return np.array(rows, dtype=np.int64), "per-image metadata"
