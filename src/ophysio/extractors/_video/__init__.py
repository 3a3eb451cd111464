"""The one video layer: movie files (AVI, Matroska, MP4/MOV) read frame-accurately through PyAV.

PyAV binds FFmpeg's libraries (shipped in its wheels), so every codec a microscope or camera software
writes (FFV1, raw/GREY, MJPEG, H.264, MPEG-4...) decodes without a system FFmpeg. The ``video`` extra
installs it (``pip install "ophysio[video]"``); nothing here imports it before a video is opened.

- :mod:`.container`: the container magic (the sniffs' cheap check), opening a file into an
  :class:`~.container.OpenVideo` (the container, its video stream and a lock: one container is never
  decoded from two threads at once) and the stream's facts (:class:`~.container.VideoInfo`).
- :mod:`.index`: the per-file :class:`~.index.VideoIndex` (presentation time of every frame, which are
  keyframes), built once by demuxing packets without decoding them.
- :mod:`.pixels`: how a decoded frame becomes numpy values: grey stays grey (8-bit ``uint8``, deeper
  ``uint16``, bit-exact), YUV gives its luma, RGB its channels ``R``, ``G``, ``B``.
- :mod:`.file`: :class:`~.file.VideoFile`, the picklable handle an extractor holds: frame-accurate
  reads (seek to the keyframe at or before the first wanted frame and decode forward; a read that
  continues the previous one decodes on without seeking), damaged files reported as
  :class:`~ophysio.errors.CorruptFileError` naming the file and the frame.
- :mod:`.frames`: numpy frames into PyAV frames, for the writer and the synthetic files.

Open containers are :class:`~ophysio.extractors._handles.CachedFile` handles: they count against the
process-wide limit of open files, are reopened on demand and closed by ``close()``.
"""

from __future__ import annotations

__all__ = ["require_av"]


def require_av():
    """The ``av`` module, or an ImportError saying how to install it."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - the test extra installs av
        from ...errors import MissingPluginError

        raise MissingPluginError(
            "reading and writing videos needs PyAV: pip install 'ophysio[video]'"
        ) from exc
    return av
