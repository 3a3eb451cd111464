"""Level 5 MAT-file elements, written by hand so that a movie streams to disk instead of being built in
memory (what :func:`scipy.io.savemat` needs).

A v5 file is a 128-byte header and a sequence of data elements. A numeric variable is one ``miMATRIX``
element holding four sub-elements: array flags (class), dimensions, name, and the real part, whose
data is the array in column-major order. For MATLAB dims ``(Y, X, ..., T)`` that order is the C order
of ``(T, ..., X, Y)``: each batch of samples, transposed frame by frame, is appended as it comes, and
the sizes (number of samples, byte counts) are patched into the element when the file is closed.
Every element and sub-element is padded to 8 bytes, as the format requires.
"""

from __future__ import annotations

import struct
import time
from typing import BinaryIO

import numpy as np

__all__ = ["V5_CLASSES", "v5_header", "MatrixElement", "write_small_variable"]

MI_INT8, MI_INT32, MI_UINT32, MI_MATRIX = 1, 5, 6, 14
MX_CHAR = 4
_LOGICAL_FLAG = 0x0200

#: numpy dtype name -> (mxClass, miType)
V5_CLASSES = {
    "float64": (6, 9), "float32": (7, 7), "int8": (8, 1), "uint8": (9, 2), "int16": (10, 3),
    "uint16": (11, 4), "int32": (12, 5), "uint32": (13, 6), "int64": (14, 12), "uint64": (15, 13),
    "bool": (9, 2),
}


def _pad(n: int) -> int:
    return (8 - n % 8) % 8


def v5_header() -> bytes:
    """The 128-byte header of a level 5 MAT-file (little-endian)."""
    text = (
        "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: "
        f"{time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())} by ophysio"
    )
    return text.encode("ascii").ljust(116, b" ")[:116] + b"\x00" * 8 + (0x0100).to_bytes(2, "little") + b"IM"


def _element(mi_type: int, payload: bytes) -> bytes:
    return struct.pack("<II", mi_type, len(payload)) + payload + b"\x00" * _pad(len(payload))


class MatrixElement:
    """A numeric ``miMATRIX`` element whose data is appended in pieces, then finished."""

    def __init__(self, fh: BinaryIO, name: str, dtype: np.dtype, dims: tuple[int, ...]):
        self.fh = fh
        self.dtype = np.dtype(dtype)
        mx_class, self.mi_type = V5_CLASSES[self.dtype.name]
        flags = mx_class | (_LOGICAL_FLAG if self.dtype.kind == "b" else 0)
        self.ndims = len(dims)
        self.start = fh.tell()
        self.data_bytes = 0
        head = _element(MI_UINT32, struct.pack("<II", flags, 0))
        self.dims_offset = self.start + 8 + len(head) + 8
        head += _element(MI_INT32, struct.pack(f"<{self.ndims}i", *dims))
        head += _element(MI_INT8, name.encode("ascii"))
        self.head_bytes = len(head)
        fh.write(struct.pack("<II", MI_MATRIX, 0) + head + struct.pack("<II", self.mi_type, 0))

    def append(self, data: np.ndarray) -> None:
        """Append C-ordered data (the next part of the column-major array)."""
        raw = np.ascontiguousarray(data).view(np.uint8) if self.dtype.kind == "b" else np.ascontiguousarray(data)
        self.fh.write(memoryview(raw).cast("B"))
        self.data_bytes += raw.nbytes

    def finish(self, dims: tuple[int, ...]) -> int:
        """Pad, write the final dims and byte counts; return the element's size in bytes."""
        fh = self.fh
        fh.write(b"\x00" * _pad(self.data_bytes))
        end = fh.tell()
        matrix_bytes = self.head_bytes + 8 + self.data_bytes + _pad(self.data_bytes)
        fh.seek(self.start + 4)
        fh.write(struct.pack("<I", matrix_bytes))
        fh.seek(self.dims_offset)
        fh.write(struct.pack(f"<{self.ndims}i", *dims))
        fh.seek(self.start + 8 + self.head_bytes + 4)
        fh.write(struct.pack("<I", self.data_bytes))
        fh.seek(end)
        return 8 + matrix_bytes


def write_small_variable(fh: BinaryIO, name: str, value: np.ndarray | str) -> None:
    """Write a small numeric array (given in MATLAB's dims, any memory order) or a char row vector."""
    if isinstance(value, str):
        codes = np.frombuffer(value.encode("ascii"), np.uint8).astype("<u2")
        flags, dims, mi_type, data = MX_CHAR, (1, len(codes)), 4, codes.tobytes()
    else:
        value = np.asarray(value)
        mx_class, mi_type = V5_CLASSES[value.dtype.name]
        flags, dims, data = mx_class, value.shape, value.astype(value.dtype.newbyteorder("<")).tobytes(order="F")
    body = _element(MI_UINT32, struct.pack("<II", flags, 0))
    body += _element(MI_INT32, struct.pack(f"<{len(dims)}i", *dims))
    body += _element(MI_INT8, name.encode("ascii"))
    body += _element(mi_type, data)
    fh.write(struct.pack("<II", MI_MATRIX, len(body)) + body)
