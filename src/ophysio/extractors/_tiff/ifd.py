"""Shared TIFF machinery: header, IFD walk, page table and direct positional reads of page data.

Everything here works on a raw OS file descriptor (as yielded by
:meth:`ophysio.extractors._handles.CachedFile.open`) with positional reads, so one descriptor can be
shared and nothing depends on a file position. No tifffile page object is built.

Typical use::

    header = read_header(fd, path)                 # byte order, classic/Big TIFF, first IFD offset
    pages = walk_ifds(fd, path, header)            # PageTable: one row per IFD, numpy arrays
    dtype = pages.dtype(0)                         # numpy dtype of page 0 (byte order included)
    read_pages_into(fd, path, pages.data_offset[idx], out.reshape(len(idx), -1).view(np.uint8))

The walk reads each IFD with one ``os.pread`` (about 1-2 us per IFD), detects chains that loop or point
past the end of the file, and decodes the tags of every page at once with numpy when all IFDs have the
same tag list (as ScanImage, tifffile and most acquisition software write them), falling back to a
per-IFD decode otherwise. Errors are :class:`~ophysio.errors.CorruptFileError` /
:class:`~ophysio.errors.FormatError` naming the file and the IFD.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...errors import CorruptFileError, FormatError

__all__ = [
    "TiffHeader",
    "PageTable",
    "read_header",
    "walk_ifds",
    "pread_exact",
    "read_pages_into",
    "read_spans",
    "TAG_IMAGE_DESCRIPTION",
    "TAG_SOFTWARE",
    "TAG_ARTIST",
]

TAG_IMAGE_WIDTH = 256
TAG_IMAGE_LENGTH = 257
TAG_BITS_PER_SAMPLE = 258
TAG_COMPRESSION = 259
TAG_IMAGE_DESCRIPTION = 270
TAG_STRIP_OFFSETS = 273
TAG_SAMPLES_PER_PIXEL = 277
TAG_ROWS_PER_STRIP = 278
TAG_STRIP_BYTE_COUNTS = 279
TAG_PLANAR_CONFIGURATION = 284
TAG_SOFTWARE = 305
TAG_ARTIST = 315
TAG_TILE_OFFSETS = 324
TAG_SAMPLE_FORMAT = 339

#: Tags whose value location (offset, count) the page table keeps for every page.
TEXT_TAGS = (TAG_IMAGE_DESCRIPTION, TAG_SOFTWARE, TAG_ARTIST)

_INT_TYPES = {1: "u1", 3: "u2", 4: "u4", 16: "u8", 6: "i1", 8: "i2", 9: "i4", 17: "i8", 13: "u4", 18: "u8"}
_MAX_IFDS = 1 << 31


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


@dataclass
class PageTable:
    """Facts of every page (IFD) of a TIFF file, one numpy array row per IFD.

    Attributes
    ----------
    path : str
        The file.
    header : TiffHeader
        Its header.
    ifd_offset : numpy.ndarray of int64
        Offset of each IFD.
    width, height, bits_per_sample, sample_format, samples_per_pixel, compression, planar_configuration : numpy.ndarray
        The tags of each page (TIFF defaults where a tag is absent).
    data_offset : numpy.ndarray of int64
        Offset of the first strip (or tile) of each page.
    data_nbytes : numpy.ndarray of int64
        Total bytes of each page's strips.
    contiguous : numpy.ndarray of bool
        Whether each page's strips follow each other in the file (one positional read reads the page).
    strips : dict
        For pages with several strips: page index -> (offsets, byte counts) arrays.
    text : dict
        For the tags in :data:`TEXT_TAGS` present on the pages: tag -> (offset, count) int64 arrays
        (offset -1 where a page lacks the tag). The text itself is read on demand with
        :func:`read_spans`.
    tiled : bool
        Whether any page is tiled rather than stripped.
    verified : bool
        False for a table predicted by :func:`predict_uniform_pages` from a few IFDs (check it with
        :func:`walk_ifds` before trusting every row); True for a walked chain.
    """

    path: str
    header: TiffHeader
    ifd_offset: np.ndarray
    width: np.ndarray
    height: np.ndarray
    bits_per_sample: np.ndarray
    sample_format: np.ndarray
    samples_per_pixel: np.ndarray
    compression: np.ndarray
    planar_configuration: np.ndarray
    data_offset: np.ndarray
    data_nbytes: np.ndarray
    contiguous: np.ndarray
    strips: dict = field(default_factory=dict)
    text: dict = field(default_factory=dict)
    tiled: bool = False
    verified: bool = True

    def __len__(self) -> int:
        return len(self.ifd_offset)

    def dtype(self, page: int = 0) -> np.dtype:
        """numpy dtype of one sample of ``page`` (byte order included)."""
        bits = int(self.bits_per_sample[page])
        kind = {1: "u", 2: "i", 3: "f"}.get(int(self.sample_format[page]))
        if kind is None or bits % 8 or bits not in (8, 16, 32, 64):
            raise FormatError(
                f"{self.path}: IFD {page} has {bits} bits per sample with sample format "
                f"{int(self.sample_format[page])}, which cannot be read as a numpy dtype"
            )
        return np.dtype(f"{self.header.byteorder}{kind}{bits // 8}")

    def is_uniform(self) -> bool:
        """Whether every page has the shape, dtype and layout of page 0 (uncompressed, one data run)."""
        if len(self) == 0:
            return True
        for arr in (self.width, self.height, self.bits_per_sample, self.sample_format,
                    self.samples_per_pixel, self.compression, self.data_nbytes):
            if np.any(arr != arr[0]):
                return False
        return bool(np.all(self.contiguous))

    def text_of(self, fd: int, tag: int, page: int) -> bytes:
        """The raw bytes of a text tag of one page (b"" when absent), without the trailing NUL."""
        if tag not in self.text:
            return b""
        offsets, counts = self.text[tag]
        if offsets[page] < 0:
            return b""
        raw = pread_exact(fd, int(counts[page]), int(offsets[page]), self.path, f"tag {tag} of IFD {page}")
        return raw.split(b"\x00", 1)[0]


#: How many times its stored size a compressed page may decode to: more than any TIFF codec reaches
#: (deflate ~1032x, LZW's 12-bit codes ~2730x), so that only damaged sizes are refused.
MAX_INFLATION = 4096


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


def read_header(fd: int, path: str) -> TiffHeader:
    """Read and check the TIFF header of an open file descriptor."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, 16, 0)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        order = "<" if head[:2] == b"II" else ">"
        if len(head) < 8:
            raise CorruptFileError(f"{path}: the TIFF header is truncated ({size} bytes)")
        (first,) = struct.unpack(order + "I", head[4:8])
        big = False
    elif head[:4] in (b"II+\x00", b"MM\x00+"):
        order = "<" if head[:2] == b"II" else ">"
        if len(head) < 16:
            raise CorruptFileError(f"{path}: the BigTIFF header is truncated ({size} bytes)")
        (first,) = struct.unpack(order + "Q", head[8:16])
        big = True
    else:
        raise FormatError(f"{path} is not a TIFF file (it starts with {head[:4]!r}, not II*/MM*)")
    if not 0 < first < size:
        raise CorruptFileError(
            f"{path}: the first IFD offset {first} is outside the file ({size} bytes): the file is truncated"
        )
    return TiffHeader(order, big, int(first), int(size))


