"""The page table: the facts of every page (IFD) of a TIFF file, one numpy array row per IFD.

:func:`decode_ifds` turns raw IFD bytes (as :mod:`.walk` reads them) into a :class:`PageTable`. When all
IFDs have the same tag list (as ScanImage, tifffile and most acquisition software write them) every
page's tags are decoded at once with numpy; otherwise one IFD at a time. Damaged values are refused
here, before anything is read or allocated from them: strip data outside the file (offsets of 2**63 and
more included), zero or multi-valued dimensions, pages larger than the file could hold, empty tags.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

import numpy as np

from ...errors import CorruptFileError, FormatError
from .header import (
    TAG_ARTIST,
    TAG_BITS_PER_SAMPLE,
    TAG_COMPRESSION,
    TAG_FILL_ORDER,
    TAG_IMAGE_DESCRIPTION,
    TAG_IMAGE_LENGTH,
    TAG_IMAGE_WIDTH,
    TAG_MICROMANAGER,
    TAG_NEW_SUBFILE_TYPE,
    TAG_PLANAR_CONFIGURATION,
    TAG_PREDICTOR,
    TAG_ROWS_PER_STRIP,
    TAG_SAMPLE_FORMAT,
    TAG_SAMPLES_PER_PIXEL,
    TAG_SOFTWARE,
    TAG_STRIP_BYTE_COUNTS,
    TAG_STRIP_OFFSETS,
    TAG_TILE_BYTE_COUNTS,
    TAG_TILE_OFFSETS,
    TiffHeader,
    check_page_size,
    pread_exact,
)

__all__ = ["PageTable", "decode_ifds", "TEXT_TAGS"]

#: Tags whose value location (offset, count) the page table keeps for every page.
TEXT_TAGS = (TAG_IMAGE_DESCRIPTION, TAG_SOFTWARE, TAG_ARTIST, TAG_MICROMANAGER)

_INT_TYPES = {1: "u1", 3: "u2", 4: "u4", 16: "u8", 6: "i1", 8: "i2", 9: "i4", 17: "i8", 13: "u4", 18: "u8"}
_OUTSIDE = np.iinfo(np.int64).max  # a text pointer of 2**63 and more: present, and outside any file

#: (attribute, tag, default, name) of the per-page scalar tags.
_SCALARS = (
    ("bits_per_sample", TAG_BITS_PER_SAMPLE, 1, "BitsPerSample"),
    ("sample_format", TAG_SAMPLE_FORMAT, 1, "SampleFormat"),
    ("samples_per_pixel", TAG_SAMPLES_PER_PIXEL, 1, "SamplesPerPixel"),
    ("compression", TAG_COMPRESSION, 1, "Compression"),
    ("planar_configuration", TAG_PLANAR_CONFIGURATION, 1, "PlanarConfiguration"),
    ("new_subfile_type", TAG_NEW_SUBFILE_TYPE, 0, "NewSubfileType"),
    ("fill_order", TAG_FILL_ORDER, 1, "FillOrder"),
    ("predictor", TAG_PREDICTOR, 1, "Predictor"),
    ("rows_per_strip", TAG_ROWS_PER_STRIP, 0, "RowsPerStrip"),
)


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
    width, height, bits_per_sample, sample_format, samples_per_pixel, compression, planar_configuration, \
new_subfile_type, fill_order, predictor, rows_per_strip : numpy.ndarray
        The tags of each page (TIFF defaults where a tag is absent; ``rows_per_strip`` 0 when absent).
    data_offset : numpy.ndarray of int64
        Offset of the first strip (or tile) of each page.
    data_nbytes : numpy.ndarray of int64
        Total bytes of each page's strips.
    contiguous : numpy.ndarray of bool
        Whether each page's strips follow each other in the file (one positional read reads the page).
    strips : dict
        For pages whose strips are not back to back: page index -> (offsets, byte counts) arrays.
    strip_spans : tuple of numpy.ndarray, optional
        When every page has the same number of strips: (offsets, byte counts), each (pages, strips).
    text : dict
        For the tags in :data:`TEXT_TAGS` present on the pages: tag -> (offset, count) int64 arrays
        (offset -1 where a page lacks the tag). The text itself is read on demand.
    tiled : bool
        Whether any page is tiled rather than stripped.
    verified : bool
        False for a table predicted by :func:`~ophysio.extractors._tiff.walk.predict_uniform_pages` from
        a few IFDs (check it with :func:`~ophysio.extractors._tiff.walk.walk_ifds` before trusting every
        row); True for a walked chain.
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
    new_subfile_type: np.ndarray | None = None
    fill_order: np.ndarray | None = None
    predictor: np.ndarray | None = None
    rows_per_strip: np.ndarray | None = None
    strips: dict = field(default_factory=dict)
    strip_spans: tuple[np.ndarray, np.ndarray] | None = None
    text: dict = field(default_factory=dict)
    tiled: bool = False
    verified: bool = True

    def __len__(self) -> int:
        return len(self.ifd_offset)

    def dtype(self, page: int = 0) -> np.dtype:
        """numpy dtype of one sample of ``page`` (byte order included)."""
        bits = int(self.bits_per_sample[page])
        kind = {1: "u", 2: "i", 3: "f"}.get(int(self.sample_format[page]))
        if kind is None or bits % 8 or bits not in (8, 16, 32, 64) or (kind == "f" and bits == 8):
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

    def first_irregular(self) -> int:
        """The first page that differs from page 0 in shape, type, compression or strip layout (0 if none)."""
        for arr in (self.width, self.height, self.bits_per_sample, self.sample_format, self.compression,
                    self.data_nbytes):
            bad = np.flatnonzero(arr != arr[0])
            if len(bad):
                return int(bad[0])
        bad = np.flatnonzero(~self.contiguous | (self.compression != 1))
        return int(bad[0]) if len(bad) else 0

    def text_span(self, tag: int) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, byte counts) of a text tag on every page: (-1, 0) where a page lacks it."""
        if tag not in self.text:
            return np.full(len(self), -1, np.int64), np.zeros(len(self), np.int64)
        offsets, counts = self.text[tag]
        return offsets, np.where(offsets < 0, 0, counts)

    def text_of(self, fd: int, tag: int, page: int) -> bytes:
        """The raw bytes of a text tag of one page (b"" when absent), without the trailing NUL."""
        offsets, counts = self.text_span(tag)
        if offsets[page] < 0:
            return b""
        raw = pread_exact(fd, int(counts[page]), int(offsets[page]), self.path, f"tag {tag} of IFD {page}")
        return raw.split(b"\x00", 1)[0]

    def extrapolate(self, first: int, stride: int, pages: int) -> PageTable | None:
        """This table of a few sampled IFDs of a constant-stride file, extended to ``pages`` IFDs.

        Every sampled IFD must have its data (and each text tag) at the same place relative to itself, or
        the text at one absolute place; else None. The result has ``verified=False``.
        """
        sampled = self.ifd_offset
        if np.any(self.planar_configuration != self.planar_configuration[0]):
            return None
        if np.any(self.data_offset - sampled != self.data_offset[0] - sampled[0]):
            return None
        ifd_offset = first + np.arange(pages, dtype=np.int64) * stride
        text = {}
        for tag, (offsets, counts) in self.text.items():
            if np.any(counts != counts[0]):
                return None
            if np.all(offsets == offsets[0]):
                text[tag] = (np.full(pages, offsets[0], np.int64), np.full(pages, counts[0], np.int64))
            elif np.all(offsets - sampled == offsets[0] - sampled[0]):
                text[tag] = (ifd_offset + (offsets[0] - sampled[0]), np.full(pages, counts[0], np.int64))
            else:
                return None
        columns = {name: np.full(pages, getattr(self, name)[0], np.int64)
                   for name in ("width", "height", "data_nbytes", *(s[0] for s in _SCALARS))}
        data_offset = ifd_offset + (self.data_offset[0] - sampled[0])
        return replace(self, ifd_offset=ifd_offset, data_offset=data_offset, contiguous=np.ones(pages, bool),
                       strips={}, strip_spans=(data_offset[:, None], columns["data_nbytes"][:, None]), text=text,
                       verified=False, **columns)


