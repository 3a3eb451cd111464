"""Closing what an extractor holds, for both contracts: :class:`HeldResources` walks the extractor's
attributes (and lists, tuples and dictionaries among them) and closes every file reference
(:class:`~ophysio.extractors._handles.CachedFile`), lazily read array (whose file it closes too) and inner
extractor it finds. Closed references reopen on their next use, so a closed extractor still reads.
"""

from __future__ import annotations

from typing import Any


class HeldResources:
    """``close()`` and the context manager of every extractor (imaging and segmentation)."""

    def close(self) -> None:
        """Close every file this extractor holds open; it reopens them if used again."""
        for value in list(vars(self).values()):
            _close(value)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _close(value: Any) -> None:
    from ._filearray import FileArray
    from ._handles import CachedFile

    if isinstance(value, FileArray):
        value.close()
        value.file.close()
    elif isinstance(value, (CachedFile, HeldResources)):
        value.close()
    elif isinstance(value, (list, tuple)):
        for item in value:
            _close(item)
    elif isinstance(value, dict):
        for item in value.values():
            _close(item)
