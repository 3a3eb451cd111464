"""A small page table over TIFF files, shared by the legacy ScanImage, plain TIFF and OME-TIFF readers.

:func:`index_tiff` walks a file's IFD chain with ``struct`` over positional reads (about a microsecond
per tag, no ``TiffPage`` objects) and records, for every IFD, its image size, sample type, compression
and strip positions. Every IFD is checked: a chain that points outside the file, loops, or a strip that
ends past the end of the file is reported as :class:`~ophysio.errors.CorruptFileError` naming the file,
the IFD and the offset.

:class:`TiffPageSource` reads any list of pages of one or several such files into a caller's buffer:
uncompressed pages whose strips are contiguous are read with ``os.preadv`` straight into the output
(runs of pages that are back to back in the file in one call); every other page (compressed, tiled,
odd bit depths) is decoded one page at a time by tifffile into the output, so that no file is ever
loaded whole.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import CorruptFileError, FormatError
from .._handles import CachedFile
from .ifd import check_page_size

__all__ = [
    "TiffIndex",
    "index_tiff",
    "TiffPageSource",
    "open_tifffile",
    "read_page_descriptions",
    "read_volumes",
    "PagedSampleReads",
]

# TIFF field types -> (struct code, size)
_TYPES = {1: ("B", 1), 2: ("B", 1), 3: ("H", 2), 4: ("I", 4), 6: ("b", 1), 7: ("B", 1), 8: ("h", 2),
          9: ("i", 4), 16: ("Q", 8), 17: ("q", 8), 18: ("Q", 8), 13: ("I", 4)}
_MM_TAG = 51123  # Micro-Manager's per-image JSON metadata
_WANTED = {254, 256, 257, 258, 259, 266, 270, 273, 277, 278, 279, 284, 317, 322, 323, 324, 325, 339, _MM_TAG}
_SAMPLE_DTYPES = {(1, 8): "u1", (2, 8): "i1", (1, 16): "u2", (2, 16): "i2", (1, 32): "u4", (2, 32): "i4",
                  (3, 16): "f2", (3, 32): "f4", (3, 64): "f8", (1, 64): "u8", (2, 64): "i8"}
#: Largest number of IFDs accepted in one file (a guard against looping or absurd chains).
MAX_IFDS = 10_000_000


#: Threads that decode compressed pages at once (zlib and most codecs release the GIL).
_WORKERS = min(4, os.cpu_count() or 1)
_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="ophysio-tiff-decode")
        return _POOL


def _forget_pool_after_fork() -> None:
    global _POOL, _POOL_LOCK
    _POOL = None  # the parent's threads do not exist in a forked child: start a new pool on demand
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def open_tifffile(path: str):
    """Open ``path`` with tifffile (a module-level opener for :class:`CachedFile`).

    A ``TiffFile`` reads through one file object with seek + read, and by default without a lock: two
    threads sharing it read each other's bytes (wrong pixels, or IFDs parsed from the middle of a strip).
    The handle is switched to tifffile's own reentrant lock, which ``TiffPage.asarray`` takes around each
    seek + read (decoding happens outside it); callers take the same lock, ``tif.filehandle.lock``,
    around anything else that moves the file position, such as building a page with ``tif.pages[i]``.
    """
    import tifffile

    try:
        tif = tifffile.TiffFile(path)
    except OSError:
        raise
    except Exception as exc:  # tifffile parses the first IFD itself: damaged tags give TypeError, ValueError...
        raise CorruptFileError(f"{path}: tifffile could not open the file ({type(exc).__name__}: {exc}); its first "
                               "IFD is damaged") from exc
    tif.filehandle.set_lock(True)
    return tif


def _pread(fd: int, size: int, offset: int) -> bytes:
    return os.pread(fd, size, offset)


@dataclass
class TiffIndex:
    """The page table of one TIFF file.

    Attributes
    ----------
    path : str
    byteorder : str
        ``"<"`` or ``">"``.
    shape : tuple of int
        (rows, columns) of every page.
    dtype : numpy.dtype
        Native-order sample type of every page.
    fast : numpy.ndarray of bool
        Per IFD: uncompressed, one sample per pixel, strips back to back (readable with one pread).
    data_offsets : numpy.ndarray of int64
        Per IFD: position of the first strip.
    ifd_offsets : numpy.ndarray of int64
        Per IFD: position of the IFD.
    ifd_numbers : numpy.ndarray of int64
        Per page: its number in the file's IFD chain (reduced-resolution IFDs are not pages).
    description_spans : numpy.ndarray of int64, shape (n, 2)
        Per IFD: (offset, length) of the ImageDescription, (-1, 0) if absent.
    compression : int
        Compression of the first IFD.
    """

    path: str
    byteorder: str
    shape: tuple[int, int]
    dtype: np.dtype
    fast: np.ndarray
    data_offsets: np.ndarray
    ifd_offsets: np.ndarray
    ifd_numbers: np.ndarray
    description_spans: np.ndarray
    compression: int
    file_size: int
    #: For files whose every page is deflate-compressed in the same number of strips: (pages, strips)
    #: arrays of strip offsets and byte counts, the rows per strip and the predictor (1 or 2); else None.
    #: Per page: (offset, length) of Micro-Manager's JSON metadata tag 51123, or None when no page has one.
    mm_spans: np.ndarray | None = None
    deflate_offsets: np.ndarray | None = None
    deflate_counts: np.ndarray | None = None
    rows_per_strip: int = 0
    predictor: int = 1

    @property
    def num_pages(self) -> int:
        return len(self.data_offsets)

    @property
    def page_nbytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.dtype.itemsize


def _read_values(fd, order, dtype_code, count, inline: bytes, value_size, file_size, where) -> tuple:
    code, size = _TYPES.get(dtype_code, (None, 0))
    if code is None:
        return ()
    nbytes = count * size
    if nbytes <= value_size:
        raw = inline[:nbytes]
    else:
        (pos,) = struct.unpack(order + ("Q" if value_size == 8 else "I"), inline)
        if pos + nbytes > file_size:
            raise CorruptFileError(f"{where}: a tag's values at offset {pos} run past the end of the file "
                                   f"({file_size} bytes); the file is truncated or damaged")
        raw = _pread(fd, nbytes, pos)
    return struct.unpack(f"{order}{count}{code}", raw)


def index_tiff(path: str | os.PathLike, fd: int | None = None) -> TiffIndex:
    """Walk the IFD chain of ``path`` and return its page table (see :class:`TiffIndex`).

    Raises
    ------
    FormatError
        Not a TIFF, or pages that differ in size or sample type, or several samples per pixel.
    CorruptFileError
        The chain or a strip points outside the file, or the chain loops.
    """
    path = os.fspath(path)
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return _index(path, fd)
    finally:
        if own:
            os.close(fd)


def _index(path: str, fd: int) -> TiffIndex:
    file_size = os.fstat(fd).st_size
    head = _pread(fd, 16, 0)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        big = False
    elif head[:4] in (b"II+\x00", b"MM\x00+"):
        big = True
    else:
        raise FormatError(f"{path} is not a TIFF file (it starts with {head[:4]!r}, not II*/MM*)")
    order = "<" if head[:2] == b"II" else ">"
    if len(head) < (16 if big else 8):
        raise CorruptFileError(f"{path}: the TIFF header is cut short ({len(head)} bytes); the file is truncated")
    if big:
        (offset,) = struct.unpack(order + "Q", head[8:16])
        count_fmt, count_size, entry_size, value_size, next_fmt = "Q", 8, 20, 8, "Q"
    else:
        (offset,) = struct.unpack(order + "I", head[4:8])
        count_fmt, count_size, entry_size, value_size, next_fmt = "H", 2, 12, 4, "I"
    entry_fmt = order + ("HHQ" if big else "HHI")

    fast, data_offsets, ifd_offsets, ifd_numbers, descriptions, mm_texts = [], [], [], [], [], []
    deflate_ok, deflate_offsets, deflate_counts, deflate_layout = True, array("q"), array("q"), None
    first: tuple | None = None
    seen: set[int] = set()
    while offset:
        ifd = len(seen)
        ifd_at = offset
        where = f"{path}, IFD {ifd} at offset {offset}"
        if offset in seen:
            raise CorruptFileError(f"{where}: the IFD chain loops back to an earlier IFD; the file is damaged")
        if offset + count_size > file_size:
            raise CorruptFileError(f"{path}: IFD {ifd} should start at offset {offset}, past the end of the file "
                                   f"({file_size} bytes); the file is truncated (a copy or acquisition cut short?)")
        if ifd >= MAX_IFDS:
            raise CorruptFileError(f"{path}: more than {MAX_IFDS} IFDs; the chain is damaged")
        seen.add(offset)
        (count,) = struct.unpack(order + count_fmt, _pread(fd, count_size, offset))
        if count == 0 or count > 4096:
            raise CorruptFileError(f"{where}: {count} tags is not a valid IFD; the file is damaged")
        block_size = count * entry_size + value_size
        block = _pread(fd, block_size, offset + count_size)
        if len(block) < block_size:
            raise CorruptFileError(f"{where}: the IFD is cut off by the end of the file; the file is truncated")
        tags: dict[int, tuple] = {}
        description = mm_text = (-1, 0)
        for i in range(count):
            entry = block[i * entry_size : (i + 1) * entry_size]
            tag, dtype_code, n = struct.unpack(entry_fmt, entry[: 4 + value_size])
            if tag not in _WANTED:
                continue
            inline = entry[4 + value_size :]
            if tag == _MM_TAG:
                if n <= value_size:
                    mm_text = (offset + count_size + i * entry_size + 4 + value_size, n)
                else:
                    mm_text = (struct.unpack(order + next_fmt, inline)[0], n)
                continue
            if tag == 270:
                if description[0] >= 0:
                    continue  # a second ImageDescription (Micro-Manager: OME-XML, then ImageJ text): keep the first
                if n <= value_size:
                    description = (offset + count_size + i * entry_size + 4 + value_size, n)
                else:
                    (pos,) = struct.unpack(order + next_fmt, inline)
                    description = (pos, n)
                continue
            tags[tag] = _read_values(fd, order, dtype_code, n, inline, value_size, file_size, where)
        (offset,) = struct.unpack(order + next_fmt, block[-value_size:])
        for name, (pos, n) in (("ImageDescription", description), ("Micro-Manager metadata", mm_text)):
            if pos >= 0 and pos + n > file_size:  # read later, page by page: refuse it before any read
                raise CorruptFileError(f"{where}: the {name} ({n} bytes at offset {pos}) runs past the end of the "
                                       f"file ({file_size} bytes); the file is truncated or damaged")

        for code, values in tags.items():  # the tags kept are the ones used: read as absent, a default
            if len(values) == 0:           # could decode garbage
                raise CorruptFileError(f"{where}: TIFF tag {code} has no value; the file is damaged")
        if tags.get(254, (0,))[0] & 1:  # a reduced-resolution image (thumbnail, pyramid level): not a frame
            continue
        try:
            rows, columns = tags[257][0], tags[256][0]
        except (KeyError, IndexError):
            raise CorruptFileError(f"{where}: the IFD has no ImageWidth/ImageLength; the file is damaged") from None
        if len(tags[257]) != 1 or len(tags[256]) != 1:  # tifffile fails on these with a TypeError
            raise CorruptFileError(f"{where}: ImageWidth/ImageLength hold {len(tags[256])}/{len(tags[257])} values, "
                                   "not one each; the file is damaged")
        bits = tags.get(258, (1,))
        spp = tags.get(277, (1,))[0]
        sample_format = tags.get(339, (1,))[0]
        compression = tags.get(259, (1,))[0]
        if spp != 1:
            raise FormatError(f"{where}: {spp} samples per pixel (RGB or similar); only single-sample (grayscale) "
                              f"pages are read as imaging frames")
        dtype_key = (sample_format, bits[0])
        if dtype_key not in _SAMPLE_DTYPES:
            raise FormatError(f"{where}: {bits[0]}-bit samples of sample format {sample_format} are not supported")
        facts = (rows, columns, dtype_key)
        if first is None:
            first = facts + (compression,)
        elif facts != first[:3]:
            raise FormatError(
                f"{where}: the page is {rows}x{columns} {np.dtype(_SAMPLE_DTYPES[dtype_key])}, but the first page is "
                f"{first[0]}x{first[1]} {np.dtype(_SAMPLE_DTYPES[first[2]])}; a movie needs pages of one size and type"
            )
        if 324 in tags:  # tiles
            strip_offsets, strip_counts = tags.get(324, ()), tags.get(325, ())
        else:
            strip_offsets, strip_counts = tags.get(273, ()), tags.get(279, ())
        if not strip_offsets or len(strip_offsets) != len(strip_counts):
            raise CorruptFileError(f"{where}: strip offsets and byte counts are missing or disagree")
        for pos, n in zip(strip_offsets, strip_counts):
            if pos + n > file_size:
                raise CorruptFileError(
                    f"{where}: pixel data at offset {pos} ({n} bytes) runs past the end of the file ({file_size} "
                    f"bytes); the file is truncated (a copy or acquisition cut short?)"
                )
        nbytes = check_page_size(columns, rows, 8 * np.dtype(_SAMPLE_DTYPES[dtype_key]).itemsize, compression,
                                 file_size, where)
        contiguous = all(strip_offsets[i] + strip_counts[i] == strip_offsets[i + 1]
                         for i in range(len(strip_offsets) - 1))
        is_fast = (compression == 1 and 324 not in tags and tags.get(266, (1,))[0] == 1 and contiguous
                   and sum(strip_counts) >= nbytes)
        fast.append(is_fast)
        if deflate_ok:
            predictor = tags.get(317, (1,))[0]
            rows_per_strip = min(max(tags.get(278, (rows,))[0], 1), rows)
            layout = (len(strip_offsets), rows_per_strip, predictor)
            deflate_ok = (compression in (8, 32946) and 324 not in tags and tags.get(266, (1,))[0] == 1
                          and len(strip_offsets) == -(-rows // rows_per_strip)
                          and (predictor == 1 or (predictor == 2 and sample_format in (1, 2)))
                          and layout == (deflate_layout or layout))
            deflate_layout = layout
            deflate_offsets.extend(strip_offsets)
            deflate_counts.extend(strip_counts)
        data_offsets.append(strip_offsets[0])
        ifd_offsets.append(ifd_at)
        ifd_numbers.append(ifd)
        descriptions.append(description)
        mm_texts.append(mm_text)
    if first is None:
        raise FormatError(f"{path} holds no full-resolution image pages")
    return TiffIndex(
        path=path,
        byteorder=order,
        shape=(int(first[0]), int(first[1])),
        dtype=np.dtype(_SAMPLE_DTYPES[first[2]]),
        fast=np.array(fast, dtype=bool),
        data_offsets=np.array(data_offsets, dtype=np.int64),
        ifd_offsets=np.array(ifd_offsets, dtype=np.int64),
        ifd_numbers=np.array(ifd_numbers, dtype=np.int64),
        description_spans=np.array(descriptions, dtype=np.int64).reshape(-1, 2),
        mm_spans=(np.array(mm_texts, dtype=np.int64).reshape(-1, 2)
                  if any(span[0] >= 0 for span in mm_texts) else None),
        compression=int(first[3]),
        file_size=file_size,
        **(_deflate_fields(deflate_offsets, deflate_counts, deflate_layout, len(fast)) if deflate_ok else {}),
    )


def _deflate_fields(offsets: array, counts: array, layout: tuple, pages: int) -> dict:
    strips, rows_per_strip, predictor = layout
    return {
        "deflate_offsets": np.frombuffer(offsets, dtype=np.int64).reshape(pages, strips),
        "deflate_counts": np.frombuffer(counts, dtype=np.int64).reshape(pages, strips),
        "rows_per_strip": int(rows_per_strip),
        "predictor": int(predictor),
    }


def read_page_descriptions(index: TiffIndex, pages: Sequence[int], fd: int | None = None,
                           micromanager: bool = False) -> list[str]:
    """The ImageDescription text of the given pages ("" where a page has none).

    With ``micromanager=True``, the text of Micro-Manager's JSON tag 51123 instead.
    """
    spans = index.mm_spans if micromanager else index.description_spans
    if spans is None:
        return [""] * len(pages)
    own = fd is None
    if own:
        fd = os.open(index.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        texts = []
        for page in pages:
            pos, n = spans[page]
            if pos < 0:
                texts.append("")
                continue
            raw = _pread(fd, int(n), int(pos))
            texts.append(raw.rstrip(b"\x00").decode("utf-8", errors="replace"))
        return texts
    finally:
        if own:
            os.close(fd)


def _preadv_exact(fd: int, buffer: memoryview, offset: int, where: str) -> None:
    done, total = 0, len(buffer)
    while done < total:
        n = os.preadv(fd, [buffer[done:]], offset + done)
        if n <= 0:
            raise CorruptFileError(f"{where}: the file ended after {done} of {total} bytes at offset {offset}; "
                                   f"it is truncated")
        done += n


class TiffPageSource:
    """Pages of one or several TIFF files of one image size and type, read into a caller's buffer.

    Parameters
    ----------
    paths : sequence of str
        The files, in reading order; their pages are numbered one after the other.
    indexes : sequence of TiffIndex, optional
        Their page tables, if already built.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], indexes: Sequence[TiffIndex] | None = None):
        self.paths = [os.fspath(p) for p in paths]
        if indexes is None:
            indexes = [index_tiff(p) for p in self.paths]
        self.indexes = list(indexes)
        first = self.indexes[0]
        for index in self.indexes[1:]:
            if index.shape != first.shape or index.dtype != first.dtype:
                raise FormatError(
                    f"{index.path} holds {index.shape[0]}x{index.shape[1]} {index.dtype} pages but "
                    f"{first.path} holds {first.shape[0]}x{first.shape[1]} {first.dtype}; the files of one "
                    f"series must match"
                )
        self.shape = first.shape
        self.dtype = first.dtype
        self._files = [CachedFile(p) for p in self.paths]
        self._tiffs = [CachedFile(p, open_tifffile) for p in self.paths]
        counts = [index.num_pages for index in self.indexes]
        self.file_starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._file = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        self._local = np.concatenate([np.arange(c, dtype=np.int64) for c in counts])
        self._offset = np.concatenate([index.data_offsets for index in self.indexes])
        self._fast = np.concatenate([index.fast for index in self.indexes])

    @property
    def num_pages(self) -> int:
        return int(self.file_starts[-1])

    @property
    def page_nbytes(self) -> int:
        return self.indexes[0].page_nbytes

    def locate(self, page: int) -> tuple[str, int]:
        """(file, IFD number) of a page."""
        f = int(self._file[page])
        return self.paths[f], int(self.indexes[f].ifd_numbers[self._local[page]])

    def read(self, pages: np.ndarray, out: np.ndarray) -> None:
        """Read the pages numbered ``pages`` into the C-contiguous ``out`` of shape (len(pages), rows, columns)."""
        pages = np.asarray(pages, dtype=np.int64)
        k = len(pages)
        if k == 0:
            return
        nbytes = self.page_nbytes
        files, offsets, fast = self._file[pages], self._offset[pages], self._fast[pages]
        joins = (files[1:] == files[:-1]) & fast[1:] & fast[:-1] & (offsets[1:] == offsets[:-1] + nbytes)
        breaks = np.flatnonzero(~joins) + 1
        bounds = np.concatenate(([0], breaks, [k]))
        flat = out.reshape(k, -1).view(np.uint8)
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            f = int(files[a])
            if fast[a]:
                with self._files[f].open() as fd:
                    where = f"{self.paths[f]}, IFD {int(self.indexes[f].ifd_numbers[self._local[pages[a]]])}"
                    _preadv_exact(fd, memoryview(flat[a:b]).cast("B"), int(offsets[a]), where)
                if self.indexes[f].byteorder == ">" and self.dtype.itemsize > 1:
                    out[a:b].byteswap(inplace=True)
            else:
                self._decode_run(f, self._local[pages[a:b]], out[a:b])

    def _decode_run(self, f: int, local_pages: np.ndarray, out: np.ndarray) -> None:
        """Decode pages of file ``f`` into ``out``; several pages at once in threads (zlib & co release the GIL)."""
        index = self.indexes[f]
        if index.deflate_offsets is not None:
            with self._files[f].open() as fd:
                def inflate(i: int) -> None:
                    self._inflate(fd, index, int(local_pages[i]), out[i])

                if len(local_pages) > 1 and _WORKERS > 1:
                    list(_pool().map(inflate, range(len(local_pages))))
                else:
                    for i in range(len(local_pages)):
                        inflate(i)
            return
        with self._tiffs[f].open() as tif:
            ifds = [int(index.ifd_numbers[local]) for local in local_pages]
            with tif.filehandle.lock:  # IFD parsing moves the shared file position: one thread at a time
                pages = [self._page(tif, index, ifd) for ifd in ifds]

            def work(i: int) -> None:
                self._decode(index, ifds[i], pages[i], out[i])

            if len(pages) > 1 and _WORKERS > 1:
                list(_pool().map(work, range(len(pages))))
            else:
                for i in range(len(pages)):
                    work(i)

    @staticmethod
    def _inflate(fd: int, index: TiffIndex, local: int, out: np.ndarray) -> None:
        """Decode one deflate page strip by strip with zlib (which releases the GIL) straight into ``out``."""
        rows, columns = index.shape
        row_bytes = columns * index.dtype.itemsize
        flat = out.reshape(-1).view(np.uint8)
        for s, (pos, n) in enumerate(zip(index.deflate_offsets[local].tolist(), index.deflate_counts[local].tolist())):
            first = s * index.rows_per_strip
            want = (min(first + index.rows_per_strip, rows) - first) * row_bytes
            if want <= 0:
                break
            try:  # at most the bytes the strip should hold: a damaged or hostile strip cannot inflate to gigabytes
                data = zlib.decompressobj().decompress(os.pread(fd, n, pos), want)
            except zlib.error as exc:
                raise CorruptFileError(f"{index.path}, IFD {int(index.ifd_numbers[local])}: strip {s} at offset {pos} "
                                       f"could not be decoded (deflate): {exc}") from exc
            if len(data) < want:
                raise CorruptFileError(f"{index.path}, IFD {int(index.ifd_numbers[local])}: strip {s} decodes to "
                                       f"{len(data)} bytes, {want} expected; the page is damaged")
            flat[first * row_bytes : first * row_bytes + want] = np.frombuffer(data, np.uint8, count=want)
        if index.byteorder == ">" and index.dtype.itemsize > 1:
            out.byteswap(inplace=True)
        if index.predictor == 2:
            np.cumsum(out, axis=1, dtype=out.dtype, out=out)

    @staticmethod
    def _page(tif, index: TiffIndex, ifd: int):
        try:
            return tif.pages[ifd]
        except Exception as exc:  # tifffile raises several types for damaged IFDs
            raise CorruptFileError(f"{index.path}, IFD {ifd}: tifffile could not read the IFD: {exc}") from exc

    @staticmethod
    def _decode(index: TiffIndex, ifd: int, page, out: np.ndarray) -> None:
        try:
            data = page.asarray(maxworkers=1)  # reads under the file's lock, decodes outside it
        except Exception as exc:  # tifffile/imagecodecs raise many types for damaged data
            text = str(exc)
            if "'imagecodecs' package" in text:  # tifffile has no decoder of its own for this codec
                what = ("its predictor" if "PREDICTOR" in text
                        else f"TIFF compression {_codec_name(index.compression)}")
                raise FormatError(
                    f"{index.path}, IFD {ifd}: {what} needs the imagecodecs package: "
                    'pip install "ophysio[codecs]" (or pip install imagecodecs)'
                ) from exc
            if text.endswith(("not supported", "not implemented")):  # a codec no reader we have decodes
                raise FormatError(f"{index.path}, IFD {ifd}: {text}; convert the file with another tool") from exc
            raise CorruptFileError(
                f"{index.path}, IFD {ifd}: the page could not be decoded (compression {index.compression}): {exc}"
            ) from exc
        if data.shape != out.shape:
            raise CorruptFileError(f"{index.path}, IFD {ifd}: decoded to shape {data.shape}, expected {out.shape}")
        out[...] = data

    def close(self) -> None:
        for handle in (*self._files, *self._tiffs):
            handle.close()


