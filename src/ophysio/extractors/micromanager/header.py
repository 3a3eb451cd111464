"""The non-TIFF blocks of a Micro-Manager stack file: header, summary metadata, index map, display settings, comments.

Micro-Manager's ``MultipageTiffWriter`` puts, after the 8-byte TIFF header, four pairs of 32-bit integers
in the file's byte order: (54773648, index map offset), (483765892, display settings offset), (99384722,
comments offset), (2355492, summary length); the summary metadata (UTF-8 JSON) follows at byte 40. The
index map (header 3453623, entry count) holds one entry of five 32-bit integers per image: channel, slice,
frame, position and the offset of the image's IFD. A file whose acquisition did not close keeps the
reserved capacity as its count and zeros after its last entry; its display settings and comments
offsets are 0. Display settings (header 347834724) are often cut short by the comments written after
them; comments (header 84720485) are JSON.

Everything here reads through positional reads of an open descriptor; problems are errors naming the
file (the index map's problems are returned instead, so that the reader can place images by their
per-image metadata, as Micro-Manager's own reader does).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from ...errors import CorruptFileError, FormatError, MetadataError
from .._json import loads_json

__all__ = [
    "MMStackHeader",
    "read_mmstack_header",
    "is_mmstack_head",
    "read_display_settings",
    "read_comments",
    "INDEX_MAP_OFFSET_HEADER",
    "SUMMARY_MD_HEADER",
]

INDEX_MAP_OFFSET_HEADER = 54773648
INDEX_MAP_HEADER = 3453623
DISPLAY_SETTINGS_OFFSET_HEADER = 483765892
DISPLAY_SETTINGS_HEADER = 347834724
COMMENTS_OFFSET_HEADER = 99384722
COMMENTS_HEADER = 84720485
SUMMARY_MD_HEADER = 2355492
#: NDTiff (Micro-Manager 2's other format, pycro-manager) puts this major-version marker where MMStack
#: files have the index map offset header.
NDTIFF_MARKER = 483729

_MAX_TEXT = 256 << 20  # summary, display settings, comments: refused beyond this (a damaged length)


def is_mmstack_head(head: bytes) -> bool | str:
    """True when the first 40 bytes are a classic TIFF header followed by Micro-Manager's stack header,
    else the reason they are not."""
    if len(head) < 8 or head[:4] not in (b"II*\x00", b"MM\x00*"):
        if head[:4] in (b"II+\x00", b"MM\x00+"):
            return "a BigTIFF; Micro-Manager stacks are classic TIFF files"
        return "not a TIFF file"
    order = "<" if head[:2] == b"II" else ">"
    if len(head) < 40:
        return "a TIFF too short for Micro-Manager's stack header (40 bytes)"
    index_header, _, _, _, _, _, summary_header, _ = struct.unpack_from(order + "8I", head, 8)
    if index_header == NDTIFF_MARKER:
        return "a Micro-Manager NDTiff file (NDTiffStorage), not an MMStack file"
    if index_header != INDEX_MAP_OFFSET_HEADER or summary_header != SUMMARY_MD_HEADER:
        return ("a TIFF without Micro-Manager's stack header at byte 8 (index map offset header 54773648, summary "
                "header 2355492): written by another program (tifffile, pymmcore-plus...)")
    return True


@dataclass(frozen=True)
class MMStackHeader:
    """What the non-TIFF header of one stack file says.

    Attributes
    ----------
    path : str
    byteorder : str
        ``"<"`` or ``">"``.
    file_size : int
    summary : dict
        The summary metadata.
    summary_text : str
        The summary as written (UTF-8 JSON).
    index_map : numpy.ndarray or None
        (images, 5) int64: channel, slice, frame, position, IFD offset; None when the map is unusable.
    index_problem : str or None
        Why ``index_map`` is None.
    display_offset, comments_offset : int
        Where the display settings and comments blocks are (0 when the acquisition did not close).
    """

    path: str
    byteorder: str
    file_size: int
    summary: dict
    summary_text: str
    index_map: np.ndarray | None
    index_problem: str | None
    display_offset: int
    comments_offset: int


def read_mmstack_header(fd: int, path: str) -> MMStackHeader:
    """Read the Micro-Manager header, summary metadata and index map of an open stack file.

    Raises
    ------
    FormatError
        Not a Micro-Manager stack file.
    CorruptFileError
        The header or the summary is cut short.
    MetadataError
        The summary is not a JSON object.
    """
    size = os.fstat(fd).st_size
    head = os.pread(fd, 40, 0)
    verdict = is_mmstack_head(head)
    if verdict is not True:
        if len(head) < 40 and head[:4] in (b"II*\x00", b"MM\x00*"):
            raise CorruptFileError(f"{path}: the file ends after {len(head)} bytes, inside Micro-Manager's 40-byte "
                                   "stack header; the file is truncated")
        raise FormatError(f"{path} is not a Micro-Manager stack file: {verdict}")
    order = "<" if head[:2] == b"II" else ">"
    (_, index_offset, display_header, display_offset, comments_header, comments_offset, _,
     summary_length) = struct.unpack_from(order + "8I", head, 8)
    if summary_length > min(size - 40, _MAX_TEXT):
        raise CorruptFileError(f"{path}: the summary metadata ({summary_length} bytes at offset 40) runs past the end "
                               f"of the file ({size} bytes); the file is truncated or damaged")
    raw = os.pread(fd, summary_length, 40)
    summary = loads_json(raw, f"{path}: the Micro-Manager summary metadata at offset 40", "UTF-8 JSON")
    if not isinstance(summary, dict):
        raise MetadataError(f"{path}: the Micro-Manager summary metadata is a JSON {type(summary).__name__}, not an "
                            "object")
    (first_ifd,) = struct.unpack_from(order + "I", head, 4)
    index_map, problem = _read_index_map(fd, order, index_offset, first_ifd, size)
    return MMStackHeader(
        path=path, byteorder=order, file_size=size, summary=summary, summary_text=raw.decode("utf-8"),
        index_map=index_map, index_problem=problem,
        display_offset=display_offset if display_header == DISPLAY_SETTINGS_OFFSET_HEADER else 0,
        comments_offset=comments_offset if comments_header == COMMENTS_OFFSET_HEADER else 0,
    )


def _read_index_map(fd: int, order: str, offset: int, first_ifd: int, size: int) -> tuple[np.ndarray | None,
                                                                                         str | None]:
    """The index map's entries up to the first empty one, or None and why the map cannot be used."""
    if not 40 <= offset <= size - 8:
        return None, f"the index map offset {offset} is outside the file ({size} bytes)"
    header, count = struct.unpack(order + "II", os.pread(fd, 8, offset))
    if header != INDEX_MAP_HEADER:
        return None, f"no index map header (3453623) at offset {offset} (found {header})"
    # the space Micro-Manager reserved for it, before the first IFD (or to the end of the file, where its
    # reader writes a rebuilt map): a damaged count reads no further
    room = ((first_ifd if offset < first_ifd <= size else size) - offset - 8) // 20
    n = min(count, room)  # an unfinished file still says its reserved capacity; a cut one may lack entries
    raw = os.pread(fd, 20 * n, offset + 8)
    entries = np.frombuffer(raw, order + "u4", 5 * n).reshape(n, 5).astype(np.int64)
    empty = np.flatnonzero(entries[:, 4] == 0)
    if len(empty):  # Micro-Manager reads zeros as the end of the map (the space reserved for more images)
        entries = entries[: int(empty[0])]
    elif count > room:
        return None, (f"the index map at offset {offset} declares {count} entries but has room for {room} before "
                      f"{'its first IFD' if offset < first_ifd <= size else 'the end of the file'}")
    outside = np.flatnonzero(entries[:, 4] >= size)
    if len(outside):
        k = int(outside[0])
        return None, (f"index map entry {k} points at offset {int(entries[k, 4])}, past the end of the file ({size} "
                      "bytes)")
    if len(entries) == 0:
        return None, f"the index map at offset {offset} holds no entry"
    return entries, None


