"""CaImAn's segmentation: :class:`CaimanSegmentationExtractor`.

``CNMF.save(path)`` writes the ``estimates`` object (and ``params``) of a CNMF / CNMF-E run into one HDF5
file, each attribute as a dataset (an attribute that was ``None`` becomes the scalar string
``b"NoneType"``). What is read, from ``estimates/``:

- ``A``: the spatial footprints, a scipy CSC matrix stored as a group with ``data``, ``indices``, ``indptr``
  and ``shape`` = (pixels, components). Column ``k`` is component ``k``; a pixel index is
  ``row + column * rows`` (the frame flattened in Fortran order), ``(rows, columns)`` being
  ``params/data/dims``;
- ``C`` (components, frames): the denoised temporal traces (``denoised``); ``YrA``: the residuals, so that
  ``C + YrA`` is the trace before denoising (``raw``); ``S``: the deconvolved activity (``deconvolved``);
  ``F_dff``: DF/F (``dff``), when it was computed;
- ``b`` (pixels, background components), Fortran-ordered like ``A``, and ``f`` (background components,
  frames): the background, kept apart from the cells (:meth:`get_background_ids`, trace ``background``);
- ``idx_components`` / ``idx_components_bad``: the accepted and rejected components of the quality
  evaluation (all components are ROIs; these give :meth:`get_accepted_list` / :meth:`get_rejected_list`);
  ``SNR_comp``, ``r_values``, ``cnn_preds``: ROI properties ``snr``, ``r_values``, ``cnn_preds``;
- ``Cn``: the local correlation image (``correlation``), when it was stored.

``params/data/fr`` is the frame rate, ``params/data/dims`` the field of view; ``params`` is the metadata,
whole. Every read goes through h5py, lazily (traces per ROI and time range, masks per component), and a
file found damaged or cut short is a :class:`~ophysio.errors.CorruptFileError` naming it. Volumetric CaImAn
runs (three ``dims``) are not supported yet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError
from .._handles import CachedFile
from .._hdf5.reads import _open_h5, h5_read_errors
from .._hdf5.storage import StoredExtent, stored_extent_at_open
from ..checks import checked_rate
from ..segmentation import SegmentationExtractor
from ..segmentation.masks import check_pixel_mask

__all__ = ["CaimanSegmentationExtractor"]

#: ophysio trace name -> the estimates datasets summed to make it
_TRACES = {
    "raw": ("C", "YrA"),
    "dff": ("F_dff",),
    "deconvolved": ("S",),
    "denoised": ("C",),
    "background": ("f",),
}
#: estimates dataset -> (ROI property, description)
_PROPERTIES = {
    "SNR_comp": ("snr", "Signal-to-noise ratio of the component's trace (CaImAn estimates.SNR_comp)."),
    "r_values": ("r_values", "Spatial correlation of the footprint with the movie (CaImAn estimates.r_values)."),
    "cnn_preds": ("cnn_preds", "CNN classifier's probability that the component is a neuron (CaImAn "
                               "estimates.cnn_preds)."),
}
#: Largest dataset of params read into the metadata (elements); bigger ones are described, not read.
_MAX_PARAM_ELEMENTS = 100_000


def _is_none(dset) -> bool:
    """Whether a dataset is CaImAn's stand-in for None (a scalar string ``NoneType``) or empty."""
    if dset.shape == () and dset.dtype.kind in "OSU":
        return True
    return dset.size == 0


