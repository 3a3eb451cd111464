"""Femtonics MESc (``.mesc``) files: :class:`FemtonicsImagingExtractor`.

A MESc file is HDF5: ``MSession_<i>`` groups (sessions) hold ``MUnit_<j>`` groups (measurement units:
one acquisition each), and a unit holds one dataset ``Channel_<k>`` per channel. The unit's attributes
describe the acquisition (see :mod:`.header` for how their texts are encoded):

- ``Channel_<k>_Name``: the channel's recorded name ("UG", "UR"); a channel without one is named
  ``Channel_<k>``, as roiextractors names it.
- ``ZAxisConversionConversionLinearScale`` and ``ZAxisConversionUnitName``: the frame period and its
  unit (ms); ``ZAxisConversionConversionLinearOffset``: the time of the first frame, in the same unit.
- ``XDim``, ``YDim``, ``ZDim``: columns, rows and frames. A channel's dataset is stored
  (frames, rows, columns) = (ZDim, YDim, XDim), and ophysio reads it as stored, as roiextractors does
  (its image shape is the dataset's axes 1 and 2, and it documents XDim as the columns): no transpose.

Pixels are the stored integers (MESc's display conversion, ``Channel_<k>_Conversion_*``, is kept in
the metadata, not applied). Reads go through h5py with the HDF5 storage checks every HDF5-based format
makes (:mod:`ophysio.extractors._hdf5.storage`): chunks never written, or bytes lost to a file cut
short while open, are a :class:`~ophysio.errors.CorruptFileError` naming the file, never zeros.

Session, unit and channel are chosen by name. When the file holds only one, it is the default; when it
holds several and none is named, a :class:`~ophysio.errors.SelectionError` lists them (roiextractors
raises in that case too).
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, OphysioError, SelectionError
from .._contain import ReferencePolicy
from .._handles import CachedFile
from .._hdf5.reads import (
    CHUNK_CACHE_BYTES,
    MAX_CHUNK_CACHE_BYTES,
    DatasetReads,
    _open_h5,
    chunk_row_bytes,
    h5_read_errors,
)
from .._hdf5.refs import check_object
from .._hdf5.storage import stored_extent_at_open
from ..axes import ArrayLayout, LayoutFacts
from ..imaging import ImagingExtractor, checked_rate
from .header import LENGTH_UNITS_UM, TIME_UNITS_S, decode_text, decoded_attributes, read_attribute, xml_summary
from .sniff import SESSION, UNIT

__all__ = ["FemtonicsImagingExtractor"]

CHANNEL = re.compile(r"Channel_(\d+)")


def _numbered(names, pattern: re.Pattern) -> list[str]:
    """The names that match ``pattern`` (``MUnit_<n>``...), in the order of their numbers."""
    found = [(int(m.group(1)), name) for name in names if isinstance(name, str) and (m := pattern.fullmatch(name))]
    return [name for _, name in sorted(found)]


def _pick(names: list[str], wanted: str | None, what: str, keyword: str, where: str) -> str:
    """The one of ``names`` asked for, or the only one; a SelectionError lists them otherwise."""
    if wanted is None:
        if len(names) > 1:
            raise SelectionError(f"{where} holds {len(names)} {what}s {names}: pass {keyword}= with one of them")
        return names[0]
    if wanted not in names:
        raise SelectionError(f"{where} has no {what} {wanted!r}; its {what}s: {names}")
    return wanted


def _members(group, pattern: re.Pattern, kind: type, linked: bool = False) -> list[str]:
    """Names of ``group``'s hard-linked members of class ``kind`` that match ``pattern``, in numeric order,
    and with ``linked`` those reached through a soft or external link too (not followed here: the reader
    checks the one it reads against the dataset's folder first). MESc itself writes hard links only."""
    import h5py

    names = []
    for name in _numbered(list(group), pattern):
        if isinstance(group.get(name, getlink=True), h5py.HardLink):
            if group.get(name, getclass=True) is kind:
                names.append(name)
        elif linked:
            names.append(name)
    return names


def _groups(h5, parent: str, pattern: re.Pattern) -> list[str]:
    import h5py

    return _members(h5[parent] if parent else h5, pattern, h5py.Group)


def _available(file_path, session_name: str | None = None, munit_name: str | None = None, level: str = "units"):
    """Sessions, units of a session, or channels of a unit of a MESc file, read through h5py."""
    import h5py

    path = os.fspath(file_path)
    if not Path(path).is_file():
        raise FileSetError(f"{path} does not exist or is not a file")
    try:
        with h5py.File(path, "r") as h5, h5_read_errors(f"{path}: its MESc structure"):
            sessions = _groups(h5, "", SESSION)
            if level == "sessions":
                return sessions
            if not sessions:
                raise FormatError(f"{path} has no MSession_<n> group: it is not a Femtonics MESc file")
            session = _pick(sessions, session_name, "session", "session_name", path)
            units = _groups(h5, session, UNIT)
            if level == "units":
                return units
            if not units:
                raise FormatError(f"{path}: {session} holds no MUnit_<n> group (no measurement unit)")
            unit = _pick(units, munit_name, "unit", "munit_name", f"{path}: {session}")
            return _channel_table(h5[f"{session}/{unit}"], f"{path}: {session}/{unit}")[0]
    except OSError as exc:
        if isinstance(exc, OphysioError) or exc.errno is not None:
            raise
        raise _open_error(path, exc) from exc


def _open_error(path: str, exc: Exception) -> FormatError:
    """The error for a file h5py cannot open: damaged when it has the HDF5 signature, else not HDF5."""
    import h5py

    try:
        signed = h5py.is_hdf5(path)
    except OSError:
        signed = False
    if signed:
        return CorruptFileError(f"{path} is an HDF5 (MESc) file that cannot be opened; it is damaged or truncated "
                                f"({exc})")
    return FormatError(f"{path} is not an HDF5 file, so not a Femtonics MESc file ({exc})")


def _channel_table(group, where: str) -> tuple[list[str], list[str]]:
    """(recorded names, dataset names) of a unit's ``Channel_<k>`` datasets, in the order of k."""
    import h5py

    datasets = _members(group, CHANNEL, h5py.Dataset, linked=True)
    names = []
    for dataset in datasets:
        present, value = read_attribute(group, f"{dataset}_Name")
        text = decode_text(value) if present else None
        if present and text is None:
            warnings.warn(f"{where}: attribute {dataset}_Name is not a text ({value!r}); the channel is named "
                          f"{dataset}", stacklevel=4)
        names.append(text.strip() if text and text.strip() else dataset)
    if len(set(names)) < len(names):
        warnings.warn(f"{where}: channel names {names} repeat; the channels are named by their datasets", stacklevel=4)
        names = list(datasets)
    return names, datasets


def _number(group, key: str, where: str) -> float | None:
    """A numeric attribute as a float (a one-element array counts), None when missing; a MetadataError
    naming it when it is there but is not one finite number."""
    present, value = read_attribute(group, key)
    if not present:
        return None
    array = np.asarray(value) if not isinstance(value, str) else None
    if array is None or array.size != 1 or array.dtype.kind not in "iuf":
        raise MetadataError(f"{where}: attribute {key} is {value!r}, not a number; the file's attributes are damaged")
    number = float(array.reshape(()))
    if not np.isfinite(number):
        raise MetadataError(f"{where}: attribute {key} is {number}, not a finite number; the file's attributes are "
                            f"damaged")
    return number


class FemtonicsImagingExtractor(DatasetReads, LayoutFacts, ImagingExtractor):
    """One channel of one measurement unit of a Femtonics MESc file, read lazily through h5py.

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.mesc`` file.
    session_name : str, optional
        The session (``"MSession_0"``); may be omitted when the file holds one.
    munit_name : str, optional
        The measurement unit of that session (``"MUnit_1"``); may be omitted when the session holds one.
    channel_name : str, optional
        The channel, by its recorded name (``"UG"``, ``"UR"``) or its dataset (``"Channel_0"``); may be
        omitted when the unit holds one.
    """

    format_id = "femtonics"
    extractor_name = "FemtonicsImaging"
    _read_what = "frames {start}:{stop} of {dataset}"

    def __init__(self, file_path: str | os.PathLike, session_name: str | None = None, munit_name: str | None = None,
                 channel_name: str | None = None):
        super().__init__()
        self._file_path = os.fspath(file_path)
        if not Path(self._file_path).is_file():
            raise FileSetError(f"{self._file_path} does not exist or is not a file")
        self._references = ReferencePolicy.for_dataset(Path(self._file_path).parent, False, self._file_path)
        self._file = CachedFile(self._file_path, _open_h5)
        self._metadata_cache: dict | None = None
        self._dataset_cache = None
        self._cache_bytes = 0
        try:
            with self._file.open() as h5, h5_read_errors(f"{self._file_path}: its MESc structure"):
                self._setup(h5, session_name, munit_name, channel_name)
        except OphysioError:  # a ContainmentError is an OSError too: not to be taken for a non-HDF5 file
            self._file.close()
            raise
        except OSError as exc:
            self._file.close()
            if exc.errno is not None:
                raise
            raise _open_error(self._file_path, exc) from exc
        except Exception:
            self._file.close()
            raise
        if self._cache_bytes:
            self._file.close()
            self._file = CachedFile(self._file_path, functools.partial(_open_h5, rdcc_nbytes=self._cache_bytes))

    # ------------------------------------------------------------------ set-up
    def _setup(self, h5, session_name, munit_name, channel_name) -> None:
        import h5py

        path = self._file_path
        sessions = _groups(h5, "", SESSION)
        if not sessions:
            top = ", ".join(name for name in list(h5)[:5] if isinstance(name, str)) or "nothing"
            raise FormatError(f"{path} has no MSession_<n> group: it is not a Femtonics MESc file (its top level "
                              f"holds {top})")
        self._session_name = _pick(sessions, session_name, "session", "session_name", path)
        units = _groups(h5, self._session_name, UNIT)
        if not units:
            raise FormatError(f"{path}: {self._session_name} holds no MUnit_<n> group (no measurement unit)")
        self._munit_name = _pick(units, munit_name, "unit", "munit_name", f"{path}: {self._session_name}")
        self._unit_path = f"{self._session_name}/{self._munit_name}"
        where = f"{path}: {self._unit_path}"
        unit = h5[self._unit_path]
        names, datasets = _channel_table(unit, where)
        if not names:
            raise FormatError(f"{where} holds no Channel_<k> dataset (no imaging data)")
        if channel_name is not None and channel_name not in names and channel_name in datasets:
            channel_name = names[datasets.index(channel_name)]  # named by its dataset
        if channel_name is None and len(names) > 1:
            raise SelectionError(f"{where} holds {len(names)} channels {names} (datasets {datasets}): pass "
                                 f"channel_name= with one of them")
        index = self._choose_channel(names, channel_name, where)
        self._dataset_path = f"{self._unit_path}/{datasets[index]}"
        # before following a link to the dataset, or reading its virtual or external raw storage
        check_object(h5, self._dataset_path, self._references, path)
        dset = h5[self._dataset_path]
        shown = f"{where}/{datasets[index]}"
        if not isinstance(dset, h5py.Dataset):
            raise FormatError(f"{shown} is a group, not a dataset of frames")
        if dset.ndim != 3 or dset.dtype.kind not in "iuf":
            raise FormatError(f"{shown} is {dset.dtype} of shape {dset.shape}, not (frames, rows, columns) of numbers")
        self._layout = ArrayLayout("TYX", tuple(int(n) for n in dset.shape), where=shown)
        self._dtype = dset.dtype
        self._extent = stored_extent_at_open(h5, dset, path, self._dataset_path, 0, shown)
        row = chunk_row_bytes(tuple(dset.shape), dset.chunks, 0, dset.dtype.itemsize)
        if dset.chunks is not None and dset.id.get_create_plist().get_nfilters() > 0 and row > CHUNK_CACHE_BYTES:
            self._cache_bytes = min(int(row * 1.05) + 1024**2, MAX_CHUNK_CACHE_BYTES)
        self._read_timing(unit, where)
        self._geometry_matches = self._check_dims(unit, where)
        self._storage = {"shape": tuple(dset.shape), "chunks": dset.chunks, "compression": dset.compression}

    def _read_timing(self, unit, where: str) -> None:
        """Frame period, first frame time and their unit, from the unit's Z axis conversion."""
        period = _number(unit, "ZAxisConversionConversionLinearScale", where)
        if period is None:
            raise MetadataError(f"{where} records no frame period (attribute ZAxisConversionConversionLinearScale is "
                                f"missing); the file's attributes are damaged or this unit is not a time series")
        offset = _number(unit, "ZAxisConversionConversionLinearOffset", where) or 0.0
        present, raw = read_attribute(unit, "ZAxisConversionUnitName")
        unit_name = (decode_text(raw) or "").strip() if present else ""
        if present and decode_text(raw) is None:
            raise MetadataError(f"{where}: attribute ZAxisConversionUnitName is {raw!r}, not a text; the file's "
                                f"attributes are damaged")
        if not unit_name:
            warnings.warn(f"{where} names no unit for its Z (time) axis; its frame period {period} is taken in "
                          f"milliseconds, as roiextractors does", stacklevel=3)
            unit_name = "ms"
        if unit_name in LENGTH_UNITS_UM:
            raise MetadataError(f"{where} is a z-stack: its third axis is in {unit_name} (depth), not time. ophysio "
                                f"reads MESc time series (Z axis in ms) only")
        if unit_name not in TIME_UNITS_S:
            raise MetadataError(f"{where}: the unit of its Z (time) axis is {unit_name!r}, which is not a time unit "
                                f"ophysio knows ({', '.join(TIME_UNITS_S)})")
        seconds = TIME_UNITS_S[unit_name]
        if period <= 0:
            raise MetadataError(f"{where}: its frame period (ZAxisConversionConversionLinearScale) is {period} "
                                f"{unit_name}, not a positive time; the file's attributes are damaged")
        self._time_unit = unit_name
        self._frame_period_s = period * seconds
        self._first_frame_s = offset * seconds
        self._sampling_frequency = checked_rate(1.0 / self._frame_period_s)

    def _check_dims(self, unit, where: str) -> bool:
        """Compare the dataset's shape with XDim/YDim/ZDim; warn when they differ. Whether the frame is
        (YDim, XDim), so that the axes' pixel sizes apply to rows and columns."""
        frames, rows, columns = self._layout.shape
        dims = {}
        for key in ("XDim", "YDim", "ZDim"):
            try:
                value = _number(unit, key, where)
            except MetadataError as exc:
                warnings.warn(str(exc), stacklevel=4)
                value = None
            dims[key] = None if value is None else int(value)
        if dims["ZDim"] is not None and dims["ZDim"] != frames:
            warnings.warn(f"{where}: ZDim is {dims['ZDim']} but its dataset holds {frames} frames; the {frames} "
                          f"stored frames are read", stacklevel=4)
        if dims["XDim"] is None or dims["YDim"] is None:
            return False
        if (dims["YDim"], dims["XDim"]) != (rows, columns):
            warnings.warn(f"{where}: its frames are {rows} x {columns} but YDim x XDim is {dims['YDim']} x "
                          f"{dims['XDim']}; the pixel sizes cannot be placed, so they are left out", stacklevel=4)
            return False
        return True

    # ------------------------------------------------------------------ static helpers (roiextractors' names)
    @staticmethod
    def get_available_sessions(file_path: str | os.PathLike) -> list[str]:
        """The ``MSession_<n>`` groups of a MESc file, in the order of n."""
        return _available(file_path, level="sessions")

    @staticmethod
    def get_available_munits(file_path: str | os.PathLike, session_name: str | None = None) -> list[str]:
        """The ``MUnit_<n>`` groups of a session, in the order of n (``session_name`` may be omitted when the
        file holds one session)."""
        return _available(file_path, session_name, level="units")

    @staticmethod
    def get_available_channels(file_path: str | os.PathLike, session_name: str | None = None,
                               munit_name: str | None = None) -> list[str]:
        """The recorded names of a unit's channels (``Channel_<k>`` where none is recorded), in the order of k."""
        return _available(file_path, session_name, munit_name, level="channels")

    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike, session_name: str | None = None,
                                    munit_name: str | None = None) -> list[str]:
        """Alias of :meth:`get_available_channels` under the name every ophysio format uses."""
        return _available(file_path, session_name, munit_name, level="channels")

    # ------------------------------------------------------------------ facts
    @property
    def file_path(self) -> Path:
        """The MESc file (roiextractors' attribute)."""
        return Path(self._file_path)

    @property
    def session_name(self) -> str:
        """The session read (``"MSession_0"``)."""
        return self._session_name

    @property
    def munit_name(self) -> str:
        """The measurement unit read (``"MUnit_1"``)."""
        return self._munit_name

    @property
    def dataset_path(self) -> str:
        """Path of the channel's dataset in the file."""
        return self._dataset_path

    def get_frame_period(self) -> float:
        """Seconds between frames (``ZAxisConversionConversionLinearScale`` in its unit)."""
        return self._frame_period_s

    def _get_native_timestamps(self) -> np.ndarray | None:
        """The Z axis's own times when its first frame is not at 0: ``offset + index * period``. A unit whose
        first frame is at 0 (as MESc 3.3 writes them) records nothing beyond the rate, as roiextractors says."""
        if self._first_frame_s == 0:
            return None
        return self._first_frame_s + np.arange(self.get_num_samples(), dtype=np.float64) * self._frame_period_s

    def get_metadata(self) -> dict:
        """What the file says about the unit read: the selection, the storage, the timing, and the decoded
        attributes of the file, the session and the unit (``unit_attrs``: the whole set), with the unit's XML
        texts parsed under ``xml`` (see :mod:`.header`). Read on first use (reading pixels never needs it)."""
        if self._metadata_cache is None:
            with self._file.open() as h5, h5_read_errors(f"{self._file_path}: the attributes of {self._unit_path}"):
                metadata = self._read_metadata(h5)
            self._metadata_cache = metadata
        return dict(self._metadata_cache)

    def _read_metadata(self, h5) -> dict[str, Any]:
        unit_attrs = decoded_attributes(h5[self._unit_path])
        xml: dict[str, Any] = {}
        for key, text in unit_attrs.items():
            if key.endswith("XML") and isinstance(text, str) and text.strip():
                try:
                    xml[key] = xml_summary(text, f"{self._file_path}: {self._unit_path} attribute {key}")
                except MetadataError as exc:
                    warnings.warn(f"{exc}; it is kept as text only", stacklevel=4)
                    xml[key] = {"error": str(exc)}
        return {
            "session_name": self._session_name,
            "munit_name": self._munit_name,
            "channel_name": self.channel_name,
            "channel_names": list(self.get_channel_names()),
            "dataset": self._dataset_path,
            **self._storage,
            "frame_period_s": self._frame_period_s,
            "first_frame_time_s": self._first_frame_s,
            "time_unit": self._time_unit,
            "file_attrs": decoded_attributes(h5),
            "session_attrs": decoded_attributes(h5[self._session_name]),
            "unit_attrs": unit_attrs,
            "xml": xml,
        }

    def get_acquisition_facts(self):
        """What the unit records (see :mod:`ophysio.extractors.femtonics.facts`)."""
        from .facts import femtonics_facts

        return femtonics_facts(self)

    def _get_metadata(self) -> dict[str, Any]:
        """roiextractors' summary of the unit (its ``_get_metadata``, which neuroconv's interface reads)."""
        from .facts import roiextractors_summary

        return roiextractors_summary(self)