def _walk_offsets(fd: int, path: str, header: TiffHeader, max_ifds: int | None) -> tuple[list[int], list[bytes]]:
    """Follow the IFD chain; return each IFD's offset and raw bytes (count, entries, next offset)."""
    order, big, size = header.byteorder, header.bigtiff, header.file_size
    count_fmt = order + ("Q" if big else "H")
    next_fmt = order + ("Q" if big else "I")
    csize, esize, osize = header.count_size, header.entry_size, header.offset_size
    pread = os.pread
    offsets: list[int] = []
    raws: list[bytes] = []
    seen: set[int] = set()
    limit = _MAX_IFDS if max_ifds is None else max_ifds
    offset = header.first_ifd
    guess = 0  # bytes of the previous IFD: most files repeat one tag list
    last = -1
    while offset and len(offsets) < limit:
        if offset <= last:  # offsets usually increase; only then is a loop possible
            if offset in seen:
                raise CorruptFileError(
                    f"{path}: the IFD chain loops (IFD {len(offsets) - 1} points back to the IFD at offset "
                    f"{offset}); the file is damaged"
                )
        if offset + csize > size:
            raise CorruptFileError(
                f"{path}: IFD {len(offsets)} at offset {offset} points past the end of the file ({size} bytes); "
                "the file is truncated"
            )
        buf = pread(fd, guess, offset) if guess else b""
        if len(buf) < csize or struct.unpack_from(count_fmt, buf, 0)[0] * esize + csize + osize != len(buf):
            (count,) = struct.unpack_from(count_fmt, pread(fd, csize, offset), 0)
            need = csize + count * esize + osize
            if count == 0 or count > 65535:
                raise CorruptFileError(
                    f"{path}: IFD {len(offsets)} at offset {offset} claims {count} tags; the file is damaged"
                )
            buf = pread(fd, need, offset)
            if len(buf) != need:
                raise CorruptFileError(
                    f"{path}: IFD {len(offsets)} at offset {offset} is cut off by the end of the file "
                    f"({size} bytes); the file is truncated"
                )
            guess = need
        seen.add(offset)
        offsets.append(offset)
        raws.append(buf)
        last = max(last, offset)
        (offset,) = struct.unpack_from(next_fmt, buf, len(buf) - osize)
    return offsets, raws


