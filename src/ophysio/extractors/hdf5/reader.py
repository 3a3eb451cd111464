"""Movies stored as an HDF5 dataset: :class:`Hdf5ImagingExtractor`.

Reads go through h5py lazily, straight into the caller's buffer when the stored axis order is already
(time, rows, columns[, planes]). For compressed datasets whose chunks span several frames, the file is
opened with a chunk cache that holds a time-row of chunks, so that consecutive reads decompress each
chunk once; unfiltered data keep HDF5's small default cache, which reads whole chunks straight into
the destination.

Which dataset: the one named by ``dataset``, else the first that fits among conventional names
(``mov`` as CaImAn writes it, ``data``, ``imaging``), then per-channel datasets or groups (``ch1``,
``Channel 1``... under any group, as PySight writes ``Full Stack/Channel 1``), then the largest 3-D or
higher numeric dataset; several equally good candidates are an error that lists them.

Axis order: ``dims`` (``"TYX"``, ``"YXT"``, ``"TZYXC"``...), else the dataset's ``DIMENSION_LABELS``
(h5py dimension scales), else ``"TYX"`` for 3-D data; 4-D and 5-D data need one of the first two.
Rate: ``sampling_frequency``, else an attribute ``fr``, ``fs``, ``rate``, ``sampling_frequency``
(and a few spellings more) on the dataset, its groups or the file.

What ophysio's own HDF5 writer stores is read back: a ``timestamps`` attribute of the movie dataset
naming a 1-D dataset of one time per sample gives the native timestamps (checked: length, finite,
non-decreasing), and a ``channel_names`` attribute naming each channel replaces the generic
``channel_<i>`` names.
"""

from __future__ import annotations

import functools
import os
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, OphysioError, SelectionError
from .._contain import AllowOutside, ReferencePolicy
from .._handles import CachedFile
from .._hdf5.reads import (
    CHUNK_CACHE_BYTES,
    MAX_CHUNK_CACHE_BYTES,
    DatasetReads,
    _open_h5,
    chunk_row_bytes,
    h5_read_errors,
)
from .._hdf5.refs import check_dataset, check_object
from .._hdf5.storage import stored_extent_at_open
from ..axes import (
    ArrayLayout,
    Candidate,
    LayoutFacts,
    channel_count,
    channel_names_from,
    checked_timestamps,
    choose_stream,
    dims_from_labels,
    parse_dims,
    python_value,
    rate_from_attrs,
)
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["Hdf5ImagingExtractor"]

def _candidates(h5file, keep=None) -> list[Candidate]:
    import h5py

    found: list[Candidate] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(name, bytes):  # not UTF-8 (h5py gives bytes): it could not be named by dataset= either
            return
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 3 and obj.dtype.kind in "iufb":
            if keep is None or keep(name, obj):
                found.append(Candidate(name, tuple(obj.shape), obj.dtype))

    h5file.visititems(visit)  # in the constructor's h5_read_errors: damage there is a CorruptFileError
    return found


def _attrs(obj) -> dict[str, Any]:
    result = {}
    for key in obj.attrs:
        try:
            result[key] = python_value(obj.attrs[key])
        except (OSError, TypeError, ValueError) as exc:  # unreadable attribute types
            result[key] = f"<unreadable attribute: {exc}>"
    return result


def _attribute(obj, key: str) -> Any:
    """An attribute's value, or None when it is missing or of a type h5py cannot read."""
    try:
        return obj.attrs.get(key)
    except (OSError, TypeError, ValueError):
        return None


