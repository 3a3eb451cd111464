"""NWB segmentation cases shared by the local and the remote tests.

Two families:

- ``pynwb:*``: files written by pynwb directly (:func:`ophysio._synth.nwb.write_nwb_segmentation`): image,
  pixel and voxel masks, traces timed by rate and by timestamps, a series whose ROIs are in another order;
- ``ophysio:*``: each segmentation format ophysio reads (numpy arrays, the real suite2p, CaImAn, Minian,
  EXTRACT and Inscopix samples, a synthetic CNMF-E file) written to NWB by ophysio (``write_nwb`` / the
  segmentation interface).

The expected values of every case are the NWB file read with h5py as NWB documents the layout (image masks
(ROI, x, y[, z]); pixel mask rows (x, y, weight), voxel rows (x, y, z, weight) split by their index; traces
(time, ROIs) with the ``rois`` region giving each column's row; images (x, y)), turned into ophysio's
(row, column[, plane]) orientation; never the reader under test.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ophysio._synth.nwb import NwbSegmentationSpec, write_nwb_segmentation

from ._cases import FOLDER

USER = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
                                "optical_channel": [{"emission_lambda": 510.0}, {"emission_lambda": 580.0}]}]},
}
OPHYS = "processing/ophys"
SEG = f"{OPHYS}/ImageSegmentation"


@dataclass
class Case:
    """One NWB file and the table read from it: where its traces and images are."""

    path: Path
    table: str  # the table's name (passed as plane_segmentation_name)
    traces: dict  # trace name -> series path
    images: dict = field(default_factory=dict)  # image name -> dataset path, or list of paths (one per plane)
    background: str | None = None  # the background table's path
    source: object = None  # a callable giving the source extractor (ophysio-written cases)
    accepted: bool = True  # the table has Accepted / Rejected columns


def _masks(rng, shape: tuple, count: int) -> np.ndarray:
    masks = np.zeros((*shape, count), dtype=np.float32)
    for k in range(count):
        centre = [int(rng.integers(0, s)) for s in shape]
        box = tuple(slice(max(c - 2, 0), c + 2) for c in centre)
        masks[(*box, k)] = rng.random(masks[(*box, k)].shape).astype(np.float32) + 0.1
    masks[(*(s - 1 for s in shape), count - 1)] = 0.5  # the far corner: the masks span the field of view
    return masks


def _pynwb_image() -> Case:
    rng = np.random.default_rng(1)
    n, samples = 6, 40
    raw = rng.normal(100, 5, (samples, n)).astype(np.float32)
    spec = NwbSegmentationSpec(
        _masks(rng, (24, 32), n), "image", ids=[10, 20, 30, 40, 50, 60],
        traces={"RoiResponseSeries": ("Fluorescence", raw), "Neuropil": ("Fluorescence", raw[:, ::-1] * 0.5),
                "DfOverF": ("DfOverF", (raw / 100 - 1).astype(np.float64))},
        rois={"Neuropil": list(range(n))[::-1]}, rate=15.0, starting_time=2.5,
        images={"mean": rng.random((24, 32)), "correlation": rng.random((24, 32)).astype(np.float32)},
        columns={"Accepted": np.array([1, 0, 1, 1, 0, 1]), "Rejected": np.array([0, 1, 0, 0, 1, 0]),
                 "snr": rng.random(n), "label": np.array([f"cell {i}" for i in range(n)])})
    path = write_nwb_segmentation(FOLDER / "seg_pynwb_image.nwb", spec)
    return Case(path, "PlaneSegmentation", {"raw": f"{OPHYS}/Fluorescence/RoiResponseSeries",
                                            "neuropil": f"{OPHYS}/Fluorescence/Neuropil",
                                            "dff": f"{OPHYS}/DfOverF/DfOverF"},
                {"mean": f"{OPHYS}/SegmentationImages/mean",
                 "correlation": f"{OPHYS}/SegmentationImages/correlation"})


def _pynwb_pixel() -> Case:
    rng = np.random.default_rng(2)
    n, samples = 7, 120
    times = np.cumsum(rng.uniform(0.09, 0.11, samples)) + 4.0
    raw = rng.normal(0, 1, (samples, n))
    spec = NwbSegmentationSpec(
        _masks(rng, (20, 28), n), "pixel", traces={"RoiResponseSeries": ("Fluorescence", raw),
                                                   "Deconvolved": ("Fluorescence", np.abs(raw).astype(np.float32))},
        rois={"Deconvolved": [3, 1, 0, 6, 2, 5, 4]}, rate=None, timestamps=times, imaging_rate=10.0,
        images={"max": rng.random((20, 28)).astype(np.float32)}, chunks=(16, 2), table_name="Cells")
    path = write_nwb_segmentation(FOLDER / "seg_pynwb_pixel.nwb", spec)
    return Case(path, "Cells", {"raw": f"{OPHYS}/Fluorescence/RoiResponseSeries",
                                "deconvolved": f"{OPHYS}/Fluorescence/Deconvolved"},
                {"max": f"{OPHYS}/SegmentationImages/max"}, accepted=False)


def _pynwb_voxel() -> Case:
    rng = np.random.default_rng(3)
    n, samples = 5, 30
    raw = rng.integers(0, 1000, (samples, n)).astype(np.uint16)
    spec = NwbSegmentationSpec(_masks(rng, (16, 18, 3), n), "voxel", traces={"RoiResponseSeries": ("Fluorescence",
                                                                                                 raw)}, rate=7.5)
    path = write_nwb_segmentation(FOLDER / "seg_pynwb_voxel.nwb", spec)
    return Case(path, "PlaneSegmentation", {"raw": f"{OPHYS}/Fluorescence/RoiResponseSeries"}, accepted=False)


def _numpy_source(volumetric: bool = False):
    from ophysio.extractors import NumpySegmentationExtractor

    rng = np.random.default_rng(4)
    n, samples = 9, 50
    shape = (20, 24, 3) if volumetric else (20, 24)
    masks = _masks(rng, shape, n)
    raw = rng.normal(50, 3, (samples, n)).astype(np.float32)
    return NumpySegmentationExtractor(
        image_masks=masks, raw=raw, neuropil=raw * 0.3, deconvolved=np.maximum(raw - 50, 0),
        dff=(raw / 50 - 1).astype(np.float64),
        images={"mean": rng.random(shape).astype(np.float32), "correlation": rng.random(shape)},
        roi_ids=[2, 4, 6, 8, 10, 12, 14, 16, 18], sampling_frequency=12.5, rejected_list=[4, 10, 16])


def _write(source, name: str, **options) -> Path:
    from ophysio.conversion.segmentation_interface import SegmentationInterface

    path = FOLDER / name
    if not path.exists():
        interface = SegmentationInterface(source, **options)
        try:
            interface.run_conversion(path, USER)
        finally:
            interface.close()
    return path


def _numpy_image() -> Case:
    path = _write(_numpy_source(), "seg_numpy_image.nwb")
    names = {"raw": "RoiResponseSeries", "neuropil": "Neuropil", "deconvolved": "Deconvolved"}
    traces = {k: f"{OPHYS}/Fluorescence/{v}" for k, v in names.items()} | {"dff": f"{OPHYS}/DfOverF/DfOverF"}
    return Case(path, "PlaneSegmentation", traces, {"mean": f"{OPHYS}/SegmentationImages/mean_image",
                                                     "correlation": f"{OPHYS}/SegmentationImages/correlation_image"},
                source=_numpy_source)


def _numpy_pixel() -> Case:
    case = _numpy_image()
    case.path = _write(_numpy_source(), "seg_numpy_pixel.nwb", mask_type="pixel")
    return case


def _numpy_voxel() -> Case:
    path = _write(_numpy_source(True), "seg_numpy_voxel.nwb", mask_type="voxel", split_planes=False)
    case = _numpy_image()
    case.path = path
    case.images = {key: [f"{OPHYS}/SegmentationImages/{key}_image_plane{p}" for p in range(3)]
                   for key in ("mean", "correlation")}
    case.source = lambda: _numpy_source(True)
    return case


def _suite2p(plane: int) -> Case:
    from ophysio.testing.data import sample_file

    folder = sample_file("segmentation/suite2p")
    path = FOLDER / "seg_suite2p.nwb"
    if not path.exists():
        from ophysio.conversion.segmentation_interface import segmentation_interface_from_path

        interface = segmentation_interface_from_path(folder)
        try:
            interface.run_conversion(path, USER)
        finally:
            interface.close()
    fluorescence = f"{OPHYS}/Fluorescence"
    traces = {"raw": f"{fluorescence}/RoiResponseSeriesPlane{plane}",
              "neuropil": f"{fluorescence}/NeuropilPlane{plane}",
              "deconvolved": f"{fluorescence}/DeconvolvedPlane{plane}",
              "raw_chan2": f"{fluorescence}/RoiResponseSeriesChan2Plane{plane}",
              "neuropil_chan2": f"{fluorescence}/NeuropilChan2Plane{plane}"}
    images = {}
    with h5py.File(path, "r") as f:
        for name in f[f"{OPHYS}/SegmentationImages"]:
            if name.endswith(f"_PlaneSegmentationPlane{plane}"):
                images[name.split("_image_")[0]] = f"{OPHYS}/SegmentationImages/{name}"

    def source():
        from ophysio.extractors import Suite2pSegmentationExtractor

        # the run as one volume, split into planes as the interface writes it (ids run across the planes)
        return Suite2pSegmentationExtractor(folder, channel_name="chan1").select_plane(plane)

    return Case(path, f"PlaneSegmentationPlane{plane}", traces, images, source=source)


def _caiman() -> Case:
    from ophysio.testing.data import sample_file

    file = sample_file("segmentation/caiman/caiman_analysis.hdf5")

    def source():
        from ophysio.extractors import CaimanSegmentationExtractor

        return CaimanSegmentationExtractor(file)

    path = _write(source(), "seg_caiman.nwb")
    with source() as ex:
        names = ex.get_trace_names()
        images = {"correlation": f"{OPHYS}/SegmentationImages/correlation_image"} if ex.get_images_dict() else {}
    series = {"raw": "Fluorescence/RoiResponseSeries", "dff": "DfOverF/DfOverF", "deconvolved": "Fluorescence/"
              "Deconvolved", "denoised": "Fluorescence/Denoised", "background": "Fluorescence/Background"}
    return Case(path, "PlaneSegmentation", {k: f"{OPHYS}/{series[k]}" for k in names}, images,
                background=f"{SEG}/BackgroundPlaneSegmentation", source=source)


def _minian() -> Case:
    from ophysio.testing.data import sample_file

    folder = sample_file("segmentation/minian/segmented_data_3units_100frames")

    def source():
        from ophysio.extractors import MinianSegmentationExtractor

        return MinianSegmentationExtractor(folder)

    path = _write(source(), "seg_minian.nwb")
    with source() as ex:
        names = ex.get_trace_names()
        images = {k: f"{OPHYS}/SegmentationImages/{k}_image" for k in ex.get_images_dict()}
    series = {"raw": "RoiResponseSeries", "deconvolved": "Deconvolved", "denoised": "Denoised",
              "baseline": "Baseline", "background": "Background", "neuropil": "Neuropil"}
    return Case(path, "PlaneSegmentation", {k: f"{OPHYS}/Fluorescence/{series[k]}" for k in names}, images,
                background=f"{SEG}/BackgroundPlaneSegmentation", source=source, accepted=False)


def _written(name: str, source, accepted: bool) -> Case:
    """A source written with the interface's default names (traces by TRACE_SERIES, images ``<name>_image``)."""
    from ophysio.conversion.nwb.segmentation import TRACE_SERIES

    path = _write(source(), f"seg_{name}.nwb")
    with source() as ex:
        names = ex.get_trace_names()
        images = {k: f"{OPHYS}/SegmentationImages/{k}_image" for k in ex.get_images_dict()}
    traces = {k: f"{OPHYS}/DfOverF/DfOverF" if k == "dff" else f"{OPHYS}/Fluorescence/{TRACE_SERIES[k]}"
              for k in names}
    return Case(path, "PlaneSegmentation", traces, images, source=source, accepted=accepted)