def _decode(value: Any) -> Any:
    """A value of params as plain Python: text decoded, ``NoneType`` as None, arrays kept."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        return None if text == "NoneType" else text
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OS":
            return [_decode(v) for v in value.ravel().tolist()]
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


class CaimanSegmentationExtractor(SegmentationExtractor):
    """The components, traces and images of a CaImAn run saved to HDF5 (``CNMF.save``).

    Parameters
    ----------
    file_path : str or os.PathLike
        The ``.hdf5`` file (an HDF5 file with ``estimates`` and ``params`` groups).

    Notes
    -----
    ROI ids are the component indices ``0..K-1``; background components are ``"background0"``,
    ``"background1"``... (roiextractors' ids). Traces: ``raw`` (``C + YrA``, when ``YrA`` is stored),
    ``dff`` (``F_dff``), ``deconvolved`` (``S``), ``denoised`` (``C``), ``background`` (``f``).
    roiextractors lists background masks among the ROIs and adds the sum of ``b`` as a ``mean`` image; here
    the background is kept apart and no image is made up.
    """

    format_id = "caiman"
    extractor_name = "CaimanSegmentation"
    native_mask_type = "pixel"

    def __init__(self, file_path: str | os.PathLike):
        super().__init__()
        self._file_path = os.fspath(file_path)
        path = Path(self._file_path)
        if not path.is_file():
            raise FileSetError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
        self._file = CachedFile(self._file_path, _open_h5)
        with h5_read_errors(f"{self._file_path}: the CaImAn estimates and params"), self._file.open() as h5:
            self._scan(h5)

    # ------------------------------------------------------------------ opening
    def _format_error(self, text: str) -> FormatError:
        return FormatError(f"{self._file_path}: {text}")

    def _scan(self, h5) -> None:
        import h5py

        for group in ("estimates", "params"):
            if not isinstance(h5.get(group), h5py.Group):
                raise self._format_error(f"no {group!r} group: not a CaImAn file (CNMF.save writes estimates and "
                                         "params)")
        est = h5["estimates"]
        self._shape = self._dims(h5)
        rows, cols = self._shape
        # A: the sparse footprints
        sparse = est.get("A")
        if not isinstance(sparse, h5py.Group) or not all(isinstance(sparse.get(k), h5py.Dataset)
                                                         for k in ("data", "indices", "indptr", "shape")):
            raise self._format_error("estimates/A is not a sparse matrix group (data, indices, indptr, shape)")
        shape = np.asarray(sparse["shape"][()]).ravel()
        if shape.size != 2 or shape.dtype.kind not in "iu" or np.any(shape < 0):
            raise self._format_error(f"estimates/A/shape is {shape.tolist()}, not (pixels, components)")
        pixels, self._num_rois = int(shape[0]), int(shape[1])
        if pixels != rows * cols:
            raise self._format_error(f"estimates/A has {pixels} pixels but the field of view is {rows} x {cols} "
                                     "(params/data/dims)")
        indptr = np.asarray(sparse["indptr"][()]).ravel()
        nnz = sparse["data"].shape[0] if sparse["data"].ndim == 1 else -1
        if (indptr.dtype.kind not in "iu" or len(indptr) != self._num_rois + 1 or (len(indptr) and indptr[0] != 0)
                or np.any(np.diff(indptr.astype(np.int64)) < 0) or indptr[-1] != nnz
                or sparse["indices"].shape != (nnz,)):
            raise self._format_error("estimates/A is not a consistent CSC matrix (indptr, data and indices disagree)")
        self._indptr = indptr.astype(np.int64)
        self._extents: dict[str, StoredExtent] = {}
        for key in ("data", "indices"):
            self._extent(h5, f"estimates/A/{key}", 0)
        # the temporal components
        self._num_samples = None
        self._datasets: dict[str, bool] = {}
        for key in ("C", "YrA", "S", "F_dff"):
            self._datasets[key] = self._trace_dataset(h5, key, self._num_rois)
        if not self._datasets["C"]:
            raise self._format_error("estimates/C (the temporal components) is not stored")
        # the background
        self._num_background = 0
        b = est.get("b")
        self._has_b = isinstance(b, h5py.Dataset) and not _is_none(b)
        if self._has_b:
            if b.ndim == 1:
                b_count = 1
            elif b.ndim == 2 and b.shape[0] == pixels:
                b_count = int(b.shape[1])
            else:
                raise self._format_error(f"estimates/b has shape {b.shape}, not (pixels={pixels}, components)")
            if b.dtype.kind not in "fiu":
                raise self._format_error(f"estimates/b holds {b.dtype}, not numbers")
            self._b_ndim = b.ndim
            self._extent(h5, "estimates/b", 0)
            self._num_background = b_count
        f = est.get("f")
        has_f = isinstance(f, h5py.Dataset) and not _is_none(f)
        if has_f:
            count = int(f.shape[0]) if f.ndim == 2 else 1
            if self._has_b and count != self._num_background:
                raise self._format_error(f"estimates/f has {count} background traces but estimates/b "
                                         f"{self._num_background} background components")
            if f.ndim != 2:
                raise self._format_error(f"estimates/f has shape {f.shape}, not (background components, frames)")
            self._num_background = count
            has_f = self._trace_dataset(h5, "f", count)
        self._datasets["f"] = has_f
        self._trace_names = [name for name, keys in _TRACES.items() if all(self._datasets.get(k) for k in keys)]
        # accepted, rejected, properties
        self._set_properties(est)
        # rate
        data = h5["params"].get("data")
        fr = data.get("fr") if isinstance(data, h5py.Group) else None
        where = f"params/data/fr in {self._file_path}"
        try:
            if not isinstance(fr, h5py.Dataset) or _is_none(fr):
                raise MetadataError(f"{where} is not stored")
            self._rate = checked_rate(_decode(fr[()]), where)
        except MetadataError as exc:
            self._rate = self._rate_unknown(str(exc))
        version = data.get("caiman_version") if isinstance(data, h5py.Group) else None
        self._version = _decode(version[()]) if isinstance(version, h5py.Dataset) and version.shape == () else None
        cn = est.get("Cn")
        self._has_cn = isinstance(cn, h5py.Dataset) and not _is_none(cn)
        if self._has_cn and (cn.shape != self._shape or cn.dtype.kind not in "fiu"):
            raise self._format_error(f"estimates/Cn (the correlation image) is {cn.dtype} {cn.shape}, not the field "
                                     f"of view {self._shape}")

    def _dims(self, h5) -> tuple[int, int]:
        import h5py

        for where in ("params/data/dims", "estimates/dims", "dims"):
            dset = h5.get(where)
            if isinstance(dset, h5py.Dataset) and not _is_none(dset) and dset.dtype.kind in "iuf":
                dims = np.asarray(dset[()]).ravel()
                if dims.size == 3:
                    raise self._format_error(f"{where} is {dims.tolist()}: a volumetric CaImAn run, which ophysio "
                                             "does not read yet")
                if dims.size != 2 or np.any(dims <= 0) or np.any(dims != np.round(dims)):
                    raise self._format_error(f"{where} is {dims.tolist()}, not the (rows, columns) of a frame")
                return int(dims[0]), int(dims[1])
        raise self._format_error("no params/data/dims: the field of view of the footprints is unknown")

    def _extent(self, h5, name: str, time_axis: int) -> StoredExtent:
        extent = stored_extent_at_open(h5, h5[name], self._file_path, name, time_axis, f"{self._file_path}: {name}")
        self._extents[name] = extent
        return extent

    def _trace_dataset(self, h5, key: str, count: int) -> bool:
        """Whether ``estimates/<key>`` holds traces (count, frames); checks it against the other traces."""
        import h5py

        dset = h5["estimates"].get(key)
        if not isinstance(dset, h5py.Dataset) or _is_none(dset):
            return False
        if dset.ndim != 2 or dset.shape[0] != count or dset.dtype.kind not in "fiu":
            raise self._format_error(f"estimates/{key} is {dset.dtype} {dset.shape}, not numbers of shape "
                                     f"({count}, frames)")
        if self._num_samples is None:
            self._num_samples = int(dset.shape[1])
        elif dset.shape[1] != self._num_samples:
            raise self._format_error(f"estimates/{key} has {dset.shape[1]} frames but estimates/C has "
                                     f"{self._num_samples}")
        self._extent(h5, f"estimates/{key}", 1)
        return True

    def _indices(self, est, key: str) -> np.ndarray | None:
        dset = est.get(key)
        if dset is None or not hasattr(dset, "dtype") or _is_none(dset):
            return None
        values = np.asarray(dset[()]).ravel()
        if values.dtype.kind not in "iu" or np.any(values < 0) or np.any(values >= self._num_rois):
            raise self._format_error(f"estimates/{key} must list component indices 0..{self._num_rois - 1}")
        return values

    def _set_properties(self, est) -> None:
        n = self._num_rois
        good, bad = self._indices(est, "idx_components"), self._indices(est, "idx_components_bad")
        if good is not None:
            flags = np.zeros(n, dtype=bool)
            flags[good] = True
            self.set_property("is_accepted", flags, description="Whether CaImAn's component evaluation accepted the "
                                                                "component (estimates.idx_components).")
        if bad is not None:
            flags = np.zeros(n, dtype=bool)
            flags[bad] = True
            self.set_property("is_rejected", flags, description="Whether CaImAn's component evaluation rejected the "
                                                                "component (estimates.idx_components_bad).")
        for key, (name, description) in _PROPERTIES.items():
            dset = est.get(key)
            if dset is None or not hasattr(dset, "dtype") or _is_none(dset) or dset.dtype.kind not in "fiub":
                continue
            values = np.asarray(dset[()]).ravel()
            if len(values) == n:
                self.set_property(name, values, description=description)

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_samples(self) -> int:
        return int(self._num_samples or 0)

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_roi_ids(self) -> list:
        return list(range(self._num_rois))

    def get_background_ids(self) -> list:
        return [f"background{i}" for i in range(self._num_background)]

    def get_trace_names(self) -> list[str]:
        return list(self._trace_names)

    def get_file_paths(self) -> list[str]:
        return [self._file_path]

    def get_metadata(self) -> dict[str, Any]:
        """``{"params": {...}}``: CaImAn's parameters as saved (groups as dicts; ``None`` where CaImAn wrote
        ``NoneType``; datasets of more than 100000 values described by their shape)."""
        import h5py

        def walk(group) -> dict:
            out = {}
            for name in group:
                link = group.get(name, getlink=True)
                if not isinstance(link, h5py.HardLink):
                    continue
                item = group[name]
                if isinstance(item, h5py.Group):
                    out[name] = walk(item)
                elif item.size > _MAX_PARAM_ELEMENTS:
                    out[name] = f"<{item.dtype} array of shape {item.shape}, not read>"
                else:
                    out[name] = _decode(item[()])
            return out

        with h5_read_errors(f"{self._file_path}: params"), self._file.open() as h5:
            return {"params": walk(h5["params"])}

    def get_acquisition_facts(self):
        """The channel, rate and params; CaImAn records the analysis, not the microscope."""
        facts = super().get_acquisition_facts()
        return facts.replace(software="CaImAn", software_version=str(self._version) if self._version else None)

    # ------------------------------------------------------------------ reads
    def _checked_read(self, name: str, start: int, stop: int, read):
        """``read(h5)`` under the storage checks of dataset ``name`` (samples ``start:stop``)."""
        with h5_read_errors(f"{self._file_path}: {name}[{start}:{stop}]"), self._file.open() as h5:
            return self._extents[name].guarded_read(h5, start, stop, read)

    def _trace_dtype(self, name: str) -> np.dtype:
        with h5_read_errors(f"{self._file_path}: estimates"), self._file.open() as h5:
            return np.result_type(*(h5[f"estimates/{key}"].dtype for key in _TRACES[name]))

    def _read_rows(self, key: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        """Rows ``positions`` of ``estimates/<key>``, columns ``start:stop``, as (stop - start, len(positions))."""
        name = f"estimates/{key}"
        unique, inverse = np.unique(positions, return_inverse=True)
        lo, hi = int(unique[0]), int(unique[-1]) + 1

        def read(h5):
            dset = h5[name]
            if hi - lo <= 2 * len(unique):  # one block: faster than h5py's point selection
                return dset[lo:hi, start:stop][unique - lo]
            return dset[unique.tolist(), start:stop]

        block = self._checked_read(name, start, stop, read)
        return block[inverse].T

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        keys = _TRACES[name]
        out = self._read_rows(keys[0], start, stop, positions)
        for key in keys[1:]:
            out = out + self._read_rows(key, start, stop, positions)
        return np.ascontiguousarray(out, dtype=self._trace_dtype(name))

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        positions = np.asarray(positions, dtype=np.int64)
        if not len(positions):
            return []
        rows = self._shape[0]
        if background:
            return self._background_masks(positions)
        first, last = int(positions.min()), int(positions.max())
        lo, hi = int(self._indptr[first]), int(self._indptr[last + 1])
        data = self._checked_read("estimates/A/data", lo, hi, lambda h5: h5["estimates/A/data"][lo:hi])
        indices = self._checked_read("estimates/A/indices", lo, hi, lambda h5: h5["estimates/A/indices"][lo:hi])
        result = []
        for position in positions:
            a, b = int(self._indptr[position]) - lo, int(self._indptr[position + 1]) - lo
            weights, index = data[a:b], indices[a:b].astype(np.int64)
            keep = weights != 0
            weights, index = weights[keep], index[keep]
            mask = np.column_stack([index % rows, index // rows, weights]) if len(index) else np.zeros((0, 3))
            result.append(check_pixel_mask(mask, self._shape, f"{self._file_path}: estimates/A, component "
                                                              f"{int(position)}"))
        return result

    def _background_masks(self, positions: np.ndarray) -> list[np.ndarray]:
        rows = self._shape[0]
        pixels = rows * self._shape[1]
        name = "estimates/b"
        if not self._has_b:
            return [np.zeros((0, 3)) for _ in positions]
        lo, hi = int(positions.min()), int(positions.max()) + 1

        def read(h5):
            dset = h5[name]
            return dset[:].reshape(pixels, 1) if self._b_ndim == 1 else dset[:, lo:hi]

        block = self._checked_read(name, 0, pixels, read)
        result = []
        for position in positions:
            column = block[:, 0 if self._b_ndim == 1 else int(position) - lo]
            index = np.flatnonzero(column)
            mask = np.column_stack([index % rows, index // rows, column[index]]) if len(index) else np.zeros((0, 3))
            result.append(check_pixel_mask(mask, self._shape, f"{self._file_path}: estimates/b, background "
                                                              f"component {int(position)}"))
        return result

    def _read_images(self) -> dict[str, np.ndarray]:
        if not self._has_cn:
            return {}
        name = "estimates/Cn"
        if name not in self._extents:
            with h5_read_errors(f"{self._file_path}: {name}"), self._file.open() as h5:
                self._extent(h5, name, 0)
        image = self._checked_read(name, 0, self._shape[0], lambda h5: h5[name][()])
        return {"correlation": np.asarray(image)}
