"""Hamamatsu HCImage ``.cxd`` files: :class:`HCImageImagingExtractor`.

A ``.cxd`` file is an OLE2 compound document (:mod:`.ole`) in the layout of Compix SimplePCI, which HCImage
inherits (Bio-Formats' ``PCIReader`` documents it):

- ``Field Data/Field N/i_ImageK/Bitmap 1``: the pixels of frame N (counted from 1) of channel K, rows of
  ``Image_Width`` values, little-endian, ``Image_Depth`` bits rounded up to whole bytes;
- ``Field Data/Field N/i_ImageK/Details/Image_Width``, ``Image_Height``, ``Image_Depth`` (and the same under
  ``Field Data/Field N/Details``): 8-byte doubles;
- ``Field Data/Field N/Details/Time_From_Start``: when the frame was taken, seconds (a double);
- ``File Info/Field Count`` (int32): the number of frames; ``File Info/First Field Date & Time`` (a double,
  seconds since 1601-01-01, as Bio-Formats reads it); ``Comments``: text, ``key=value`` lines (HCImage
  writes ImageJ's keys there: ``finterval``, ``unit``...); ``Compix``: the writer's version.

The document's directory and allocation tables are read once (:class:`~.ole.CompoundDocument`), to list
the frames and turn each frame's sector chain into file offsets (checked: inside the file, no loop, as
long as the frame); frames are then read with positional reads of the file itself, straight into the
caller's buffer, so no parser stays open and reads from many threads need no lock. A damaged or truncated
document is a :class:`~ophysio.errors.CorruptFileError` naming the file.
"""

from __future__ import annotations

import os
import re
import struct
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from .._handles import CachedFile
from ..checks import checked_rate
from ..imaging import ImagingExtractor
from .ole import CompoundDocument, Entry

__all__ = ["HCImageImagingExtractor", "CxdImagingExtractor", "read_cxd_metadata"]

_FRAME = re.compile(r"^Field (\d+)$")
_IMAGE = re.compile(r"^i_Image(\d+)$")
#: Streams up to this size are kept whole in the metadata (frames and larger blobs are left out).
_SMALL = 64 << 10
#: Largest gap (bytes) between two pieces read with one preadv through a scratch buffer.
_GAP = 256 << 10
_MAX_IOV = 1024
_COBOL_EPOCH = datetime(1601, 1, 1)


def _decode(name: str, data: bytes) -> Any:
    """A small stream as a Python value: 8 bytes a double (two int32 when that double would be subnormal or not
    finite: a pair of counts such as ``GroupSelectedFields``), 2 or 4 bytes an integer, text as text, else hex."""
    if len(data) == 8:
        value = struct.unpack("<d", data)[0]
        if value == 0 or (np.isfinite(value) and abs(value) >= 2.2250738585072014e-308):
            return value
        return list(struct.unpack("<2i", data))
    if len(data) in (2, 4):
        return int.from_bytes(data, "little", signed=True)
    text = data.rstrip(b"\0")
    if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        return text.decode("ascii")
    return data.hex()