def _block(fd: int, path: str, order: str, offset: int, expected: int, name: str) -> bytes | None:
    """The bytes of a display settings or comments block (None when absent or damaged)."""
    size = os.fstat(fd).st_size
    if not 40 <= offset <= size - 8:
        return None
    header, count = struct.unpack(order + "II", os.pread(fd, 8, offset))
    if header != expected or count > min(size - offset - 8, _MAX_TEXT):
        return None
    return os.pread(fd, count, offset + 8)


def read_display_settings(fd: int, header: MMStackHeader) -> tuple[str | None, object | None]:
    """The display settings block: its text and, when it is whole JSON, its value (it is often cut short)."""
    raw = _block(fd, header.path, header.byteorder, header.display_offset, DISPLAY_SETTINGS_HEADER,
                 "display settings")
    if raw is None:
        return None, None
    text = raw.rstrip(b"\x00").decode("utf-8", "replace")
    try:
        return text, loads_json(text, f"{header.path}: the display settings")
    except MetadataError:
        return text, None


def read_comments(fd: int, header: MMStackHeader) -> object | None:
    """The comments block as JSON (None when absent or not JSON)."""
    raw = _block(fd, header.path, header.byteorder, header.comments_offset, COMMENTS_HEADER, "comments")
    if raw is None:
        return None
    try:
        return loads_json(raw, f"{header.path}: the comments")
    except MetadataError:
        return raw.decode("utf-8", "replace")
