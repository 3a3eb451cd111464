"""Multi-file layouts: one output per channel or per plane, named by a pattern.

The parts are written side by side under temporary names; they are moved into place together once
every part is complete, and a failure in any part removes them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._base import ImagingWriter, WriterError

__all__ = ["SplitWriter", "DEFAULT_PATTERNS"]

#: Default names of the parts; fields: {stem}, {suffix}, {channel} (name), {channel_index}, {plane}.
DEFAULT_PATTERNS = {"channels": "{stem}_{channel}{suffix}", "planes": "{stem}_plane{plane}{suffix}"}


def split_name(path: Path, suffixes: Sequence[str]) -> tuple[str, str]:
    """(stem, suffix) of ``path``, the suffix being the longest of the format's that matches."""
    name = path.name
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    return (path.stem, path.suffix) if path.suffix else (name, "")


class SplitWriter:
    """Write each channel (``split="channels"``) or each plane (``split="planes"``) to its own output.

    Behaves like an :class:`ImagingWriter` (``write_frames``, ``close``, ``abort``, context manager);
    :attr:`paths` lists the outputs once they are known (after the first batch).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        writer_class: type[ImagingWriter],
        suffixes: Sequence[str],
        split: str,
        pattern: str | None = None,
        *,
        channel_names: Sequence[str] | None = None,
        **options: Any,
    ):
        if split not in DEFAULT_PATTERNS:
            raise WriterError(f"split must be 'channels' or 'planes', not {split!r}")
        self.path = Path(path)
        self.split = split
        self.pattern = pattern or DEFAULT_PATTERNS[split]
        self._stem, self._suffix = split_name(self.path, suffixes)
        self._class = writer_class
        self._options = options
        self.channel_names = None if channel_names is None else list(channel_names)
        self.parts: list[ImagingWriter] = []
        self._source = None
        self._closed = False
        #: per-channel rates for split="channels" (set by write_imaging when channels differ)
        self.part_rates: list[float] | None = None

    @property
    def paths(self) -> list[Path]:
        return [w.path for w in self.parts]

    def _part_path(self, channel: str = "", channel_index: int = 0, plane: int = 0) -> Path:
        try:
            name = self.pattern.format(
                stem=self._stem, suffix=self._suffix, channel=channel, channel_index=channel_index, plane=plane
            )
        except (KeyError, IndexError) as exc:
            raise WriterError(f"pattern {self.pattern!r} uses an unknown field {exc}") from exc
        return self.path.with_name(name)

    def _open_parts(self, arrays: list[np.ndarray]) -> None:
        names = self.channel_names or [f"channel_{i}" for i in range(len(arrays))]
        if len(names) != len(arrays):
            raise WriterError(f"{len(names)} channel names for {len(arrays)} channels")
        self.channel_names = names
        if self.split == "channels":
            specs = [(self._part_path(n, i), [n]) for i, n in enumerate(names)]
        else:
            planes = arrays[0].shape[3] if arrays[0].ndim == 4 else 1
            specs = [(self._part_path(plane=z), names) for z in range(planes)]
        paths = [p for p, _ in specs]
        if len(set(paths)) != len(paths):
            raise WriterError(f"pattern {self.pattern!r} gives the same name to several parts: {paths}")
        for i, (part_path, part_names) in enumerate(specs):
            options = dict(self._options)
            if self.part_rates is not None and self.split == "channels":
                options["sampling_frequency"] = self.part_rates[i]
            writer = self._class(part_path, channel_names=part_names, **options)
            self.parts.append(writer)
            if self._source is not None:
                writer._prepare_source(self._source)

    def _prepare_source(self, source) -> None:
        self._source = source

    def write_frames(self, frames, timestamps=None, frame_metadata=None) -> None:
        """Append a batch (same forms as :meth:`ImagingWriter.write_frames`); each part gets its share.

        With ``split="channels"``, ``timestamps`` may also be a list of arrays, one per channel.
        """
        if self._closed:
            raise WriterError(f"the writer of {self.path} is closed")
        try:
            if isinstance(frames, Mapping):
                if self.channel_names is None:
                    self.channel_names = [str(k) for k in frames]
                arrays = [np.asarray(a) for a in frames.values()]
            elif isinstance(frames, (list, tuple)):
                arrays = [np.asarray(a) for a in frames]
            else:
                arrays = [np.asarray(frames)]
            if not self.parts:
                self._open_parts(arrays)
            if self.split == "channels":
                if len(arrays) != len(self.parts):
                    raise WriterError(f"a batch has {len(arrays)} channels; the first batch had {len(self.parts)}")
                per_channel = isinstance(timestamps, list) and len(timestamps) == len(arrays) and all(
                    np.ndim(t) == 1 for t in timestamps
                ) and len(arrays) > 1
                for c, (writer, array) in enumerate(zip(self.parts, arrays)):
                    times = timestamps[c] if per_channel else timestamps
                    writer.write_frames([array], times, frame_metadata)
            else:
                for z, writer in enumerate(self.parts):
                    planes = [a[..., z] if a.ndim == 4 else a for a in arrays]
                    writer.write_frames(planes, timestamps, frame_metadata)
        except BaseException as exc:
            self.abort(exc)
            raise

    def close(self) -> list[Path]:
        """Finish every part, then move them all into place; returns their paths."""
        if self._closed:
            return self.paths
        if not self.parts:
            self.abort()
            raise WriterError(f"no samples were written to {self.path}; nothing to save")
        try:
            for writer in self.parts:
                writer._complete()
        except BaseException as exc:
            self.abort(exc)
            raise
        self._closed = True
        return [writer._publish() for writer in self.parts]

    def abort(self, exc: BaseException | None = None) -> None:
        """Remove every part."""
        self._closed = True
        for writer in self.parts:
            writer.abort(exc)

    def __enter__(self) -> SplitWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)
