"""OME-TIFF files and datasets, with pymmcore-plus / mesofield per-frame sidecars.

The OME-XML of the first page (or of the companion file it points to with ``BinaryOnly``) gives the
dimensions, the DimensionOrder, channel names, physical pixel sizes, per-plane ``DeltaT`` and the
``TiffData`` blocks that say which IFD of which file holds each plane; datasets spread over several
files (``UUID FileName=...``) are read as one.

pymmcore-plus and mesofield write a per-frame sidecar beside the file,
``<file name with extension>_frame_metadata.json`` = ``{"p0": [frame dict, ...], ...}`` keyed by stage
position. When present, per-frame timestamps come from it: the camera's ``ElapsedTime-ms`` when every
frame has one, else the core's ``TimeReceivedByCore`` (as seconds after the first frame), else the MDA
runner's ``runner_time_ms``; :attr:`OMETiffImagingExtractor.timestamp_source` says which. Without a
sidecar, ``Plane DeltaT`` values are used, else Micro-Manager's per-image JSON (``ElapsedTime-ms`` in
TIFF tag 51123); without those, times follow the rate.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from pathlib import Path

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, SelectionError
from .._contain import AllowOutside, ReferencePolicy
from .._json import loads_json
from .._tiff.index import index_tiff
from .._tiff.read import PagedSampleReads, TiffPageSource, read_page_descriptions
from .._tiff.walk import MAX_IFDS
from ..imaging import ImagingExtractor, checked_rate
from .xml import OmePixels, parse_ome_xml

__all__ = ["OMETiffImagingExtractor", "read_frame_metadata", "frame_times"]

SIDECAR_SUFFIX = "_frame_metadata.json"
_MAX_COMPANION_BYTES = 256 << 20


def read_frame_metadata(path: str | os.PathLike) -> dict[str, list[dict]]:
    """Read a pymmcore-plus / mesofield ``*_frame_metadata.json`` sidecar: position key -> frame records."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = loads_json(fh.read(), path, "UTF-8 JSON")
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise MetadataError(f'{path}: a frame metadata sidecar is {{"p0": [frame dict, ...]}} keyed by position')
    for key, records in data.items():
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise MetadataError(f"{path}: frame {i} of position {key!r} is not a JSON object")
    return data


def _camera(record: dict) -> dict:
    camera = record.get("camera_metadata")
    return camera if isinstance(camera, dict) else {}


