"""Reading the structure of a PlaneSegmentation at opening: :class:`PlaneScan`, a mixin of
:class:`~ophysio.extractors.nwb.segmentation.NwbSegmentationExtractor`.

It finds the table and its background table, reads their ids, mask layout and per-ROI columns, finds the
traces that point at them and their times, the field of view and the summary images, as the module
documentation of :mod:`.segmentation` describes; every dataset it reads is checked first (``check``, the
containment policy of the source, see :mod:`.source`).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np

from ...errors import FormatError, MetadataError, OphysioError
from .facts import series_header
from .planes import (
    _MASK_COLUMNS,
    _PLANE,
    _SIZE,
    _SKIPPED_COLUMNS,
    MAX_SIDE,
    _array,
    _backgrounds,
    _channel_name,
    _groups,
    _node_at,
    _safe_call,
    _Table,
    _texts,
    _Trace,
    _trace_name,
    choose_plane_segmentation,
    find_plane_segmentations,
)
from .series import _kind
from .tree import number, text

__all__ = ["PlaneScan"]


class PlaneScan:
    """The opening scan of an NWB segmentation extractor (see the module documentation)."""

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
        path, node = choose_plane_segmentation(candidates, name, self._file_path)
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