def decode_ifds(fd, path, header, ifd_offset, block, raws) -> PageTable | None:
    """The page table of IFDs given as ``block`` (one row of raw bytes per IFD) or ``raws`` (a list).

    Returns None when only ``block`` is given and its IFDs differ in their tag lists (the caller then
    walks the chain and passes ``raws``).
    """
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
                if tag in columns:  # a repeated tag (Micro-Manager's second ImageDescription): the first counts
                    continue
                value_pos = ifd_offset + header.count_size + j * header.entry_size + 4 + osize
                columns[tag] = (entries["type"][:, j].astype(np.int64), entries["count"][:, j].astype(np.int64),
                                entries["value"][:, j], value_pos)
        elif raws is None:
            return None
    if not columns:
        columns = _decode_irregular(raws, ifd_offset, header, entry_dtype)
    return _build_table(fd, path, header, ifd_offset, columns)


def _decode_irregular(raws, ifd_offset, header, entry_dtype):
    """Decode for files whose IFDs differ in their tag lists.

    IFDs of one size are decoded together when their tag lists agree (most such files have two kinds: a
    first IFD with more tags, such as tifffile's ImageDescription, then the same IFD over and over), the
    others one at a time.
    """
    n = len(raws)
    osize, csize, esize = header.offset_size, header.count_size, header.entry_size
    per_tag: dict[int, list] = {}

    def slot_of(tag: int) -> list:
        slot = per_tag.get(tag)
        if slot is None:
            slot = per_tag[tag] = [np.zeros(n, np.int64), np.zeros(n, np.int64),
                                   np.zeros(n, f"V{osize}"), np.full(n, -1, np.int64)]
        return slot

    by_size: dict[int, list[int]] = {}
    for i, raw in enumerate(raws):
        by_size.setdefault(len(raw), []).append(i)
    one_by_one: list[int] = []
    for size, members in by_size.items():
        ntags = (size - csize - osize) // esize
        if len(members) < 8 or ntags <= 0:
            one_by_one.extend(members)
            continue
        rows = np.frombuffer(b"".join(raws[i] for i in members), np.uint8).reshape(len(members), size)
        entries = np.ascontiguousarray(rows[:, csize : csize + ntags * esize]).view(entry_dtype)
        entries = entries.reshape(len(members), ntags)
        if not (np.all(entries["tag"] == entries["tag"][0]) and np.all(entries["type"] == entries["type"][0])):
            one_by_one.extend(members)
            continue
        index = np.asarray(members, dtype=np.int64)
        seen: set[int] = set()
        for j in range(ntags):
            tag = int(entries["tag"][0, j])
            if tag in seen:  # a repeated tag: the first counts
                continue
            seen.add(tag)
            slot = slot_of(tag)
            slot[0][index] = entries["type"][:, j]
            slot[1][index] = entries["count"][:, j].astype(np.int64)
            slot[2][index] = entries["value"][:, j]
            slot[3][index] = ifd_offset[index] + csize + j * esize + 4 + osize
    for i in sorted(one_by_one):
        raw = raws[i]
        ntags = (len(raw) - header.count_size - osize) // header.entry_size
        entries = np.frombuffer(raw, dtype=entry_dtype, count=ntags, offset=header.count_size)
        for j in range(ntags):
            slot = slot_of(int(entries["tag"][j]))
            if slot[3][i] >= 0:  # a repeated tag: the first counts
                continue
            slot[0][i] = entries["type"][j]
            slot[1][i] = entries["count"][j].astype(np.int64)  # as the regular decode: > 2**63 wraps negative
            slot[2][i] = entries["value"][j]
            slot[3][i] = ifd_offset[i] + header.count_size + j * header.entry_size + 4 + osize
    return {tag: tuple(v) for tag, v in per_tag.items()}


