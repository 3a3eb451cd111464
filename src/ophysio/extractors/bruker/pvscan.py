"""The PVScan XML that Bruker Prairie View writes beside its TIFF files, read in one streaming pass.

The XML is the authority on the acquisition: its root ``<PVScan version= date=>`` holds the microscope
state (``<PVStateShard>`` of ``<PVStateValue key=...>``, with ``<IndexedValue>`` and
``<SubindexedValues>/<SubindexedValue>`` children), then one ``<Sequence type= cycle= bidirectionalZ=>``
per cycle (a volume of a TSeries ZSeries, a burst of a multi-cycle T-series), each holding one
``<Frame relativeTime= absoluteTime= index=>`` per frame with one ``<File channel= channelName=
filename= [page=]>`` per channel and a ``<PVStateShard>`` of what changed for that frame (framePeriod,
positionCurrent...). A state value of a frame is its own shard's, else its sequence's, else the root's.

:func:`read_pvscan` parses the file with :class:`xml.etree.ElementTree.XMLParser` and a target that
keeps only what a reader needs per frame (times, files, frame period, z positions), so that a series of
100,000 frames costs one pass over the text and a few numpy arrays, not a tree of millions of elements.
A document type declaration is refused (no entity is ever expanded).
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import FormatError, MetadataError

__all__ = ["PVScan", "read_pvscan", "is_pvscan_head", "MAX_XML_BYTES"]

#: Largest PVScan XML read (a 100,000-frame series writes about 40 MB).
MAX_XML_BYTES = 2 << 30
_CHUNK = 1 << 20
_NAN = float("nan")


def is_pvscan_head(head: bytes) -> bool:
    """Whether the first bytes of a file are an XML document whose root element is ``<PVScan``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    while text.startswith((b"<?", b"<!")):  # the prolog: declaration, comments, a document type (refused later)
        if text.startswith(b"<?"):
            end = text.find(b"?>") + 2
        elif text.startswith(b"<!--"):
            end = text.find(b"-->") + 3
        else:
            close = text.find(b">")
            bracket = text.find(b"[")
            end = text.find(b"]>") + 2 if 0 <= bracket < close else close + 1
        if end < 2:
            return False
        text = text[end:].lstrip(b" \t\r\n")
    return text.startswith(b"<PVScan") and text[7:8] in (b" ", b">", b"\t", b"\r", b"\n", b"/")


@dataclass
class PVScan:
    """What a PVScan XML says, per acquisition, per sequence and per frame.

    Attributes
    ----------
    path : str
        The XML file.
    attributes : dict
        The root's attributes (``version``, ``date``, ``notes``).
    system_ids : list of dict
        The ``<SystemIDs>`` element's attributes and its ``<SystemID>`` children's.
    state : dict
        The root ``<PVStateShard>``: key -> value (a string), or for indexed keys index -> value, or
        index -> subindex -> value; a value that has a ``description`` is ``{"value": ..., "description": ...}``.
    sequences : list of dict
        The attributes of every ``<Sequence>``, in document order.
    sequence_start : numpy.ndarray of int64
        Index of each sequence's first frame (frames are numbered over the whole document).
    sequence_state : dict
        The first sequence's own ``<PVStateShard>`` (usually empty).
    first_frame_state : dict
        The first frame's own ``<PVStateShard>``.
    relative_time, absolute_time : numpy.ndarray of float64
        Each frame's ``relativeTime`` / ``absoluteTime`` (NaN where absent).
    frame_sequence : numpy.ndarray of int64
        The sequence of each frame.
    frame_period : numpy.ndarray of float64
        Each frame's ``framePeriod`` (its own, its sequence's or the root's; NaN where none).
    z_devices : list of str
        The z devices of ``positionCurrent`` (``ZAxis`` subindex descriptions, else subindex numbers).
    z_positions : numpy.ndarray of float64, shape (frames, devices)
        Each frame's position of each z device (its own, its sequence's or the root's; NaN where none).
    channels : dict
        Channel number -> ``channelName``, in order of first appearance.
    file_names : list of str
        Every file name the frames refer to, in order of first appearance.
    frame_files, frame_pages : numpy.ndarray of int64, shape (frames, channels)
        Per frame and channel (in :attr:`channel_numbers` order): the index of its file in
        :attr:`file_names` (-1 where the frame has none) and its ``page`` (1 when absent).
    """

    path: str
    attributes: dict
    system_ids: list
    state: dict
    sequences: list
    sequence_start: np.ndarray
    sequence_state: dict
    first_frame_state: dict
    relative_time: np.ndarray
    absolute_time: np.ndarray
    frame_sequence: np.ndarray
    frame_period: np.ndarray
    z_devices: list
    z_positions: np.ndarray
    channels: dict
    file_names: list
    frame_files: np.ndarray
    frame_pages: np.ndarray
    notes: list = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.relative_time)

    @property
    def channel_numbers(self) -> list[int]:
        """The channel numbers, ascending (the columns of :attr:`frame_files`)."""
        return sorted(self.channels)

    @property
    def channel_names(self) -> list[str]:
        """The channels' names in channel-number order."""
        return [self.channels[number] for number in self.channel_numbers]

    def sequence_frames(self, sequence: int) -> range:
        """The frames of one sequence."""
        stop = self.sequence_start[sequence + 1] if sequence + 1 < len(self.sequence_start) else self.num_frames
        return range(int(self.sequence_start[sequence]), int(stop))


