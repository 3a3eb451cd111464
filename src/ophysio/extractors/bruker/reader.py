"""Bruker Prairie View datasets: a folder of OME-TIFF files described by one PVScan XML.

:class:`BrukerTiffImagingExtractor` reads one channel of a Prairie View acquisition lazily. Its name and
keywords are roiextractors' (``folder_path``, ``channel_name``), with ``plane_index`` to read one plane of
a volumetric series as planar data; ``get_available_channels``, ``get_streams`` and ``xml_metadata``
follow roiextractors' Bruker extractors.

**What is trusted.** The PVScan XML (:mod:`.pvscan`) says everything: the sequences (cycles), the frames
and their times, the channels, the file (and page) of every frame. The OME-XML inside the TIFF files is not
read: Prairie View 5.7 and later write a companion OME-XML in the first file that can list files that do
not exist (the real sample in the test data lists cycles it never acquired). Samples and planes follow
:mod:`.layout`.

**What construction costs.** One pass over the XML, one listing of the folder (a missing file is an error
naming the first one missing), and one TIFF opened: the first frame's, for the page size, type and layout.
Every other file is opened only while it is read, and checked then (:mod:`.frames`): a page of another
size or type is a :class:`~ophysio.errors.CorruptFileError` naming the file.

**Metadata.** :meth:`BrukerTiffImagingExtractor.get_metadata` returns::

    {
      "xml_path": ".../TSeries-001.xml",
      "attributes": {"version": "5.6.64.400", "date": "11/3/2022 11:20:34 AM", "notes": ""},
      "system_ids": [{"SystemID": "..."}, ...],
      "state": {"framePeriod": "0.032950206", "micronsPerPixel": {"XAxis": "1.1078125", ...},
                "laserPower": {"0": {"value": "599.6", "description": "920 Axon"}, ...},
                "positionCurrent": {"ZAxis": {"0": {"value": "166.575", "description": "Z Focus"}, ...}, ...},
                ...},                   # the root PVStateShard, whole, values as the XML writes them
      "sequence_type": "TSeries ZSeries Element", "num_sequences": 5, "first_sequence": {...attributes...},
      "sequence_state": {...}, "first_frame_state": {...},   # the first sequence's and frame's own shards
      "channels": {"Ch2": 2}, "channel_name": "Ch2",
      "num_planes": 2, "plane_index": None, "bidirectional_z": False, "reversed_samples": 0,
      "plane_positions_um": {"Z Focus": [166.575, 166.575], "Optotune ETL 10-30": [-130.0, 130.0]},
      "dropped_frames": 0, "timestamp_source": "relativeTime", "frame_period_s": 0.048474237,
    }
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import numpy as np

from ...errors import FileSetError, MetadataError, SelectionError
from .._contain import AllowOutside, ReferencePolicy
from .._handles import CachedFile
from .._tiff.read import read_volumes
from .._tiff.template import PageTemplate
from ..imaging import ImagingExtractor, checked_rate
from .frames import FrameFiles
from .layout import build_layout
from .pvscan import PVScan, read_pvscan
from .sniff import find_pvscan_xml

__all__ = ["BrukerTiffImagingExtractor"]

#: A file name that is not a plain name in the folder (a separator, or a drive on Windows).
_SPECIAL_NAME = re.compile(r"[/\\:]").search


class BrukerTiffImagingExtractor(ImagingExtractor):
    """One channel of a Bruker Prairie View acquisition (single-page or multi-page OME-TIFF files + PVScan XML).

    Parameters
    ----------
    folder_path : str or os.PathLike
        The dataset's folder (with its PVScan ``.xml``), the ``.xml`` itself, or one of its TIFF files.
    channel_name : str, optional
        The channel to read, by its ``channelName`` in the XML (``"Ch2"``, or a name such as ``"Green"``;
        ``"Ch<number>"`` also works); required when the acquisition saved several.
    plane_index : int, optional
        For a volumetric series (TSeries ZSeries): read only this plane (0 is the first cycle's first plane);
        the result is planar.
    allow_outside : bool, folder or list of folders
        Where the XML's file names may lead (a name with a folder in it, a symbolic link in the folder): by
        default only inside the dataset's folder (:class:`~ophysio.errors.ContainmentError` otherwise).

    Raises
    ------
    FileSetError
        No PVScan XML, or a file the XML lists for this channel is missing (the first one is named).
    FormatError, MetadataError
        The XML is damaged, or inconsistent (a volume of another size in the middle of the series).
    SelectionError
        Several channels and no ``channel_name``, or a channel or plane the acquisition does not have.
    """

    format_id = "bruker"
    extractor_name = "BrukerTiffImagingExtractor"

    def __init__(
        self,
        folder_path: str | os.PathLike,
        channel_name: str | None = None,
        plane_index: int | None = None,
        allow_outside: AllowOutside = False,
    ):
        super().__init__()
        xml = find_pvscan_xml(folder_path)
        self.xml_path = os.fspath(xml)
        self.folder_path = os.fspath(xml.parent)
        pv = read_pvscan(xml)
        self._pv = pv
        names = pv.channel_names
        if not names:
            raise MetadataError(f"{xml}: no <Frame> lists a <File>; no image was saved")
        column = self._choose_channel(names, _channel_alias(channel_name, pv), str(xml))
        self._channel_number = pv.channel_numbers[column]
        layout = build_layout(pv)
        self._layout = layout
        table = layout.frames
        frame_file = pv.frame_files[:, column]
        lacking = np.flatnonzero(frame_file[table.ravel()] < 0)
        if lacking.size:
            frame = int(table.ravel()[lacking[0]])
            raise MetadataError(f"{xml}: frame {frame + 1} lists no file of channel {self.channel_name!r} (its other "
                                f"frames do); the XML is inconsistent")
        self._num_planes_total = layout.num_planes
        if plane_index is not None:
            planes = layout.num_planes
            if not isinstance(plane_index, (int, np.integer)) or isinstance(plane_index, bool) \
                    or not 0 <= int(plane_index) < planes:
                raise SelectionError(f"plane_index={plane_index!r} is out of range: {xml.name} has {planes} plane(s) "
                                     f"per sample (0 to {planes - 1})")
            table = table[:, [int(plane_index)]]
        self._plane_index = None if plane_index is None else int(plane_index)
        self._table = np.ascontiguousarray(table)
        policy = ReferencePolicy.for_dataset(self.folder_path, allow_outside)
        used = _first_use_order(frame_file[self._table.ravel()])
        self._files_used = used
        _check_files(self.folder_path, [pv.file_names[f] for f in used], policy, xml, self.channel_name)
        first = os.path.join(self.folder_path, pv.file_names[used[0]])
        handle = CachedFile(first)
        try:
            with handle.open() as fd:
                template = PageTemplate.from_file(fd, first)
        finally:
            handle.close()
        self._frames = FrameFiles(self.folder_path, pv.file_names, frame_file, pv.frame_pages[:, column] - 1, template)
        self._sampling_frequency = self._rate()

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return int(self._table.shape[0])

    def get_image_shape(self) -> tuple[int, int]:
        return self._frames.template.shape

    def get_dtype(self) -> np.dtype:
        return self._frames.template.dtype

    def get_num_planes(self) -> int:
        return int(self._table.shape[1])

    @property
    def is_volumetric(self) -> bool:
        """Whether samples are volumes (a plain ``bool`` attribute, as in roiextractors)."""
        return bool(self._table.shape[1] > 1)

    @property
    def plane_index(self) -> int | None:
        """The plane read when ``plane_index=`` was given (the data are then planar), else None."""
        return self._plane_index

    @property
    def timestamp_source(self) -> str | None:
        """How the timestamps were made from the XML (see :mod:`ophysio.extractors.bruker.layout`)."""
        return self._layout.timestamp_source

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def _rate(self) -> float:
        times = self._get_native_timestamps()
        if times is not None and len(times) > 1:
            steps = np.diff(times)
            positive = steps[steps > 0]
            if positive.size:
                return checked_rate(1.0 / float(np.median(positive)), f"{self.xml_path}: the frames' relativeTime")
        first = int(self._table[0, 0])
        period = float(self._pv.frame_period[first])
        if not np.isfinite(period) or period <= 0:
            raise MetadataError(f"{self.xml_path} records neither frame times nor a framePeriod; the rate is unknown")
        per_sample = period * (self._num_planes_total if self._layout.volumetric else 1)
        return checked_rate(1.0 / per_sample, f"{self.xml_path}: framePeriod")

    def _get_native_timestamps(self) -> np.ndarray | None:
        layout = self._layout
        if layout.frame_times is None:
            return None
        if self._plane_index is not None:
            return layout.frame_times[self._table[:, 0]]
        return layout.sample_times()

    def get_file_paths(self) -> list[str]:
        names, folder = self._pv.file_names, self.folder_path
        return [os.path.join(folder, names[f]) for f in self._files_used]

    def get_acquisition_facts(self):
        """What the XML records (see :mod:`ophysio.extractors.bruker.facts`)."""
        from .facts import bruker_facts

        return bruker_facts(self)

    def get_metadata(self) -> dict:
        """The XML's acquisition state and structure (layout in the module docstring)."""
        pv, layout = self._pv, self._layout
        sample = self._layout.frames[0]
        positions = {name: [float(pv.z_positions[f, d]) for f in sample.tolist()]
                     for d, name in enumerate(pv.z_devices)}
        first = int(self._table[0, 0])
        period = float(pv.frame_period[first])
        return {
            "xml_path": self.xml_path,
            "attributes": dict(pv.attributes),
            "system_ids": copy.deepcopy(pv.system_ids),
            "state": copy.deepcopy(pv.state),
            "sequence_type": layout.sequence_type,
            "num_sequences": len(pv.sequences),
            "first_sequence": dict(pv.sequences[0]) if pv.sequences else {},
            "sequence_state": copy.deepcopy(pv.sequence_state),
            "first_frame_state": copy.deepcopy(pv.first_frame_state),
            "channels": {name: number for number, name in pv.channels.items()},
            "channel_name": self.channel_name,
            "num_planes": self._num_planes_total,
            "plane_index": self._plane_index,
            "bidirectional_z": any(str(s.get("bidirectionalZ", "")).lower() == "true" for s in pv.sequences),
            "reversed_samples": int(layout.reversed.sum()),
            "plane_positions_um": positions,
            "dropped_frames": layout.dropped_frames,
            "timestamp_source": layout.timestamp_source,
            "frame_period_s": period if np.isfinite(period) else None,
        }

    @property
    def xml_metadata(self) -> dict:
        """The XML's root attributes and root state in roiextractors' layout (``xml_metadata`` of its Bruker
        extractors, which neuroconv's Bruker interfaces read): a key's value as a string, an indexed key as a
        list of ``{description or index: value}``."""
        return roiextractors_layout(self._pv.attributes, self._pv.state)

    # ------------------------------------------------------------------ static helpers (roiextractors' names)
    @staticmethod
    def get_available_channels(folder_path: str | os.PathLike) -> list[str]:
        """The channel names of a dataset, in channel-number order, from its XML alone."""
        return read_pvscan(find_pvscan_xml(folder_path)).channel_names

    @staticmethod
    def get_available_channel_names(folder_path: str | os.PathLike) -> list[str]:
        """Alias of :meth:`get_available_channels` (the name the other ophysio extractors use)."""
        return BrukerTiffImagingExtractor.get_available_channels(folder_path)

    @classmethod
    def get_streams(cls, folder_path: str | os.PathLike) -> dict:
        """``{"channel_streams": [channel names], "plane_streams": {channel: ["Ch2_000001", ...]}}`` (roiextractors'
        layout); ``plane_streams`` is empty for planar data. A plane stream is read with ``plane_index``."""
        pv = read_pvscan(find_pvscan_xml(folder_path))
        streams: dict = {"channel_streams": pv.channel_names, "plane_streams": {}}
        layout = build_layout(pv)
        if layout.volumetric and layout.num_planes > 1:
            for number, name in zip(pv.channel_numbers, pv.channel_names):
                streams["plane_streams"][name] = [f"Ch{number}_{p + 1:06d}" for p in range(layout.num_planes)]
        return streams

    # ------------------------------------------------------------------ reading
    def _read_table_rows(self, rows: np.ndarray, out: np.ndarray) -> None:
        if rows.shape[1] == 1:
            self._frames.read(rows[:, 0], out.reshape(len(rows), *self.get_image_shape()))
        else:
            read_volumes(self._frames.read, rows, out)

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        self._read_table_rows(self._table[start:stop], out)

    def _read_samples(self, indices: np.ndarray, out: np.ndarray) -> None:
        self._read_table_rows(self._table[indices], out)

    def close(self) -> None:
        self._frames.close()
        super().close()


def _channel_alias(channel_name: str | None, pv: PVScan) -> str | None:
    """``"Ch<number>"`` for a channel whose channelName is something else (``"Green"``): that name."""
    if channel_name is None or channel_name in pv.channel_names:
        return channel_name
    match = re.fullmatch(r"\s*[Cc]h(?:annel)?\s*(\d+)\s*", str(channel_name))
    if match and int(match.group(1)) in pv.channels:
        return pv.channels[int(match.group(1))]
    return channel_name


def _first_use_order(files: np.ndarray) -> list[int]:
    """The distinct values of ``files`` in order of first appearance."""
    unique, first = np.unique(files, return_index=True)
    return unique[np.argsort(first)].tolist()


def _check_files(folder: str, names: list[str], policy: ReferencePolicy, xml: Path, channel: str) -> None:
    """Every file the channel reads exists (one listing of the folder) and lies inside the dataset's folder."""
    present: set[str] = set()
    links: set[str] = set()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                present.add(entry.name)
                if entry.is_symlink():
                    links.add(entry.name)
    except OSError as exc:
        raise FileSetError(f"{folder} cannot be listed ({exc})") from exc
    missing = []
    for name in names:
        if name in present and name not in links:  # the usual case: a plain file of the folder
            continue
        path = os.path.join(folder, name)
        if _SPECIAL_NAME(name) or name in (".", "..") or os.path.isabs(name):  # a folder in the name
            policy.check(path, f"<File filename={name!r}>", xml)
            if not os.path.isfile(path):
                missing.append(name)
        elif name not in present:
            missing.append(name)
        else:
            policy.check(path, f"<File filename={name!r}> (a symbolic link)", xml)
    if missing:
        raise FileSetError(
            f"{os.path.join(folder, missing[0])} is missing: the PVScan XML {xml.name} lists it for channel "
            f"{channel!r} ({len(missing)} of the channel's {len(names)} files are missing)"
        )


def roiextractors_layout(attributes: dict, state: dict) -> dict:
    """Root attributes and state in roiextractors' ``xml_metadata`` layout."""
    out: dict = dict(attributes)
    for key, value in state.items():
        if isinstance(value, str) or value is None:
            out.setdefault(key, value)
            continue
        if "value" in value and "description" in value and not isinstance(value["value"], dict):
            out.setdefault(key, value["value"])
            continue
        items = []
        for index, item in value.items():
            if isinstance(item, dict) and "value" not in item:  # SubindexedValues: subindex -> value
                for leaf in item.values():
                    if isinstance(leaf, dict):
                        items.append({leaf.get("description") or index: leaf.get("value")})
                    else:
                        items.append({index: leaf})
            elif isinstance(item, dict):
                items.append({item.get("description") or index: item.get("value")})
            else:
                items.append({index: item})
        out[key] = items
    return out
