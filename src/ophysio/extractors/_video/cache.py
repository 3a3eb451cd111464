"""A process-wide cache of recently decoded video frames, bounded in bytes.

Decoding a frame of a long-GOP video means decoding every frame from the keyframe before it; FFV1 as
the Miniscope software writes it has one keyframe at the start of each file, and an FFV1 frame of a
752 x 480 sensor takes tens of milliseconds. Every frame decoded on the way to a wanted one is kept here
(as the numpy values it reads as), so reading another frame of the same group of pictures, or the same
frame again, costs a copy, also from another extractor of the same file. The cache holds at most
:data:`MAX_CACHED_BYTES` over all video files of the process (least recently used frames go first);
frames larger than an eighth of it are not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["MAX_CACHED_BYTES", "FrameCache", "FRAMES"]

#: Bytes of decoded frames kept in the process (all video files together).
MAX_CACHED_BYTES = 64 * 1024**2

class FrameCache:
    """Least-recently-used decoded frames: ``(file, component, frame index) -> array``, where ``file`` is
    ``(real path, size, modification time)``: extractors of one unchanged file share its frames, and a file
    that changed (rewritten, cut short) is another key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0

    @staticmethod
    def keeps(nbytes: int) -> bool:
        """Whether a frame of ``nbytes`` is cached at all."""
        return 0 < nbytes <= MAX_CACHED_BYTES // 8

    def get(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, key: tuple, frame: np.ndarray) -> None:
        """Keep ``frame`` (the caller gives up the array: it is stored, not copied)."""
        if not self.keeps(frame.nbytes):
            return
        frame.flags.writeable = False
        with self._lock:
            old = self._frames.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._frames[key] = frame
            self._bytes += frame.nbytes
            while self._bytes > MAX_CACHED_BYTES and self._frames:
                _, dropped = self._frames.popitem(last=False)
                self._bytes -= dropped.nbytes

    def forget(self, owner: tuple) -> None:
        """Drop every frame of one file."""
        with self._lock:
            for key in [k for k in self._frames if k[0] == owner]:
                self._bytes -= self._frames.pop(key).nbytes

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes


#: The cache of the process.
FRAMES = FrameCache()