def _leaf(attrib: dict) -> Any:
    """A state value: its ``value`` string, with its ``description`` when it has one."""
    value = attrib.get("value")
    description = attrib.get("description")
    return value if description is None else {"value": value, "description": description}


def _plain(value: Any) -> Any:
    return value["value"] if isinstance(value, dict) and "value" in value else value


class _Target:
    """The parser's target: keeps the document's structure and per-frame values, nothing else.

    Only element starts are handled (a 100,000-frame XML has 600,000 elements, and a call per element end
    costs as much again): Prairie View's structure is regular enough that each element's place follows from
    the elements seen before it. A ``<Frame>`` or ``<Sequence>`` ends the frame before it; a
    ``<PVStateShard>`` belongs to the open frame, else to the open sequence, else to the root; a
    ``<PVStateValue>`` to the last shard; ``<IndexedValue>`` and ``<SubindexedValues>`` to the last value.
    """

    def __init__(self, path: str):
        self.path = path
        self.root_seen = False
        self.attributes: dict = {}
        self.system_ids: list = []
        self.state: dict = {}
        self.sequences: list[dict] = []
        self.sequence_start: list[int] = []
        self.sequence_shard: dict | None = None  # the open sequence's own shard
        self.sequence_state: dict | None = None  # the first sequence's
        self.sequence_values: tuple | None = None  # the open sequence's (framePeriod, z positions)
        self.first_frame_state: dict | None = None
        self.relative: list[str | None] = []
        self.absolute: list[str | None] = []
        self.frame_sequence: list[int] = []
        self.frame_period: list[float] = []
        self.frame_z: list[dict] = []
        self.files: list[tuple] = []  # (frame, channel, channelName, filename, page) as written
        self.frame_open = False
        self.frame_shard: dict | None = None
        self.shard: dict | None = None  # the shard values go to
        self.value: dict | None = None  # the indexed value IndexedValue/SubindexedValues go to
        self.group: dict | None = None  # the SubindexedValues SubindexedValue goes to

    # ------------------------------------------------------------------ helpers
    def _where(self) -> str:
        frames, sequences = len(self.relative), len(self.sequences)
        return f"{self.path}: frame {frames} (sequence {sequences})" if frames else self.path

    # ------------------------------------------------------------------ parser callbacks
    def doctype(self, name, pubid, system):  # pragma: no cover - refused before parsing starts
        raise FormatError(f"{self.path}: the XML declares a document type; refused for safety")

    def start(self, tag: str, attrib: dict) -> None:
        # the most frequent elements first
        if tag == "PVStateValue":
            shard = self.shard
            if shard is not None:
                key = attrib.get("key")
                if key is None:
                    self.value = None
                elif "value" in attrib:
                    shard[key] = _leaf(attrib)
                    self.value = None
                else:
                    self.value = shard[key] = {}
            self.group = None
        elif tag == "File":
            if self.frame_open:
                self.files.append((len(self.relative) - 1, attrib.get("channel"), attrib.get("channelName"),
                                   attrib.get("filename"), attrib.get("page")))
        elif tag == "Frame":
            if self.sequences:
                if self.frame_open:
                    self._end_frame()
                self.frame_open = True
                self.frame_shard = self.shard = self.value = self.group = None
                self.relative.append(attrib.get("relativeTime"))
                self.absolute.append(attrib.get("absoluteTime"))
                self.frame_sequence.append(len(self.sequences) - 1)
        elif tag == "PVStateShard":
            if self.frame_open:
                self.shard = self.frame_shard = {}
            elif self.sequences:
                self.shard = self.sequence_shard = {}
                if self.sequence_state is None:
                    self.sequence_state = self.sequence_shard
            elif self.root_seen:
                self.shard = self.state
            self.value = self.group = None
        elif tag == "IndexedValue":
            if self.value is not None:
                self.value[attrib.get("index", str(len(self.value)))] = _leaf(attrib)
        elif tag == "SubindexedValues":
            if self.value is not None:
                self.group = self.value[attrib.get("index", str(len(self.value)))] = {}
        elif tag == "SubindexedValue":
            if self.group is not None:
                self.group[attrib.get("subindex", str(len(self.group)))] = _leaf(attrib)
        elif tag == "Sequence" and self.root_seen:
            if self.frame_open:
                self._end_frame()
            self.frame_open = False
            self.shard = self.value = self.group = self.sequence_shard = self.sequence_values = None
            self.sequences.append(dict(attrib))
            self.sequence_start.append(len(self.relative))
        elif not self.root_seen:
            if tag != "PVScan":
                raise FormatError(f"{self.path}: the XML root is <{tag}>, not <PVScan>; not a Prairie View file")
            self.root_seen = True
            self.attributes = dict(attrib)
        elif tag in ("SystemIDs", "SystemID") and not self.sequences:
            self.system_ids.append(dict(attrib))
        elif tag not in ("ExtraParameters",):
            self.shard = self.value = self.group = None  # values inside other elements are not the state

    def close(self) -> _Target:
        if self.frame_open:
            self._end_frame()
            self.frame_open = False
        return self

    # ------------------------------------------------------------------ frames
    def _sequence_values(self) -> tuple:
        """The open sequence's own framePeriod and z positions (NaN and {} when its shard has none)."""
        if self.sequence_values is None:
            shard = self.sequence_shard or {}
            period = shard.get("framePeriod")
            self.sequence_values = (_NAN if period is None else self._number(_plain(period), "framePeriod"),
                                    self._z_of(shard))
        return self.sequence_values

    def _end_frame(self) -> None:
        shard = self.frame_shard
        period, z_values = self._sequence_values()
        if shard:
            own = shard.get("framePeriod")
            if own is not None:
                period = self._number(_plain(own), "framePeriod")
            z = self._z_of(shard)
            if z:
                z_values = {**z_values, **z}
        self.frame_period.append(period)
        self.frame_z.append(z_values)
        if self.first_frame_state is None:
            self.first_frame_state = shard or {}
        self.frame_shard = None

    def _number(self, text: Any, name: str) -> float:
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise MetadataError(f"{self._where()}: {name}={text!r} is not a number; the XML is damaged") from None
        return value

    def _z_of(self, shard: dict) -> dict:
        position = shard.get("positionCurrent")
        if not isinstance(position, dict):
            return {}
        z = position.get("ZAxis")
        if not isinstance(z, dict):
            return {}
        return {sub: self._number(_plain(value), "positionCurrent ZAxis") for sub, value in z.items()}