def walk_ifds(fd: int, path: str, header: TiffHeader | None = None, max_ifds: int | None = None,
              fast_chain: Callable[[int, TiffHeader], tuple[np.ndarray, np.ndarray] | None] | None = None
              ) -> PageTable:
    """Walk the IFD chain of an open TIFF file and decode every page's layout tags.

    Parameters
    ----------
    fd : int
        Open, readable file descriptor.
    path : str
        The file's path (for messages).
    header : TiffHeader, optional
        The header, if already read.
    max_ifds : int, optional
        Stop after this many IFDs (e.g. 1 to look at the first page only).
    fast_chain : callable, optional
        ``fast_chain(fd, header)`` -> (IFD offsets, raw IFD bytes) or None, tried before the IFD-by-IFD
        walk (:func:`ophysio.extractors._tiff.uniform.walk_ifds` passes its constant-stride reader).

    Returns
    -------
    PageTable
    """
    header = header or read_header(fd, path)
    fast = None if max_ifds is not None or fast_chain is None else fast_chain(fd, header)
    if fast is not None:
        ifd_offset, block = fast
        n = len(ifd_offset)
        raws = None
    else:
        offsets, raws = _walk_offsets(fd, path, header, max_ifds)
        if not offsets:
            raise CorruptFileError(f"{path} has no IFD (no image)")
        n = len(offsets)
        ifd_offset = np.asarray(offsets, dtype=np.int64)
        sizes = {len(r) for r in raws}
        block = None
        if len(sizes) == 1:
            block = np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(n, sizes.pop())
    table = _decode(fd, path, header, ifd_offset, block, raws)
    if table is None:  # the fast path saw differing tag lists: take the general walk
        return walk_ifds(fd, path, header, max_ifds=_MAX_IFDS)
    return table