def _finite_seconds(value: Any, name: str) -> float:
    """``value`` as a finite number of seconds, or a MetadataError naming ``name``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise MetadataError(f"{name} must be a number of seconds, not {value!r}") from None
    if not np.isfinite(seconds):
        raise MetadataError(f"{name} must be a finite number of seconds, not {value!r}")
    return seconds


class Hdf5ImagingExtractor(DatasetReads, LayoutFacts, ImagingExtractor):
    """A movie in an HDF5 dataset, read lazily through h5py.

    Parameters
    ----------
    file_path : str or os.PathLike
        The HDF5 file.
    dataset : str, optional
        Path of the dataset (``"mov"``, ``"Full Stack/Channel 1"``); by default it is discovered. For
        per-channel datasets, the dataset of the chosen channel is read.
    dims : str, optional
        Stored axis order, letters T (time), Y (rows), X (columns), Z (planes), C (channels).
    sampling_frequency : float, optional
        Samples per second; required when no rate attribute is found.
    channel_name : str, optional
        A channel of a per-channel group (``"Channel 2"``, ``"ch2"``), a name of the dataset's
        ``channel_names`` attribute, or else ``"channel_<i>"`` of a C axis.
    channel_index : int, optional
        The channel by position (instead of ``channel_name``).
    plane_index : int, optional
        Read one plane of a Z axis as planar data.
    mov_field : str, optional
        roiextractors' name for ``dataset``.
    allow_outside : bool, folder or list of folders
        Where references to other files may lead (external links, virtual dataset sources, external raw
        storage): by default only inside the folder of ``file_path``; True allows any file, folders
        allow those too. A reference elsewhere is a :class:`~ophysio.errors.ContainmentError`.
    start_time : float, optional
        Seconds added to every time of the source (its recorded times, or ``index / rate``); the
        arguments neuroconv's ``Hdf5ImagingInterface`` passes.
    metadata : dict, optional
        Kept as given, under ``"metadata"`` in :meth:`get_metadata`.
    channel_names : list of str, optional
        roiextractors' spelling: one name per channel of the source, in order (as roiextractors'
        ``Hdf5ImagingExtractor`` and neuroconv's ``Hdf5ImagingInterface`` take them; ``channel_name`` then
        picks among these names), or a one-element list naming the channel this extractor reads.
    """

    format_id = "hdf5"
    extractor_name = "Hdf5Imaging"

    def __init__(
        self,
        file_path: str | os.PathLike,
        dataset: str | None = None,
        dims: str | None = None,
        sampling_frequency: float | None = None,
        channel_name: str | None = None,
        channel_index: int | None = None,
        plane_index: int | None = None,
        mov_field: str | None = None,
        allow_outside: AllowOutside = False,
        start_time: float | None = None,
        metadata: dict | None = None,
        channel_names: Sequence[str] | None = None,
    ):
        super().__init__()
        self._file_path = os.fspath(file_path)
        self._start_time = None if start_time is None else _finite_seconds(start_time, "start_time")
        if metadata is not None and not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
        self._user_metadata = metadata
        given = None
        if channel_names is not None:
            given = [str(name) for name in (channel_names if not isinstance(channel_names, str) else [channel_names])]
            if not given or len(set(given)) != len(given):
                raise MetadataError(f"channel_names must name each channel once; got channel_names={given}")
        self._given_channel_names = given
        if not Path(self._file_path).is_file():
            raise FileSetError(f"{self._file_path} does not exist or is not a file")
        self._references = ReferencePolicy.for_dataset(Path(self._file_path).parent, allow_outside,
                                                        self._file_path)
        self._file = CachedFile(self._file_path, _open_h5)
        self._cache_bytes = 0
        dataset = dataset if dataset is not None else mov_field
        try:
            with self._file.open() as h5, h5_read_errors(f"{self._file_path}: its HDF5 structure"):
                self._setup(h5, dataset, dims, sampling_frequency, channel_name, channel_index, plane_index)
        except OphysioError:  # a ContainmentError is an OSError too: not to be taken for a non-HDF5 file
            self._file.close()
            raise
        except OSError as exc:  # not an HDF5 file at all
            self._file.close()
            raise FormatError(f"{self._file_path} could not be read as HDF5: {exc}") from exc
        except Exception:
            self._file.close()
            raise
        if self._cache_bytes:
            self._file.close()
            self._file = CachedFile(self._file_path, functools.partial(_open_h5, rdcc_nbytes=self._cache_bytes))
        if given is not None and len(given) == 1:  # the name of the channel read, in the source's list too
            names = list(self._channel_names)
            names[names.index(self._channel_name)] = given[0]
            self._channel_names, self._channel_name = tuple(names), given[0]
        if self._start_time is not None:
            self._metadata["start_time"] = self._start_time
        if self._user_metadata is not None:
            self._metadata["metadata"] = self._user_metadata

    # ------------------------------------------------------------------ set-up
    def _find(self, h5, dataset: str | None, what: str = "dataset", keep=None, display=lambda p: p):
        import h5py

        if dataset is not None:
            check_object(h5, dataset, self._references, self._file_path)  # before h5py follows a link
            obj = h5.get(dataset)
            if not isinstance(obj, h5py.Dataset):
                listing = ", ".join(display(c.path) for c in _candidates(h5, keep)) or "none"
                raise SelectionError(
                    f"{self._file_path} has no {what} {display(dataset)!r}; {what}s that could be a movie: {listing}"
                )
            if obj.dtype.kind not in "iufb":
                raise FormatError(f"{self._file_path}: {what} {display(dataset)!r} holds {obj.dtype}, not numbers")
            # the path as given: obj.name of an object reached through an external link is its name in the
            # other file, which is not a path of this one
            return {"": Candidate(dataset.strip("/"), tuple(obj.shape), obj.dtype)}
        stream = choose_stream(_candidates(h5, keep), self._file_path, what)
        return stream.channels

    def _setup(self, h5, dataset, dims, sampling_frequency, channel_name, channel_index, plane_index) -> None:
        channels = self._find(h5, dataset)
        self._resolve(h5, channels, dims, sampling_frequency, channel_name, channel_index, plane_index)

    def _default_dims(self, dset, ndim: int) -> tuple[str | None, str]:
        """(dims, where they came from) when not given: dimension labels, else the conventions."""
        labels = [dim.label for dim in dset.dims]
        if all(labels):
            return dims_from_labels(labels), f"DIMENSION_LABELS {labels}"
        if ndim == 3:
            return "TYX", "default for 3-D data"
        if ndim == 4 and dset.name.rsplit("/", 1)[-1] == "mov":
            # roiextractors' Hdf5ImagingExtractor (and neuroconv's interface) read a 4-D `mov` this way
            return "CTYX", "roiextractors' convention for a 4-D mov: (channel, time, rows, columns)"
        return None, ""

    def _resolve(self, h5, channels: dict[str, Candidate], dims, sampling_frequency, channel_name, channel_index,
                 plane_index, display=lambda p: p) -> None:
        per_channel = "" not in channels
        first = next(iter(channels.values()))
        where = f"{display(first.path)} {'x'.join(map(str, first.shape))} in {self._file_path}"
        dset = h5[first.path]
        dims_source = "given"
        if dims is None:
            dims, dims_source = self._default_dims(dset, len(first.shape))
            if dims is None:
                raise MetadataError(
                    f"the axis order of {where} is unknown: pass dims= (e.g. 'TYXC', 'TZYX', 'YXT')"
                )
        dims = parse_dims(dims, len(first.shape), where)
        if channel_name is not None and channel_index is not None:
            raise SelectionError("give channel_name or channel_index, not both")
        if per_channel:
            if "C" in dims:
                raise MetadataError(f"{where} is one of per-channel datasets; its dims cannot have a C axis")
            source = list(channels)
            names = self._named_channels(source, where)
            index = self._channel_position(names, channel_name, channel_index)
            self._dataset_path = channels[source[index]].path
            layout_channel = 0
        else:
            count = channel_count(first.shape, dims, where)
            names = self._named_channels(channel_names_from(_attribute(dset, "channel_names"), count) or [
                f"channel_{i}" for i in range(count)], where)
            layout_channel = self._channel_position(names, channel_name, channel_index)
            index = layout_channel
            self._dataset_path = first.path
        check_object(h5, self._dataset_path, self._references, self._file_path)  # before reading any value
        dset = h5[self._dataset_path]
        # once per dataset: declared size, damaged filter masks, never-written chunks, where the values end
        self._extent = stored_extent_at_open(h5, dset, self._file_path, display(self._dataset_path), dims.index("T"),
                                             f"{self._file_path}: dataset {display(self._dataset_path)}")
        self._channel_names = tuple(names)
        self._channel_name = names[index]
        self._layout = ArrayLayout(dims, tuple(dset.shape), layout_channel,
                                   None if plane_index is None else int(plane_index), where)
        self._dtype = dset.dtype
        self._chunks = dset.chunks
        self._native_times = self._stored_timestamps(h5, dset, display)
        row = chunk_row_bytes(tuple(dset.shape), dset.chunks, dims.index("T"), dset.dtype.itemsize)
        filtered = dset.chunks is not None and dset.id.get_create_plist().get_nfilters() > 0
        if filtered and row > CHUNK_CACHE_BYTES:
            # compressed: hold a whole time-row of chunks, so that consecutive reads that split a chunk
            # along time decompress it once (unfiltered chunks are better read without the cache)
            self._cache_bytes = min(int(row * 1.05) + 1024**2, MAX_CHUNK_CACHE_BYTES)
        self._metadata = {
            "dataset": display(self._dataset_path),
            "dims": dims,
            "dims_source": dims_source,
            "shape": tuple(dset.shape),
            "chunks": dset.chunks,
            "compression": dset.compression,
        }
        if self._native_times is not None:
            self._metadata["timestamps_source"] = f"dataset {self._native_times_path}"
        if sampling_frequency is None:
            found = self._find_rate(h5, dset)
            if found is not None:
                sampling_frequency, self._metadata["sampling_frequency_source"] = found
        if sampling_frequency is None:
            self._sampling_frequency = self._rate_unknown(
                f"no sampling rate in {self._file_path} (looked for attributes fr, fs, rate, sampling_frequency "
                f"on {display(self._dataset_path)} and its groups)")
        else:
            self._sampling_frequency = checked_rate(sampling_frequency)

    def _stored_timestamps(self, h5, dset, display) -> np.ndarray | None:
        """The times named by the dataset's ``timestamps`` attribute (as our writer stores them), or None.

        Only a text attribute (or an object reference) naming a dataset counts; other values are left
        in the metadata. A named dataset that is missing or does not fit the movie is a MetadataError.
        """
        import h5py

        ref = _attribute(dset, "timestamps")
        if ref is None:
            return None
        where = f"{self._file_path}: the 'timestamps' attribute of dataset {display(self._dataset_path)}"
        if isinstance(ref, h5py.Reference):
            if not ref:
                raise MetadataError(f"{where} is a null reference: repair the file or set times with set_times()")
            target = h5[ref]
            if isinstance(target, h5py.Dataset):
                check_dataset(target, self._references, self._file_path)
        else:
            name = python_value(ref)
            if isinstance(name, list) and len(name) == 1:
                name = name[0]
            if not isinstance(name, str):
                return None
            if name.strip():
                check_object(h5, posixpath.join(dset.parent.name, name), self._references, self._file_path)
            target = dset.parent.get(name) if name.strip() else None
            if not isinstance(target, h5py.Dataset):
                raise MetadataError(f"{where} names {name!r}, which is not a dataset of the file")
        self._native_times_path = display(target.name.lstrip("/"))
        where = f"{self._file_path}: timestamps dataset {self._native_times_path}"
        if target.ndim != 1 or target.dtype.kind not in "iuf":
            raise MetadataError(f"{where} is {target.dtype} of shape {target.shape}, not a 1-D array of numbers")
        if target.shape[0] != self._layout.num_samples:  # check before reading anything
            raise MetadataError(
                f"{where} holds {target.shape[0]} times for {self._layout.num_samples} samples of the movie"
            )
        return checked_timestamps(target[()], self._layout.num_samples, where)

    def _get_native_timestamps(self) -> np.ndarray | None:
        if self._start_time is None:
            return self._native_times
        if self._native_times is not None:
            return self._native_times + self._start_time
        # no recorded times: start_time + index / rate (regular, so NWB still stores a starting time and a rate)
        return self._start_time + np.arange(self.get_num_samples(), dtype=np.float64) / self._sampling_frequency

    def _named_channels(self, source: list[str], where: str) -> list[str]:
        """The channels' names: the source's, or the ``channel_names`` given for all of them (roiextractors' way).

        A one-element list names only the channel read, after it is chosen (see ``__init__``).
        """
        given = self._given_channel_names
        if given is None or len(given) == 1:
            return source
        if len(given) != len(source):
            raise MetadataError(
                f"channel_names={given} gives {len(given)} names for the {len(source)} channel"
                f"{'s' if len(source) != 1 else ''} of {where}: give one name per channel, in order "
                "(or one name, for the channel read)"
            )
        return list(given)

    def _channel_position(self, names: list[str], channel_name, channel_index) -> int:
        if channel_name is not None:
            if channel_name not in names:
                raise SelectionError(f"channel {channel_name!r} is not one of {names} in {self._file_path}")
            return names.index(channel_name)
        index = 0 if channel_index is None else int(channel_index)
        if not 0 <= index < len(names):
            raise SelectionError(f"channel_index {index} is out of range for the channels {names}")
        return index

    def _find_rate(self, h5, dset) -> tuple[float, str] | None:
        sources = []
        obj = dset
        while True:
            sources.append((f"{obj.name} attribute ", lambda key, o=obj: o.attrs.get(key)))
            if obj.name == "/":
                break
            obj = obj.parent
        return rate_from_attrs(sources)

    # ------------------------------------------------------------------ facts
    def get_metadata(self) -> dict:
        """The dataset's path, axis order, storage and attributes (and the file's), as Python values.

        The attributes are read here, not when the file is opened: reading pixels never depends on them
        (and libhdf5 can loop forever on some damaged attribute heaps, HDFGroup/hdf5#1707).
        """
        with self._file.open() as h5, h5_read_errors(f"{self._file_path}: the attributes"):
            attrs = {"attrs": _attrs(self._dataset(h5)), "file_attrs": _attrs(h5)}
        return {**self._metadata, **attrs}

    @property
    def dataset_path(self) -> str:
        """Path of the dataset read."""
        return self._dataset_path
