"""NWB segmentations (PlaneSegmentation, RoiResponseSeries, summary images): :class:`NwbSegmentationExtractor`.

One extractor reads one ``PlaneSegmentation`` of an NWB file (HDF5 on disk or at a URL, or an NWB-Zarr
store), with the traces that point at it and the summary images named after it, the way NWB stores them
and ophysio writes them (:mod:`ophysio.conversion.nwb.segmentation` draws the layout):

- the table: ``id`` (the ROI ids; when ophysio wrote row positions because the source's ids were not
  distinct non-negative integers, its ``roi_name`` column holds them and gives the ids), one mask column,
  ``Accepted`` / ``Rejected`` (the accepted and rejected lists) and any other column of one value per ROI as a
  ROI property (``ROICentroids`` is not: centroids are computed from the masks);
- masks in NWB's orientation undone into ophysio's: ``image_mask`` is (ROI, x, y[, z]) with x the column
  (as the photon series' frames); ``pixel_mask`` rows are (x, y, weight) and ``voxel_mask`` rows (x, y, z,
  weight), so a sparse mask comes back as ``[row = y, column = x, (plane = z,) weight]``;
- a table named ``Background<name>`` beside it (as ophysio writes CaImAn's and Minian's backgrounds) holds
  the background components, and its trace is ``background``;
- traces: every ``RoiResponseSeries`` of a ``Fluorescence`` or ``DfOverF`` container whose ``rois`` point at
  the table (rows in any order): ophysio's and neuroconv's names map back to ``raw`` (RoiResponseSeries),
  ``neuropil``, ``deconvolved``, ``denoised``, ``baseline``, ``dff`` (DfOverF, and the only series of a
  DfOverF whatever its name), a channel part left in the name (``RoiResponseSeriesChan2Plane0`` of
  ``PlaneSegmentationPlane0`` is ``raw_chan2``), other names kept;
  each is read a time range and some ROIs at a time (h5py slicing locally, whole chunks fetched into a
  bounded cache for a URL or a Zarr store);
- times: the first trace's ``timestamps`` (read a slice at a time) or ``starting_time`` and ``rate``;
- images: the ``GrayscaleImage`` s of the ``Images`` containers (ophysio's ``SegmentationImages``),
  ``mean_image`` -> ``mean``, stored (x, y) and given as (rows, columns); with several tables, those named
  after another table are left out; per-plane images (``_plane<p>``) of a volume stacked;
- the field of view: the image masks' shape; for pixel and voxel masks the photon series of the same
  imaging plane, else the summary images, else the size ophysio writes into the table's description,
  else the masks' extent;
- facts: the linked ``ImagingPlane`` (grid spacing, origin, indicator, device...) as for a photon series;
  the channels are its optical channels (named as the source named them when ophysio wrote the file).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, OphysioError, SelectionError
from .._remote.chunks import CHUNK_CACHE_BYTES, ChunkCache
from ..facts import AcquisitionFacts
from ..segmentation import SegmentationExtractor
from ..segmentation.masks import check_pixel_mask, dense_to_pixel_masks, pixel_masks_to_dense
from .facts import facts_from_header, series_header
from .reader import RATE_TIMESTAMPS, _source_kind
from .tree import number, text

__all__ = ["NwbSegmentationExtractor", "find_plane_segmentations"]

#: Series names (as ophysio and neuroconv write them) -> trace name; the longest match is taken first.
SERIES_TRACES = {"RoiResponseSeries": "raw", "Neuropil": "neuropil", "Deconvolved": "deconvolved",
                 "Denoised": "denoised", "Baseline": "baseline", "DfOverF": "dff", "Background": "background"}
_MASK_COLUMNS = ("image_mask", "pixel_mask", "voxel_mask")
#: Most pixels on a side (or planes) of a field of view: more is a damaged table, not a segmentation.
MAX_SIDE = 1 << 16
_SKIPPED_COLUMNS = {"roi_name", "Accepted", "Rejected", "ROICentroids", *_MASK_COLUMNS}
_SIZE = re.compile(r"\((\d+)x(\d+)(?:x(\d+))? pixels\)")
_PLANE = re.compile(r"^(.*)_plane(\d+)$")


def _kind(node) -> str | None:
    try:
        return text(node.attrs().get("neurodata_type"))
    except Exception:  # noqa: BLE001 - an unreadable attribute: not an NWB object
        return None


def _groups(node):
    for name in node.children():
        child = node.child(name)
        if child is not None and child.is_group:
            yield name, child


def find_plane_segmentations(root) -> list[tuple[str, object]]:
    """``(path, node)`` of every PlaneSegmentation in ``/processing`` (``<module>/<ImageSegmentation>/<table>``)."""
    found = []
    processing = root.child("processing")
    if processing is None or not processing.is_group:
        return found
    for module_name, module in _groups(processing):
        for name, container in _groups(module):
            path = f"/processing/{module_name}/{name}"
            if _kind(container) == "PlaneSegmentation":
                found.append((path, container))
                continue
            for table_name, table in _groups(container):
                if _kind(table) == "PlaneSegmentation":
                    found.append((f"{path}/{table_name}", table))
    return found


def _backgrounds(found: list[tuple[str, object]]) -> dict[str, str]:
    """Table path -> the path of its background table (``Background<name>`` beside it)."""
    paths = {path for path, _ in found}
    pairs = {}
    for path in paths:
        folder, _, name = path.rpartition("/")
        if name.startswith("Background") and f"{folder}/{name[len('Background'):]}" in paths:
            pairs[f"{folder}/{name[len('Background'):]}"] = path
    return pairs


def _array(node) -> np.ndarray:
    """A dataset read whole as an array."""
    if not node.shape:
        return np.asarray(node.value())
    return np.asarray(node.slice(0, node.shape[0]))


def _texts(values: np.ndarray) -> list[str] | None:
    out = []
    for value in values.ravel().tolist():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str):
            return None
        out.append(value)
    return out


@dataclass
class _Table:
    """One PlaneSegmentation as found at opening."""

    path: str
    ids: list
    mask: str  # "image", "pixel" or "voxel"
    mask_path: str
    mask_shape: tuple  # the stored shape of the mask column
    ends: np.ndarray | None = None  # pixel / voxel masks: the index (end of each ROI's rows)
    fields: tuple = ()  # the field names of a compound mask (x, y[, z], weight)
    names: list | None = None  # the roi_name column when it is not the ids

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class _Trace:
    """One RoiResponseSeries of the table (or of its background table)."""

    name: str
    path: str  # of the series
    data: str  # of its data (links followed)
    shape: tuple
    dtype: np.dtype
    columns: np.ndarray | None  # column of each ROI position, None when they are in order
    background: bool = False
    extent: object = field(default=None, repr=False)


class NwbSegmentationExtractor(SegmentationExtractor):
    """A PlaneSegmentation of an NWB file with its traces and summary images (HDF5 or NWB-Zarr, local or
    streamed from a URL), read lazily.

    Parameters
    ----------
    file_path : str or os.PathLike
        The NWB file: a local ``.nwb`` (HDF5) file, a local NWB-Zarr folder, or a URL (``https://...``,
        ``s3://...``, ``dandi://...``, a DANDI asset URL) of either.
    plane_segmentation_name : str, optional
        Name (or path in the file) of the PlaneSegmentation; by default the only one (background tables
        aside); several are an error that lists them.
    cache_dir : path, optional
        For a URL: keep fetched bytes in this folder.
    cache_bytes : int
        Most bytes of decoded trace chunks kept in memory for a URL or an NWB-Zarr store.
    storage_options : dict, optional
        For URLs read through fsspec: its options.

    Notes
    -----
    See the module documentation for how the table, masks, traces, times and images are read.
    """

    format_id = "nwb"
    extractor_name = "NwbSegmentation"

    def __init__(self, file_path: str | os.PathLike, plane_segmentation_name: str | None = None, *,
                 cache_dir: str | os.PathLike | None = None, cache_bytes: int = CHUNK_CACHE_BYTES,
                 storage_options: dict | None = None):
        super().__init__()
        self._file_path = file_path if isinstance(file_path, str) else os.fspath(file_path)
        self._cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self._storage_options = storage_options
        self._cache = ChunkCache(cache_bytes)
        self._kind = _source_kind(self._file_path, storage_options)
        self._remote_data: dict[str, object] = {}
        self._lock = threading.Lock()
        self._timestamps_full: np.ndarray | None = None
        self._notes: list[str] = []
        if self._kind == "hdf5":
            self._open_local(plane_segmentation_name)
        elif self._kind == "hdf5-remote":
            self._open_remote(plane_segmentation_name)
        else:
            self._open_zarr(plane_segmentation_name)

    # ------------------------------------------------------------------ opening
    def _open_local(self, name) -> None:
        from pathlib import Path

        from .._contain import ReferencePolicy
        from .._handles import CachedFile
        from .._hdf5.reads import _open_h5, h5_read_errors
        from .._hdf5.refs import check_object
        from .._hdf5.storage import stored_extent_at_open
        from .tree import H5Node

        if not os.path.isfile(self._file_path):
            raise FileSetError(f"{self._file_path} does not exist")
        self._file = CachedFile(self._file_path, _open_h5)
        try:
            with self._file.open() as h5, h5_read_errors(f"{self._file_path}: its NWB structure"):
                policy = ReferencePolicy.for_dataset(Path(self._file_path).parent, False, self._file_path)
                self._scan(H5Node(h5["/"], ""), name, lambda path: check_object(h5, path, policy, self._file_path))
                for trace in self._traces.values():
                    trace.extent = stored_extent_at_open(h5, h5[trace.data], self._file_path, trace.data, 0,
                                                         f"{self._file_path}: dataset {trace.data}")
        except OphysioError:
            self._file.close()
            raise
        except OSError as exc:
            self._file.close()
            raise FormatError(f"{self._file_path} could not be read as an NWB (HDF5) file: {exc}") from exc
        except BaseException:
            self._file.close()
            raise

    def _open_remote(self, name) -> None:
        import functools

        from .._handles import CachedFile
        from .._hdf5.reads import h5_read_errors
        from .._hdf5.remote import check_remote_object, open_remote_h5
        from .._remote import open_range_source
        from .._remote.blocks import BLOCK_BYTES
        from .tree import H5Node

        source = open_range_source(self._file_path, self._storage_options)
        if source.head(BLOCK_BYTES)[:8] != b"\x89HDF\r\n\x1a\n":
            self._kind = "zarr"  # not HDF5 at its start: an NWB-Zarr store at a URL without a .zarr name?
            self._open_zarr(name)
            return
        self._source = source
        self._file = CachedFile(self._file_path, functools.partial(open_remote_h5, source=source,
                                                                    cache_dir=self._cache_dir))
        try:
            with self._file.open() as remote, h5_read_errors(f"{self._file_path}: its NWB structure"):
                self._scan(H5Node(remote.h5["/"], ""), name,
                           lambda path: check_remote_object(remote.h5, path, self._file_path))
        except BaseException:
            self._file.close()
            raise

    def _open_zarr(self, name) -> None:
        from .._zarr.nodes import ZarrTree
        from .._zarr.store import open_store
        from .tree import ZarrNode

        self._store = open_store(self._file_path, self._cache_dir, self._storage_options)
        tree = ZarrTree(self._store)
        if tree.zarr_format != 2:
            raise FormatError(f"{self._file_path}: NWB-Zarr is Zarr v2 (as hdmf-zarr writes it); this store is Zarr "
                              f"v{tree.zarr_format}")
        self._tree = tree
        self._scan(ZarrNode(tree, tree.root), name)

    def _with_root(self, function):
        """``function(root node)`` with the file open."""
        from .._hdf5.reads import h5_read_errors
        from .tree import H5Node, ZarrNode

        if self._kind == "zarr":
            return function(ZarrNode(self._tree, self._tree.root))
        with self._file.open() as handle, h5_read_errors(f"{self._file_path}: its NWB structure"):
            h5 = handle if self._kind == "hdf5" else handle.h5
            return function(H5Node(h5["/"], ""))

    # ------------------------------------------------------------------ the structure
    def _scan(self, root, name, check=None) -> None:
        """Find the table, its background, traces, times, images and facts. ``check(path)`` refuses a dataset
        whose reading would open another file the containment policy does not allow (HDF5 external links,
        virtual datasets, external storage; none at all from a URL): every dataset read is checked first."""
        self._check = check or (lambda path: None)
        try:
            self._scan_tree(root, name)
        finally:
            self._check = None

    def _whole(self, node) -> np.ndarray:
        """A dataset read whole, after the containment check."""
        self._check(node.path)
        return _array(node)

    def _scan_tree(self, root, name) -> None:
        found = find_plane_segmentations(root)
        backgrounds = _backgrounds(found)
        candidates = [(p, n) for p, n in found if p not in backgrounds.values()]
        path, node = self._choose(candidates, name)
        nodes = dict(found)
        self._table = self._read_table(path, node)
        if self._table.names is not None:
            self.set_property("roi_name", np.array(self._table.names), description="The table's roi_name column")
        self._table_properties(node, self._table.count)
        background = backgrounds.get(path)
        self._background = None if background is None else self._read_table(background, nodes[background])
        self._find_traces(root, {p for p, _ in candidates})
        self._plane_path = None
        plane = node.child("imaging_plane")
        if plane is not None:
            self._plane_path = plane.path
        self._shape, self._planes = self._field_of_view(root, node)
        if min(*self._shape, self._planes) < 1 or max(self._shape) > MAX_SIDE or self._planes > MAX_SIDE:
            raise FormatError(f"{self._file_path}: {path} has a field of view of {self._shape[0]} x {self._shape[1]} "
                              f"pixels x {self._planes} planes, which no imaging has: the table is damaged")
        self._volumetric = self._planes > 1
        self._images_found = self._find_images(root, [p for p, _ in candidates])
        layout = SimpleNamespace(neurodata_type="PlaneSegmentation", shape=self._table.mask_shape,
                                 dtype=np.dtype("float32"), volumetric=self._volumetric, timestamps=None, rate=None,
                                 starting_time=None)
        header = series_header(root, path, node, layout)
        for key in ("photon_series", "data_shape", "data_dims", "dtype", "data_attributes", "timing"):
            header.pop(key, None)
        header["plane_segmentation"] = path
        header["description"] = text(_safe_call(node.attrs, {}).get("description"))
        header["mask_type"] = self._table.mask
        header["traces"] = {t.name: t.path for t in self._traces.values()}
        if self._background is not None:
            header["background_plane_segmentation"] = self._background.path
        if self._lead is not None:
            header["timing"] = ({"timestamps": self._lead["timestamps"]} if self._lead["timestamps"] else
                                {"starting_time": self._lead["starting_time"], "rate": self._lead["rate"]})
        self._header = header
        channels = (header.get("imaging_plane") or {}).get("optical_channels") or []
        self._channel_names = tuple(_channel_name(c) for c in channels) or ("OpticalChannel",)
        self._channel_name = self._channel_names[0]
        self._rate_memo: tuple | None = None

    def _choose(self, candidates, name):
        where = self._file_path
        listing = ", ".join(p for p, _ in candidates) or "none"
        if name is None:
            if len(candidates) == 1:
                return candidates[0]
            if not candidates:
                raise SelectionError(f"{where} holds no PlaneSegmentation (in /processing/<module>/ImageSegmentation)")
            raise SelectionError(f"{where} holds {len(candidates)} PlaneSegmentations ({listing}): pass "
                                 "plane_segmentation_name= with one of them")
        wanted = str(name).strip("/")
        matches = [c for c in candidates if c[0].strip("/") == wanted] or \
            [c for c in candidates if c[0].rsplit("/", 1)[-1] == wanted]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise SelectionError(f"{where}: {len(matches)} PlaneSegmentations are named {name!r} "
                                 f"({', '.join(p for p, _ in matches)}): pass the path of one")
        raise SelectionError(f"{where} has no PlaneSegmentation {name!r}; PlaneSegmentations: {listing}")

    def _read_table(self, path: str, node) -> _Table:
        where = f"{self._file_path}: {path}"
        id_node = node.child("id")
        if id_node is None or id_node.is_group or len(id_node.shape) != 1 or id_node.dtype.kind not in "iu":
            raise FormatError(f"{where} has no id column of integers")
        ids_stored = self._whole(id_node).astype(np.int64)
        n = len(ids_stored)
        ids: list = [int(i) for i in ids_stored]
        names = None
        name_node = node.child("roi_name")
        if name_node is not None and not name_node.is_group and name_node.shape == (n,):
            names = _texts(self._whole(name_node))
        if names is not None and names != [str(i) for i in ids] and ids == list(range(n)) and len(set(names)) == n:
            # ophysio wrote positions as ids: the source's ids were not distinct non-negative integers
            ids = [int(v) if re.fullmatch(r"-?\d+", v) else v for v in names]
            if len({repr(i) for i in ids}) != n:
                ids = list(names)
        else:
            names = names if names is not None and names != [str(i) for i in ids] else None
        present = set(node.children())
        mask = next((m for m in _MASK_COLUMNS if m in present), None)
        if mask is None:
            raise FormatError(f"{where} has none of the mask columns image_mask, pixel_mask, voxel_mask")
        data = node.child(mask)
        self._check(data.path)
        shape = tuple(int(s) for s in data.shape)
        table = _Table(path, ids, mask.split("_")[0], data.path, shape, names=names)
        if mask == "image_mask":
            if len(shape) not in (3, 4) or shape[0] != n or data.dtype.kind not in "biuf":
                raise FormatError(f"{where}/image_mask is {data.dtype} {shape}, not numbers (ROI, x, y[, z]) for "
                                  f"{n} ROIs")
        else:
            index = node.child(f"{mask}_index")
            if index is None or index.is_group or index.shape != (n,):
                raise FormatError(f"{where}/{mask}_index is missing or does not hold one end per ROI")
            ends = self._whole(index).astype(np.int64)
            if n and (np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] != shape[0]):
                raise FormatError(f"{where}/{mask}_index does not increase to the {shape[0]} rows of {mask}")
            table.ends = ends
            names = data.dtype.names
            coords = ("x", "y", "z") if mask == "voxel_mask" else ("x", "y")
            if names is not None:
                if not set(coords) | {"weight"} <= set(names):
                    raise FormatError(f"{where}/{mask} has fields {names}, not {', '.join(coords)}, weight")
                table.fields = (*coords, "weight")
            elif len(shape) != 2 or shape[1] != len(coords) + 1:
                raise FormatError(f"{where}/{mask} is {data.dtype} {shape}, not rows of ({', '.join(coords)}, weight)")
        return table

    def _table_properties(self, node, n: int) -> None:
        present = set(node.children())
        listed = _safe_call(node.attrs, {}).get("colnames")
        listed = [listed] if isinstance(listed, str) else listed
        columns = [c for c in listed if isinstance(c, str)] if isinstance(listed, list) else sorted(present)
        for column in columns:
            child = node.child(column)
            if column in _SKIPPED_COLUMNS or child is None or child.is_group or f"{column}_index" in present:
                continue
            description = text(_safe_call(child.attrs, {}).get("description")) or ""
            try:
                if not child.shape or child.shape[0] != n or child.dtype.names is not None:
                    continue
                values = self._whole(child)
            except (OphysioError, OSError, TypeError, ValueError):
                self._notes.append(f"column {column} could not be read")
                continue
            if values.dtype.kind in "OSU":
                strings = _texts(values)
                if strings is None:
                    continue  # references (a DynamicTableRegion column): not a property
                values = np.array(strings)
            elif values.dtype.kind not in "biuf":
                continue
            if column in ("Accepted", "Rejected"):
                continue
            self.set_property(column, values, description=description)
        for column, key in (("Accepted", "is_accepted"), ("Rejected", "is_rejected")):
            child = node.child(column)
            if column in columns and child is not None and not child.is_group and child.shape == (n,):
                values = self._whole(child)
                if values.dtype.kind in "biuf":
                    self.set_property(key, values.astype(bool),
                                      description=text(_safe_call(child.attrs, {}).get("description")) or "")

    def _find_traces(self, root, tables: set[str]) -> None:
        table, background = self._table, self._background
        suffix = table.name[len("PlaneSegmentation"):] if table.name.startswith("PlaneSegmentation") else ""
        only = len(tables) == 1
        found: list[_Trace] = []
        processing = root.child("processing")
        timings: dict[str, dict] = {}
        for _, module in (_groups(processing) if processing is not None and processing.is_group else []):
            for _, container in _groups(module):
                kind = _kind(container)
                if kind not in ("Fluorescence", "DfOverF"):
                    continue
                series = [(n, s) for n, s in _groups(container) if _kind(s) == "RoiResponseSeries"]
                for series_name, node in series:
                    rois = node.child("rois")
                    target = rois.reference("table") if rois is not None and not rois.is_group else None
                    owner = None
                    if target is not None:
                        target = "/" + target.strip("/")
                        owner = "rois" if target == table.path else \
                            "background" if background is not None and target == background.path else None
                    elif only and rois is not None and rois.shape == (table.count,):
                        owner = "rois"  # an unresolved reference, one table: the table
                    if owner is None:
                        continue
                    count = background.count if owner == "background" else table.count
                    trace = self._trace_of(node, series_name, rois, count, owner == "background")
                    if trace is None:
                        continue
                    trace.name = "background" if owner == "background" else \
                        _trace_name(kind, series_name, suffix, len(series))
                    timings[trace.path] = self._timing(node, trace)
                    found.append(trace)
        traces: dict[str, _Trace] = {}
        for trace in found:
            if trace.background and "background" in traces:
                self._notes.append(f"{trace.path}: a second background trace, left out")
                continue
            name, k = trace.name, 2
            while name in traces:
                name, k = f"{trace.name}_{k}", k + 1
            trace.name = name
            traces[name] = trace
        lead = traces.get("raw") or next((t for t in traces.values() if not t.background), None) or \
            next(iter(traces.values()), None)
        self._lead = None if lead is None else timings[lead.path]
        if lead is not None:
            for name, trace in list(traces.items()):
                if trace.shape[0] != lead.shape[0]:
                    self._notes.append(f"{trace.path} has {trace.shape[0]} samples, not the {lead.shape[0]} of "
                                       f"{lead.path}: left out")
                    del traces[name]
        order = {name: i for i, name in enumerate(("raw", "dff", "neuropil", "deconvolved", "denoised", "baseline",
                                                   "background"))}
        self._traces = dict(sorted(traces.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
        self._num_samples = 0 if lead is None else lead.shape[0]

    def _trace_of(self, node, name: str, rois, count: int, background: bool) -> _Trace | None:
        path = node.path
        self._check(f"{path}/data")
        data = node.child("data", follow_external=self._kind == "hdf5")
        if data is None or data.is_group or data.dtype.kind not in "biuf" or len(data.shape) not in (1, 2):
            self._notes.append(f"{path}: no data of numbers (time, ROIs); left out")
            return None
        shape = tuple(int(s) for s in data.shape)
        shape = shape if len(shape) == 2 else (shape[0], 1)
        regions = self._whole(rois).astype(np.int64).ravel() if rois is not None else np.arange(count)
        if len(regions) != shape[1] or np.any(regions < 0) or np.any(regions >= max(count, 1)):
            self._notes.append(f"{path}: its rois do not match its {shape[1]} columns; left out")
            return None
        columns = None
        if not np.array_equal(regions, np.arange(count)):
            if len(set(regions.tolist())) != count:
                self._notes.append(f"{path} covers {len(set(regions.tolist()))} of the {count} ROIs; left out")
                return None
            columns = np.empty(count, dtype=np.int64)
            columns[regions] = np.arange(count)
        return _Trace(name, path, data.path, shape, np.dtype(data.dtype), columns, background)

    def _timing(self, node, trace: _Trace) -> dict:
        where = f"{self._file_path}: {trace.path}"
        self._check(f"{trace.path}/timestamps")
        timestamps = node.child("timestamps", follow_external=self._kind == "hdf5")
        if timestamps is not None:
            if timestamps.is_group or len(timestamps.shape) != 1 or timestamps.dtype.kind not in "iuf":
                raise MetadataError(f"{where}/timestamps is not a 1-D array of numbers")
            if timestamps.shape[0] != trace.shape[0]:
                raise MetadataError(f"{where}/timestamps holds {timestamps.shape[0]} times for {trace.shape[0]} "
                                    "samples")
            return {"timestamps": timestamps.path, "rate": None, "starting_time": None}
        start = node.child("starting_time")
        if start is None:
            raise MetadataError(f"{where} has neither timestamps nor starting_time; its times are unknown")
        starting_time, rate = number(start.value()), number(start.attrs().get("rate"))
        if starting_time is None:
            raise MetadataError(f"{where}/starting_time is not a finite number of seconds")
        if rate is None or rate <= 0:
            raise MetadataError(f"{where}/starting_time has rate {start.attrs().get('rate')!r}, not a positive number "
                                "of samples per second")
        return {"timestamps": None, "rate": rate, "starting_time": starting_time}

    def _field_of_view(self, root, node) -> tuple[tuple[int, int], int]:
        """(rows, columns) and planes of the masks (see the module documentation)."""
        table = self._table
        if table.mask == "image":
            shape = table.mask_shape
            return (shape[2], shape[1]), (shape[3] if len(shape) == 4 else 1)
        volumetric = table.mask == "voxel"
        if self._plane_path is not None:
            from .series import find_photon_series

            for _, series in find_photon_series(root):
                plane, data = series.child("imaging_plane"), series.child("data")
                if plane is None or data is None or plane.path.strip("/") != self._plane_path.strip("/"):
                    continue
                shape = tuple(int(s) for s in data.shape)
                if len(shape) == (4 if volumetric else 3):
                    return (shape[2], shape[1]), (shape[3] if volumetric else 1)
        match = _SIZE.search(text(_safe_call(node.attrs, {}).get("description")) or "")
        if match and bool(match.group(3)) == volumetric:
            return (int(match.group(1)), int(match.group(2))), int(match.group(3) or 1)
        images = self._find_images(root, [table.path], shape=None)
        for image in images.values():
            if image["planes"] and volumetric:
                return image["shape"], len(image["planes"])
            if not image["planes"] and not volumetric:
                return image["shape"], 1
        extent = np.zeros(3, dtype=np.int64)
        for mask in self._raw_masks(np.arange(table.count), table, root=node):
            if len(mask):
                extent[: mask.shape[1] - 1] = np.maximum(extent[: mask.shape[1] - 1],
                                                         mask[:, :-1].max(axis=0).astype(np.int64) + 1)
        return (int(extent[0]), int(extent[1])), (int(max(extent[2], 1)) if volumetric else 1)

    def _find_images(self, root, tables: list[str], shape="known") -> dict[str, dict]:
        """Summary images of the table by name: ``{"paths": {plane: path}, "planes": bool, "shape": (rows, cols)}``."""
        own = self._table.path.rsplit("/", 1)[-1]
        others = [t.rsplit("/", 1)[-1] for t in tables if t.rsplit("/", 1)[-1] != own]
        images: dict[str, dict] = {}
        processing = root.child("processing")
        for _, module in (_groups(processing) if processing is not None and processing.is_group else []):
            for _, container in _groups(module):
                if _kind(container) != "Images":
                    continue
                for name in container.children():
                    node = container.child(name)
                    if node is None or node.is_group or _kind(node) not in ("GrayscaleImage", "Image"):
                        continue
                    if len(node.shape) != 2 or node.dtype.kind not in "biuf":
                        continue
                    self._check(node.path)
                    key = re.sub(rf"_{re.escape(own)}(?=$|_plane\d+$)", "", name)
                    if key == name and any(re.search(rf"_{re.escape(o)}(?=$|_plane\d+$)", name) for o in others):
                        continue  # another table's image
                    match = _PLANE.match(key)
                    plane = None
                    if match:
                        key, plane = match.group(1), int(match.group(2))
                    key = key[: -len("_image")] if key.endswith("_image") and len(key) > 6 else key
                    entry = images.setdefault(key, {"paths": {}, "planes": plane is not None,
                                                    "shape": (int(node.shape[1]), int(node.shape[0]))})
                    if entry["planes"] != (plane is not None) or entry["shape"] != (node.shape[1], node.shape[0]):
                        continue
                    entry["paths"][plane] = node.path
        if shape is None:
            return images
        kept = {}
        for key, entry in images.items():
            planes = sorted(p for p in entry["paths"] if p is not None)
            if entry["shape"] != tuple(self._shape):
                self._notes.append(f"image {key}: {entry['shape']} is not the field of view {self._shape}; left out")
            elif self._volumetric != entry["planes"] or (self._volumetric and planes != list(range(self._planes))):
                self._notes.append(f"image {key}: its planes do not match the segmentation's; left out")
            else:
                kept[key] = entry
        return kept

    def _find_rate(self, header: dict) -> float | None:
        lead = self._lead
        stated = number((header.get("imaging_plane") or {}).get("imaging_rate"))
        stated = stated if stated is not None and stated > 0 else None
        if lead is not None and lead["rate"] is not None:
            return float(lead["rate"])
        if lead is None:
            return stated if stated is not None else self._rate_unknown(
                f"{self._file_path}: {self._table.path} has no traces and its imaging plane states no imaging_rate")
        times = self._read_timestamps(0, min(self._num_samples, RATE_TIMESTAMPS))
        steps = np.diff(times)
        steps = steps[np.isfinite(steps) & (steps > 0)]
        if not steps.size:
            return stated if stated is not None else self._rate_unknown(
                f"{self._file_path}: the timestamps of {self._table.path}'s traces do not advance and its imaging "
                "plane states no imaging_rate")
        measured = 1.0 / float(np.median(steps))
        if stated is not None and abs(measured - stated) <= 0.01 * stated:
            return float(stated)
        return measured

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return tuple(self._shape)

    def get_num_planes(self) -> int:
        return self._planes

    def get_num_samples(self) -> int:
        return self._num_samples

    def get_sampling_frequency(self) -> float | None:
        if self._rate_memo is None:
            self._rate_memo = (self._find_rate(self._header),)
        return self._rate_memo[0]

    def get_roi_ids(self) -> list:
        return list(self._table.ids)

    def get_background_ids(self) -> list:
        return [] if self._background is None else list(self._background.ids)

    def get_trace_names(self) -> list[str]:
        return list(self._traces)

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    @property
    def native_mask_type(self) -> str:  # noqa: D401 - the contract's attribute, per file
        return "image" if self._table.mask == "image" else "pixel"

    @property
    def plane_segmentation_path(self) -> str:
        """Path of the PlaneSegmentation read (``/processing/ophys/ImageSegmentation/PlaneSegmentation``)."""
        return self._table.path

    @property
    def plane_segmentation_name(self) -> str:
        """Name of the PlaneSegmentation read."""
        return self._table.name

    def get_metadata(self) -> dict:
        """The table's NWB facts: its path, description, mask type, the series of its traces, timing, the imaging
        plane (optical channels, device) and session, and what was left out and why (``"notes"``)."""
        return {**self._header, **({"notes": list(self._notes)} if self._notes else {})}

    def get_acquisition_facts(self) -> AcquisitionFacts:
        base = super().get_acquisition_facts()
        found = facts_from_header(self._header, self.channel_name, self._planes, self._volumetric)
        return base.replace(**{k: v for k, v in found.items() if v is not None})

    @staticmethod
    def get_available_plane_segmentations(file_path: str | os.PathLike,
                                          storage_options: dict | None = None) -> list[str]:
        """Paths of the PlaneSegmentations of an NWB file (background tables included), in file order."""
        file_path = file_path if isinstance(file_path, str) else os.fspath(file_path)
        kind = _source_kind(file_path, storage_options)
        if kind == "zarr":
            from .._zarr.nodes import ZarrTree
            from .._zarr.store import open_store
            from .tree import ZarrNode

            tree = ZarrTree(open_store(file_path, None, storage_options))
            return [p for p, _ in find_plane_segmentations(ZarrNode(tree, tree.root))]
        from .._hdf5.reads import h5_read_errors
        from .tree import H5Node

        if kind == "hdf5":
            import h5py

            with h5py.File(file_path, "r") as h5, h5_read_errors(f"{file_path}: its NWB structure"):
                return [p for p, _ in find_plane_segmentations(H5Node(h5["/"], ""))]
        from .._hdf5.remote import open_remote_h5

        remote = open_remote_h5(file_path)
        try:
            with h5_read_errors(f"{file_path}: its NWB structure"):
                return [p for p, _ in find_plane_segmentations(H5Node(remote.h5["/"], ""))]
        finally:
            remote.close()

    # ------------------------------------------------------------------ time
    def _read_timestamps(self, start: int, stop: int) -> np.ndarray:
        if self._timestamps_full is not None:
            return self._timestamps_full[start:stop]
        path = self._lead["timestamps"]
        values = self._with_root(lambda root: _node_at(root, path).slice(start, stop)).astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise MetadataError(f"{self._file_path}: {path}: the time of sample {start + int(bad[0])} is "
                                f"{values[bad[0]]}, not a finite number of seconds; the time records are damaged")
        if start == 0 and stop == self._num_samples:
            values.flags.writeable = False
            self._timestamps_full = values
        return values

    def get_native_timestamps(self, start_sample: int | None = None, end_sample: int | None = None):
        """The traces' ``timestamps`` (only the samples asked for are read), or ``starting_time + index / rate``
        when they start at a time other than 0; None when they start at 0 with a rate."""
        lead = self._lead
        if lead is None:
            return None
        start, stop, _ = slice(start_sample, end_sample).indices(self._num_samples)
        stop = max(start, stop)
        if lead["timestamps"] is not None:
            return self._read_timestamps(start, stop)
        if lead["starting_time"]:
            return lead["starting_time"] + np.arange(start, stop, dtype=np.float64) / lead["rate"]
        return None

    def has_recorded_times(self) -> bool:
        lead = self._lead
        return self._times is not None or (lead is not None and (lead["timestamps"] is not None
                                                                 or bool(lead["starting_time"])))

    # ------------------------------------------------------------------ reads
    def _trace_dtype(self, name: str) -> np.dtype:
        return self._traces[name].dtype

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        trace = self._traces[name]
        positions = np.asarray(positions, dtype=np.int64)
        columns = positions if trace.columns is None else trace.columns[positions]
        if stop <= start or not len(columns):
            return np.empty((max(stop - start, 0), len(columns)), dtype=trace.dtype)
        unique, inverse = np.unique(columns, return_inverse=True)
        lo = int(unique[0])
        where = f"{self._file_path}: samples {start}:{stop} of {trace.data}"
        if self._kind == "hdf5":
            block = self._read_local_trace(trace, start, stop, unique, where)
        else:
            block = self._read_chunked_trace(trace, start, stop, unique, where)
            if block.shape[1] != len(unique):
                block = block[:, unique - lo]
        out = block[:, inverse]
        return np.ascontiguousarray(out, dtype=trace.dtype)

    def _read_local_trace(self, trace: _Trace, start: int, stop: int, unique: np.ndarray, where: str) -> np.ndarray:
        from .._hdf5.reads import h5_read_errors

        lo, hi = int(unique[0]), int(unique[-1]) + 1
        extent = trace.extent
        with h5_read_errors(where), self._file.open() as h5:
            dset = h5[trace.data]
            extent.check(extent.file_size(h5), start, stop)
            try:
                if dset.ndim == 1:
                    block = np.asarray(dset[start:stop]).reshape(-1, 1)
                elif hi - lo <= 2 * len(unique):  # one block: faster than h5py's point selection
                    block = np.asarray(dset[start:stop, lo:hi])[:, unique - lo]
                else:
                    block = np.asarray(dset[start:stop, unique.tolist()])
            except Exception:
                extent.check(extent.file_size(h5), start, stop)  # a file cut short explains the failure best
                raise
            extent.check(extent.file_size(h5), start, stop)
        return block

    def _chunked(self, trace: _Trace):
        """The trace's data as a chunked array read through the extractor's cache (None: read by h5py)."""
        chunked = self._remote_data.get(trace.data)
        if chunked is None:
            if self._kind == "zarr":
                from .._zarr.array import ZarrArray

                chunked = ZarrArray(self._store, self._tree.node(trace.data.strip("/")))
            else:
                from .._hdf5.reads import h5_read_errors
                from .._hdf5.remote import RemoteDataset

                with h5_read_errors(f"{self._file_path}: dataset {trace.data}"):
                    chunked = RemoteDataset(self._file, self._source, trace.data, self._file_path)
            with self._lock:
                self._remote_data[trace.data] = chunked
        return chunked.chunked(self._cache)

    def _read_chunked_trace(self, trace: _Trace, start: int, stop: int, unique: np.ndarray,
                            where: str) -> np.ndarray:
        from .._hdf5.reads import h5_read_errors

        lo, hi = int(unique[0]), int(unique[-1]) + 1
        with h5_read_errors(where):
            chunked = self._chunked(trace)
            if chunked is None:  # filters only HDF5 decodes: through h5py over the block file
                data = self._remote_data[trace.data].read_h5py(start, stop)
                return np.asarray(data).reshape(stop - start, -1)[:, lo:hi]
            if len(chunked.shape) == 1:
                out = np.empty(stop - start, dtype=trace.dtype)
                chunked.read_box([(start, stop)], out)
                return out.reshape(-1, 1)
            step = chunked.chunks[1]
            needed = np.unique(unique // step)
            if hi - lo <= 2 * len(unique) or len(needed) == (hi - 1) // step - lo // step + 1:
                out = np.empty((stop - start, hi - lo), dtype=trace.dtype)
                chunked.read_box([(start, stop), (lo, hi)], out)
                return out
            out = np.empty((stop - start, len(unique)), dtype=trace.dtype)
            for c in needed.tolist():  # column chunks far apart: each read alone
                a, b = c * step, min((c + 1) * step, trace.shape[1])
                block = np.empty((stop - start, b - a), dtype=trace.dtype)
                chunked.read_box([(start, stop), (a, b)], block)
                inside = np.flatnonzero((unique >= a) & (unique < b))
                out[:, inside] = block[:, unique[inside] - a]
            return out

    def _table_of(self, background: bool) -> _Table:
        table = self._background if background else self._table
        if table is None:
            return _Table("", [], self._table.mask, "", self._table.mask_shape)
        return table

    def _raw_masks(self, positions: np.ndarray, table: _Table, root=None) -> list[np.ndarray]:
        """Sparse masks ``[row, column, (plane,) weight]`` of a pixel or voxel mask table, unchecked."""
        if not len(positions):
            return []
        ends = table.ends
        starts = np.concatenate([[0], ends[:-1]]) if len(ends) else ends
        lo, hi = int(starts[positions].min()), int(ends[positions].max())

        def read(node):
            return np.asarray(node.slice(lo, hi))

        if root is not None:  # at opening: the table node is at hand
            rows = read(root.child(table.mask_path.rsplit("/", 1)[-1]))
        else:
            rows = self._with_root(lambda r: read(_node_at(r, table.mask_path)))
        names = table.fields
        if names:
            coords = np.column_stack([rows[f].astype(np.float64) for f in names]) if len(rows) else \
                np.zeros((0, len(names)))
        else:
            coords = np.asarray(rows, dtype=np.float64).reshape(-1, 4 if table.mask == "voxel" else 3)
        coords[:, [0, 1]] = coords[:, [1, 0]]  # (x, y) -> (row = y, column = x)
        return [coords[int(starts[p]) - lo : int(ends[p]) - lo] for p in positions]

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        table = self._table_of(background)
        positions = np.asarray(positions, dtype=np.int64)
        if table.mask == "image":
            return dense_to_pixel_masks(self._read_image_masks(positions, background))
        shape = self._mask_shape()
        masks = self._raw_masks(positions, table)
        if table.mask == "voxel" and not self._volumetric:
            masks = [m[:, [0, 1, 3]] if not len(m) or np.all(m[:, 2] == 0) else m for m in masks]
        return [check_pixel_mask(m, shape, f"{self._file_path}: {table.mask_path}, ROI {table.ids[p]!r}")
                for m, p in zip(masks, positions)]

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        table = self._table_of(background)
        positions = np.asarray(positions, dtype=np.int64)
        if table.mask != "image":
            return pixel_masks_to_dense(self._read_pixel_masks(positions, background), self._mask_shape())
        stored = table.mask_shape
        if not len(positions) or not table.count:
            return np.zeros((*self._mask_shape(), len(positions)), dtype=np.float32)
        unique, inverse = np.unique(positions, return_inverse=True)
        lo, hi = int(unique[0]), int(unique[-1]) + 1
        if tuple(stored[1:]) != ((self._shape[1], self._shape[0], self._planes) if self._volumetric
                                 else (self._shape[1], self._shape[0])):
            raise FormatError(f"{self._file_path}: {table.mask_path} is {stored}, not masks of the field of view")

        def read(root):
            node = _node_at(root, table.mask_path)
            if hi - lo <= 2 * len(unique):
                return np.asarray(node.slice(lo, hi))[unique - lo]
            return np.stack([np.asarray(node.slice(int(p), int(p) + 1))[0] for p in unique])

        block = self._with_root(read)[inverse]  # (n, x, y[, z])
        return np.ascontiguousarray(np.moveaxis(block.swapaxes(1, 2), 0, -1))

    def _read_images(self) -> dict[str, np.ndarray]:
        cached = self.__dict__.get("_images_cache")
        if cached is not None:
            return cached

        def read(root):
            images = {}
            for key, entry in self._images_found.items():
                planes = [np.asarray(_array(_node_at(root, entry["paths"][p]))).T
                          for p in (range(self._planes) if self._volumetric else [None])]
                images[key] = np.stack(planes, axis=-1) if self._volumetric else planes[0]
            return images

        images = self._with_root(read)
        for image in images.values():
            image.flags.writeable = False
        self.__dict__["_images_cache"] = images
        return images

    # ------------------------------------------------------------------ resources
    def close(self) -> None:
        self._cache.clear()
        for data in list(self._remote_data.values()):
            if hasattr(data, "forget"):
                data.forget()
        super().close()
        if self._kind != "hdf5":
            from .._remote.http import close_connections

            close_connections()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _trace_name(container_kind: str, series_name: str, suffix: str, siblings: int) -> str:
    """The trace name of a series (see the module documentation)."""
    if container_kind == "DfOverF" and siblings == 1:
        return "dff"
    base = series_name[: -len(suffix)] if suffix and series_name.endswith(suffix) and series_name != suffix \
        else series_name
    for prefix in sorted(SERIES_TRACES, key=len, reverse=True):
        if base.startswith(prefix):
            trace = SERIES_TRACES[prefix]
            if container_kind == "DfOverF" and prefix == "RoiResponseSeries":
                trace = "dff"
            rest = base[len(prefix):].strip("_")
            return f"{trace}_{rest.lower()}" if rest else trace
    if container_kind == "DfOverF":
        return "dff" if siblings == 1 else f"dff_{base}"
    return base


def _channel_name(channel: dict) -> str:
    """An optical channel's name; the source's own when ophysio recorded it in the description ("channel chan2 of
    the source": NWB names are cleaned of characters the source's may have)."""
    match = re.fullmatch(r"channel (.+) of the source", channel.get("description") or "")
    return match.group(1) if match else channel["name"]


def _safe_call(function, default=None):
    try:
        return function()
    except Exception:  # noqa: BLE001 - an unreadable attribute is left out
        return default


def _node_at(root, path: str):
    node = root
    for part in path.strip("/").split("/"):
        node = node.child(part, follow_external=True) if node is not None else None
    if node is None:
        raise FormatError(f"{path} is missing from the file")
    return node