def _decode(fd, path, header, ifd_offset, block, raws) -> PageTable | None:
    """Decode IFDs (``block``: one row of raw bytes per IFD, or ``raws``: a list of raw IFDs)."""
    n = len(ifd_offset)
    osize = header.offset_size
    entry_dtype = np.dtype([("tag", header.byteorder + "u2"), ("type", header.byteorder + "u2"),
                            ("count", header.byteorder + ("u8" if header.bigtiff else "u4")),
                            ("value", f"V{osize}")])
    columns: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    if block is not None:
        size = block.shape[1]
        ntags = (size - header.count_size - osize) // header.entry_size
        entries = np.ascontiguousarray(block[:, header.count_size : header.count_size + ntags * header.entry_size])
        entries = entries.view(entry_dtype).reshape(n, ntags)
        same = bool(np.all(entries["tag"] == entries["tag"][0]) and np.all(entries["type"] == entries["type"][0]))
        if same:
            for j in range(ntags):
                tag = int(entries["tag"][0, j])
                value_pos = ifd_offset + header.count_size + j * header.entry_size + 4 + osize
                columns[tag] = (entries["type"][:, j].astype(np.int64), entries["count"][:, j].astype(np.int64),
                                entries["value"][:, j], value_pos)
        elif raws is None:  # the caller saw differing tag lists: it takes the general walk
            return None
    if not columns:
        columns = _decode_irregular(raws, ifd_offset, header, entry_dtype)
    return _build_table(fd, path, header, ifd_offset, columns)


def _decode_irregular(raws, ifd_offset, header, entry_dtype):
    """Per-IFD decode for files whose IFDs differ in their tag lists."""
    n = len(raws)
    osize = header.offset_size
    per_tag: dict[int, list] = {}
    for i, raw in enumerate(raws):
        ntags = (len(raw) - header.count_size - osize) // header.entry_size
        entries = np.frombuffer(raw, dtype=entry_dtype, count=ntags, offset=header.count_size)
        for j in range(ntags):
            tag = int(entries["tag"][j])
            slot = per_tag.get(tag)
            if slot is None:
                slot = per_tag[tag] = [np.zeros(n, np.int64), np.zeros(n, np.int64),
                                       np.zeros(n, f"V{osize}"), np.full(n, -1, np.int64)]
            slot[0][i] = entries["type"][j]
            slot[1][i] = entries["count"][j].astype(np.int64)  # as the regular decode: > 2**63 wraps negative
            slot[2][i] = entries["value"][j]
            slot[3][i] = ifd_offset[i] + header.count_size + j * header.entry_size + 4 + osize
    return {tag: tuple(v) for tag, v in per_tag.items()}


def _scalar(header, column, default, n, name, path):
    """The first value of a tag for every page (inline values), or ``default`` where absent."""
    if column is None:
        return np.full(n, default, dtype=np.int64)
    types, counts, values, _ = column
    result = np.full(n, default, dtype=np.int64)
    raw = np.ascontiguousarray(values).view(np.uint8).reshape(n, -1)
    if n and types[0] != 0 and np.all(types == types[0]):  # the usual case: one type on every page
        code = _INT_TYPES.get(int(types[0]))
        if code is None:
            raise FormatError(f"{path}: tag {name} has type {int(types[0])}, which is not an integer type")
        width = np.dtype(code).itemsize
        result = np.ascontiguousarray(raw[:, :width]).view(header.byteorder + code).ravel().astype(np.int64)
        if np.any(counts == 0):
            raise CorruptFileError(f"{path}: IFD {int(np.flatnonzero(counts == 0)[0])} has an empty {name} tag")
        return result
    for typ in np.unique(types):
        if typ == 0:  # absent on these pages (irregular files)
            continue
        code = _INT_TYPES.get(int(typ))
        if code is None:
            raise FormatError(f"{path}: tag {name} has type {int(typ)}, which is not an integer type")
        width = np.dtype(code).itemsize
        sel = types == typ
        result[sel] = raw[sel, :width].copy().view(header.byteorder + code).ravel().astype(np.int64)
    if np.any((counts == 0) & (types != 0)):
        page = int(np.flatnonzero((counts == 0) & (types != 0))[0])
        raise CorruptFileError(f"{path}: IFD {page} has an empty {name} tag")
    return result


