"""A small reader of MATLAB v5/v7 MAT-file structure: which variables a file holds, without loading them.

The layout (MathWorks, "MAT-File Format", version 5): a 128-byte header (116 bytes of text, 8 bytes of
subsystem offset, a 2-byte version and the 2-byte endian indicator ``IM`` for little-endian or ``MI``
for big-endian files), then data elements. Each element starts with a tag: uint32 type and uint32
byte count (or, in the small format, both packed in one uint32 with the data in the next 4 bytes).
Top-level elements are ``miMATRIX`` (14) or ``miCOMPRESSED`` (15, a zlib stream holding one
``miMATRIX``). A matrix holds sub-elements: array flags (class and complex/logical bits), dimensions
(int32), name (int8), then the real part. Only the headers are read here: for an uncompressed numeric
variable we also return the file offset of its values, so that they can be memory-mapped; for a
compressed one, where its values start inside the decompressed stream, so that
:class:`CompressedValues` can read them in slabs along the last MATLAB axis without decompressing the
whole variable into memory.
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from dataclasses import dataclass

import numpy as np

from ...errors import CorruptFileError, FormatError

__all__ = ["MatVariable", "read_v5_variables", "read_v5_struct_fields", "CLASS_DTYPES", "CompressedValues"]

MI_MATRIX, MI_COMPRESSED = 14, 15
#: MATLAB class code -> (class name, numpy dtype char) for numeric classes
CLASS_DTYPES = {
    6: ("double", "f8"), 7: ("single", "f4"), 8: ("int8", "i1"), 9: ("uint8", "u1"), 10: ("int16", "i2"),
    11: ("uint16", "u2"), 12: ("int32", "i4"), 13: ("uint32", "u4"), 14: ("int64", "i8"), 15: ("uint64", "u8"),
}
_OTHER_CLASSES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 16: "function", 17: "opaque"}
#: miXXX data type -> numpy dtype char
MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_HEADER_PEEK = 4096


@dataclass(frozen=True)
class MatVariable:
    """One top-level variable of a v5 MAT-file.

    Attributes
    ----------
    name : str
    shape : tuple of int
        Dimensions in MATLAB order.
    matlab_class : str
        ``double``, ``uint16``, ``struct``...
    dtype : numpy.dtype or None
        Values' type for numeric classes (byte order of the file), else None.
    compressed : bool
        Stored in a zlib-compressed element (read by decompressing the stream from its start).
    complex : bool
    logical : bool
    data_offset : int or None
        File offset of the real part's values when they can be memory-mapped (uncompressed, stored in
        the class's own type), else None.
    stream : tuple or None
        For a compressed numeric variable whose values could be located: ``(file offset of the zlib
        stream, its byte count, offset of the values inside the decompressed stream, stored dtype)``.
        MATLAB may store values in a smaller type than their class (``miUINT8`` values of a ``double``
        array, say): the stored dtype is the one in the file.
    """

    name: str
    shape: tuple[int, ...]
    matlab_class: str
    dtype: np.dtype | None
    compressed: bool
    complex: bool
    logical: bool
    data_offset: int | None
    stream: tuple[int, int, int, np.dtype] | None = None

    @property
    def numeric(self) -> bool:
        return self.dtype is not None and not self.complex


def _tag(buf: bytes, pos: int, order: str) -> tuple[int, int, int]:
    """(type, byte count, position of the data) of the tag at ``pos``."""
    if pos + 8 > len(buf):
        raise CorruptFileError("a MAT data element tag is cut short")
    (first,) = struct.unpack_from(order + "I", buf, pos)
    if first >> 16:  # small data element format
        return first & 0xFFFF, first >> 16, pos + 4
    (count,) = struct.unpack_from(order + "I", buf, pos + 4)
    return first, count, pos + 8


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _parse_matrix(buf: bytes, order: str, where: str) -> tuple[tuple, str, np.dtype | None, bool, bool, int | None]:
    """Parse the sub-elements of an miMATRIX whose content starts at buf[0].

    Returns (shape, class name, dtype, complex, logical, offset of the real data inside buf or None).
    """
    shape, cls, dtype, cplx, logical, stored = _parse_matrix_values(buf, order, where)
    offset = None
    if stored is not None and dtype is not None:
        at, stored_dtype = stored
        if stored_dtype == dtype:
            offset = at
    return shape, cls, dtype, cplx, logical, offset


def _parse_matrix_values(buf: bytes, order: str, where: str):
    """As :func:`_parse_matrix`, with ``(offset inside buf, stored dtype)`` of the real part's values in
    place of the offset: None when the values are not in ``buf`` in the regular format or their byte
    count does not fit the shape."""
    kind, count, at = _tag(buf, 0, order)
    if kind != 6 or count != 8:
        raise CorruptFileError(f"{where}: array flags expected, found element type {kind} of {count} bytes")
    (flags,) = struct.unpack_from(order + "I", buf, at)
    code, bits = flags & 0xFF, (flags >> 8) & 0xFF
    pos = at + 8
    kind, count, at = _tag(buf, pos, order)
    if kind != 5 or count % 4:
        raise CorruptFileError(f"{where}: dimensions expected, found element type {kind} of {count} bytes")
    shape = struct.unpack_from(order + f"{count // 4}i", buf, at)
    if any(n < 0 for n in shape):
        raise CorruptFileError(f"{where}: negative array dimension in {shape}")
    pos = at + (4 if at == pos + 4 else _pad8(count))
    kind, count, at = _tag(buf, pos, order)
    pos = at + 4 if at == pos + 4 else at + _pad8(count)
    if code not in CLASS_DTYPES:
        return tuple(shape), _OTHER_CLASSES.get(code, f"class {code}"), None, bool(bits & 8), bool(bits & 2), None
    name, dtype_char = CLASS_DTYPES[code]
    dtype = np.dtype(order + dtype_char)
    stored = None
    if pos + 8 <= len(buf):
        kind, count, at = _tag(buf, pos, order)
        if kind not in MI_DTYPES:  # scipy reads such an element with a bus error or a ZeroDivisionError
            raise CorruptFileError(f"{where}: the values of a {'x'.join(map(str, shape))} {name} array are stored "
                                   f"as element type {kind}, which is not a numeric type: the array is damaged")
        if kind in MI_DTYPES:
            stored_dtype = np.dtype(order + MI_DTYPES[kind])
            needed = stored_dtype.itemsize * math.prod(shape)
            if count != needed:  # scipy would allocate the declared shape (or crash) before noticing
                raise CorruptFileError(
                    f"{where}: a {'x'.join(map(str, shape))} {name} array needs {needed} bytes of values, but its "
                    f"data element holds {count}: the array's dimensions are damaged"
                )
            if at == pos + 8:
                stored = (at, stored_dtype)
    return tuple(shape), "logical" if bits & 2 else name, dtype, bool(bits & 8), bool(bits & 2), stored


def read_v5_variables(path: str) -> tuple[str, list[MatVariable]]:
    """The byte order (``"<"`` or ``">"``) and the variables of a v5/v7 MAT-file, reading headers only.

    Raises
    ------
    FormatError
        No v5 header.
    CorruptFileError
        An element header is damaged or runs past the end of the file.
    """
    try:
        return _read_v5_variables(path)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise CorruptFileError(f"{path}: damaged MAT-file element header ({exc})") from exc


def _read_v5_variables(path: str) -> tuple[str, list[MatVariable]]:
    variables: list[MatVariable] = []
    with open(path, "rb") as fh:
        header = fh.read(128)
        if len(header) < 128 or not header.startswith(b"MATLAB 5.0"):
            raise FormatError(f"{path} has no 'MATLAB 5.0 MAT-file' header")
        indicator = header[126:128]
        if indicator not in (b"IM", b"MI"):
            raise CorruptFileError(f"{path}: endian indicator {indicator!r} is neither 'IM' nor 'MI'")
        order = "<" if indicator == b"IM" else ">"
        fh.seek(0, 2)
        size = fh.tell()
        pos = 128
        while pos + 8 <= size:
            fh.seek(pos)
            kind, count = struct.unpack(order + "II", fh.read(8))
            where = f"{path} at byte {pos}"
            if pos + 8 + count > size:
                raise CorruptFileError(f"{where}: element of {count} bytes runs past the end of the file ({size})")
            if kind == MI_MATRIX:
                head = fh.read(min(count, _HEADER_PEEK))
                shape, cls, dtype, cplx, logical, offset = _parse_matrix(head, order, where)
                name = _name(head, order)
                variables.append(MatVariable(name, shape, cls, dtype, False, cplx, logical,
                                             None if offset is None or logical else pos + 8 + offset))
            elif kind == MI_COMPRESSED:
                stream = zlib.decompressobj()
                try:
                    inner = stream.decompress(fh.read(min(count, _HEADER_PEEK)), _HEADER_PEEK)
                except zlib.error as exc:
                    raise CorruptFileError(f"{where}: compressed element cannot be decompressed: {exc}") from exc
                ikind, icount, iat = _tag(inner, 0, order)
                if ikind == MI_MATRIX:
                    shape, cls, dtype, cplx, logical, stored = _parse_matrix_values(inner[iat:], order, where)
                    located = None
                    if stored is not None and dtype is not None and not cplx:
                        located = (pos + 8, count, iat + stored[0], stored[1])
                    variables.append(MatVariable(_name(inner[iat:], order), shape, cls, dtype, True, cplx, logical,
                                                 None, located))
            elif count == 0 and kind == 0:
                break
            pos += 8 + count
    return order, variables


#: Bytes of a struct's header read to find its field names (names of up to 63 characters, 250 fields).
_FIELDS_PEEK = 16384


def read_v5_struct_fields(path: str, name: str) -> tuple[str, ...] | None:
    """The field names of the top-level struct variable ``name`` of a v5/v7 MAT-file, reading its header
    only (for a compressed variable, the first KiB of its stream); None when the file has no variable of
    that name or it is not a 1-level struct (a cell, an array, an object).

    A struct's matrix holds, after its name, the length of each field name (an ``miINT32``) and the names
    (``miINT8``, each padded with NULs to that length).

    Raises
    ------
    FormatError
        No v5 header.
    CorruptFileError
        An element header is damaged.
    """
    try:
        return _read_v5_struct_fields(path, name)
    except (struct.error, UnicodeDecodeError, ValueError, zlib.error) as exc:
        if isinstance(exc, FormatError):
            raise
        raise CorruptFileError(f"{path}: damaged MAT-file element header ({exc})") from exc


def _read_v5_struct_fields(path: str, wanted: str) -> tuple[str, ...] | None:
    with open(path, "rb") as fh:
        header = fh.read(128)
        if len(header) < 128 or not header.startswith(b"MATLAB 5.0"):
            raise FormatError(f"{path} has no 'MATLAB 5.0 MAT-file' header")
        indicator = header[126:128]
        if indicator not in (b"IM", b"MI"):
            raise CorruptFileError(f"{path}: endian indicator {indicator!r} is neither 'IM' nor 'MI'")
        order = "<" if indicator == b"IM" else ">"
        size = fh.seek(0, 2)
        pos = 128
        while pos + 8 <= size:
            fh.seek(pos)
            kind, count = struct.unpack(order + "II", fh.read(8))
            if kind == MI_MATRIX:
                content = fh.read(min(count, _FIELDS_PEEK))
            elif kind == MI_COMPRESSED:
                inner = zlib.decompressobj().decompress(fh.read(min(count, _FIELDS_PEEK)), _FIELDS_PEEK)
                ikind, _, iat = _tag(inner, 0, order)
                content = inner[iat:] if ikind == MI_MATRIX else b""
            elif count == 0 and kind == 0:
                break
            else:
                content = b""
            if content and _name(content, order) == wanted:
                return _struct_fields(content, order)
            pos += 8 + count
    return None


def _struct_fields(buf: bytes, order: str) -> tuple[str, ...] | None:
    """The field names of the struct matrix whose content starts at ``buf[0]`` (None if not a struct)."""
    kind, count, at = _tag(buf, 0, order)  # array flags
    if kind != 6 or count != 8 or struct.unpack_from(order + "I", buf, at)[0] & 0xFF != 2:
        return None
    pos = at + 8
    _, count, at = _tag(buf, pos, order)  # dimensions
    pos = at + (4 if at == pos + 4 else _pad8(count))
    _, count, at = _tag(buf, pos, order)  # name
    pos = at + 4 if at == pos + 4 else at + _pad8(count)
    kind, count, at = _tag(buf, pos, order)  # length of each field name
    if kind != 5 or count != 4:
        raise CorruptFileError("a struct's field name length is missing")
    (length,) = struct.unpack_from(order + "i", buf, at)
    pos = at + 4 if at == pos + 4 else at + _pad8(count)
    kind, count, at = _tag(buf, pos, order)  # the names
    if kind != 1 or length <= 0 or count % length or at + count > len(buf):
        raise CorruptFileError("a struct's field names are damaged or longer than the header read")
    names = buf[at : at + count]
    return tuple(names[i : i + length].split(b"\0", 1)[0].decode("latin-1") for i in range(0, count, length))


def _name(buf: bytes, order: str) -> str:
    _, count, at = _tag(buf, 0, order)  # flags
    pos = at + count
    _, count, at = _tag(buf, pos, order)  # dims
    pos = at + (4 if at == pos + 4 else _pad8(count))
    _, count, at = _tag(buf, pos, order)
    return buf[at : at + count].decode("latin-1")


#: Bytes of decompressed values between two saved decompressor states of a :class:`CompressedValues`.
CHECKPOINT_BYTES = 64 * 1024**2
#: Compressed bytes read from the file per step.
_READ_BYTES = 1024**2


class CompressedValues:
    """The values of a compressed v5 variable as a read-only array of its stored (C-order) shape, read in
    slabs along the first stored axis (MATLAB's last) without decompressing the whole variable.

    A zlib stream can only be read from its start, so this keeps the decompressor where the last read
    stopped (reading on costs nothing extra) and a copy of its state every :data:`CHECKPOINT_BYTES` of
    output (a read further back restarts from the nearest copy, not from the start). Memory: the slab
    asked for, one read step and ~50 kB per checkpoint. Indexing takes a tuple whose first item is a
    slice with step 1 (what :meth:`~ophysio.extractors.axes.ArrayLayout.read` gives); the slab comes
    back in the stored dtype.
    """

    def __init__(self, path: str, stream: tuple[int, int, int, np.dtype], shape: tuple[int, ...], name: str):
        self.path, self.name = path, name
        self._start, self._size, self._values_at, self.dtype = stream
        self.shape = tuple(int(n) for n in shape)
        self.ndim = len(self.shape)
        self._row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self._fh = None
        self._lock = threading.Lock()
        # (bytes out, file offset in, decompressor state): the first is the start of the stream
        self._checkpoints: list[tuple[int, int, object]] = [(0, self._start, zlib.decompressobj())]
        self._live: tuple[int, int, object] | None = None  # decompressor at (out, in) after the last read

    def _error(self, reason: str) -> CorruptFileError:
        return CorruptFileError(f"{self.path}: compressed variable {self.name} {reason}")

    def __getitem__(self, selection) -> np.ndarray:
        selection = selection if isinstance(selection, tuple) else (selection,)
        first = selection[0]
        if not isinstance(first, slice) or first.step not in (None, 1):
            raise TypeError("CompressedValues takes a slice of the first axis")
        start, stop, _ = first.indices(self.shape[0])
        stop = max(start, stop)
        slab = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        if stop > start:
            with self._lock:
                self._read(self._values_at + start * self._row_bytes, slab.reshape(-1).view(np.uint8))
        return slab[(slice(None), *selection[1:])]

    def _read(self, begin: int, out: np.ndarray) -> None:
        """Decompressed stream bytes ``begin:begin + out.size`` into ``out``."""
        end = begin + out.size
        candidates = [c for c in self._checkpoints if c[0] <= begin]
        out_pos, in_pos, state = max(candidates, key=lambda c: c[0])
        if self._live is not None and out_pos <= self._live[0] <= begin:
            out_pos, in_pos, decomp = self._live
        else:
            decomp = state.copy()
        self._live = None
        if self._fh is None:
            self._fh = open(self.path, "rb")
        fh = self._fh
        limit = self._start + self._size
        pending = b""
        filled = 0
        try:
            while out_pos < end:
                if not pending:
                    if in_pos >= limit:
                        raise self._error(f"the stream ends after {out_pos} bytes; {end} are needed")
                    fh.seek(in_pos)
                    pending = fh.read(min(_READ_BYTES, limit - in_pos))
                    if not pending:
                        raise self._error("the file ends inside the stream")
                    in_pos += len(pending)
                # stop at the next checkpoint boundary, at the end of the request, or after one step of output
                boundary = (out_pos // CHECKPOINT_BYTES + 1) * CHECKPOINT_BYTES
                want = min(boundary, end, out_pos + _READ_BYTES) - out_pos
                fed = len(pending)
                piece = decomp.decompress(pending, want)
                pending = decomp.unconsumed_tail
                if not piece:
                    if decomp.eof:
                        raise self._error(f"the stream ends after {out_pos} bytes; {end} are needed")
                    if pending and len(pending) == fed:  # zlib took nothing and gave nothing: never loop on it
                        raise self._error(f"cannot be decompressed past byte {out_pos}")
                    continue
                lo = max(begin - out_pos, 0)
                if lo < len(piece):
                    count = len(piece) - lo
                    out[filled : filled + count] = np.frombuffer(piece, dtype=np.uint8, offset=lo)
                    filled += count
                out_pos += len(piece)
                if out_pos % CHECKPOINT_BYTES == 0 and out_pos > self._checkpoints[-1][0]:
                    self._checkpoints.append((out_pos, in_pos - len(pending), decomp.copy()))
        except zlib.error as exc:
            raise self._error(f"cannot be decompressed ({exc})") from exc
        self._live = (out_pos, in_pos - len(pending), decomp)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._live = None
        del self._checkpoints[1:]