def _scalar(header, column, default, n, name, path, tag, fd=None):
    """The first value of a tag for every page (inline values), or ``default`` where absent.

    With ``fd``, values stored elsewhere (a BitsPerSample of three values) are read: the first counts.
    """
    if column is None:
        return np.full(n, default, dtype=np.int64)
    types, counts, values, _ = column
    raw = np.ascontiguousarray(values).view(np.uint8).reshape(n, -1)
    first = int(types[0])
    if first != 0 and (n == 1 or (types == first).all()):  # the usual case: one type on every page
        code = _INT_TYPES.get(first)
        if code is None:
            raise FormatError(f"{path}: tag {name} has type {first}, which is not an integer type")
        width = np.dtype(code).itemsize
        result = np.ascontiguousarray(raw[:, :width]).view(header.byteorder + code).ravel().astype(np.int64)
        empty = counts == 0
        elsewhere = counts * width > header.offset_size
    else:
        result = np.full(n, default, dtype=np.int64)
        widths = np.zeros(n, np.int64)
        for typ in np.unique(types).tolist():
            if typ == 0:  # absent on these pages (irregular files)
                continue
            code = _INT_TYPES.get(typ)
            if code is None:
                raise FormatError(f"{path}: tag {name} has type {typ}, which is not an integer type")
            width = np.dtype(code).itemsize
            sel = types == typ
            widths[sel] = width
            result[sel] = raw[sel, :width].copy().view(header.byteorder + code).ravel().astype(np.int64)
        empty = (counts == 0) & (types != 0)
        elsewhere = counts * widths > header.offset_size
    if empty.any():
        page = int(np.flatnonzero(empty)[0])
        raise CorruptFileError(f"{path}: IFD {page}: TIFF tag {tag} has no value ({name}); the file is damaged")
    if fd is not None and elsewhere.any():
        for page in np.flatnonzero(elsewhere).tolist():
            result[page] = _array_value(fd, path, header, column, page, name)[0]
    return result


