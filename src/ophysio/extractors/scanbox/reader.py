"""Scanbox (Neurolabware) recordings: a ``.sbx`` movie beside its ``.mat`` info file,
:class:`SbxImagingExtractor`.

The name and the first two parameters are roiextractors' ``SbxImagingExtractor(file_path,
sampling_frequency=None)``, so that scripts port by their import; ``channel_name`` and ``plane_index``
follow ophysio's other readers (ScanImage): a recording of both PMTs is read one channel at a time, and an
optotune recording is read as volumes (samples of rows x columns x planes) or, with ``plane_index``, as
one plane. The layout of the movie and where each fact comes from are described in
:mod:`ophysio.extractors.scanbox.info`.

**Reading.** The frames asked for are mapped (:meth:`~ophysio.extractors._filearray.FileArray.iter_mapped`)
and complemented (``65535 - stored``) from the page cache straight into the caller's buffer, 2 MiB at a
time, with the channel picked and the planes moved last on the way: one pass over the bytes, as fast as
a plain read of them (a positional read and then the complement would be two passes, ~1.5x slower).
Before each block an ``os.fstat`` checks that the file still holds it, so a file cut short while open
is a :class:`~ophysio.errors.CorruptFileError` naming it (a cut in the ~0.2 ms of one block's copy
would still be a SIGBUS).

**Metadata.** :meth:`SbxImagingExtractor.get_metadata` returns ``{"info": {...}}``: the whole ``info``
struct as JSON-able Python values (structs are dicts, numeric vectors and matrices lists, text ``str``;
see :func:`ophysio.extractors.scanbox.info.matlab_value`), e.g. ``info["resfreq"]``, ``info["sz"]``,
``info["config"]["pmt0_gain"]``, ``info["frame"]`` / ``info["line"]`` / ``info["event_id"]`` (the frame
and line at which each TTL event arrived).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, FileSetError, SelectionError
from .._filearray import FileArray
from .._handles import CachedFile
from ..imaging import ImagingExtractor, checked_rate
from .info import DTYPE, jsonable, load_info, require_file, sbx_layout, scanbox_paths

__all__ = ["SbxImagingExtractor"]

#: Bytes of stored frames complemented per step (each step first checks that the file still holds them).
_BLOCK_BYTES = 2 * 1024**2


class SbxImagingExtractor(ImagingExtractor):
    """One channel of a Scanbox recording (``.sbx`` movie and ``.mat`` info struct), read lazily.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.sbx`` movie, its ``.mat`` info file, or their common stem (``"mouse_000_001"``); the other
        file is found beside it with the same name.
    sampling_frequency : float, optional
        Samples per second (volumes per second for an optotune volume). By default the rate from the info
        struct: the resonant frequency ``resfreq`` (doubled when bidirectional) over the lines of a frame,
        over the planes of a volume. When the info has no ``resfreq`` and none is given, the rate is None:
        the pixels read, and times and conversion raise :class:`~ophysio.errors.RateUnknownError`.
    channel_name : str, optional
        ``"PMT0"`` or ``"PMT1"``: required when both PMTs were saved.
    plane_index : int, optional
        For an optotune volume, read only this plane (the result is planar).

    Raises
    ------
    FileSetError
        The ``.sbx`` or the ``.mat`` is missing.
    FormatError
        The ``.mat`` holds no ``info`` struct.
    MetadataError
        The info struct lacks ``sz`` or a field is malformed or contradicts another.
    CorruptFileError
        The ``.sbx`` is not a whole number of frames of the size the info gives (cut short, or another
        recording's info).
    SelectionError
        A channel or plane the recording does not have.
    """

    format_id = "scanbox"
    extractor_name = "SbxImaging"

    def __init__(
        self,
        file_path: str | os.PathLike,
        sampling_frequency: float | None = None,
        channel_name: str | None = None,
        plane_index: int | None = None,
    ):
        super().__init__()
        given = Path(file_path)
        sbx, mat = scanbox_paths(given)
        if not sbx.exists() and not mat.exists():
            raise FileSetError(f"{given}: neither {sbx.name} (Scanbox movie) nor {mat.name} (its info file) exists")
        require_file(mat, "the Scanbox info file", sbx)
        require_file(sbx, "the Scanbox movie", mat)
        self.file_path = given
        self.sbx_file_path, self.mat_file_path = sbx, mat  # roiextractors' names

        self._info = load_info(mat)
        layout = sbx_layout(self._info, mat)
        self._layout = layout
        self._channel_index = self._choose_channel(layout.channel_names, channel_name, sbx.name, "channels")

        size = sbx.stat().st_size
        stored_frame = layout.frame_bytes * layout.fold
        described = (f"{layout.rows * layout.fold} lines x {layout.columns} pixels x "
                     f"{len(layout.channel_names)} channel(s) of uint16 ({stored_frame} bytes), as {mat.name} says")
        if size % stored_frame or size == 0:
            raise CorruptFileError(
                f"{sbx}: {size} bytes are not a whole number of frames of {described}: "
                + (f"{size // stored_frame} frames and {size % stored_frame} bytes of a cut frame; the file is "
                   "truncated (or the info file belongs to another recording)" if size else "the file is empty")
            )
        frames = size // stored_frame * layout.fold
        planes = layout.planes
        volumes, extra = divmod(frames, planes)
        if extra:
            warnings.warn(f"{sbx.name}: {frames} frames are not a whole number of volumes of {planes} planes; the "
                          f"last {extra} frames (an incomplete volume) are left out", stacklevel=2)
        if volumes == 0:
            raise CorruptFileError(f"{sbx}: {frames} frame(s) hold no complete volume of {planes} planes")
        self._num_samples = volumes

        if plane_index is not None:
            if isinstance(plane_index, bool) or not isinstance(plane_index, (int, np.integer)) \
                    or not 0 <= plane_index < planes:
                raise SelectionError(f"plane_index={plane_index!r} is out of range: {sbx.name} has {planes} "
                                     f"plane(s) (0 to {planes - 1})")
            plane_index = int(plane_index)
        self._plane_index = plane_index

        self._rate_given = sampling_frequency is not None
        if sampling_frequency is not None:
            self._sampling_frequency = checked_rate(sampling_frequency)
        else:
            rate = layout.volume_rate_hz
            if rate is None:  # pixels need no rate; times and conversion say how to give one
                self._sampling_frequency = self._rate_unknown(
                    f"{mat}: the info struct has no resonant frequency (resfreq), so the frame rate is unknown")
            else:
                self._sampling_frequency = checked_rate(rate, f"{mat}: the rate from info.resfreq")

        self._file = CachedFile(sbx)
        self._frames = FileArray(self._file, 0, DTYPE,
                                 (volumes * planes, layout.rows, layout.columns, len(layout.channel_names)),
                                 f"the frame data of {sbx.name}")

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_image_shape(self) -> tuple[int, int]:
        return (self._layout.rows, self._layout.columns)

    def get_num_planes(self) -> int:
        return self._layout.planes if self._plane_index is None else 1

    def get_dtype(self) -> np.dtype:
        return DTYPE

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [str(self.sbx_file_path), str(self.mat_file_path)]

    @property
    def plane_index(self) -> int | None:
        """The plane read when ``plane_index=`` was given (the data are then planar), else None."""
        return self._plane_index

    @property
    def is_bidirectional(self) -> bool:
        """Whether the recording was scanned in both directions (``info.scanmode == 0``)."""
        return self._layout.bidirectional

    def get_metadata(self) -> dict:
        """``{"info": the whole info struct as JSON-able values}`` (a new dict each time)."""
        return {"info": jsonable(self._info)}

    def get_acquisition_facts(self):
        """What the info struct records (see :mod:`ophysio.extractors.scanbox.facts`)."""
        from .facts import scanbox_facts

        return scanbox_facts(self)

    @staticmethod
    def _layout_of(file_path: str | os.PathLike):
        sbx, mat = scanbox_paths(file_path)
        require_file(mat, "the Scanbox info file", sbx)
        return sbx_layout(load_info(mat), mat)

    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike) -> list[str]:
        """The channels a Scanbox recording saved (``["PMT0", "PMT1"]`` for both PMTs), from its info file."""
        return list(SbxImagingExtractor._layout_of(file_path).channel_names)

    @staticmethod
    def get_available_num_planes(file_path: str | os.PathLike) -> int:
        """Optotune planes per volume of a Scanbox recording (1 for planar data), from its info file."""
        return SbxImagingExtractor._layout_of(file_path).planes

    # ------------------------------------------------------------------ reading
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        layout = self._layout
        planes, channel = layout.planes, self._channel_index
        if self._plane_index is not None and planes > 1:  # one frame of each volume, strided in the file
            for i, sample in enumerate(range(start, stop)):
                frame = sample * planes + self._plane_index
                for _, _, stored in self._frames.iter_mapped(frame, frame + 1, 1):
                    np.invert(stored[0, :, :, channel], out=out[i])
            return
        # whole samples (volumes) per block: (frames, rows, columns, channels) -> (samples, rows, columns[, planes])
        block = max(1, _BLOCK_BYTES // (layout.frame_bytes * planes)) * planes
        for a, b, stored in self._frames.iter_mapped(start * planes, stop * planes, block):
            values = stored[..., channel]
            if planes > 1:
                values = values.reshape(-1, planes, layout.rows, layout.columns).transpose(0, 2, 3, 1)
            np.invert(values, out=out[a // planes - start : b // planes - start])