def _check_prolog(path: str, first: bytes) -> None:
    root = first.find(b"<PVScan")
    prolog = first if root < 0 else first[:root]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise FormatError(f"{path}: the XML declares a document type or entities; refused for safety")


def read_pvscan(path: str | os.PathLike) -> PVScan:
    """Parse a PVScan XML file.

    Raises
    ------
    FormatError
        The file is not well-formed XML, its root is not ``<PVScan>``, or it declares a document type.
    MetadataError
        A frame's time, file or state value cannot be read, or the XML holds no frame.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size > MAX_XML_BYTES:
        raise MetadataError(f"{path} is {size} bytes, more than a PVScan XML can sensibly be; refused")
    target = _Target(path)
    parser = ET.XMLParser(target=target)
    try:
        with open(path, "rb") as fh:
            first = True
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                if first:
                    _check_prolog(path, chunk)
                    first = False
                parser.feed(chunk)
        parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        raise FormatError(f"{path}: the XML is not well-formed at line {line}, column {column} ({exc}); the file "
                          "is damaged or was cut short (was the acquisition still running?)") from None
    if not target.root_seen:
        raise FormatError(f"{path}: the XML root is not <PVScan>; not a Prairie View file")
    return _finish(target)


def _frame_where(t: _Target, frame: int) -> str:
    sequence = int(t.frame_sequence[frame])
    cycle = t.sequences[sequence].get("cycle", sequence + 1)
    return f"{t.path}: frame {frame - t.sequence_start[sequence] + 1} of sequence {sequence + 1} (cycle {cycle})"


def _times(t: _Target, values: list, name: str) -> np.ndarray:
    """The frames' ``name`` attribute as float64 (NaN where absent); an error names a frame that is not a number."""
    out = np.fromiter((_NAN if v is None else _to_float(v) for v in values), dtype=np.float64, count=len(values))
    bad = np.flatnonzero(np.isinf(out))
    if bad.size:
        frame = int(bad[0])
        raise MetadataError(f"{_frame_where(t, frame)}: {name}={values[frame]!r} is not a finite number; the XML is "
                            "damaged")
    return out


def _to_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.inf  # reported with the frame by _times
    return value if math.isfinite(value) else math.inf