def _extract() -> Case:
    from ophysio.testing.data import sample_file

    file = sample_file("segmentation/extract/extract_public_output.mat")

    def source():
        from ophysio.extractors import ExtractSegmentationExtractor

        return ExtractSegmentationExtractor(file, sampling_frequency=20.0)  # the file records no rate

    return _written("extract", source, accepted=True)


def _inscopix() -> Case:
    from ophysio.testing.data import sample_file

    file = sample_file("segmentation/inscopix/cellset.isxd")

    def source():
        from ophysio.extractors import InscopixSegmentationExtractor

        return InscopixSegmentationExtractor(file)

    return _written("inscopix", source, accepted=True)


def _cnmfe() -> Case:
    from ophysio._synth.mat_segmentation import write_cnmfe_segmentation

    file = FOLDER / "cnmfe_source.mat"
    if not file.exists():
        write_cnmfe_segmentation(file)

    def source():
        from ophysio.extractors import CnmfeSegmentationExtractor

        return CnmfeSegmentationExtractor(file, sampling_frequency=10.0)

    return _written("cnmfe", source, accepted=True)


MAKERS = {
    "pynwb:image-rate": _pynwb_image,
    "pynwb:pixel-timestamps": _pynwb_pixel,
    "pynwb:voxel-rate": _pynwb_voxel,
    "ophysio:numpy-image": _numpy_image,
    "ophysio:numpy-pixel": _numpy_pixel,
    "ophysio:numpy-voxel": _numpy_voxel,
    "ophysio:suite2p-plane0": lambda: _suite2p(0),
    "ophysio:suite2p-plane1": lambda: _suite2p(1),
    "ophysio:caiman": _caiman,
    "ophysio:minian": _minian,
    "ophysio:extract": _extract,
    "ophysio:inscopix": _inscopix,
    "ophysio:cnmfe": _cnmfe,
}
_MADE: dict[str, Case] = {}