def frame_times(records: list[dict], where: str = "sidecar") -> tuple[np.ndarray, str, _dt.datetime | None]:
    """Seconds of each frame record, the source used, and the wall-clock time of second zero (if known).

    Sources, first that every record has: camera ``ElapsedTime-ms``, ``TimeReceivedByCore`` (seconds
    after the first frame), ``runner_time_ms``. The wall-clock time of second zero comes from the first
    record's ``TimeReceivedByCore`` (a naive local time) less that record's own time, when it has one.
    """
    def floats(values):
        try:
            return np.array([float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError):
            return None

    def received(record) -> _dt.datetime | None:
        try:
            return _dt.datetime.fromisoformat(str(_camera(record)["TimeReceivedByCore"]).strip())
        except (KeyError, ValueError):
            return None

    def zero_time(seconds: np.ndarray) -> _dt.datetime | None:
        first = received(records[0])
        return None if first is None else first - _dt.timedelta(seconds=float(seconds[0]))

    if records and all("ElapsedTime-ms" in _camera(r) for r in records):
        values = floats(_camera(r)["ElapsedTime-ms"] for r in records)
        if values is not None:
            return values / 1000.0, "ElapsedTime-ms", zero_time(values / 1000.0)
    if records and all("TimeReceivedByCore" in _camera(r) for r in records):
        stamps = [received(r) for r in records]
        if all(s is not None for s in stamps):
            seconds = np.array([(s - stamps[0]).total_seconds() for s in stamps], dtype=np.float64)
            return seconds, "TimeReceivedByCore", stamps[0]
    if records and all("runner_time_ms" in r for r in records):
        values = floats(r["runner_time_ms"] for r in records)
        if values is not None:
            return values / 1000.0, "runner_time_ms", zero_time(values / 1000.0)
    raise MetadataError(f"{where}: the frame records carry no ElapsedTime-ms, TimeReceivedByCore or runner_time_ms "
                        f"on every frame")


class OMETiffImagingExtractor(PagedSampleReads, ImagingExtractor):
    """One channel of one position (Image) of an OME-TIFF file or multi-file dataset.

    Parameters
    ----------
    file_path : str or os.PathLike
        An OME-TIFF file (any file of a multi-file dataset).
    sampling_frequency : float, optional
        Overrides the rate, which is otherwise the inverse of the median interval of the recorded times
        (sidecar or DeltaT), else of the OME ``TimeIncrement``.
    channel_name : str, optional
        Channel to read, by OME Channel Name; required when there are several.
    position : int or str, optional
        Stage position: the index or Name of the OME Image, and the sidecar key (``0`` or ``"p0"``).
        Required when the file or the sidecar holds several.
    frame_metadata_path : path, False or None
        The per-frame sidecar; None looks for ``<file name>_frame_metadata.json`` beside the file, False
        ignores any sidecar.
    allow_outside : bool, folder or list of folders
        Where the OME-XML may send the reader (``TiffData``/``UUID FileName``, a ``BinaryOnly``
        companion; and where a sidecar found beside the file may really be): by default only inside the
        folder of ``file_path``; True allows any file, folders allow those too. A reference elsewhere is
        a :class:`~ophysio.errors.ContainmentError`.
    """

    format_id = "ome_tiff"
    extractor_name = "OMETiffImaging"

    def __init__(
        self,
        file_path: str | os.PathLike,
        sampling_frequency: float | None = None,
        channel_name: str | None = None,
        position: int | str | None = None,
        frame_metadata_path: str | os.PathLike | bool | None = None,
        allow_outside: AllowOutside = False,
    ):
        super().__init__()
        self.file_path = os.fspath(file_path)
        if not os.path.isfile(self.file_path):
            raise FileSetError(f"{self.file_path} does not exist")
        self._references = ReferencePolicy.for_dataset(Path(self.file_path).parent, allow_outside,
                                                        self.file_path)
        self._xml_holder = self.file_path  # the file whose OME-XML names the others
        index = index_tiff(self.file_path)
        (description,) = read_page_descriptions(index, [0])
        if "<OME" not in description[:65536]:
            raise FormatError(f"{self.file_path}: the first ImageDescription holds no OME-XML")
        self._ome_xml = self._companion_xml(description)
        root, images = parse_ome_xml(self._ome_xml, self.file_path)
        self._images = images
        pos_index, pos_key = self._parse_position(position)
        self._pixels = self._select_image(images, pos_index, position)
        self._build_page_map(index)

        pixels = self._pixels
        self._channel_index = self._choose_channel(pixels.channel_names, channel_name, str(self.file_path))

        self._frame_metadata_path = self._find_sidecar(frame_metadata_path)
        self._records: list[dict] | None = None
        self._record_of_plane: np.ndarray | None = None
        self._position_key: str | None = None
        self.timestamp_source: str | None = None
        self._first_frame_time: _dt.datetime | None = None
        self._sidecar_pixel_size_um: float | None = None
        self._plane_times: np.ndarray | None = None
        if self._frame_metadata_path is not None:
            self._load_sidecar(pos_key)
        elif pixels.delta_t:
            self._plane_times_from_delta_t()
        elif any(index.mm_spans is not None for index in self._source.indexes):
            self.timestamp_source = "MicroManagerMetadata ElapsedTime-ms"  # read when first asked for
        self._sampling_frequency = self._rate(sampling_frequency)

    # ------------------------------------------------------------------ OME structure
    def _companion_xml(self, description: str) -> str:
        match = re.search(r"<(?:\w+:)?BinaryOnly[^>]*MetadataFile=\"([^\"]+)\"", description)
        if not match:
            return description
        companion = Path(self.file_path).parent / match.group(1)
        self._references.check(companion, f"BinaryOnly MetadataFile={match.group(1)!r}", self.file_path)
        if not companion.is_file():
            raise FileSetError(f"{self.file_path} keeps its OME-XML in {match.group(1)}, which is missing from "
                               f"{companion.parent}")
        if companion.stat().st_size > _MAX_COMPANION_BYTES:
            raise MetadataError(f"{companion} is larger than {_MAX_COMPANION_BYTES >> 20} MB; refused")
        self._xml_holder = os.fspath(companion)
        return companion.read_text(encoding="utf-8")

    @staticmethod
    def _parse_position(position) -> tuple[int | None, str | None]:
        if position is None:
            return None, None
        if isinstance(position, (int, np.integer)) and not isinstance(position, bool):
            return int(position), f"p{int(position)}"
        text = str(position)
        match = re.fullmatch(r"p(\d+)", text)
        return (int(match.group(1)) if match else None), text

    def _select_image(self, images: list[OmePixels], pos_index, position) -> OmePixels:
        if len(images) == 1:
            return images[0]
        if position is None:
            listing = [img.image_name or img.image_id for img in images]
            raise SelectionError(f"{self.file_path} holds {len(images)} positions (OME Images) {listing}; pass "
                                 f"position= (an index or a Name)")
        for img in images:
            if position in (img.image_name, img.image_id):
                return img
        if pos_index is not None and pos_index < len(images):
            return images[pos_index]
        raise SelectionError(f"position {position!r} is not in {self.file_path}, which holds {len(images)} Images")

    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike, position: int | str | None = None) -> list[str]:
        """Channel names of an OME-TIFF without building an extractor (roiextractors' static helper)."""
        index = index_tiff(file_path)
        (description,) = read_page_descriptions(index, [0])
        if "<OME" not in description[:65536]:
            raise FormatError(f"{os.fspath(file_path)}: the first ImageDescription holds no OME-XML")
        _, images = parse_ome_xml(description, os.fspath(file_path))
        if position is None:
            return list(images[0].channel_names)
        for img in images:
            if position in (img.image_name, img.image_id):
                return list(img.channel_names)
        return list(images[int(str(position).lstrip("p"))].channel_names)

    def get_available_positions(self) -> list[str]:
        """Names (or IDs) of the OME Images of the file, one per stage position."""
        return [img.image_name or img.image_id for img in self._images]

    def _build_page_map(self, own_index) -> None:
        pixels = self._pixels
        folder = Path(self.file_path).parent
        n = pixels.num_planes
        names = {block.file_name for block in pixels.tiff_data or []} | {None}
        if n > MAX_IFDS * len(names):  # before tables of n entries are made (2**31 planes: 16 GiB each)
            raise MetadataError(
                f"{self.file_path}: the OME-XML declares {n} planes (SizeZ={pixels.size_z} x SizeC={pixels.size_c} "
                f"x SizeT={pixels.size_t}), more than the {len(names)} file(s) it names can hold; the XML is damaged"
            )
        plane_file = np.full(n, -1, dtype=np.int64)
        plane_ifd = np.full(n, -1, dtype=np.int64)
        files: list[str] = []
        blocks = pixels.tiff_data or []
        if not blocks:
            plane_file[:] = 0
            plane_ifd[:] = np.arange(n)
            files.append(self.file_path)
        for block in blocks:
            path = self.file_path if block.file_name is None else os.fspath(folder / block.file_name)
            if block.file_name is not None:
                self._references.check(path, f"TiffData UUID FileName={block.file_name!r}", self._xml_holder)
            if path not in files:
                files.append(path)
            if block.first_z >= pixels.size_z or block.first_c >= pixels.size_c or block.first_t >= pixels.size_t:
                raise MetadataError(
                    f"{self.file_path}: a TiffData block starts at FirstZ={block.first_z} FirstC={block.first_c} "
                    f"FirstT={block.first_t}, outside the Image (Z={pixels.size_z}, C={pixels.size_c}, "
                    f"T={pixels.size_t}); the OME-XML is inconsistent"
                )
            start = pixels.plane_index(block.first_z, block.first_c, block.first_t)
            count = block.plane_count if block.plane_count is not None else n - start
            if start + count > n:
                raise MetadataError(f"{self.file_path}: a TiffData block maps planes {start}..{start + count - 1}, but "
                                    f"the Image has {n} planes (Z={pixels.size_z}, C={pixels.size_c}, "
                                    f"T={pixels.size_t})")
            plane_file[start : start + count] = files.index(path)
            plane_ifd[start : start + count] = block.ifd + np.arange(count)
        missing = np.flatnonzero(plane_file < 0)
        if missing.size:
            z, c, t = pixels.plane_coords(int(missing[0]))
            raise MetadataError(f"{self.file_path}: the OME-XML stores {missing.size} of {n} planes nowhere "
                                f"(first: Z={z}, C={c}, T={t}); no TiffData block covers them")
        indexes = []
        for path in files:
            if not os.path.isfile(path):
                raise FileSetError(f"{path} is missing: the OME-XML of {self.file_path} stores planes in it")
            indexes.append(own_index if os.path.samefile(path, self.file_path) else index_tiff(path))
        for path, idx in zip(files, indexes):
            if idx.shape != (pixels.size_y, pixels.size_x) or idx.dtype != pixels.dtype:
                raise MetadataError(
                    f"{path}: the OME-XML says {pixels.size_y}x{pixels.size_x} {pixels.dtype} planes (SizeY x SizeX, "
                    f"Type) but the pages are {idx.shape[0]}x{idx.shape[1]} {idx.dtype}; the XML contradicts the file"
                )
        self._source = TiffPageSource(files, indexes)
        pages = np.empty(n, dtype=np.int64)
        for f, idx in enumerate(indexes):
            mine = plane_file == f
            local = np.searchsorted(idx.ifd_numbers, plane_ifd[mine])
            bad = (local >= idx.num_pages) | (idx.ifd_numbers[np.minimum(local, idx.num_pages - 1)] != plane_ifd[mine])
            if bad.any():
                ifd = int(plane_ifd[mine][bad][0])
                raise MetadataError(f"{files[f]}: the OME-XML puts a plane in IFD {ifd}, but the file holds "
                                    f"{idx.num_pages} image IFDs; the XML contradicts the file (truncated?)")
            pages[mine] = self._source.file_starts[f] + local
        self._plane_page = pages
        self._plane_file, self._plane_ifd = plane_file, plane_ifd

    # ------------------------------------------------------------------ sidecar and times
    def _find_sidecar(self, frame_metadata_path) -> str | None:
        if frame_metadata_path is False:
            return None
        if frame_metadata_path is None or frame_metadata_path is True:
            candidate = self.file_path + SIDECAR_SUFFIX
            if not os.path.isfile(candidate):
                return None
            # found by name, not named by the user: a symlink that leads out of the folder is not followed
            return self._references.check(candidate, f"the frame metadata sidecar {Path(candidate).name} (a link)",
                                          self.file_path)
        path = os.fspath(frame_metadata_path)
        if not os.path.isfile(path):
            raise FileSetError(f"frame metadata sidecar {path} does not exist")
        return path

    def _load_sidecar(self, pos_key: str | None) -> None:
        data = read_frame_metadata(self._frame_metadata_path)
        keys = list(data)
        if pos_key is not None and pos_key in data:
            key = pos_key
        elif pos_key is None and len(keys) == 1:
            key = keys[0]
        else:
            hint = re.search(r"_p(\d+)\.ome\.tiff?$", os.path.basename(self.file_path))
            if pos_key is None and hint and f"p{int(hint.group(1))}" in data:
                key = f"p{int(hint.group(1))}"
            else:
                raise SelectionError(f"{self._frame_metadata_path} holds positions {keys}; pass position= to "
                                     f"choose one" if pos_key is None else
                                     f"position {pos_key!r} is not in {self._frame_metadata_path} (it holds {keys})")
        records = data[key]
        pixels = self._pixels
        n = pixels.num_planes
        if len(records) != n:
            raise MetadataError(
                f"{self._frame_metadata_path}: position {key!r} has {len(records)} frame records but "
                f"{os.path.basename(self.file_path)} holds {n} planes (Z={pixels.size_z}, C={pixels.size_c}, "
                f"T={pixels.size_t}); the sidecar belongs to another acquisition or was cut short"
            )
        indexed = [r.get("mda_event") for r in records]
        record_of_plane = np.full(n, -1, dtype=np.int64)
        if all(isinstance(e, dict) and isinstance(e.get("index"), dict) for e in indexed):
            for k, event in enumerate(indexed):
                idx = event["index"]
                z, c, t = int(idx.get("z", 0)), int(idx.get("c", 0)), int(idx.get("t", 0))
                if not (z < pixels.size_z and c < pixels.size_c and t < pixels.size_t):
                    raise MetadataError(f"{self._frame_metadata_path}: frame {k} has index t={t} c={c} z={z} "
                                        f"outside the Image (T={pixels.size_t}, C={pixels.size_c}, Z={pixels.size_z})")
                record_of_plane[pixels.plane_index(z, c, t)] = k
            if (record_of_plane < 0).any():
                raise MetadataError(f"{self._frame_metadata_path}: frame records repeat an mda_event index, so "
                                    f"some planes have no record")
        else:
            # records are in acquisition order, which is the order the planes were written: page order
            storage_order = np.lexsort((self._plane_ifd, self._plane_file))
            record_of_plane[storage_order] = np.arange(n)
        times, source, first = frame_times(records, self._frame_metadata_path)
        self._records, self._record_of_plane, self._position_key = records, record_of_plane, key
        self.timestamp_source, self._first_frame_time = source, first
        self._plane_times = times[record_of_plane]
        self._sidecar_pixel_size_um = _one_pixel_size(records)

    def _plane_times_from_delta_t(self) -> None:
        pixels = self._pixels
        times = np.full(pixels.num_planes, np.nan)
        for (z, c, t), value in pixels.delta_t.items():
            if z < pixels.size_z and c < pixels.size_c and t < pixels.size_t:
                times[pixels.plane_index(z, c, t)] = value
        self._plane_times = times
        self.timestamp_source = "DeltaT"

    def _sample_planes(self, samples: np.ndarray, plane: int = 0) -> np.ndarray:
        planes = self._pixels.plane_index(plane, self._channel_index, np.asarray(samples, dtype=np.int64))
        return np.asarray(planes, dtype=np.int64)

    def _micromanager_times(self, planes: np.ndarray) -> np.ndarray | None:
        """ElapsedTime-ms of Micro-Manager's per-image JSON (tag 51123) of the given planes, in seconds."""
        pages = self._plane_page[planes]
        files, local = self._source._file[pages], self._source._local[pages]
        times = np.full(len(planes), np.nan)
        for f in np.unique(files).tolist():
            mine = np.flatnonzero(files == f)
            texts = read_page_descriptions(self._source.indexes[f], local[mine].tolist(), micromanager=True)
            for i, text in zip(mine.tolist(), texts):
                try:
                    value = loads_json(text, "Micro-Manager metadata").get("ElapsedTime-ms") if text else None
                    times[i] = float(value) / 1000.0
                except (ValueError, TypeError, AttributeError):  # MetadataError is a ValueError
                    return None
        return None if np.isnan(times).any() else times

    def _get_native_timestamps(self) -> np.ndarray | None:
        if self._plane_times is None:
            if self.timestamp_source == "MicroManagerMetadata ElapsedTime-ms":
                times = self._micromanager_times(self._sample_planes(np.arange(self.get_num_samples())))
                if times is None:
                    self.timestamp_source = None
                return times
            return None
        times = self._plane_times[self._sample_planes(np.arange(self.get_num_samples()))]
        if np.isnan(times).any():
            return None  # DeltaT missing for some planes: fall back to the rate
        return times

    def _rate(self, sampling_frequency) -> float | None:
        if sampling_frequency is not None:
            return checked_rate(sampling_frequency)
        increment = self._pixels.time_increment
        if self._plane_times is None and increment is not None and increment > 0:
            return 1.0 / increment  # no recorded times at hand: do not read every page's JSON just for the rate
        times = self._get_native_timestamps()
        if times is not None and len(times) > 1:
            step = float(np.median(np.diff(times)))
            if step > 0:
                return 1.0 / step
        if increment is not None and increment > 0:
            return 1.0 / increment
        return self._rate_unknown(f"{self.file_path} states no rate (no TimeIncrement, too few recorded times)")

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return self._pixels.size_t

    def get_image_shape(self) -> tuple[int, int]:
        return (self._pixels.size_y, self._pixels.size_x)

    def get_num_planes(self) -> int:
        return self._pixels.size_z

    def get_dtype(self) -> np.dtype:
        return self._source.dtype

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return list(self._source.paths)

    def get_acquisition_facts(self):
        """What the file records (see :mod:`ophysio.extractors.ome_tiff.facts`)."""
        from .facts import ome_facts

        return ome_facts(self)

    def get_metadata(self) -> dict:
        """The OME-XML text, the selected Image's facts, and where the timestamps came from."""
        p = self._pixels
        return {
            "ome_xml": self._ome_xml,
            "image_id": p.image_id,
            "image_name": p.image_name,
            "dimension_order": p.dimension_order,
            "sizes": {"X": p.size_x, "Y": p.size_y, "Z": p.size_z, "C": p.size_c, "T": p.size_t},
            "channel_names": list(p.channel_names),
            "physical_sizes": dict(p.physical_sizes),
            "time_increment_s": p.time_increment,
            "acquisition_date": p.acquisition_date,
            "timestamp_source": self.timestamp_source,
            "frame_metadata_path": self._frame_metadata_path,
            "position_key": self._position_key,
            "first_frame_time": self._first_frame_time,
            "sidecar_pixel_size_um": self._sidecar_pixel_size_um,
        }

    def get_frame_metadata(self) -> list | None:
        """The sidecar record of each sample of this channel (a list of per-plane records for volumes)."""
        if self._records is None:
            return None
        result = []
        for t in range(self.get_num_samples()):
            planes = [self._records[self._record_of_plane[self._pixels.plane_index(z, self._channel_index, t)]]
                      for z in range(self.get_num_planes())]
            result.append(planes if self.is_volumetric else planes[0])
        return result

    def get_all_frame_metadata(self) -> list[dict] | None:
        """Every sidecar record of the selected position, as written (all channels and planes)."""
        return None if self._records is None else list(self._records)

    # ------------------------------------------------------------------ reading
    def _sample_pages(self, indices: np.ndarray) -> np.ndarray:
        plane_ids = np.stack([self._sample_planes(indices, z) for z in range(self._pixels.size_z)], axis=1)
        return self._plane_page[plane_ids]


def _one_pixel_size(records: list) -> float | None:
    """The ``pixel_size_um`` every sidecar record states, when they all state the same positive size."""
    sizes = {r.get("pixel_size_um") if isinstance(r, dict) else None for r in records}
    if len(sizes) != 1:
        return None
    size = sizes.pop()
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
        return None
    return float(size)