def _file_table(t: _Target, n: int) -> tuple[dict, list, np.ndarray, np.ndarray]:
    """Channels, file names, and the (frames, channels) file and page tables from the <File> elements."""
    if not t.files:
        return {}, [], np.full((n, 0), -1, dtype=np.int64), np.ones((n, 0), dtype=np.int64)
    frames, channels_raw, names_raw, filenames, pages_raw = zip(*t.files)
    number_of: dict[tuple, int] = {}
    channels: dict[int, str] = {}
    for channel, channel_name in dict.fromkeys(zip(channels_raw, names_raw)):  # the distinct pairs, in order
        at = _frame_where(t, frames[list(zip(channels_raw, names_raw)).index((channel, channel_name))])
        try:
            number = int(channel if channel is not None else "1")
        except ValueError:
            raise MetadataError(f"{at}: <File> has channel={channel!r}, not a number; the XML is damaged") from None
        name = channel_name or f"Ch{number}"
        if channels.setdefault(number, name) != name:
            raise MetadataError(f"{at}: channel {number} is called {channels[number]!r} and {name!r}; the XML is "
                                "inconsistent")
        number_of[(channel, channel_name)] = number
    index: dict[str, int] = {}
    file_index = [index.setdefault(name, len(index)) for name in filenames]
    for bad in ("", None):
        if bad in index:
            frame = frames[filenames.index(bad)]
            raise MetadataError(f"{_frame_where(t, frame)}: a <File> element has no filename; the XML is damaged")
    if all(page is None for page in pages_raw):
        page_numbers = np.ones(len(frames), dtype=np.int64)
    else:
        page_numbers = np.fromiter((_page(page) for page in pages_raw), dtype=np.int64, count=len(frames))
        bad = np.flatnonzero(page_numbers < 1)
        if bad.size:
            k = int(bad[0])
            raise MetadataError(f"{_frame_where(t, frames[k])}: <File filename={filenames[k]!r}> has "
                                f"page={pages_raw[k]!r}; pages are numbered from 1")
    numbers = sorted(channels)
    column = {number: i for i, number in enumerate(numbers)}
    columns = np.fromiter((column[number_of[pair]] for pair in zip(channels_raw, names_raw)), dtype=np.int64,
                          count=len(frames))
    rows = np.asarray(frames, dtype=np.int64)
    files = np.full((n, len(numbers)), -1, dtype=np.int64)
    pages = np.ones((n, len(numbers)), dtype=np.int64)
    files[rows, columns] = file_index
    pages[rows, columns] = page_numbers
    return {number: channels[number] for number in numbers}, list(index), files, pages


def _page(text: str | None) -> int:
    if text is None:
        return 1
    try:
        return int(text)
    except ValueError:
        return 0  # reported with the frame by _file_table


def _finish(t: _Target) -> PVScan:
    n = len(t.relative)
    if n == 0:
        raise MetadataError(f"{t.path}: the PVScan XML lists no <Frame> (no image was saved)")
    frame_sequence = np.asarray(t.frame_sequence, dtype=np.int64)
    t.frame_sequence = frame_sequence
    channels, names, files, pages = _file_table(t, n)
    root_z = t._z_of(t.state)
    devices = list(root_z)
    for z in {id(z): z for z in t.frame_z}.values():
        devices.extend(key for key in z if key not in devices)
    z_positions = np.full((n, len(devices)), np.nan)
    for d, key in enumerate(devices):
        default = root_z.get(key, _NAN)
        z_positions[:, d] = [z.get(key, default) for z in t.frame_z]
    root_period = t.state.get("framePeriod")
    period = np.asarray(t.frame_period, dtype=np.float64)
    if root_period is not None:
        period = np.where(np.isnan(period), t._number(_plain(root_period), "framePeriod"), period)
    return PVScan(
        path=t.path, attributes=t.attributes, system_ids=t.system_ids, state=t.state, sequences=t.sequences,
        sequence_start=np.asarray(t.sequence_start, dtype=np.int64), sequence_state=t.sequence_state or {},
        first_frame_state=t.first_frame_state or {}, relative_time=_times(t, t.relative, "relativeTime"),
        absolute_time=_times(t, t.absolute, "absoluteTime"), frame_sequence=frame_sequence,
        frame_period=period, z_devices=_z_device_names(t.state, devices), z_positions=z_positions,
        channels=channels, file_names=names, frame_files=files, frame_pages=pages,
    )


def _z_device_names(state: dict, devices: list[str]) -> list[str]:
    """The z devices by their ``description`` in the root ``positionCurrent`` (``"Z Focus"``...), else subindex."""
    position = state.get("positionCurrent")
    z = position.get("ZAxis") if isinstance(position, dict) else None
    names = []
    for key in devices:
        value = z.get(key) if isinstance(z, dict) else None
        names.append(value["description"] if isinstance(value, dict) and value.get("description") else str(key))
    return names
