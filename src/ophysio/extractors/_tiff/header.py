"""The TIFF header, tag numbers, and the checked positional reads every part of the engine uses.

Everything in :mod:`ophysio.extractors._tiff` works on a raw OS file descriptor (as yielded by
:meth:`ophysio.extractors._handles.CachedFile.open`) with positional reads, so one descriptor can be
shared by threads and nothing depends on a file position. Errors are
:class:`~ophysio.errors.CorruptFileError` / :class:`~ophysio.errors.FormatError` naming the file (and
the IFD where there is one).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from ...errors import CorruptFileError, FormatError

__all__ = [
    "TiffHeader",
    "tiff_kind",
    "read_header",
    "parse_header",
    "pread_exact",
    "check_page_size",
    "MAX_INFLATION",
    "TAG_IMAGE_DESCRIPTION",
    "TAG_SOFTWARE",
    "TAG_ARTIST",
    "TAG_MICROMANAGER",
]

TAG_NEW_SUBFILE_TYPE = 254
TAG_IMAGE_WIDTH = 256
TAG_IMAGE_LENGTH = 257
TAG_BITS_PER_SAMPLE = 258
TAG_COMPRESSION = 259
TAG_FILL_ORDER = 266
TAG_IMAGE_DESCRIPTION = 270
TAG_STRIP_OFFSETS = 273
TAG_SAMPLES_PER_PIXEL = 277
TAG_ROWS_PER_STRIP = 278
TAG_STRIP_BYTE_COUNTS = 279
TAG_PLANAR_CONFIGURATION = 284
TAG_SOFTWARE = 305
TAG_ARTIST = 315
TAG_PREDICTOR = 317
TAG_TILE_OFFSETS = 324
TAG_TILE_BYTE_COUNTS = 325
TAG_SAMPLE_FORMAT = 339
TAG_MICROMANAGER = 51123  # Micro-Manager's per-image JSON metadata

#: Most tags an IFD may claim; real files have a few dozen.
MAX_TAGS = 4096

#: How many times its stored size a compressed page may decode to: more than any TIFF codec reaches
#: (deflate ~1032x, LZW's 12-bit codes ~2730x), so that only damaged sizes are refused.
MAX_INFLATION = 4096


@dataclass(frozen=True)
class TiffHeader:
    """The TIFF file header.

    Attributes
    ----------
    byteorder : str
        ``"<"`` (II, little-endian) or ``">"`` (MM, big-endian).
    bigtiff : bool
        Whether the file is a BigTIFF (64-bit offsets).
    first_ifd : int
        Offset of the first IFD.
    file_size : int
        Size of the file in bytes.
    """

    byteorder: str
    bigtiff: bool
    first_ifd: int
    file_size: int

    @property
    def offset_size(self) -> int:
        """Bytes of an offset / count field: 8 for BigTIFF, 4 for classic TIFF."""
        return 8 if self.bigtiff else 4

    @property
    def entry_size(self) -> int:
        """Bytes of one IFD entry: 20 for BigTIFF, 12 for classic TIFF."""
        return 20 if self.bigtiff else 12

    @property
    def count_size(self) -> int:
        """Bytes of the entry count at the start of an IFD: 8 for BigTIFF, 2 for classic TIFF."""
        return 8 if self.bigtiff else 2

    @property
    def count_format(self) -> str:
        """struct format of the entry count."""
        return self.byteorder + ("Q" if self.bigtiff else "H")

    @property
    def offset_format(self) -> str:
        """struct format of an offset (the next-IFD pointer, a tag's value pointer)."""
        return self.byteorder + ("Q" if self.bigtiff else "I")


def tiff_kind(head: bytes) -> tuple[str, bool] | None:
    """(byte order prefix, is BigTIFF) for a TIFF header, else None."""
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ("<" if head[:2] == b"II" else ">"), False
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return ("<" if head[:2] == b"II" else ">"), True
    return None


def parse_header(head: bytes, file_size: int, path: str) -> TiffHeader:
    """The header from a file's first (at least 16) bytes, checked against the file's size."""
    kind = tiff_kind(head)
    if kind is None:
        raise FormatError(f"{path} is not a TIFF file (it starts with {head[:4]!r}, not II*/MM*)")
    order, big = kind
    if len(head) < (16 if big else 8):
        raise CorruptFileError(f"{path}: the TIFF header is cut short ({len(head)} bytes); the file is truncated")
    (first,) = struct.unpack_from(order + ("Q" if big else "I"), head, 8 if big else 4)
    if not 0 < first < file_size:
        raise CorruptFileError(
            f"{path}: the first IFD offset {first} is outside the file ({file_size} bytes): the file is truncated"
        )
    return TiffHeader(order, big, int(first), int(file_size))


def read_header(fd: int, path: str) -> TiffHeader:
    """Read and check the TIFF header of an open file descriptor."""
    return parse_header(os.pread(fd, 16, 0), os.fstat(fd).st_size, path)


def pread_exact(fd: int, size: int, offset: int, path: str, what: str = "data") -> bytes:
    """Read exactly ``size`` bytes at ``offset`` or raise :class:`CorruptFileError` naming the file.

    The span is checked against the file's size first: a damaged length must not allocate gigabytes.
    """
    file_size = os.fstat(fd).st_size
    if size < 0 or offset < 0 or offset + size > file_size:
        raise CorruptFileError(f"{path}: the {what} ({size} bytes at offset {offset}) lies outside the file "
                               f"({file_size} bytes): the file is truncated or damaged")
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise CorruptFileError(
            f"{path}: the file ends before the {what} ({size} bytes at offset {offset}; "
            f"only {len(data)} could be read): the file is truncated"
        )
    return data


def check_page_size(columns: int, rows: int, bits_per_pixel: int, compression: int, file_size: int,
                    where: str) -> int:
    """The bytes of one page's pixels, after checking that the file could hold them.

    A page of zero rows or columns, or one whose declared pixels are more than the file holds
    (uncompressed), or could decompress to (compressed, :data:`MAX_INFLATION`), comes from damaged
    ImageWidth/ImageLength/BitsPerSample tags: refused here, before a read allocates room for it.
    """
    if rows < 1 or columns < 1 or bits_per_pixel < 1:
        raise CorruptFileError(f"{where}: a page of {columns} x {rows} pixels of {bits_per_pixel} bits holds no "
                               "pixels; its ImageWidth/ImageLength/BitsPerSample tags are damaged")
    nbytes = -(-columns * rows * bits_per_pixel // 8)
    limit = file_size if compression == 1 else file_size * MAX_INFLATION
    if nbytes > limit:
        raise CorruptFileError(
            f"{where}: a page of {columns} x {rows} pixels of {bits_per_pixel} bits is {nbytes} bytes, more than "
            f"the file ({file_size} bytes) can hold{'' if compression == 1 else ' even compressed'}; its "
            "ImageWidth/ImageLength/BitsPerSample tags are damaged"
        )
    return nbytes