def _build_table(fd, path, header, ifd_offset, columns) -> PageTable:
    n = len(ifd_offset)
    get = columns.get
    tiled = TAG_TILE_OFFSETS in columns and TAG_STRIP_OFFSETS not in columns
    offsets_col = get(TAG_TILE_OFFSETS) if tiled else get(TAG_STRIP_OFFSETS)
    counts_col = get(325) if tiled else get(TAG_STRIP_BYTE_COUNTS)
    if offsets_col is None or counts_col is None:
        raise FormatError(f"{path}: IFD 0 has no StripOffsets/StripByteCounts tags; no image data can be located")
    width = _scalar(header, get(TAG_IMAGE_WIDTH), 0, n, "ImageWidth", path)
    height = _scalar(header, get(TAG_IMAGE_LENGTH), 0, n, "ImageLength", path)
    for tag, name in ((TAG_IMAGE_WIDTH, "ImageWidth"), (TAG_IMAGE_LENGTH, "ImageLength")):
        column = get(tag)
        if column is not None and np.any(column[1] > 1):
            page = int(np.flatnonzero(column[1] > 1)[0])
            raise CorruptFileError(f"{path}: IFD {page} has {int(column[1][page])} {name} values, not one; the file "
                                   "is damaged")
    table = PageTable(
        path=path, header=header, ifd_offset=ifd_offset, width=width, height=height,
        bits_per_sample=_scalar(header, get(TAG_BITS_PER_SAMPLE), 1, n, "BitsPerSample", path),
        sample_format=_scalar(header, get(TAG_SAMPLE_FORMAT), 1, n, "SampleFormat", path),
        samples_per_pixel=_scalar(header, get(TAG_SAMPLES_PER_PIXEL), 1, n, "SamplesPerPixel", path),
        compression=_scalar(header, get(TAG_COMPRESSION), 1, n, "Compression", path),
        planar_configuration=_scalar(header, get(TAG_PLANAR_CONFIGURATION), 1, n, "PlanarConfiguration", path),
        data_offset=np.zeros(n, np.int64), data_nbytes=np.zeros(n, np.int64),
        contiguous=np.ones(n, bool), tiled=tiled,
    )
    # strips: single-strip pages decode vectorised; others read their arrays
    ocount = offsets_col[1]
    single = ocount == 1
    if np.any(offsets_col[1] != counts_col[1]):
        page = int(np.flatnonzero(offsets_col[1] != counts_col[1])[0])
        raise CorruptFileError(f"{path}: IFD {page} has different numbers of strip offsets and byte counts")
    if np.all(single):
        table.data_offset[:] = _scalar(header, offsets_col, 0, n, "StripOffsets", path)
        table.data_nbytes[:] = _scalar(header, counts_col, 0, n, "StripByteCounts", path)
    else:
        for page in range(n):
            offs = _array_value(fd, path, header, offsets_col, page, "StripOffsets")
            cnts = _array_value(fd, path, header, counts_col, page, "StripByteCounts")
            table.data_offset[page] = offs[0]
            table.data_nbytes[page] = int(cnts.sum())
            if len(offs) > 1:
                table.contiguous[page] = bool(np.all(offs[1:] == offs[:-1] + cnts[:-1]))
                if not table.contiguous[page]:
                    table.strips[page] = (offs, cnts)
    # offsets and counts of 2**63 and more come out negative here; compare without overflowing int64
    outside = ((table.data_offset < 0) | (table.data_nbytes < 0)
               | (table.data_offset > header.file_size - table.data_nbytes))
    if np.any(outside):
        page = int(np.flatnonzero(outside)[0])
        raise CorruptFileError(
            f"{path}: the image data of IFD {page} ({int(table.data_nbytes[page]) & (2**64 - 1)} bytes at offset "
            f"{int(table.data_offset[page]) & (2**64 - 1)}) lies outside the file ({header.file_size} bytes): the "
            "file is truncated or damaged"
        )
    for page in np.unique(np.concatenate([[0], np.flatnonzero((width != width[0]) | (height != height[0]))])):
        page = int(page)
        check_page_size(int(width[page]), int(height[page]),
                        int(table.bits_per_sample[page]) * max(int(table.samples_per_pixel[page]), 1),
                        int(table.compression[page]), header.file_size, f"{path}, IFD {page}")
    for tag in TEXT_TAGS:
        column = get(tag)
        if column is None:
            continue
        types, counts, values, value_pos = column
        osize = header.offset_size
        inline = counts <= osize
        pointers = _scalar(header, (np.full(n, 16 if header.bigtiff else 4), np.ones(n), values, value_pos),
                           -1, n, "text", path)
        text_offset = np.where(inline, value_pos, pointers)
        text_offset = np.where(value_pos < 0, -1, text_offset)
        table.text[tag] = (text_offset.astype(np.int64), counts.astype(np.int64))
    return table


