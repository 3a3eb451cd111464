"""Decoding compressed pages: zlib strips inflated straight into the output, tifffile for other codecs,
and the small thread pool both run in (zlib and most codecs release the GIL).
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Callable

import numpy as np

from ...errors import CorruptFileError, FormatError
from .index import TiffIndex

__all__ = ["open_tifffile", "run_in_pool", "inflate_page", "tifffile_page", "decode_tifffile_page"]

#: Threads that decode compressed pages at once.
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


def run_in_pool(work: Callable[[int], None], count: int) -> None:
    """``work(i)`` for i in range(count): in the decode pool when there are several, else in this thread."""
    if count > 1 and _WORKERS > 1:
        list(_pool().map(work, range(count)))
    else:
        for i in range(count):
            work(i)


def open_tifffile(path: str):
    """Open ``path`` with tifffile (a module-level opener for :class:`~ophysio.extractors._handles.CachedFile`).

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


def inflate_page(fd: int, index: TiffIndex, local: int, out: np.ndarray) -> None:
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


def tifffile_page(tif, index: TiffIndex, ifd: int):
    """tifffile's page of IFD ``ifd`` (the caller holds ``tif.filehandle.lock``)."""
    try:
        return tif.pages[ifd]
    except Exception as exc:  # tifffile raises several types for damaged IFDs
        raise CorruptFileError(f"{index.path}, IFD {ifd}: tifffile could not read the IFD: {exc}") from exc


def decode_tifffile_page(index: TiffIndex, ifd: int, page, out: np.ndarray) -> None:
    """Decode a tifffile page into ``out``; errors name the file, the IFD and what to install or do."""
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


def _codec_name(compression: int) -> str:
    """``LZW (5)``: the name tifffile gives a TIFF compression code, with the code."""
    import tifffile

    try:
        return f"{tifffile.COMPRESSION(compression).name} ({compression})"
    except ValueError:
        return str(compression)