def _codec_name(compression: int) -> str:
    """``LZW (5)``: the name tifffile gives a TIFF compression code, with the code."""
    import tifffile

    try:
        return f"{tifffile.COMPRESSION(compression).name} ({compression})"
    except ValueError:
        return str(compression)


def read_volumes(source: TiffPageSource, pages: np.ndarray, out: np.ndarray, block_bytes: int = 32 << 20) -> None:
    """Read volumes whose planes are the pages ``pages[i, z]`` into ``out`` of shape (k, rows, columns, planes).

    Pages are read in blocks of about ``block_bytes`` into one reused buffer and moved to the plane-last
    layout of ``out``.
    """
    k, planes = pages.shape
    rows, columns = source.shape
    block = max(1, block_bytes // (source.page_nbytes * planes))
    buffer = np.empty((min(block, k) * planes, rows, columns), dtype=source.dtype)
    for a in range(0, k, block):
        chunk = pages[a : a + block]
        part = buffer[: chunk.size]
        source.read(chunk.ravel(), part)
        out[a : a + len(chunk)] = part.reshape(len(chunk), planes, rows, columns).transpose(0, 2, 3, 1)


class PagedSampleReads:
    """The reads of an extractor whose samples are pages of the :class:`TiffPageSource` ``self._source``.

    Mixed in before :class:`~ophysio.extractors.imaging.ImagingExtractor`; the extractor gives
    ``_sample_pages(indices)``, the page numbers of each sample's planes as an (n, planes) array.
    """

    _source: TiffPageSource

    def _sample_pages(self, indices: np.ndarray) -> np.ndarray:  # pragma: no cover - each reader has its own
        raise NotImplementedError

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        pages = self._sample_pages(np.asarray(indices, dtype=np.int64))
        if pages.shape[1] == 1:
            self._source.read(pages[:, 0], out)
        else:
            read_volumes(self._source, pages, out)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_samples(np.arange(start, stop, dtype=np.int64), out)

    def close(self) -> None:
        self._source.close()
        super().close()