def _build_table(fd, path, header, ifd_offset, columns) -> PageTable:
    n = len(ifd_offset)
    get = columns.get
    tiled = TAG_TILE_OFFSETS in columns and TAG_STRIP_OFFSETS not in columns
    offsets_tag, counts_tag = (TAG_TILE_OFFSETS, TAG_TILE_BYTE_COUNTS) if tiled else (TAG_STRIP_OFFSETS,
                                                                                      TAG_STRIP_BYTE_COUNTS)
    offsets_col, counts_col = get(offsets_tag), get(counts_tag)
    if offsets_col is None or counts_col is None:
        raise FormatError(f"{path}: IFD 0 has no StripOffsets/StripByteCounts tags; no image data can be located")
    for tag, name in ((TAG_IMAGE_WIDTH, "ImageWidth"), (TAG_IMAGE_LENGTH, "ImageLength")):
        column = get(tag)
        if column is not None and np.any(column[1] > 1):
            page = int(np.flatnonzero(column[1] > 1)[0])
            raise CorruptFileError(f"{path}: IFD {page} has {int(column[1][page])} {name} values, not one; the file "
                                   "is damaged")
    scalars = {attr: _scalar(header, get(tag), default, n, name, path, tag, fd)
               for attr, tag, default, name in _SCALARS}
    width = _scalar(header, get(TAG_IMAGE_WIDTH), 0, n, "ImageWidth", path, TAG_IMAGE_WIDTH)
    height = _scalar(header, get(TAG_IMAGE_LENGTH), 0, n, "ImageLength", path, TAG_IMAGE_LENGTH)
    table = PageTable(path=path, header=header, ifd_offset=ifd_offset, width=width, height=height,
                      data_offset=np.zeros(n, np.int64), data_nbytes=np.zeros(n, np.int64),
                      contiguous=np.ones(n, bool), tiled=tiled, **scalars)
    if np.any(offsets_col[1] != counts_col[1]):
        page = int(np.flatnonzero(offsets_col[1] != counts_col[1])[0])
        raise CorruptFileError(f"{path}: IFD {page} has different numbers of strip offsets and byte counts")
    _locate_strips(fd, path, header, table, offsets_col, counts_col)
    for page in np.unique(np.concatenate([[0], np.flatnonzero((width != width[0]) | (height != height[0]))])):
        page = int(page)
        check_page_size(int(width[page]), int(height[page]),
                        int(table.bits_per_sample[page]) * max(int(table.samples_per_pixel[page]), 1),
                        int(table.compression[page]), header.file_size, f"{path}, IFD {page}")
    osize = header.offset_size
    for tag in TEXT_TAGS:
        column = get(tag)
        if column is None:
            continue
        types, counts, values, value_pos = column
        pointers = _scalar(header, (np.full(n, 16 if header.bigtiff else 4), np.ones(n), values, value_pos),
                           -1, n, "text", path, tag)
        pointers = np.where(pointers < 0, _OUTSIDE, pointers)  # 2**63 and more: outside the file, not absent
        text_offset = np.where(counts <= osize, value_pos, pointers)
        text_offset = np.where(value_pos < 0, -1, text_offset)
        table.text[tag] = (text_offset.astype(np.int64), counts.astype(np.int64))
    return table


