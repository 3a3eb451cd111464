"""The read half shared by the segmentations MATLAB pipelines save in v7.3 MAT-files (EXTRACT, CNMF-E).

Such a file holds one struct whose fields are the cells' footprints, their traces and summary images, each a
MATLAB array stored with its axes reversed (see :mod:`ophysio.extractors._matlab.v73`). A format's reader
works out, from its layout, where each thing is (:class:`MatLayout`); :class:`MatStructSegmentation`
checks the shapes against each other once at open and then reads lazily through h5py: a slice of samples
of some ROIs reads those (a dense trace block, or the columns of a sparse one), a mask reads its ROIs.
Every read is checked against a file cut short (:class:`~ophysio.extractors._hdf5.storage.StoredExtent`),
and damage is a :class:`~ophysio.errors.CorruptFileError` naming the file.

Footprints come in three forms:

- ``"images"``: an ``h x w x K`` array (EXTRACT's ``spatial_weights``), stored ``(K, w, h)``; MATLAB drops a
  trailing 1, so one ROI is an ``h x w`` array stored ``(w, h)``;
- ``"columns"``: a dense ``(h*w) x K`` matrix (CNMF-E's ``A``), pixels in MATLAB's column-major order
  (``pixel = row + column * h``), stored ``(K, h*w)``;
- ``"sparse"``: the same matrix as a MATLAB sparse matrix (``data``/``ir``/``jc``, one column per ROI).

Traces are ``K x T`` or ``T x K`` dense arrays (``roi_axis`` says which stored axis is the ROIs) or a ``K x T``
sparse matrix (CNMF-E's ``S``: one column per sample).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...errors import FileSetError, FormatError
from .._handles import CachedFile
from .._hdf5.reads import _open_h5, h5_read_errors
from .._hdf5.storage import StoredExtent, stored_extent_at_open
from ..segmentation import SegmentationExtractor
from ..segmentation.masks import check_pixel_mask
from .v73 import is_empty, is_sparse, matlab_class, matlab_shape

__all__ = ["MatLayout", "Traces", "MatStructSegmentation"]


@dataclass(frozen=True)
class Traces:
    """Where one trace is: its HDF5 path, and which stored axis holds the ROIs (``"sparse"``: a K x T sparse matrix)."""

    path: str
    roi_axis: int | str = 0


@dataclass
class MatLayout:
    """Where a segmentation's parts are in the file (HDF5 paths) and how they are stored."""

    masks: str
    mask_form: str  # "images", "columns" or "sparse"
    traces: dict[str, Traces]
    images: dict[str, str] = field(default_factory=dict)
    image_shape: tuple[int, int] | None = None  # (rows, columns) when the masks do not tell (columns, sparse)