def case(name: str) -> Case:
    if name not in _MADE:
        _MADE[name] = MAKERS[name]()
    return _MADE[name]


# ---------------------------------------------------------------------- the independent reads
def _table(f: h5py.File, path: str) -> h5py.Group:
    return f[path]


def table_path(c: Case) -> str:
    with h5py.File(c.path, "r") as f:
        for module in f["processing"].values():
            for container in module.values():
                if isinstance(container, h5py.Group) and c.table in container:
                    return container[c.table].name
    raise KeyError(c.table)


def _ids(table: h5py.Group) -> list:
    ids = [int(i) for i in table["id"][:]]
    if "roi_name" in table:  # ophysio writes row positions and the source's ids in roi_name when they are not ints
        names = [v.decode() if isinstance(v, bytes) else v for v in table["roi_name"][:]]
        if names != [str(i) for i in ids]:
            assert ids == list(range(len(ids)))
            return [int(v) if v.lstrip("-").isdigit() else v for v in names]
    return ids


def _masks_of(table: h5py.Group) -> list[np.ndarray]:
    """Sparse masks [row, column, (plane,) weight] of each row of the table."""
    if "image_mask" in table:
        dense = table["image_mask"][:]
        out = []
        for mask in dense:  # (x, y[, z])
            coords = np.nonzero(mask)
            values = mask[coords]
            out.append(np.column_stack([coords[1], coords[0], *coords[2:], values]).astype(np.float64))
        return out
    column = "pixel_mask" if "pixel_mask" in table else "voxel_mask"
    rows, ends = table[column][:], table[f"{column}_index"][:]
    starts = np.r_[0, ends[:-1]]
    fields = ["y", "x", "weight"] if column == "pixel_mask" else ["y", "x", "z", "weight"]
    return [np.column_stack([rows[name][a:b].astype(np.float64) for name in fields]) for a, b in zip(starts, ends)]


