"""A small reader of MATLAB v5/v7 MAT-file structure: which variables a file holds, without loading them.

The layout (MathWorks, "MAT-File Format", version 5): a 128-byte header (116 bytes of text, 8 bytes of
subsystem offset, a 2-byte version and the 2-byte endian indicator ``IM`` for little-endian or ``MI``
for big-endian files), then data elements. Each element starts with a tag: uint32 type and uint32
byte count (or, in the small format, both packed in one uint32 with the data in the next 4 bytes).
Top-level elements are ``miMATRIX`` (14) or ``miCOMPRESSED`` (15, a zlib stream holding one
``miMATRIX``). A matrix holds sub-elements: array flags (class and complex/logical bits), dimensions
(int32), name (int8), then the real part. Only the headers are read here: for an uncompressed numeric
variable we also return the file offset of its values, so that they can be memory-mapped.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFileError, FormatError

__all__ = ["MatVariable", "read_v5_variables", "CLASS_DTYPES"]

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
        Stored in a zlib-compressed element (must be decompressed whole to be read).
    complex : bool
    logical : bool
    data_offset : int or None
        File offset of the real part's values when they can be memory-mapped (uncompressed, stored in
        the class's own type), else None.
    """

    name: str
    shape: tuple[int, ...]
    matlab_class: str
    dtype: np.dtype | None
    compressed: bool
    complex: bool
    logical: bool
    data_offset: int | None

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
    offset = None
    if pos + 8 <= len(buf):
        kind, count, at = _tag(buf, pos, order)
        if MI_DTYPES.get(kind) == dtype_char and count == dtype.itemsize * int(np.prod(shape)) and at == pos + 8:
            offset = at
    return tuple(shape), "logical" if bits & 2 else name, dtype, bool(bits & 8), bool(bits & 2), offset


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
                    shape, cls, dtype, cplx, logical, _ = _parse_matrix(inner[iat:], order, where)
                    variables.append(MatVariable(_name(inner[iat:], order), shape, cls, dtype, True, cplx, logical,
                                                 None))
            elif count == 0 and kind == 0:
                break
            pos += 8 + count
    return order, variables


def _name(buf: bytes, order: str) -> str:
    _, count, at = _tag(buf, 0, order)  # flags
    pos = at + count
    _, count, at = _tag(buf, pos, order)  # dims
    pos = at + (4 if at == pos + 4 else _pad8(count))
    _, count, at = _tag(buf, pos, order)
    return buf[at : at + count].decode("latin-1")