def _comment_values(text: Any) -> dict[str, str]:
    """``key=value`` lines of the Comments stream."""
    values = {}
    for line in str(text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def _read_stream(fd: int, extents: list[tuple[int, int]], path: str) -> bytes:
    pieces = [os.pread(fd, length, offset) for offset, length in extents]
    if any(len(piece) != length for piece, (_, length) in zip(pieces, extents)):
        raise CorruptFileError(f"{path} was cut short (a stream ends past the end of the file)")
    return b"".join(pieces)


def _preadv_pieces(fd: int, pieces: list[tuple[int, memoryview]], path: str) -> None:
    """Fill each ``(file offset, buffer)`` of ``pieces`` (ascending offsets), one preadv per run of nearby pieces
    (the bytes between two of a run go to a scratch buffer)."""
    k = 0
    while k < len(pieces):
        offset, buffer = pieces[k]
        buffers, end = [buffer], offset + len(buffer)
        k += 1
        while k < len(pieces) and len(buffers) < _MAX_IOV - 1 and 0 <= pieces[k][0] - end <= _GAP \
                and end - offset < (1 << 30):
            gap = pieces[k][0] - end
            if gap:
                buffers.append(memoryview(bytearray(gap)))
            buffers.append(pieces[k][1])
            end = pieces[k][0] + len(pieces[k][1])
            k += 1
        position, pending = offset, [b for b in buffers if len(b)]
        while pending:
            got = os.preadv(fd, pending[:_MAX_IOV], position)
            if got <= 0:
                raise CorruptFileError(f"{path} ends at byte {position}, inside its frames: the file was cut short "
                                       "(truncated while it was open?)")
            position += got
            while got:
                if got >= len(pending[0]):
                    got -= len(pending.pop(0))
                else:
                    pending[0] = pending[0][got:]
                    got = 0


def read_cxd_metadata(file_path: str | os.PathLike) -> dict:
    """The small streams of a .cxd file (every one but the frames and the other frames' details), decoded."""
    return HCImageImagingExtractor(file_path).get_metadata()


class HCImageImagingExtractor(ImagingExtractor):
    """A Hamamatsu HCImage (Compix SimplePCI) ``.cxd`` movie, read lazily.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.cxd`` file.
    channel_name : str, optional
        The channel to read (``"Image1"``, ``"Image2"``: the ``i_ImageK`` storages of the frames); required
        when the file has several.
    plane_name : str, optional
        Accepted for roiextractors' ``CxdImagingExtractor`` (Bio-Formats' planes); only ``"0"``: HCImage
        time series are planar.
    sampling_frequency : float, optional
        Frames per second, when the file records no frame times (``Time_From_Start``) and no frame interval
        (``finterval`` in its comments); it replaces the file's interval when given.

    Raises
    ------
    CorruptFileError
        The compound document is damaged or truncated (a frame's sector chain leaves the file or loops, a
        frame stream is shorter than a frame).
    FormatError
        The document has no HCImage frames, or frames this reader does not read (colour, embedded TIFF).
    """

    format_id = "hcimage"
    extractor_name = "HCImageImaging"

    def __init__(self, file_path: str | os.PathLike, channel_name: str | None = None,
                 plane_name: str | None = None, sampling_frequency: float | None = None):
        super().__init__()
        self._file_path = path = os.fspath(file_path)
        if not os.path.isfile(path):
            raise FileSetError(f"{path} does not exist or is not a file")
        if plane_name not in (None, "0", 0):
            raise SelectionError(f"plane_name={plane_name!r}: {path} is a planar time series (plane '0' only)")
        self._file = CachedFile(path)
        with self._file.open() as fd:
            self._scan(fd, channel_name)
        self._given_rate = None if sampling_frequency is None else checked_rate(sampling_frequency)

    # ------------------------------------------------------------------ construction
    def _scan(self, fd: int, channel_name: str | None) -> None:
        path = self._file_path
        doc = CompoundDocument(fd, path)
        frames: dict[int, dict[int, Entry]] = {}  # channel -> field -> Bitmap entry
        times: dict[int, Entry] = {}
        header: dict[str, Any] = {}

        def keep(prefix: str, node: Entry, depth: int = 0) -> None:
            """The small streams under ``node`` into the header (frames left out; 8 storages deep at most)."""
            for name, child in sorted(node.children.items()):
                where = f"{prefix}{name}"
                if child.is_stream:
                    if child.size <= _SMALL and not name.startswith("Bitmap"):
                        header[where] = _decode(name, doc.read(fd, child, where))
                elif where != "Field Data" and depth < 8:
                    keep(f"{where}/", child, depth + 1)

        keep("", doc.root)  # the storage "Field Data" is walked below: only its first frame's details are kept
        field_data = doc.find("Field Data")
        for field_name, field in (field_data.children.items() if field_data is not None else ()):
            match = _FRAME.match(field_name)
            if match is None or field.is_stream:
                continue
            number = int(match.group(1))
            if number == 1:
                keep("Field Data/Field 1/", field)
            for name, child in field.children.items():
                image = _IMAGE.match(name)
                if image is not None and not child.is_stream:
                    bitmaps = [c for n, c in sorted(child.children.items()) if n.startswith("Bitmap") and c.is_stream]
                    if bitmaps:
                        frames.setdefault(int(image.group(1)), {})[number] = bitmaps[0]
                elif name == "Details" and not child.is_stream:
                    stamp = child.children.get("Time_From_Start")
                    if stamp is not None and stamp.is_stream:
                        times[number] = stamp
        stamps = {}
        for names in (("Field Data", "Field 1"), ("File Info",)):
            node = doc.find(*names)
            if node is not None and node.created is not None:
                stamps["/".join(names)] = node.created
        if not frames:
            raise FormatError(f"{path} holds no HCImage frames (no 'Field Data/Field N/i_ImageK/Bitmap' streams); "
                              "an older SimplePCI layout ('Image Data') is not read yet")
        channels = sorted(frames)
        names = [f"Image{k}" for k in channels]
        channel = channels[self._choose_channel(names, channel_name, path)]
        fields = sorted(frames[channel])
        if fields != list(range(1, len(fields) + 1)):
            missing = sorted(set(range(1, fields[-1] + 1)) - set(fields))
            raise CorruptFileError(f"{path}: frame 'Field {missing[0]}' of {fields[-1]} has no Bitmap stream for "
                                   f"channel Image{channel}; the file is damaged")
        count = header.get("File Info/Field Count")
        if isinstance(count, int) and count > len(fields):
            raise CorruptFileError(f"{path}: File Info/Field Count says {count} frames, but the file holds "
                                   f"{len(fields)}; the file is truncated or damaged")

        def detail(key: str) -> Any:
            for prefix in (f"Field Data/Field 1/i_Image{channel}/Details", "Field Data/Field 1/Details"):
                value = header.get(f"{prefix}/{key}")
                if isinstance(value, float):
                    return value
            return None

        width, height, depth = detail("Image_Width"), detail("Image_Height"), detail("Image_Depth")
        if not all(isinstance(v, float) and v >= 1 and v == int(v) and v < 1 << 20 for v in (width, height, depth)):
            raise MetadataError(f"{path}: the frame size (Image_Width {width}, Image_Height {height}, Image_Depth "
                                f"{depth}) is missing or not a whole number of pixels and bits")
        rows, columns, bits = int(height), int(width), int(depth)
        if bits > 16 and bits % 3 == 0 and bits // 3 <= 16:
            raise FormatError(f"{path} holds colour frames ({bits}-bit RGB); HCImage colour files are not read yet")
        dtype = {1: np.dtype("u1"), 2: np.dtype("<u2"), 4: np.dtype("<u4")}.get(-(-bits // 8))
        if dtype is None:
            raise MetadataError(f"{path}: Image_Depth {bits} bits is not a pixel type this reader knows")
        frame_bytes = rows * columns * dtype.itemsize
        extents, lengths = [], []
        for field in fields:
            entry = frames[channel][field]
            what = f"frame 'Field {field}' (channel Image{channel})"
            if entry.size != frame_bytes:
                raise FormatError(f"{path}: {what} is {entry.size} bytes, but a {rows} x {columns} frame of {bits}-bit "
                                  f"pixels is {frame_bytes} bytes (an embedded TIFF or padded rows are not read yet)")
            runs = doc.extents(entry, what)
            extents.extend(runs)
            lengths.append(len(runs))
        order = sorted(extents)
        crossed = next((a for a, b in zip(order, order[1:]) if a[0] + a[1] > b[0]), None)
        if crossed is not None:
            raise CorruptFileError(f"{path}: two frames share the bytes at offset {crossed[0]}: the sector chains of "
                                   "the compound document are damaged")
        self._extent_offsets = np.array([offset for offset, _ in extents], dtype=np.int64)
        self._extent_lengths = np.array([length for _, length in extents], dtype=np.int64)
        self._frame_first = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self._time_extents = None
        if len(times) == len(fields) and all(int(times[f].size) == 8 for f in fields):
            self._time_extents = [doc.extents(times[f], f"Time_From_Start of Field {f}") for f in fields]
        self._rows, self._columns, self._bits, self._dtype = rows, columns, bits, dtype
        self._header = header
        self._created = stamps

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(len(self._frame_first) - 1)

    def get_image_shape(self) -> tuple[int, int]:
        return (self._rows, self._columns)

    def get_dtype(self) -> np.dtype:
        return self._dtype

    @property
    def bit_depth(self) -> int:
        """Bits per pixel the camera recorded (``Image_Depth``; pixels are stored in whole bytes)."""
        return self._bits

    def get_sampling_frequency(self) -> float | None:
        """The given rate, else the inverse of the median interval of the frame times, else of the comments'
        ``finterval``; None (with the reason) when the file records none of them."""
        if self._given_rate is not None:
            return self._given_rate
        times = self.get_native_timestamps()
        if times is not None and len(times) > 1:
            step = float(np.median(np.diff(times)))
            if step > 0:
                return 1.0 / step
        interval = self.comment_values().get("finterval")
        try:
            if interval is not None and float(interval) > 0:
                return checked_rate(1.0 / float(interval), f"{self._file_path}: Comments finterval")
        except (ValueError, MetadataError):
            pass
        return self._rate_unknown(f"{self._file_path} records no frame times (Time_From_Start) and no frame "
                                  "interval (finterval in its Comments)")

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    def get_metadata(self) -> dict:
        """The small streams of the document by path (``File Info/...``, ``Comments``, ``Compix``, the first
        frame's ``Details``...), decoded (doubles, integers, text; other bytes as hex), and the creation times
        of the first frame's storage and of ``File Info`` (``created``, UTC)."""
        out = dict(self._header)
        out["created"] = {key: value.replace(tzinfo=timezone.utc).isoformat() for key, value in self._created.items()}
        return out

    def get_acquisition_facts(self):
        from .facts import hcimage_facts

        return hcimage_facts(self)

    def comment_values(self) -> dict[str, str]:
        """The ``key=value`` lines of the ``Comments`` stream (``finterval``, ``unit``...)."""
        return _comment_values(self._header.get("Comments"))

    def first_frame_created(self) -> datetime | None:
        """When HCImage created the first frame's storage (UTC, from the compound document's directory)."""
        created = self._created.get("Field Data/Field 1")
        return None if created is None else created.replace(tzinfo=timezone.utc)

    def first_field_time(self) -> datetime | None:
        """``File Info/First Field Date & Time`` (seconds since 1601-01-01, naive), when recorded."""
        value = self._header.get("File Info/First Field Date & Time")
        if not isinstance(value, float) or not 0 < value < 1e12:
            return None
        return _COBOL_EPOCH + timedelta(seconds=value)

    # ------------------------------------------------------------------ time
    def _get_native_timestamps(self) -> np.ndarray | None:
        """``Time_From_Start`` of every frame, when each frame records it."""
        if self._time_extents is None:
            return None
        with self._file.open() as fd:
            data = b"".join(_read_stream(fd, extents, self._file_path) for extents in self._time_extents)
        return np.frombuffer(data, dtype="<f8").astype(np.float64)

    # ------------------------------------------------------------------ reading
    def _read_frames(self, frames: np.ndarray, out: np.ndarray) -> None:
        flat = memoryview(out.reshape(-1).view(np.uint8))
        frame_bytes = self._rows * self._columns * self._dtype.itemsize
        pieces = []
        for k, frame in enumerate(frames.tolist()):
            position = k * frame_bytes
            for e in range(int(self._frame_first[frame]), int(self._frame_first[frame + 1])):
                length = int(self._extent_lengths[e])
                pieces.append((int(self._extent_offsets[e]), flat[position : position + length]))
                position += length
        pieces.sort(key=lambda piece: piece[0])
        with self._file.open() as fd:
            _preadv_pieces(fd, pieces, self._file_path)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_frames(np.arange(start, stop), out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        self._read_frames(np.asarray(indices), out)


#: roiextractors' name for this reader (its Bio-Formats-based ``CxdImagingExtractor``, same keywords)
CxdImagingExtractor = HCImageImagingExtractor