def expected(c: Case) -> dict:
    """Everything the NWB file holds for the case's table, read with h5py."""
    with h5py.File(c.path, "r") as f:
        table = _table(f, table_path(c))
        ids = _ids(table)
        out = {"ids": ids, "masks": _masks_of(table), "traces": {}, "images": {}}
        if "Accepted" in table:
            out["accepted"] = [i for i, flag in zip(ids, table["Accepted"][:]) if flag]
            out["rejected"] = [i for i, flag in zip(ids, table["Rejected"][:]) if flag]
        if c.background is not None:
            background = f[c.background]
            out["background_ids"] = _ids(background)
            out["background_masks"] = _masks_of(background)
        lead = None
        for name, series_path in c.traces.items():
            series = f[series_path]
            data = series["data"][:]
            data = data.reshape(len(data), -1)
            rows = series["rois"][:]
            columns = np.empty(len(rows), dtype=np.int64)
            columns[rows] = np.arange(len(rows))
            out["traces"][name] = data[:, columns]
            if lead is None:
                lead = series
                if "timestamps" in series:
                    out["timestamps"] = series["timestamps"][:]
                    measured = 1 / float(np.median(np.diff(out["timestamps"])))
                    stated = float(table["imaging_plane"]["imaging_rate"][()])  # used when the times agree (1%)
                    out["rate"] = stated if abs(measured - stated) <= 0.01 * stated else measured
                else:
                    start = series["starting_time"]
                    out["rate"] = float(start.attrs["rate"])
                    out["timestamps"] = float(start[()]) + np.arange(len(data)) / out["rate"]
        for name, where in c.images.items():
            if isinstance(where, list):
                out["images"][name] = np.stack([f[p][:].T for p in where], axis=-1)
            else:
                out["images"][name] = f[where][:].T
    return out


def dense(masks: list[np.ndarray], shape: tuple) -> np.ndarray:
    out = np.zeros((*shape, len(masks)))
    for k, mask in enumerate(masks):
        out[(*mask[:, :-1].astype(int).T, k)] = mask[:, -1]
    return out


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="ophysio-test-nwbseg-", dir=FOLDER))
