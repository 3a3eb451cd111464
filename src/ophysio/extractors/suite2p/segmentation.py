"""suite2p's segmentation: :class:`Suite2pSegmentationExtractor`.

For each plane suite2p writes, beside ``ops.npy``, in ``suite2p/plane<i>/``:

- ``stat.npy``: one dict per ROI (a pickled object array): ``ypix``, ``xpix`` (the ROI's pixels), ``lam``
  (their weights), ``overlap`` (True for a pixel that other ROIs share, left out of the trace when
  ``ops["allow_overlap"]`` is false), ``med`` and scalar statistics (``npix``, ``radius``, ``compact``,
  ``skew``...);
- ``F.npy``, ``Fneu.npy``, ``spks.npy``: fluorescence, neuropil and deconvolved traces, float32
  ``(ROIs, frames)``; ``F_chan2.npy``, ``Fneu_chan2.npy`` for the second channel read through the same ROIs;
- ``iscell.npy`` / ``redcell.npy``: ``(ROIs, 2)``: a 0/1 label and its probability;
- in ``ops.npy``: ``meanImg``, ``meanImgE``, ``meanImg_chan2``, ``meanImg_chan2_corrected`` over the
  whole field of view, and ``max_proj`` and ``Vcorr`` over the part registration kept
  (``yrange``, ``xrange``), which are placed back into the whole field here (zeros around, as suite2p's
  GUI shows them).

``combined/`` holds every plane tiled into one field of view (``stat["iplane"]`` names each ROI's plane);
it reads as one planar segmentation (``plane_name="combined"``).

``stat.npy`` and ``ops.npy`` can only be read with ``numpy.load(allow_pickle=True)``, which can run code
from a crafted file: these two suite2p files are the only ones ophysio unpickles. Open suite2p output you
trust. Every other file is read with ``allow_pickle=False``, the traces lazily with positional reads.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from .._filearray import FileArray
from .._handles import CachedFile
from ..imaging import checked_rate
from ..segmentation import SegmentationExtractor
from ..segmentation.masks import check_pixel_mask
from .reader import _load_ops, _plane_folders

__all__ = ["Suite2pSegmentationExtractor"]

_PLANE = re.compile(r"^plane(\d+)$")
#: trace name -> file, for each channel
_TRACE_FILES = {
    "chan1": {"raw": "F.npy", "neuropil": "Fneu.npy", "deconvolved": "spks.npy"},
    "chan2": {"raw": "F_chan2.npy", "neuropil": "Fneu_chan2.npy"},
}
#: suite2p's scalar ROI statistics that ophysio describes (others are kept with an empty description)
_STAT_DESCRIPTIONS = {
    "npix": "Number of pixels of the ROI (suite2p stat['npix']).",
    "npix_norm": "Number of pixels of the ROI divided by the mean over ROIs (suite2p stat['npix_norm']).",
    "npix_soma": "Number of pixels of the ROI's soma (suite2p stat['npix_soma']).",
    "radius": "Radius of a 2-D Gaussian fitted to the ROI, in pixels (suite2p stat['radius']).",
    "aspect_ratio": "Ratio of the fitted Gaussian's axes (suite2p stat['aspect_ratio']).",
    "compact": "Compactness: mean distance of the pixels to the centre over that of a disk (suite2p stat['compact']).",
    "footprint": "Spatial extent of the ROI's correlations (suite2p stat['footprint']).",
    "skew": "Skewness of the neuropil-corrected trace (suite2p stat['skew']).",
    "std": "Standard deviation of the neuropil-corrected trace (suite2p stat['std']).",
    "solidity": "Solidity of the ROI (suite2p stat['solidity']).",
    "iplane": "Plane of the ROI in the suite2p run (suite2p stat['iplane']).",
}


def _npy(path: Path, what: str, pickled: bool = False) -> Any:
    """A whole small .npy file (pickled only for suite2p's stat)."""
    try:
        return np.load(path, allow_pickle=pickled)
    except FileNotFoundError as exc:
        raise FileSetError(f"{path} ({what}) does not exist") from exc
    except Exception as exc:  # numpy raises many types for a damaged file
        raise CorruptFileError(f"{path} ({what}) could not be read as a numpy file: {type(exc).__name__}: {exc}") \
            from exc


def _trace_file(path: Path, rois: int, what: str) -> tuple[FileArray, bool]:
    """A ``(ROIs, frames)`` trace file read lazily, and whether it is stored transposed (Fortran order)."""
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # a damaged header, a file shorter than its header says
        raise CorruptFileError(f"{path} ({what}) could not be read as a numpy file: {type(exc).__name__}: {exc}") \
            from exc
    if mapped.ndim != 2 or mapped.dtype.kind not in "fiu":
        raise FormatError(f"{path} ({what}) must hold a 2-D array of numbers (ROIs, frames); it holds "
                          f"{mapped.dtype} of shape {mapped.shape}")
    if mapped.shape[0] != rois:
        raise FormatError(f"{path} ({what}) has {mapped.shape[0]} rows but stat.npy has {rois} ROIs; the files "
                          "belong to different runs or were edited")
    fortran = not mapped.flags.c_contiguous
    stored = mapped.shape[::-1] if fortran else mapped.shape
    array = FileArray(CachedFile(path), mapped.offset, mapped.dtype, stored, f"the {what} in {path.name}")
    return array, fortran


class _Plane:
    """What one plane folder holds: ops, masks, properties, and its trace files (opened lazily)."""

    def __init__(self, folder: Path, channel: str):
        self.folder = folder
        self.ops = _load_ops(folder)
        self.shape = (int(self.ops["Ly"]), int(self.ops["Lx"]))
        stat_path = folder / "stat.npy"
        if not stat_path.is_file():
            raise FileSetError(f"{folder} has no stat.npy: not a suite2p segmentation (detection did not run, or "
                               "the folder is incomplete)")
        stat = _npy(stat_path, "ROI statistics", pickled=True)
        if not isinstance(stat, np.ndarray) or stat.ndim != 1 or not all(isinstance(s, dict) for s in stat):
            raise FormatError(f"{stat_path} does not hold suite2p's array of ROI dicts")
        self.masks: list[np.ndarray] = []
        self.overlaps: list[np.ndarray] = []
        self.overlap_pixels = np.zeros(len(stat), dtype=np.int64)
        for i, roi in enumerate(stat):
            try:
                ypix, xpix, lam = (np.asarray(roi[k]).ravel() for k in ("ypix", "xpix", "lam"))
            except KeyError as exc:
                raise FormatError(f"{stat_path}: ROI {i} has no {exc.args[0]!r}") from None
            if not len(ypix) == len(xpix) == len(lam):
                raise FormatError(f"{stat_path}: ROI {i} has {len(ypix)} ypix, {len(xpix)} xpix and {len(lam)} lam")
            self.masks.append(check_pixel_mask(np.column_stack([ypix, xpix, lam]) if len(ypix) else np.zeros((0, 3)),
                                               self.shape, f"{stat_path}, ROI {i}"))
            overlap = np.asarray(roi.get("overlap", np.zeros(len(ypix), dtype=bool)), dtype=bool).ravel()
            if len(overlap) != len(ypix):
                raise FormatError(f"{stat_path}: ROI {i} has {len(overlap)} overlap flags for {len(ypix)} pixels")
            self.overlaps.append(overlap)
            self.overlap_pixels[i] = int(np.count_nonzero(overlap))
        self.stat_scalars = {}
        for key in stat[0] if len(stat) else ():
            values = [roi.get(key) for roi in stat]
            if all(v is not None and np.ndim(v) == 0 and np.asarray(v).dtype.kind in "biuf" for v in values):
                self.stat_scalars[key] = np.asarray(values)
        self.labels = {}
        for name in ("iscell", "redcell"):
            path = folder / f"{name}.npy"
            if path.is_file():
                label = _npy(path, f"{name} labels")
                if not isinstance(label, np.ndarray) or label.shape != (len(stat), 2):
                    raise FormatError(f"{path} must hold ({len(stat)}, 2): a 0/1 label and a probability per ROI; "
                                      f"it holds {getattr(label, 'shape', type(label).__name__)}")
                self.labels[name] = label
        self.files: dict[str, Path] = {}
        for name, file in _TRACE_FILES[channel].items():
            if (folder / file).is_file():
                self.files[name] = folder / file
        self._traces: dict[str, tuple[FileArray, bool]] = {}
        self.num_frames = None
        for name, path in self.files.items():
            array, fortran = self.trace(name)
            frames = array.shape[0] if fortran else array.shape[1]
            if self.num_frames is not None and frames != self.num_frames:
                raise FormatError(f"{path} has {frames} frames but {self.files['raw'].name} has {self.num_frames}")
            self.num_frames = frames

    def trace(self, name: str) -> tuple[FileArray, bool]:
        found = self._traces.get(name)
        if found is None:
            found = _trace_file(self.files[name], len(self.masks), f"{name} traces")
            self._traces[name] = found
        return found

    def read(self, name: str, start: int, stop: int, local: np.ndarray) -> np.ndarray:
        array, fortran = self.trace(name)
        if fortran:  # stored (frames, ROIs): whole rows of the time range
            return array[start:stop][:, local]
        return array.read_segments(local, start, stop).T  # (ROIs, frames): a segment of each ROI's row

    def images(self, channel: str, other: str | None) -> dict[str, np.ndarray]:
        ops, shape, where = self.ops, self.shape, self.folder / "ops.npy"
        sources = {"mean": "meanImg" if channel == "chan1" else "meanImg_chan2", "mean_enhanced": "meanImgE",
                   "max": "max_proj", "correlation": "Vcorr", "mean_chan2_corrected": "meanImg_chan2_corrected"}
        if other is not None:
            sources[f"mean_{other}"] = "meanImg" if other == "chan1" else "meanImg_chan2"
        result = {}
        for name, key in sources.items():
            if key not in ops or ops[key] is None:
                continue
            image = np.asarray(ops[key])
            if image.dtype.kind not in "biuf" or image.ndim != 2:
                warnings.warn(f"{where}: ops[{key!r}] is not a 2-D image ({image.dtype}, {image.shape}); left out",
                              UserWarning, stacklevel=4)
                continue
            if image.shape != shape:
                placed = _placed(image, ops, shape)
                if placed is None:
                    warnings.warn(f"{where}: ops[{key!r}] is {image.shape}, neither the field of view {shape} nor the "
                                  f"registered range yrange={ops.get('yrange')}, xrange={ops.get('xrange')}; left out",
                                  UserWarning, stacklevel=4)
                    continue
                image = placed
            result[name] = image
        return result


def _placed(image: np.ndarray, ops: dict, shape: tuple[int, int]) -> np.ndarray | None:
    """An image of the registered range (``yrange``, ``xrange``) placed into the whole field (zeros around)."""
    try:
        y0, y1 = (int(v) for v in np.asarray(ops["yrange"]).ravel()[[0, -1]])
        x0, x1 = (int(v) for v in np.asarray(ops["xrange"]).ravel()[[0, -1]])
    except (KeyError, ValueError, TypeError, IndexError):
        return None
    if not (0 <= y0 < y1 <= shape[0] and 0 <= x0 < x1 <= shape[1]) or image.shape != (y1 - y0, x1 - x0):
        return None
    out = np.zeros(shape, dtype=image.dtype)
    out[y0:y1, x0:x1] = image
    return out


def _segmentation_folders(path: Path, plane_name: str | None) -> list[Path]:
    """The plane folders to read: all planes, one plane, or ``combined``."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if plane_name == "combined":
        for root in (path, path / "suite2p"):
            if (root / "combined" / "ops.npy").is_file():
                return [root / "combined"]
        if path.name == "combined" and (path / "ops.npy").is_file():
            return [path]
        raise FileSetError(f"no suite2p combined/ folder with an ops.npy in {path}")
    folders = _plane_folders(path)
    if plane_name is None:
        return folders
    names = [f.name for f in folders]
    if plane_name not in names:
        raise SelectionError(f"plane {plane_name!r} is not one of the planes {names} in {path} (or 'combined')")
    return [folders[names.index(plane_name)]]


class Suite2pSegmentationExtractor(SegmentationExtractor):
    """The ROIs, traces and images of a suite2p run.

    Parameters
    ----------
    folder_path : str or os.PathLike
        The ``suite2p`` folder (holding ``plane<N>/``), the folder holding it, one plane folder, or a
        ``combined`` folder.
    channel_name : {"chan1", "chan2"}, optional
        Whose traces: ``chan1`` (``F.npy``, ``Fneu.npy``, ``spks.npy``: the functional channel, default)
        or ``chan2`` (``F_chan2.npy``, ``Fneu_chan2.npy``, through the same ROIs).
    plane_name : str, optional
        ``"plane0"``, ``"plane1"``... for one plane, or ``"combined"``. By default a single-plane run is read
        as a planar segmentation and a multi-plane run as one volumetric segmentation (voxel masks whose
        plane is the ROI's plane; ROI ids numbered across the planes in order, as in ``combined/``; the
        samples are those every plane has), as :class:`Suite2pImagingExtractor` reads the movie. roiextractors
        read the first plane with a warning instead: pass ``plane_name="plane0"`` for that.
    sampling_frequency : float, optional
        Overrides ``ops["fs"]``.

    Notes
    -----
    ``stat.npy`` and ``ops.npy`` are loaded with ``numpy.load(allow_pickle=True)`` (see the module notes).
    ``iscell`` gives the accepted (label 1) and rejected ROIs and the property ``iscell_probability``;
    ``redcell`` the properties ``redcell`` and ``redcell_probability``; the scalar statistics of ``stat``
    are properties too, with ``overlap_pixels`` (pixels shared with other ROIs). Masks weigh each pixel by
    ``lam``, as suite2p stores it.
    """

    format_id = "suite2p"
    extractor_name = "Suite2pSegmentation"
    native_mask_type = "pixel"

    def __init__(self, folder_path: str | os.PathLike, channel_name: str | None = None,
                 plane_name: str | None = None, sampling_frequency: float | None = None):
        super().__init__()
        self._folder = Path(folder_path)
        folders = _segmentation_folders(self._folder, plane_name)
        channel_name = channel_name or "chan1"
        if channel_name not in _TRACE_FILES:
            raise SelectionError(f"channel {channel_name!r} is not a suite2p channel; use 'chan1' or 'chan2'")
        self._planes = [_Plane(folder, channel_name) for folder in folders]
        first = self._planes[0]
        shapes = {plane.shape for plane in self._planes}
        if len(shapes) > 1:
            raise FormatError(f"the planes of {self._folder} have different frame sizes {sorted(shapes)}; pick one "
                              "with plane_name=")
        self._shape = first.shape
        available = self._available_channels(folders[0])
        if channel_name not in available:
            raise SelectionError(f"{folders[0]} has no traces of channel {channel_name!r} "
                                 f"({_TRACE_FILES[channel_name]['raw']} is missing); channels: {available}")
        self._channel_names = tuple(available)
        self._channel_name = channel_name
        names = [name for name in _TRACE_FILES[channel_name] if all(name in p.files for p in self._planes)]
        self._trace_names = names
        self._num_samples = min((p.num_frames for p in self._planes if p.num_frames is not None), default=0)
        counts = [len(p.masks) for p in self._planes]
        self._offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self._roi_plane = np.repeat(np.arange(len(self._planes)), counts)
        self._volumetric = len(self._planes) > 1
        self._set_properties()
        if sampling_frequency is not None:
            self._rate = checked_rate(sampling_frequency)
        else:
            try:
                self._rate = checked_rate(first.ops.get("fs"), f"ops['fs'] in {folders[0]}")
            except MetadataError:
                self._rate = self._rate_unknown(f"ops['fs'] in {folders[0]} is {first.ops.get('fs')!r}")
        other = next((c for c in available if c != channel_name), None)
        per_plane = [p.images(channel_name, other) for p in self._planes]
        common = [k for k in per_plane[0] if all(k in images for images in per_plane)]
        self._images = {k: per_plane[0][k] if not self._volumetric else np.stack([im[k] for im in per_plane], axis=-1)
                        for k in common}

    def _set_properties(self) -> None:
        planes = self._planes
        for name, description in (("iscell", "Probability that the ROI is a cell (suite2p iscell.npy column 1)."),
                                  ("redcell", "Probability that the ROI is red, in channel 2 (suite2p redcell.npy "
                                              "column 1).")):
            if all(name in p.labels for p in planes):
                labels = np.concatenate([p.labels[name] for p in planes])
                if name == "iscell":
                    self.set_property("is_accepted", labels[:, 0] > 0.5,
                                      description="Whether suite2p's classifier (or its GUI) labelled the ROI a cell "
                                                  "(iscell.npy column 0).")
                else:
                    self.set_property("redcell", labels[:, 0] > 0.5,
                                      description="Whether suite2p labelled the ROI red (redcell.npy column 0).")
                self.set_property(f"{name}_probability", labels[:, 1], description=description)
        keys = [k for k in planes[0].stat_scalars if all(k in p.stat_scalars for p in planes)]
        for key in keys:
            self.set_property(key, np.concatenate([p.stat_scalars[key] for p in planes]),
                              description=_STAT_DESCRIPTIONS.get(key, f"suite2p stat[{key!r}]."))
        self.set_property("overlap_pixels", np.concatenate([p.overlap_pixels for p in planes]),
                          description="Pixels of the ROI that other ROIs share (suite2p stat['overlap']); suite2p "
                                      "leaves them out of the traces unless ops['allow_overlap'] is set.")

    @staticmethod
    def _available_channels(folder: Path) -> list[str]:
        return [c for c, files in _TRACE_FILES.items() if (folder / files["raw"]).is_file()]

    @staticmethod
    def get_available_planes(folder_path: str | os.PathLike) -> list[str]:
        """Names of the plane folders (``plane0``, ``plane1``...) of a suite2p output."""
        return [p.name for p in _plane_folders(Path(folder_path))]

    @staticmethod
    def get_available_channels(folder_path: str | os.PathLike) -> list[str]:
        """Channels (``chan1``, ``chan2``) whose traces the first plane has."""
        folder = _segmentation_folders(Path(folder_path), None)[0]
        return Suite2pSegmentationExtractor._available_channels(folder)

    # ------------------------------------------------------------------ facts
    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_planes(self) -> int:
        return len(self._planes)

    @property
    def is_volumetric(self) -> bool:
        return self._volumetric

    def get_num_samples(self) -> int:
        return int(self._num_samples)

    def get_sampling_frequency(self) -> float | None:
        return self._rate

    def get_roi_ids(self) -> list:
        return list(range(int(self._offsets[-1])))

    def get_trace_names(self) -> list[str]:
        return list(self._trace_names)

    @property
    def plane_names(self) -> list[str]:
        """The plane folders this extractor reads."""
        return [p.folder.name for p in self._planes]

    def get_file_paths(self) -> list[str]:
        paths = []
        for plane in self._planes:
            paths += [str(plane.folder / name) for name in ("ops.npy", "stat.npy", "iscell.npy", "redcell.npy")
                      if (plane.folder / name).is_file()]
            paths += [str(plane.files[name]) for name in self._trace_names]
        return paths

    def get_metadata(self) -> dict[str, Any]:
        """``{"ops": {plane name: ops dict}}``, each ops dict whole as suite2p saved it."""
        return {"ops": {p.folder.name: p.ops for p in self._planes}}

    def get_acquisition_facts(self):
        """The channel, rate and ops; suite2p records no pixel size, depths or start time."""
        facts = super().get_acquisition_facts()
        version = self._planes[0].ops.get("suite2p_version")
        return facts.replace(software="suite2p", software_version=str(version) if version else None)

    # ------------------------------------------------------------------ reads
    def _split(self, positions: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``(plane, where in positions, local indices)`` of the positions in each plane."""
        positions = np.asarray(positions, dtype=np.int64)
        planes = self._roi_plane[positions]
        return [(p, np.flatnonzero(planes == p), positions[planes == p] - self._offsets[p])
                for p in np.unique(planes)]

    def _trace_dtype(self, name: str) -> np.dtype:
        return self._planes[0].trace(name)[0].dtype

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        out = np.empty((stop - start, len(positions)), dtype=self._trace_dtype(name))
        for plane, where, local in self._split(positions):
            out[:, where] = self._planes[plane].read(name, start, stop, local)
        return out

    def _read_pixel_masks(self, positions: np.ndarray, background: bool = False) -> list[np.ndarray]:
        if background:
            return []
        result = []
        for position in np.asarray(positions, dtype=np.int64):
            plane = int(self._roi_plane[position])
            mask = self._planes[plane].masks[position - self._offsets[plane]]
            if self._volumetric:
                mask = np.insert(mask, 2, float(plane), axis=1)
            result.append(mask.copy())
        return result

    def get_roi_overlap_flags(self, roi_ids=None) -> list[np.ndarray]:
        """suite2p's ``stat["overlap"]`` of each ROI: for each row of :meth:`get_roi_pixel_masks`, whether other
        ROIs share the pixel (suite2p leaves such pixels out of ``F`` unless ``ops["allow_overlap"]``)."""
        result = []
        for position in self._positions(roi_ids):
            plane = int(self._roi_plane[position])
            result.append(self._planes[plane].overlaps[position - self._offsets[plane]].copy())
        return result

    def _roi_planes(self) -> np.ndarray:
        return self._roi_plane.copy() if self._volumetric else np.zeros(len(self._roi_plane), dtype=np.int64)

    def _read_images(self) -> dict[str, np.ndarray]:
        return self._images

    def close(self) -> None:
        for plane in self._planes:
            for array, _ in plane._traces.values():
                array.close()
                array.file.close()