def _array_value(fd, path, header, column, page, name) -> np.ndarray:
    types, counts, values, value_pos = column
    code = _INT_TYPES.get(int(types[page]))
    if code is None:
        raise FormatError(f"{path}: IFD {page}: {name} has non-integer type {int(types[page])}")
    dtype = np.dtype(header.byteorder + code)
    count = int(counts[page])
    nbytes = count * dtype.itemsize
    if nbytes <= header.offset_size:
        return np.frombuffer(values[page].tobytes()[:nbytes], dtype=dtype).astype(np.int64)
    (pos,) = struct.unpack(header.byteorder + ("Q" if header.bigtiff else "I"), values[page].tobytes())
    if pos + nbytes > header.file_size:
        raise CorruptFileError(f"{path}: IFD {page}: {name} points past the end of the file")
    return np.frombuffer(pread_exact(fd, nbytes, pos, path, f"{name} of IFD {page}"), dtype=dtype).astype(np.int64)


_PREADV = getattr(os, "preadv", None)


def read_pages_into(fd: int, path: str, offsets: np.ndarray, out: np.ndarray, pages: np.ndarray | None = None) -> None:
    """Read ``len(offsets)`` equal-sized data runs straight into the rows of ``out`` (one copy).

    Parameters
    ----------
    fd : int
        Open file descriptor.
    path : str
        The file (for messages).
    offsets : numpy.ndarray
        File offset of each run.
    out : numpy.ndarray
        C-contiguous array whose first axis has ``len(offsets)`` entries; row ``i`` receives the
        ``out[i].nbytes`` bytes at ``offsets[i]``.
    pages : numpy.ndarray, optional
        IFD index of each run, for error messages.
    """
    if len(offsets) == 0:
        return
    rows = out.reshape(len(offsets), -1).view(np.uint8)
    size = rows.shape[1]
    offs = offsets.tolist()
    if _PREADV is not None:
        memory = memoryview(rows.reshape(-1))
        for i, offset in enumerate(offs):
            got = _PREADV(fd, [memory[i * size : (i + 1) * size]], offset)
            if got != size:
                _short_read(path, offset, size, got, i if pages is None else int(pages[i]))
    else:  # pragma: no cover - platforms without preadv
        for i, offset in enumerate(offs):
            data = os.pread(fd, size, offset)
            if len(data) != size:
                _short_read(path, offset, size, len(data), i if pages is None else int(pages[i]))
            rows[i] = np.frombuffer(data, dtype=np.uint8)


def _short_read(path: str, offset: int, size: int, got: int, page: int):
    raise CorruptFileError(
        f"{path}: the image data of IFD {page} ({size} bytes at offset {offset}) is cut off after {got} bytes: "
        "the file is truncated"
    )


def read_spans(fd: int, offsets: np.ndarray, size: int) -> list[bytes]:
    """Read ``size`` bytes (fewer at the end of the file) at each of ``offsets``; one ``pread`` each.

    An offset outside the file (a damaged one, up to 2**63, which os.pread refuses with EINVAL) gives
    b"": callers then read that page's text through a checked path that names the page.
    """
    pread = os.pread
    file_size = os.fstat(fd).st_size
    return [pread(fd, size, offset) if 0 <= offset < file_size else b"" for offset in offsets.tolist()]