class MatStructSegmentation(SegmentationExtractor):
    """ROIs, traces and images of a struct in a MATLAB v7.3 file, read lazily (see the module documentation).

    A subclass opens the file with :meth:`_open`, which calls its ``_layout(h5)`` and checks what it returns.
    """

    def _open(self, file_path) -> None:
        self._file_path = os.fspath(file_path)
        path = Path(self._file_path)
        if not path.is_file():
            raise FileSetError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
        with open(path, "rb") as fh:
            head = fh.read(128)
        if head[:10] != b"MATLAB 7.3":
            what = "a MATLAB v5/v7 MAT-file" if head[:10] == b"MATLAB 5.0" else "not a MATLAB v7.3 MAT-file"
            raise FormatError(f"{path}: {what}; the {self.format_id} reader reads MAT-files saved with -v7.3 "
                              "(HDF5); in MATLAB, load it and save it again with save(..., '-v7.3')")
        self._file = CachedFile(self._file_path, _open_h5)
        self._extents: dict[str, StoredExtent] = {}
        with h5_read_errors(f"{self._file_path}: the {self.format_id} results"), self._file.open() as h5:
            layout = self._layout(h5)
            self._check_layout(h5, layout)
        self._mat_layout = layout

    def _layout(self, h5) -> MatLayout:  # pragma: no cover - subclasses say where things are
        raise NotImplementedError

    def _format_error(self, text: str) -> FormatError:
        return FormatError(f"{self._file_path}: {text}")

    def _extent(self, h5, name: str, time_axis: int) -> None:
        self._extents[name] = stored_extent_at_open(h5, h5[name], self._file_path, name, time_axis,
                                                    f"{self._file_path}: {name}")

    def _dataset(self, h5, name: str, what: str):
        import h5py

        obj = h5.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise self._format_error(f"{name} ({what}) is missing or not an array")
        if obj.dtype.kind not in "fiub" or matlab_class(obj) in ("char", "cell", "struct"):
            raise self._format_error(f"{name} ({what}) is a {matlab_class(obj) or obj.dtype} value, not numbers")
        return obj

    # ------------------------------------------------------------------ checks at open
    def _check_layout(self, h5, layout: MatLayout) -> None:
        self._num_rois, self._shape = self._check_masks(h5, layout)
        self.native_mask_type = "pixel" if layout.mask_form == "sparse" else "image"
        self._num_samples = None
        self._sparse_jc: dict[str, np.ndarray] = {}
        for name, trace in layout.traces.items():
            self._check_traces(h5, name, trace)
        if self._num_samples is None:
            raise self._format_error("no traces are stored")
        for name, where in layout.images.items():
            dset = self._dataset(h5, where, f"the {name} image")
            if dset.shape != self._shape[::-1]:
                raise self._format_error(f"{where} (the {name} image) is {'x'.join(map(str, dset.shape[::-1]))} in "
                                         f"MATLAB, not the field of view {self._shape[0]}x{self._shape[1]}")
            self._extent(h5, where, 0)

    def _check_masks(self, h5, layout: MatLayout) -> tuple[int, tuple[int, int]]:
        where = layout.masks
        if layout.mask_form == "sparse":
            group = h5.get(where)
            if not is_sparse(group) or "jc" not in group:
                raise self._format_error(f"{where} (the footprints) is not a MATLAB sparse matrix (data, ir, jc)")
            rows, cols = layout.image_shape
            pixels = int(np.asarray(group.attrs["MATLAB_sparse"]).ravel()[0])
            if pixels != rows * cols:
                raise self._format_error(f"{where} has {pixels} rows (pixels) but the field of view is {rows}x{cols}")
            jc = self._sparse_pointers(h5, where, "the footprints")
            for key in ("data", "ir"):
                if key in group:
                    self._extent(h5, f"{where}/{key}", 0)
            self._mask_jc = jc
            return len(jc) - 1, (rows, cols)
        dset = h5.get(where)
        if is_empty(dset):  # no ROIs: MATLAB stores the empty array's size
            size = matlab_shape(dset)
            if layout.image_shape is None and layout.mask_form == "images" and len(size) == 3 and min(size[:2]) > 0:
                return 0, (size[0], size[1])
            if layout.image_shape is None:
                raise self._format_error(f"{where} (the footprints) is empty and nothing else gives the field of view")
            return 0, tuple(layout.image_shape)
        dset = self._dataset(h5, where, "the footprints")
        if layout.mask_form == "images":
            if dset.ndim == 2:
                count, shape = 1, (int(dset.shape[1]), int(dset.shape[0]))
            elif dset.ndim == 3:
                count, shape = int(dset.shape[0]), (int(dset.shape[2]), int(dset.shape[1]))
            else:
                raise self._format_error(f"{where} (the footprints) has {dset.ndim} dimensions, not height x width "
                                         "x cells")
            if layout.image_shape is not None and tuple(layout.image_shape) != shape:
                raise self._format_error(f"{where} (the footprints) is {shape[0]}x{shape[1]} but the field of view is "
                                         f"{layout.image_shape[0]}x{layout.image_shape[1]}")
        else:  # "columns": MATLAB (h*w) x K stored (K, h*w); one ROI is (h*w) x 1, stored (1, h*w)
            rows, cols = layout.image_shape
            if dset.ndim != 2 or dset.shape[1] != rows * cols:
                raise self._format_error(f"{where} (the footprints) is {'x'.join(map(str, dset.shape[::-1]))} in "
                                         f"MATLAB, not pixels ({rows}x{cols}={rows * cols}) x cells")
            count, shape = int(dset.shape[0]), (rows, cols)
        self._extent(h5, where, 0)
        return count, shape

    def _sparse_pointers(self, h5, where: str, what: str) -> np.ndarray:
        import h5py

        group = h5[where]
        jc = np.asarray(group["jc"][()]).ravel()
        data, ir = group.get("data"), group.get("ir")
        if data is None and ir is None:  # MATLAB stores no data and ir for a matrix of zeros
            nnz, stored = 0, True
        else:
            stored = isinstance(data, h5py.Dataset) and isinstance(ir, h5py.Dataset) and data.dtype.kind in "fiub"
            nnz = data.shape[0] if stored and data.ndim == 1 else -1
            stored = stored and ir.shape == (nnz,)
        if (jc.dtype.kind not in "iu" or len(jc) < 1 or jc[0] != 0 or np.any(np.diff(jc.astype(np.int64)) < 0)
                or int(jc[-1]) != nnz or not stored):
            raise self._format_error(f"{where} ({what}) is not a consistent MATLAB sparse matrix (data, ir and jc "
                                     "disagree)")
        return jc.astype(np.int64)

    def _check_traces(self, h5, name: str, trace: Traces) -> None:
        if trace.roi_axis == "sparse":
            group = h5.get(trace.path)
            if not is_sparse(group) or "jc" not in group:
                raise self._format_error(f"{trace.path} (the {name} traces) is not a MATLAB sparse matrix")
            rois = int(np.asarray(group.attrs["MATLAB_sparse"]).ravel()[0])
            jc = self._sparse_pointers(h5, trace.path, f"the {name} traces")
            samples = len(jc) - 1
            self._sparse_jc[trace.path] = jc
            for key in ("data", "ir"):
                if key in group:
                    self._extent(h5, f"{trace.path}/{key}", 0)
        else:
            dset = self._dataset(h5, trace.path, f"the {name} traces")
            if is_empty(dset):  # MATLAB's empty array: its stored dimensions, as MATLAB sizes
                stored = matlab_shape(dset)[::-1]
                if len(stored) != 2 or 0 not in stored:
                    raise self._format_error(f"{trace.path} (the {name} traces) is an empty array of size "
                                             f"{'x'.join(map(str, stored[::-1]))}")
                rois, samples = int(stored[trace.roi_axis]), int(stored[1 - int(trace.roi_axis)])
                self._empty_traces = {*getattr(self, "_empty_traces", ()), trace.path}
            elif dset.ndim != 2:
                raise self._format_error(f"{trace.path} (the {name} traces) has {dset.ndim} dimensions, not 2")
            else:
                rois, samples = int(dset.shape[trace.roi_axis]), int(dset.shape[1 - trace.roi_axis])
                self._extent(h5, trace.path, 1 - int(trace.roi_axis))
        if rois != self._num_rois:
            raise self._format_error(f"{trace.path} (the {name} traces) has {rois} cells but the footprints "
                                     f"{self._num_rois}")
        if self._num_samples is None:
            self._num_samples = samples
        elif samples != self._num_samples:
            raise self._format_error(f"{trace.path} (the {name} traces) has {samples} samples, the other traces "
                                     f"{self._num_samples}")

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return tuple(self._shape)

    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_roi_ids(self) -> list:
        return list(range(self._num_rois))

    def get_trace_names(self) -> list[str]:
        return list(self._mat_layout.traces)

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    # ------------------------------------------------------------------ reads
    def _checked(self, name: str, start: int, stop: int, read):
        """``read(h5)`` under the storage checks of dataset ``name`` (``start:stop`` along its checked axis)."""
        with h5_read_errors(f"{self._file_path}: {name}[{start}:{stop}]"), self._file.open() as h5:
            return self._extents[name].guarded_read(h5, start, stop, read)

    def _trace_dtype(self, name: str) -> np.dtype:
        trace = self._mat_layout.traces[name]
        if trace.roi_axis == "sparse":
            return self._sparse_dtype(trace.path)
        path = trace.path
        if path in getattr(self, "_empty_traces", ()):
            return np.dtype(np.float64)  # no ROIs, nothing read: an empty array stores its size, not its type
        with h5_read_errors(f"{self._file_path}: {path}"), self._file.open() as h5:
            return h5[path].dtype

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        trace = self._mat_layout.traces[name]
        positions = np.asarray(positions, dtype=np.int64)
        if trace.roi_axis == "sparse":
            return self._read_sparse_traces(trace.path, start, stop, positions)
        unique, inverse = np.unique(positions, return_inverse=True)
        lo, hi = int(unique[0]), int(unique[-1]) + 1
        axis = int(trace.roi_axis)

        def read(h5):
            dset = h5[trace.path]
            if axis == 0:  # stored (ROIs, samples)
                if hi - lo <= 2 * len(unique):  # one block: faster than h5py's point selection
                    return dset[lo:hi, start:stop][unique - lo].T
                return dset[unique.tolist(), start:stop].T
            if hi - lo <= 2 * len(unique):  # stored (samples, ROIs)
                return dset[start:stop, lo:hi][:, unique - lo]
            return dset[start:stop, unique.tolist()]

        block = self._checked(trace.path, start, stop, read)
        return np.ascontiguousarray(block[:, inverse])

    def _sparse_dtype(self, where: str) -> np.dtype:
        """The dtype of a sparse matrix's values (double when MATLAB stored none: a matrix of zeros)."""
        with h5_read_errors(f"{self._file_path}: {where}"), self._file.open() as h5:
            return h5[f"{where}/data"].dtype if "data" in h5[where] else np.dtype(np.float64)

    def _read_sparse_traces(self, where: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        jc = self._sparse_jc[where]
        a, b = int(jc[start]), int(jc[stop])
        if a == b:
            return np.zeros((stop - start, len(positions)), dtype=self._sparse_dtype(where))
        data = self._checked(f"{where}/data", a, b, lambda h5: h5[f"{where}/data"][a:b])
        rows = self._checked(f"{where}/ir", a, b, lambda h5: h5[f"{where}/ir"][a:b]).astype(np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= self._num_rois):
            raise self._format_error(f"{where}/ir names a row outside the {self._num_rois} cells")
        samples = np.repeat(np.arange(stop - start), np.diff(jc[start:stop + 1]))
        out = np.zeros((stop - start, self._num_rois), dtype=data.dtype)
        np.add.at(out, (samples, rows), data)  # MATLAB's sparse matrices hold no duplicates; summing is harmless
        return np.ascontiguousarray(out[:, positions])

    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        layout = self._mat_layout
        positions = np.asarray(positions, dtype=np.int64)
        rows, cols = self._shape
        if layout.mask_form == "sparse":
            return super()._read_image_masks(positions, background)
        if not len(positions) or background:
            return np.zeros((rows, cols, 0), dtype=np.float64)
        unique, inverse = np.unique(positions, return_inverse=True)
        lo, hi = int(unique[0]), int(unique[-1]) + 1
        where = layout.masks

        def read(h5):
            dset = h5[where]
            if dset.ndim == 2 and layout.mask_form == "images":  # a single ROI: stored (w, h)
                return dset[()][np.newaxis]
            if hi - lo <= 2 * len(unique):
                return dset[lo:hi][unique - lo]
            return dset[unique.tolist()]

        block = self._checked(where, lo, hi, read)
        if layout.mask_form == "images":  # (n, w, h) -> (h, w, n)
            masks = block.transpose(2, 1, 0)
        else:  # (n, h*w), pixels column-major -> (h, w, n)
            masks = block.reshape(len(unique), cols, rows).transpose(2, 1, 0)
        masks = masks[:, :, inverse]
        if masks.dtype.kind in "bu" and masks.dtype.itemsize == 1:
            masks = masks.astype(np.float64)
        return np.ascontiguousarray(masks)

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        layout = self._mat_layout
        if layout.mask_form != "sparse":
            return super()._read_pixel_masks(positions, background)
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions) or background:
            return []
        rows = self._shape[0]
        where, jc = layout.masks, self._mask_jc
        lo, hi = int(jc[int(positions.min())]), int(jc[int(positions.max()) + 1])
        if lo == hi:
            return [np.zeros((0, 3)) for _ in positions]
        data = self._checked(f"{where}/data", lo, hi, lambda h5: h5[f"{where}/data"][lo:hi])
        index = self._checked(f"{where}/ir", lo, hi, lambda h5: h5[f"{where}/ir"][lo:hi]).astype(np.int64)
        result = []
        for position in positions:
            a, b = int(jc[position]) - lo, int(jc[position + 1]) - lo
            weights, pixels = data[a:b], index[a:b]
            keep = weights != 0
            weights, pixels = weights[keep], pixels[keep]
            mask = (np.column_stack([pixels % rows, pixels // rows, weights]) if len(pixels)
                    else np.zeros((0, 3)))
            result.append(check_pixel_mask(mask, self._shape, f"{self._file_path}: {where}, cell {int(position)}"))
        return result

    def _read_images(self) -> dict[str, np.ndarray]:
        images = {}
        for name, where in self._mat_layout.images.items():
            images[name] = np.asarray(self._checked(where, 0, 0, lambda h5, w=where: h5[w][()])).T
        return images
