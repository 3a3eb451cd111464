"""Raw binary movies read through a read-only memory map: :class:`NumpyMemmapImagingExtractor`.

A raw binary movie is a flat run of pixel values after an optional header. Nothing in the file says
how it is laid out, so the caller describes it with a :class:`VideoStructure` (the size of each
dimension and which axis of the stored array holds it), a dtype (byte order included) and the header
size. The number of frames follows from the file size.

When each frame is one contiguous block of the file in (rows, columns[, planes]) order (frames on the
first axis, one channel), frames are read with positional reads straight into the caller's buffer;
any other layout is read through a read-only :class:`numpy.memmap` and reordered on the way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from .._filearray import FileArray
from .._handles import CachedFile
from ..imaging import ImagingExtractor, checked_dtype, checked_rate

__all__ = ["VideoStructure", "NumpyMemmapImagingExtractor", "pread_into"]

#: Largest single positional read (Linux reads at most 0x7ffff000 bytes per call).
_MAX_IO = 1 << 30
#: Largest header returned whole by get_metadata().
_MAX_HEADER = 1 << 20


def pread_into(fd: int, buffer: np.ndarray, offset: int, path: str = "") -> None:
    """Fill the C-contiguous ``buffer`` with the file's bytes from ``offset`` (positional reads, no copy).

    Raises
    ------
    CorruptFileError
        The file ends before the buffer is full.
    """
    view = memoryview(buffer.reshape(-1).view(np.uint8))
    total = len(view)
    done = 0
    while done < total:
        n = os.preadv(fd, [view[done : done + _MAX_IO]], offset + done)
        if n <= 0:
            raise CorruptFileError(
                f"{path or 'file'} ends at byte {offset + done}; {offset + total} bytes were expected "
                f"(the file may have been truncated)"
            )
        done += n


@dataclass(frozen=True)
class VideoStructure:
    """How a raw movie is laid out: the size of each dimension and the stored axis that holds it.

    The stored array has one axis per dimension: frames, rows, columns, channels and (optionally)
    planes. Axis numbers count from the slowest-varying (0) to the fastest-varying axis of the file
    (C order), and must be a permutation of ``0..3`` (``0..4`` with a planes axis). The argument names
    and order match roiextractors' ``VideoStructure``.

    Attributes
    ----------
    num_rows, num_columns : int
        Size of one image.
    num_channels : int
        Number of interleaved channels (1 for one channel).
    rows_axis, columns_axis, channels_axis, frame_axis : int
        Stored axis of each dimension; the default is (frames, rows, columns, channels).
    num_planes : int
        Number of planes per volume (1 for planar data).
    planes_axis : int or None
        Stored axis of the planes; needed when ``num_planes > 1``.

    Examples
    --------
    Frames of 512 x 512 with two channels interleaved per pixel (frames, rows, columns, channels):

    >>> VideoStructure(num_rows=512, num_columns=512, num_channels=2)  # doctest: +ELLIPSIS
    VideoStructure(num_rows=512, ...)
    """

    num_rows: int
    num_columns: int
    num_channels: int = 1
    rows_axis: int = 1
    columns_axis: int = 2
    channels_axis: int = 3
    frame_axis: int = 0
    num_planes: int = 1
    planes_axis: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_rows", "num_columns", "num_channels", "num_planes"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise MetadataError(f"VideoStructure.{name} must be a positive integer, got {value!r}")
        axes = list(self.axes.values())
        if sorted(axes) != list(range(len(axes))):
            raise MetadataError(
                f"VideoStructure axes must be a permutation of 0..{len(axes) - 1}, got {self.axes}"
            )
        if self.num_planes > 1 and self.planes_axis is None:
            raise MetadataError(f"VideoStructure has num_planes={self.num_planes} but no planes_axis")

    @property
    def axes(self) -> dict[str, int]:
        """Stored axis of each dimension (``frames``, ``rows``, ``columns``, ``channels``[, ``planes``])."""
        axes = {
            "frames": self.frame_axis,
            "rows": self.rows_axis,
            "columns": self.columns_axis,
            "channels": self.channels_axis,
        }
        if self.planes_axis is not None:
            axes["planes"] = self.planes_axis
        return axes

    def sizes(self, num_frames: int) -> dict[str, int]:
        """Size of each dimension for ``num_frames`` frames."""
        return {
            "frames": num_frames,
            "rows": self.num_rows,
            "columns": self.num_columns,
            "channels": self.num_channels,
            "planes": self.num_planes,
        }

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """Shape of one stored frame: the stored array's shape without the frames axis (roiextractors' name)."""
        shape = list(self.build_video_shape(1))
        del shape[self.frame_axis]
        return tuple(shape)

    @property
    def number_of_pixels_per_frame(self) -> int:
        """Stored values in one frame, every channel and plane (roiextractors' name; ``values_per_frame``)."""
        return self.values_per_frame

    @property
    def values_per_frame(self) -> int:
        """Number of stored values in one frame (all channels and planes)."""
        return self.num_rows * self.num_columns * self.num_channels * self.num_planes

    def build_video_shape(self, n_frames: int) -> tuple[int, ...]:
        """Shape of the stored array holding ``n_frames`` frames, in stored axis order."""
        sizes = self.sizes(n_frames)
        shape = [0] * len(self.axes)
        for name, axis in self.axes.items():
            shape[axis] = sizes[name]
        return tuple(shape)

    def frames_are_contiguous(self) -> bool:
        """Whether each frame is one contiguous block of the file (every larger axis after frames)."""
        sizes = self.sizes(2)
        return all(axis > self.frame_axis for name, axis in self.axes.items() if name != "frames" and sizes[name] > 1)

    def frames_are_canonical(self) -> bool:
        """Whether one frame's block is already (rows, columns[, planes]) of a single channel."""
        if self.num_channels != 1 or not self.frames_are_contiguous():
            return False
        sizes = self.sizes(2)
        order = [name for name, _ in sorted(self.axes.items(), key=lambda item: item[1]) if sizes[name] > 1]
        order = [name for name in order if name != "frames"]
        canonical = [name for name in ("rows", "columns", "planes") if sizes[name] > 1]
        return order == canonical


def _as_structure(value: Any) -> VideoStructure:
    """A VideoStructure from a dict or an object with the same attributes (e.g. roiextractors' own)."""
    names = ("num_rows", "num_columns", "num_channels", "rows_axis", "columns_axis", "channels_axis",
             "frame_axis", "num_planes", "planes_axis")
    get = value.get if isinstance(value, dict) else (lambda name: getattr(value, name, None))
    fields = {name: get(name) for name in names if get(name) is not None}
    if "num_rows" not in fields or "num_columns" not in fields:
        raise TypeError(
            f"video_structure must be a VideoStructure (or have num_rows, num_columns...), not {type(value).__name__}"
        )
    return VideoStructure(**fields)


#: Bytes of stored frames (all channels) read per step when frames must be rearranged.
_BLOCK_BYTES = 32 << 20


class NumpyMemmapImagingExtractor(ImagingExtractor):
    """A raw binary movie described by a :class:`VideoStructure`, read lazily.

    Parameters
    ----------
    file_path : str or os.PathLike
        The binary file.
    video_structure : VideoStructure
        Sizes and stored axes of frames, rows, columns, channels and planes (a dict, or roiextractors'
        ``VideoStructure``, with the same names is accepted too).
    sampling_frequency : float
        Frames (volumes) per second.
    dtype : numpy dtype-like
        Type of the stored values, byte order included (``">u2"`` for big-endian uint16); it is kept
        as given, so values are never byte-swapped behind your back.
    offset : int
        Size in bytes of the header before the first frame.
    channel_name : str, optional
        Channel to read, one of ``channel_names`` (default: the first).
    channel_index : int, optional
        Channel to read by its position (instead of ``channel_name``).
    channel_names : list of str, optional
        Names of the channels in stored order (default ``channel_0``, ``channel_1``, ...).

    Raises
    ------
    FormatError
        The file's size after the header is not a whole number of frames, or holds no frame at all:
        the message gives the frame size the structure implies and the size found.
    """

    format_id = "binary"
    extractor_name = "NumpyMemmapImaging"

    def __init__(
        self,
        file_path: str | os.PathLike,
        video_structure: VideoStructure,
        sampling_frequency: float,
        dtype: Any,
        offset: int = 0,
        channel_name: str | None = None,
        channel_index: int | None = None,
        channel_names: Sequence[str] | None = None,
    ):
        super().__init__()
        self._file_path = os.fspath(file_path)
        if not os.path.isfile(self._file_path):
            raise FileSetError(f"{self._file_path} does not exist or is not a file")
        if not isinstance(video_structure, VideoStructure):
            video_structure = _as_structure(video_structure)
        self._structure = video_structure
        self._dtype = checked_dtype(dtype)
        self._offset = int(offset)
        if self._offset < 0:
            raise MetadataError(f"offset must be >= 0, got {offset}")
        self._sampling_frequency = checked_rate(sampling_frequency)

        size = os.path.getsize(self._file_path)
        frame_bytes = video_structure.values_per_frame * self._dtype.itemsize
        payload = size - self._offset
        described = (
            f"{video_structure.num_rows} rows x {video_structure.num_columns} columns x "
            f"{video_structure.num_channels} channel(s) x {video_structure.num_planes} plane(s) of {self._dtype}"
        )
        if payload < frame_bytes:
            raise FormatError(
                f"{self._file_path}: the structure does not fit the file: one frame of {described} is "
                f"{frame_bytes} bytes, but the file has {max(payload, 0)} bytes after the {self._offset}-byte "
                f"header ({size} bytes in all); check the structure, dtype and offset"
            )
        if payload % frame_bytes:
            raise FormatError(
                f"{self._file_path}: {payload} bytes after the {self._offset}-byte header are not a whole "
                f"number of frames of {described} ({frame_bytes} bytes each): {payload // frame_bytes} frames "
                f"and {payload % frame_bytes} bytes left over; check the structure, dtype and offset "
                f"(a header or footer of another size?)"
            )
        self._num_frames = payload // frame_bytes
        self._frame_bytes = frame_bytes

        count = video_structure.num_channels
        names = [f"channel_{i}" for i in range(count)] if channel_names is None else [str(n) for n in channel_names]
        if len(names) != count:
            raise MetadataError(f"{len(names)} channel_names given for {count} channels in the structure")
        self._channel_names = tuple(names)
        if channel_name is not None and channel_index is not None:
            raise SelectionError("give channel_name or channel_index, not both")
        if channel_name is not None:
            if channel_name not in names:
                raise SelectionError(f"channel {channel_name!r} is not one of the channels {names}")
            channel_index = names.index(channel_name)
        channel_index = 0 if channel_index is None else int(channel_index)
        if not 0 <= channel_index < count:
            raise SelectionError(f"channel_index {channel_index} is out of range for {count} channel(s)")
        self._channel_index = channel_index
        self._channel_name = names[channel_index]

        self._fast = video_structure.frames_are_canonical() and hasattr(os, "preadv")
        self._file = CachedFile(self._file_path)
        self._values: FileArray | None = None

    # ------------------------------------------------------------------ facts
    @property
    def video_structure(self) -> VideoStructure:
        """The structure the file was opened with."""
        return self._structure

    def get_num_samples(self) -> int:
        return int(self._num_frames)

    def get_image_shape(self) -> tuple[int, int]:
        return (self._structure.num_rows, self._structure.num_columns)

    def get_num_planes(self) -> int:
        return self._structure.num_planes

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    def get_metadata(self) -> dict:
        """The layout the file was opened with, and the header's bytes (when at most 1 MiB)."""
        metadata: dict[str, Any] = {
            "video_structure": asdict(self._structure),
            "dtype": self._dtype.str,
            "offset": self._offset,
            "num_frames": self._num_frames,
            "frame_bytes": self._frame_bytes,
        }
        if 0 < self._offset <= _MAX_HEADER:
            header = np.empty(self._offset, dtype=np.uint8)
            with self._file.open() as fd:
                pread_into(fd, header, 0, self._file_path)
            metadata["header"] = header.tobytes()
        return metadata

    # ------------------------------------------------------------------ reading
    def _stored(self) -> FileArray:
        """The file's values (positional reads, no memory map that a shrinking file turns into SIGBUS):
        frames first when each frame is one block of the file, else the stored array as it is."""
        if self._values is None:
            structure = self._structure
            shape = structure.build_video_shape(self._num_frames)
            what = f"frame data of {os.path.basename(self._file_path)}"
            if structure.frames_are_contiguous():
                axis = structure.frame_axis
                shape = (shape[axis], *shape[:axis], *shape[axis + 1 :])  # moved axes before it have size 1
            self._values = FileArray(self._file, self._offset, self._dtype, shape, what)
        return self._values

    def _canonical(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as (frames, rows, columns[, planes]) of the selected channel."""
        structure = self._structure
        values = self._stored()
        if structure.frames_are_contiguous():
            block = np.moveaxis(values.read_rows(start, stop), 0, structure.frame_axis)
        else:
            selection = [slice(None)] * values.ndim
            selection[structure.frame_axis] = slice(start, stop)
            block = values[tuple(selection)]
        axes = structure.axes
        order = [axes["frames"], axes["rows"], axes["columns"]]
        if "planes" in axes:
            order.append(axes["planes"])
        order.append(axes["channels"])
        view = block.transpose(order)[..., self._channel_index]
        if "planes" in axes and structure.num_planes == 1:
            view = view[..., 0]
        return view

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._fast:
            with self._file.open() as fd:
                pread_into(fd, out, self._offset + start * self._frame_bytes, self._file_path)
            return
        step = max(1, _BLOCK_BYTES // self._frame_bytes)
        for a in range(start, stop, step):
            b = min(a + step, stop)
            np.copyto(out[a - start : b - start], self._canonical(a, b), casting="no")

    def close(self) -> None:
        if self._values is not None:
            self._values.close()  # drops a map, if one was made
        super().close()
