"""suite2p binary movies: :class:`Suite2pImagingExtractor`.

suite2p writes, for each plane, a folder ``suite2p/plane<i>`` holding ``ops.npy`` (a pickled dict of
settings and results) and the movie as headerless int16 frames of ``Ly x Lx`` pixels in C order:
``data.bin`` (registered, first channel), ``data_chan2.bin`` (registered, second channel), and, when
the raw movie is kept, ``data_raw.bin`` / ``data_raw_chan2.bin``. ``ops["fs"]`` is the rate of each
plane (the volume rate), ``ops["nframes"]`` the number of frames of each plane.

``ops.npy`` can only be read with ``numpy.load(allow_pickle=True)``: with suite2p's ``stat.npy`` (read by
:mod:`.segmentation`) the only files ophysio unpickles, so open suite2p folders from sources you trust.
The binaries are looked for next to each ``ops.npy`` first; the paths stored inside ops (often absolute
paths of another machine) are used only when they exist here, and read only inside the folder given
(suite2p's ``fast_disk`` can put them elsewhere: pass ``allow_outside=`` that folder, or True). A binary,
or a symlink standing for one, that leads out of the folder is a :class:`~ophysio.errors.ContainmentError`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from .._contain import AllowOutside, ReferencePolicy
from .._handles import CachedFile
from ..binary.reader import pread_into
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["Suite2pImagingExtractor"]

_CHANNEL_FILES = {
    ("registered", "chan1"): ("data.bin", "reg_file"),
    ("registered", "chan2"): ("data_chan2.bin", "reg_file_chan2"),
    ("raw", "chan1"): ("data_raw.bin", "raw_file"),
    ("raw", "chan2"): ("data_raw_chan2.bin", "raw_file_chan2"),
}
_PLANE = re.compile(r"^plane(\d+)$")
_DTYPE = np.dtype("<i2")


def _plane_folders(path: Path) -> list[Path]:
    """The plane folders of a suite2p output given as a folder, an ops.npy or a .bin beside one."""
    path = Path(path)
    if not path.exists():
        raise FileSetError(f"{path} does not exist")
    if path.is_file():
        if path.name == "ops.npy" or (path.suffix == ".bin" and (path.parent / "ops.npy").is_file()):
            return [path.parent]
        raise FileSetError(f"{path} is neither a suite2p ops.npy nor a .bin file beside one")
    if (path / "ops.npy").is_file():
        return [path]
    for root in (path, path / "suite2p"):
        planes = [p for p in root.glob("plane*") if _PLANE.match(p.name) and (p / "ops.npy").is_file()]
        if planes:
            return sorted(planes, key=lambda p: int(_PLANE.match(p.name).group(1)))
    raise FileSetError(
        f"no suite2p output in {path}: expected ops.npy, plane<N>/ops.npy or suite2p/plane<N>/ops.npy"
    )


def _load_ops(plane_folder: Path) -> dict:
    """Load one ops.npy (pickled dict: the one unpickling ophysio does) and check the keys we need."""
    file = plane_folder / "ops.npy"
    try:
        value = np.load(file, allow_pickle=True)
    except Exception as exc:  # numpy raises many types for a damaged file
        raise CorruptFileError(f"{file} could not be read as a numpy file: {exc}") from exc
    if isinstance(value, np.ndarray) and value.dtype == object and value.shape == ():
        value = value.item()
    if not isinstance(value, dict):
        raise FormatError(f"{file} does not hold a suite2p ops dict (found {type(value).__name__})")
    for key in ("Ly", "Lx"):
        if not isinstance(value.get(key), (int, np.integer)) or value[key] < 1:
            raise MetadataError(f"{file}: ops[{key!r}] is missing or not a positive integer ({value.get(key)!r})")
    return value


def _binary_path(plane_folder: Path, ops: dict, file_type: str, channel: str) -> tuple[Path, str] | None:
    """The binary of a channel that exists (beside ops.npy, else at the path stored in ops) and what
    named it (for a containment error), or None."""
    name, key = _CHANNEL_FILES[(file_type, channel)]
    local = plane_folder / name
    if local.is_file():
        return local, f"{name}, found beside ops.npy,"
    stored = ops.get(key)
    if isinstance(stored, (str, os.PathLike)) and stored and Path(stored).is_file():
        return Path(stored), f"ops[{key!r}] = {os.fspath(stored)!r}"
    return None


class Suite2pImagingExtractor(ImagingExtractor):
    """The registered (or raw) movie of a suite2p output folder.

    Parameters
    ----------
    folder_path : str or os.PathLike
        A folder holding ``suite2p/plane<N>/``, the ``suite2p`` folder itself, one plane folder, an
        ``ops.npy`` or a ``.bin`` file beside one (whose name then picks ``channel_name`` and
        ``file_type`` unless they are given).
    channel_name : str, optional
        ``"chan1"`` (``data.bin``, default) or ``"chan2"`` (``data_chan2.bin``).
    plane_name : str, optional
        ``"plane0"``, ``"plane1"``...: read that plane only. By default a single plane is read as planar
        data and several planes as one volumetric series (samples of Ly x Lx x planes).
    plane_index : int, optional
        The plane to read by position (instead of ``plane_name``).
    file_type : {"registered", "raw"}
        ``data*.bin`` (registered) or ``data_raw*.bin`` (raw, kept with ``keep_movie_raw``).
    sampling_frequency : float, optional
        Overrides ``ops["fs"]`` (needed when ops has no valid ``fs``).
    allow_outside : bool, folder or list of folders
        Where the binaries may be (the paths stored in ops, symlinks beside it): by default only inside
        ``folder_path`` (its folder when it is a file); True allows any file, folders allow those too
        (suite2p's ``fast_disk``). A binary elsewhere is a :class:`~ophysio.errors.ContainmentError`.

    Notes
    -----
    ``ops.npy`` is loaded with ``numpy.load(allow_pickle=True)``, which can run code from a crafted
    file: open only suite2p output you trust. Nothing else in ophysio unpickles (but suite2p's ``stat.npy``,
    for the segmentation).
    """

    format_id = "suite2p"
    extractor_name = "Suite2pImaging"

    def __init__(
        self,
        folder_path: str | os.PathLike,
        channel_name: str | None = None,
        plane_name: str | None = None,
        plane_index: int | None = None,
        file_type: str | None = None,
        sampling_frequency: float | None = None,
        allow_outside: AllowOutside = False,
    ):
        super().__init__()
        path = Path(folder_path)
        folders = _plane_folders(path)
        references = ReferencePolicy.for_dataset(path if path.is_dir() else path.parent, allow_outside)
        if path.is_file() and path.suffix == ".bin":
            channel_name = channel_name or ("chan2" if "chan2" in path.name else "chan1")
            file_type = file_type or ("raw" if "raw" in path.name else "registered")
        file_type = file_type or "registered"
        if file_type not in ("registered", "raw"):
            raise SelectionError(f"file_type must be 'registered' or 'raw', not {file_type!r}")
        self._file_type = file_type
        names = [p.name for p in folders]
        if plane_name is not None and plane_index is not None:
            raise SelectionError("give plane_name or plane_index, not both")
        if plane_index is not None:
            if not 0 <= int(plane_index) < len(folders):
                raise SelectionError(f"plane_index {plane_index} is out of range for planes {names}")
            folders = [folders[int(plane_index)]]
        elif plane_name is not None:
            if plane_name not in names:
                raise SelectionError(f"plane {plane_name!r} is not one of the planes {names} in {path}")
            folders = [folders[names.index(plane_name)]]
        self._plane_folders = folders
        self._ops = [_load_ops(folder) for folder in folders]

        available = self._available_channels(folders[0], self._ops[0], file_type)
        if not available:
            name, _ = _CHANNEL_FILES[(file_type, "chan1")]
            raise FileSetError(
                f"no {file_type} movie in {folders[0]}: {name} is missing there and at the path stored in "
                f"ops ({self._ops[0].get(_CHANNEL_FILES[(file_type, 'chan1')][1])!r})"
            )
        self._channel_names = tuple(available)
        channel_name = channel_name or available[0]
        if channel_name not in available:
            raise SelectionError(
                f"channel {channel_name!r} is not available in {folders[0]} ({file_type} movies found: {available})"
            )
        self._channel_name = channel_name

        shapes = {(int(ops["Ly"]), int(ops["Lx"])) for ops in self._ops}
        if len(shapes) > 1:
            raise FormatError(f"the planes of {path} have different frame sizes {sorted(shapes)}; pick one plane_name")
        self._rows, self._columns = shapes.pop()
        frame_bytes = self._rows * self._columns * _DTYPE.itemsize
        self._files: list[CachedFile] = []
        counts = []
        for folder, ops in zip(folders, self._ops):
            found = _binary_path(folder, ops, file_type, channel_name)
            if found is None:
                raise FileSetError(f"{folder} has no {_CHANNEL_FILES[(file_type, channel_name)][0]} for {channel_name}")
            file, reference = found
            references.check(file, reference, folder / "ops.npy")
            size = file.stat().st_size
            if size % frame_bytes:
                raise CorruptFileError(
                    f"{file}: {size} bytes is not a whole number of {self._rows}x{self._columns} int16 frames "
                    f"({frame_bytes} bytes each); the file may be truncated"
                )
            found = size // frame_bytes
            expected = ops.get("nframes")
            if isinstance(expected, (int, np.integer)) and int(expected) != found:
                raise CorruptFileError(
                    f"{file} holds {found} frames of {self._rows}x{self._columns} int16, but ops['nframes'] "
                    f"says {int(expected)}; the file may be truncated or belong to another run"
                )
            counts.append(found)
            self._files.append(CachedFile(file))
        # a volume needs every plane: suite2p planes can differ by one frame when the total is not divisible
        self._num_samples = min(counts)
        self._frame_bytes = frame_bytes

        if sampling_frequency is not None:
            self._sampling_frequency = checked_rate(sampling_frequency)
        else:
            try:
                self._sampling_frequency = checked_rate(self._ops[0].get("fs"), f"ops['fs'] in {folders[0]}")
            except MetadataError:
                self._sampling_frequency = self._rate_unknown(
                    f"ops['fs'] in {folders[0]} is {self._ops[0].get('fs')!r} (frames per second of each plane)")

    @staticmethod
    def _available_channels(folder: Path, ops: dict, file_type: str) -> list[str]:
        return [c for c in ("chan1", "chan2") if _binary_path(folder, ops, file_type, c) is not None]

    @staticmethod
    def get_available_planes(folder_path: str | os.PathLike) -> list[str]:
        """Names of the plane folders (``plane0``, ``plane1``...) of a suite2p output."""
        return [p.name for p in _plane_folders(Path(folder_path))]

    @staticmethod
    def get_available_channels(folder_path: str | os.PathLike, file_type: str = "registered") -> list[str]:
        """Channels (``chan1``, ``chan2``) whose movie exists for the first plane."""
        folder = _plane_folders(Path(folder_path))[0]
        return Suite2pImagingExtractor._available_channels(folder, _load_ops(folder), file_type)

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_image_shape(self) -> tuple[int, int]:
        return (self._rows, self._columns)

    def get_num_planes(self) -> int:
        return len(self._files)

    def get_dtype(self) -> np.dtype:
        return _DTYPE

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [f.path for f in self._files]

    @property
    def plane_names(self) -> list[str]:
        """The planes this extractor reads."""
        return [p.name for p in self._plane_folders]

    @property
    def file_type(self) -> str:
        """``"registered"`` or ``"raw"``."""
        return self._file_type

    def get_acquisition_facts(self):
        """What the file records (see :mod:`ophysio.extractors.suite2p.facts`)."""
        from .facts import suite2p_facts

        return suite2p_facts(self)

    def get_metadata(self) -> dict[str, Any]:
        """``{"ops": {plane name: ops dict}}``, each ops dict whole as suite2p saved it."""
        return {"ops": {folder.name: ops for folder, ops in zip(self._plane_folders, self._ops)}}

    # ------------------------------------------------------------------ reading
    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        offset = start * self._frame_bytes
        if len(self._files) == 1:
            with self._files[0].open() as fd:
                pread_into(fd, out, offset, self._files[0].path)
            return
        buffer = np.empty(out.shape[:3], dtype=_DTYPE)
        for plane, file in enumerate(self._files):
            with file.open() as fd:
                pread_into(fd, buffer, offset, file.path)
            out[..., plane] = buffer
