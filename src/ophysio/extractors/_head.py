"""The head of a file as detection hands it to every format's sniff: its first bytes, read once.

:class:`FileHead` is ``bytes`` (the file's first few KiB, so a sniff that only looks at them needs
nothing else) that also knows its file: :meth:`FileHead.read_at` reads further bytes through the one
handle that detection opened, and :attr:`FileHead.memo` keeps what one sniff worked out from the file
(a TIFF's first IFD text, say) for the next, so that detecting a file opens it once and parses each
thing once. A sniff given plain ``bytes`` still works: :func:`read_at` then opens the file itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["FileHead", "read_at", "memo_of"]


class FileHead(bytes):
    """The first bytes of ``path``, with positional reads of the rest through an open descriptor."""

    path: Path
    fd: int | None
    memo: dict[str, Any]

    def __new__(cls, data: bytes, path: Path, fd: int | None = None) -> FileHead:
        self = super().__new__(cls, data)
        self.path, self.fd, self.memo = path, fd, {}
        return self

    def read_at(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (b"" outside the file)."""
        if offset < 0 or size <= 0:
            return b""
        if offset + size <= len(self):
            return bytes(self[offset : offset + size])
        if self.fd is None:
            return _read_file(self.path, offset, size)
        return os.pread(self.fd, size, offset)

    def file_size(self) -> int:
        """The size of the file."""
        if self.fd is None:
            return os.stat(self.path).st_size
        return os.fstat(self.fd).st_size


def _read_file(path: Path, offset: int, size: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(size)


def read_at(path: Path, head: bytes, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes of ``path`` at ``offset``: through ``head`` when it is a :class:`FileHead`."""
    if isinstance(head, FileHead):
        return head.read_at(offset, size)
    if offset + size <= len(head):
        return bytes(head[offset : offset + size])
    return _read_file(path, offset, size)


def memo_of(head: bytes) -> dict[str, Any]:
    """The memo of a :class:`FileHead` (a fresh dict for plain bytes: nothing is kept)."""
    return head.memo if isinstance(head, FileHead) else {}