def _locate_strips(fd, path, header, table, offsets_col, counts_col) -> None:
    """Fill the data columns of ``table``: single-strip pages decode vectorised; others read their arrays."""
    n = len(table)
    if np.all(offsets_col[1] == 1):
        table.data_offset[:] = _scalar(header, offsets_col, 0, n, "StripOffsets", path, TAG_STRIP_OFFSETS)
        table.data_nbytes[:] = _scalar(header, counts_col, 0, n, "StripByteCounts", path, TAG_STRIP_BYTE_COUNTS)
        table.strip_spans = (table.data_offset[:, None], table.data_nbytes[:, None])
        ends = None
    else:
        all_offsets, all_counts = [], []
        ends = np.zeros(n, np.int64)
        for page in range(n):
            offs = _array_value(fd, path, header, offsets_col, page, "StripOffsets")
            cnts = _array_value(fd, path, header, counts_col, page, "StripByteCounts")
            if len(offs) == 0:
                raise CorruptFileError(f"{path}: IFD {page}: strip offsets and byte counts are missing")
            all_offsets.append(offs)
            all_counts.append(cnts)
            table.data_offset[page] = offs[0]
            table.data_nbytes[page] = int(cnts.sum())
            bad = (offs < 0) | (cnts < 0) | (offs > header.file_size - cnts)
            if np.any(bad):  # every strip, not only the first: checked here, before any read
                ends[page] = -1
            if len(offs) > 1:
                table.contiguous[page] = bool(np.all(offs[1:] == offs[:-1] + cnts[:-1]))
                if not table.contiguous[page]:
                    table.strips[page] = (offs, cnts)
        if len({len(o) for o in all_offsets}) == 1:
            table.strip_spans = (np.stack(all_offsets), np.stack(all_counts))
    # offsets and counts of 2**63 and more come out negative here; compare without overflowing int64
    outside = ((table.data_offset < 0) | (table.data_nbytes < 0)
               | (table.data_offset > header.file_size - table.data_nbytes))
    if ends is not None:
        outside |= ends < 0
    if np.any(outside):
        page = int(np.flatnonzero(outside)[0])
        raise CorruptFileError(
            f"{path}: the image data of IFD {page} ({int(table.data_nbytes[page]) & (2**64 - 1)} bytes at offset "
            f"{int(table.data_offset[page]) & (2**64 - 1)}) lies outside the file ({header.file_size} bytes): the "
            "file is truncated or damaged"
        )


def _array_value(fd, path, header, column, page, name) -> np.ndarray:
    types, counts, values, value_pos = column
    code = _INT_TYPES.get(int(types[page]))
    if code is None:
        raise FormatError(f"{path}: IFD {page}: {name} has non-integer type {int(types[page])}")
    dtype = np.dtype(header.byteorder + code)
    count = int(counts[page])
    if count < 0:
        raise CorruptFileError(f"{path}: IFD {page}: {name} claims {count & (2**64 - 1)} values; the file is damaged")
    nbytes = count * dtype.itemsize
    if nbytes <= header.offset_size:
        return np.frombuffer(values[page].tobytes()[:nbytes], dtype=dtype).astype(np.int64)
    (pos,) = struct.unpack(header.offset_format, values[page].tobytes())
    if pos + nbytes > header.file_size:
        raise CorruptFileError(f"{path}: IFD {page}: {name} points past the end of the file")
    return np.frombuffer(pread_exact(fd, nbytes, pos, path, f"{name} of IFD {page}"), dtype=dtype).astype(np.int64)
