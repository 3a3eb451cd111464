"""The per-file frame index of a video: the presentation time of every frame and which are keyframes.

:func:`build_index` demuxes the video stream's packets once, without decoding them, and keeps each
packet's presentation time (its decoding time when the container gives none) and keyframe flag.
Sorted by presentation time, the packets are the frames in display order: frame ``i`` is the one
with the ``i``-th smallest time (codecs with B-frames store packets in decoding order). A read of
frame ``i`` seeks to the last keyframe at or before it and decodes forward, matching the decoded
frames to the index by their presentation times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import CorruptFileError, FormatError
from .container import OpenVideo

__all__ = ["VideoIndex", "build_index"]


@dataclass(frozen=True)
class VideoIndex:
    """Where every frame of a video stream is, in time.

    Attributes
    ----------
    pts : numpy.ndarray of int64
        Presentation time of each frame in display order, in the stream's time base (strictly increasing).
    keyframes : numpy.ndarray of int64
        Display-order indices of the keyframes (sorted; the first frame is always one, a decoder can
        start nowhere else).
    """

    pts: np.ndarray
    keyframes: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.pts.shape[0])

    def keyframe_at_or_before(self, frame: int) -> int:
        """Display index of the last keyframe at or before ``frame``."""
        position = int(np.searchsorted(self.keyframes, frame, side="right")) - 1
        return int(self.keyframes[max(position, 0)])

    def keyframe_before(self, keyframe: int) -> int | None:
        """The keyframe before ``keyframe`` (None for the first)."""
        position = int(np.searchsorted(self.keyframes, keyframe, side="left")) - 1
        return None if position < 0 else int(self.keyframes[position])

    def has_keyframe_between(self, first: int, last: int) -> bool:
        """Whether a keyframe lies in ``first + 1 .. last`` (decoding on from ``first`` would pass one)."""
        return bool(np.searchsorted(self.keyframes, last, side="right") - np.searchsorted(self.keyframes, first,
                                                                                       side="right"))

    def frame_of(self, pts: int) -> int | None:
        """Display index of the frame presented at ``pts`` (None for a time no frame has)."""
        position = int(np.searchsorted(self.pts, pts))
        if position < self.pts.shape[0] and int(self.pts[position]) == pts:
            return position
        return None


def build_index(video: OpenVideo) -> VideoIndex:
    """Index the video stream of an open container by demuxing its packets (no decoding).

    The container's position moves: the caller's decoder place is forgotten (the next read seeks).

    Raises
    ------
    CorruptFileError
        The container cannot be demuxed to its end (damaged), or two frames share one presentation time.
    FormatError
        The stream holds no frame, or its packets carry no time at all (nothing to seek by).
    """
    import av

    stream = video.stream
    times: list[int] = []
    keys: list[bool] = []
    untimed = 0
    video.forget_position()
    try:
        video.container.seek(0, backward=True, any_frame=False)  # from the start, whatever was read before
    except av.error.FFmpegError:
        pass  # a container that cannot seek is at its start when just opened
    try:
        for packet in video.container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            time = packet.pts if packet.pts is not None else packet.dts
            if time is None:
                untimed += 1
                continue
            times.append(int(time))
            keys.append(bool(packet.is_keyframe))
    except av.error.FFmpegError as exc:
        raise CorruptFileError(f"{video.path}: the container cannot be read past its packet {len(times) + untimed} "
                               f"({exc.strerror or exc}); the file is damaged or cut short") from None
    finally:
        video.forget_position()
    if untimed:
        raise FormatError(f"{video.path}: {untimed} of the video's {untimed + len(times)} packets carry no time; "
                          "ophysio cannot tell their order or seek in the file (remux it, e.g. "
                          "`ffmpeg -i IN -c copy OUT.mkv`)")
    if not times:
        raise FormatError(f"{video.path} holds a video stream without frames")
    pts = np.asarray(times, dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    pts = pts[order]
    repeated = np.flatnonzero(np.diff(pts) == 0)
    if repeated.size:
        first = int(repeated[0])
        raise CorruptFileError(f"{video.path}: frames {first} and {first + 1} (in display order) both claim the "
                               f"presentation time {int(pts[first])} ({repeated.size} such pairs); the file's "
                               "timing is damaged")
    is_key = np.asarray(keys, dtype=bool)[order]
    keyframes = np.flatnonzero(is_key).astype(np.int64)
    if keyframes.size == 0 or keyframes[0] != 0:
        keyframes = np.concatenate(([0], keyframes)).astype(np.int64)
    return VideoIndex(pts=pts, keyframes=keyframes)
