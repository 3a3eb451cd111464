"""Synthetic NWB files written with pynwb directly (not through ophysio's writer), in pynwb's own layout.

pynwb documents a photon series' data as (time, x, y) or (time, x, y, z), x being the image's column (its
width) and y its row: a movie of (samples, rows, columns[, planes]) is handed to pynwb transposed,
``movie.swapaxes(1, 2)``, as neuroconv and roiextractors write it. :func:`write_nwb_series` writes one
or more TwoPhotonSeries / OnePhotonSeries, planar or volumetric, timed by ``rate`` (and
``starting_time``) or by ``timestamps``, in ``/acquisition`` or in a processing module, with an
ImagingPlane (grid spacing, origin, indicator, location, excitation), one OpticalChannel and a Device.

:func:`write_nwb_segmentation` writes a PlaneSegmentation as pynwb documents it: image masks (ROI, x, y[,
z]), pixel masks as (x, y, weight) rows or voxel masks as (x, y, z, weight) rows, ROI ids, extra columns,
RoiResponseSeries (time, ROIs) in ``Fluorescence`` / ``DfOverF`` timed by rate or timestamps, and
GrayscaleImages (x, y) in an ``Images`` container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .movie import movie

__all__ = ["NwbSeriesSpec", "write_nwb_series", "NwbSegmentationSpec", "write_nwb_segmentation", "EXAMPLES"]


@dataclass
class NwbSeriesSpec:
    """One photon series of a synthetic NWB file.

    ``data`` is ophysio's (samples, rows, columns[, planes]); lengths are micrometers (written in meters).
    ``imaging_rate`` is the ImagingPlane's (default: ``rate``, else 30).
    ``module`` None puts the series in ``/acquisition``, a name in that processing module. ``chunks``
    (in NWB's (time, x, y[, z]) layout) and ``compression`` go to pynwb's ``H5DataIO``; None writes the
    data contiguous.
    """

    name: str
    data: np.ndarray
    kind: str = "TwoPhotonSeries"
    rate: float | None = 30.0
    starting_time: float = 0.0
    timestamps: np.ndarray | None = None
    imaging_rate: float | None = None
    module: str | None = None
    pixel_size_um: tuple[float, float] = (1.25, 0.75)
    plane_spacing_um: float | None = None
    origin_um: tuple[float, ...] = (10.0, 20.0, -150.0)
    channel: str = "Green"
    emission_nm: float = 510.0
    excitation_nm: float = 920.0
    indicator: str = "GCaMP6f"
    location: str = "VISp"
    device: str = "Mesoscope"
    chunks: tuple | bool | None = True
    compression: str | None = "gzip"
    field_of_view_um: tuple[float, ...] | None = None
    extra: dict = field(default_factory=dict)


def write_nwb_series(path: str | os.PathLike, series: list[NwbSeriesSpec],
                     session_start_time: datetime = datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)) -> Path:
    """Write ``series`` into a new NWB HDF5 file at ``path`` with pynwb; return the path."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ophys import OnePhotonSeries, OpticalChannel, TwoPhotonSeries

    nwbfile = NWBFile(session_description="synthetic photon series written with pynwb", identifier="synthetic",
                      session_start_time=session_start_time)
    for spec in series:
        if spec.device not in nwbfile.devices:
            nwbfile.create_device(name=spec.device, description=f"{spec.device} (synthetic)")
        device = nwbfile.devices[spec.device]
        volumetric = spec.data.ndim == 4
        dy, dx = spec.pixel_size_um
        spacing = [dx * 1e-6, dy * 1e-6]
        if volumetric and spec.plane_spacing_um:
            spacing.append(spec.plane_spacing_um * 1e-6)
        y0, x0, *z0 = spec.origin_um
        plane_name = f"ImagingPlane{spec.name}{'' if spec.module is None else spec.module.capitalize()}"
        plane = nwbfile.create_imaging_plane(
            name=plane_name, optical_channel=[OpticalChannel(
                name=spec.channel, description=f"{spec.channel} channel", emission_lambda=spec.emission_nm)],
            description=f"plane of {spec.name}", device=device, excitation_lambda=spec.excitation_nm,
            imaging_rate=float(spec.imaging_rate or spec.rate or 30.0), indicator=spec.indicator,
            location=spec.location,
            grid_spacing=spacing, grid_spacing_unit="meters",
            origin_coords=[x0 * 1e-6, y0 * 1e-6, *(z * 1e-6 for z in z0)], origin_coords_unit="meters")
        nwb_data = np.ascontiguousarray(spec.data.swapaxes(1, 2))  # pynwb's (time, x, y[, z])
        if spec.chunks is None:
            data = nwb_data
        else:
            data = H5DataIO(nwb_data, chunks=spec.chunks, compression=spec.compression)
        kwargs = dict(name=spec.name, data=data, imaging_plane=plane, unit="n.a.", **spec.extra)
        if spec.timestamps is not None:
            kwargs["timestamps"] = spec.timestamps
        else:
            kwargs["rate"] = float(spec.rate)
            kwargs["starting_time"] = float(spec.starting_time)
        if spec.field_of_view_um is not None:
            width, height = spec.field_of_view_um[1] * 1e-6, spec.field_of_view_um[0] * 1e-6
            kwargs["field_of_view"] = [width, height, *(v * 1e-6 for v in spec.field_of_view_um[2:])]
        cls = OnePhotonSeries if spec.kind == "OnePhotonSeries" else TwoPhotonSeries
        photon_series = cls(**kwargs)
        if spec.module is None:
            nwbfile.add_acquisition(photon_series)
        else:
            module = nwbfile.processing.get(spec.module) or nwbfile.create_processing_module(
                name=spec.module, description=f"{spec.module} (synthetic)")
            module.add(photon_series)
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@dataclass
class NwbSegmentationSpec:
    """A synthetic segmentation, in ophysio's orientation (handed to pynwb transposed into NWB's).

    ``masks`` is dense, (rows, columns[, planes], ROIs); ``mask_type`` ``image``, ``pixel`` or ``voxel``
    (the nonzero pixels listed). ``traces`` maps a series name to ``(container, (samples, ROIs) array)``,
    ``container`` being ``Fluorescence`` or ``DfOverF``; ``rois`` (optional) the table rows each series'
    columns are, in order. ``images`` maps a GrayscaleImage name to a (rows, columns) image. ``columns``
    maps an extra column name to one value per ROI.
    """

    masks: np.ndarray
    mask_type: str = "image"
    ids: list | None = None
    traces: dict = field(default_factory=dict)
    rois: dict = field(default_factory=dict)
    rate: float | None = 15.0
    starting_time: float = 0.0
    timestamps: np.ndarray | None = None
    images: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)
    table_name: str = "PlaneSegmentation"
    imaging_rate: float = 15.0
    chunks: tuple | None = None


def write_nwb_segmentation(path: str | os.PathLike, spec: NwbSegmentationSpec,
                           session_start_time: datetime = datetime(2024, 2, 3, 4, 5, 6, tzinfo=timezone.utc)) -> Path:
    """Write ``spec`` into a new NWB HDF5 file at ``path`` with pynwb; return the path."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage
    from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation, OpticalChannel, RoiResponseSeries

    nwbfile = NWBFile(session_description="synthetic segmentation written with pynwb", identifier="synthetic-seg",
                      session_start_time=session_start_time)
    device = nwbfile.create_device(name="Microscope", description="Microscope (synthetic)")
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=[OpticalChannel(name="Green", description="green channel",
                                                             emission_lambda=510.0)],
        description="the imaged plane", device=device, excitation_lambda=920.0, imaging_rate=spec.imaging_rate,
        indicator="GCaMP6f", location="VISp", grid_spacing=[1.5e-6, 2e-6], grid_spacing_unit="meters")
    module = nwbfile.create_processing_module(name="ophys", description="processed data (synthetic)")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    module.add(segmentation)
    table = segmentation.create_plane_segmentation(name=spec.table_name, description="synthetic ROIs",
                                                   imaging_plane=plane)
    for name in spec.columns:
        table.add_column(name=name, description=f"the {name} of each ROI")
    masks = np.asarray(spec.masks)
    count = masks.shape[-1]
    ids = list(range(count)) if spec.ids is None else list(spec.ids)
    for k in range(count):
        mask = masks[..., k]
        extra = {name: values[k] for name, values in spec.columns.items()}
        if spec.mask_type == "image":
            table.add_roi(id=ids[k], image_mask=np.ascontiguousarray(mask.swapaxes(0, 1)), **extra)
            continue
        coords = np.nonzero(mask)
        weights = mask[coords]
        if spec.mask_type == "pixel":
            rows = [(int(c), int(r), float(w)) for r, c, w in zip(coords[0], coords[1], weights)]
            table.add_roi(id=ids[k], pixel_mask=rows, **extra)
        else:
            rows = [(int(c), int(r), int(z), float(w)) for r, c, z, w in zip(*coords, weights)]
            table.add_roi(id=ids[k], voxel_mask=rows, **extra)
    containers: dict = {}
    for name, (container, data) in spec.traces.items():
        if container not in containers:
            containers[container] = (DfOverF if container == "DfOverF" else Fluorescence)(name=container)
            module.add(containers[container])
        region = table.create_roi_table_region(region=list(spec.rois.get(name, range(count))),
                                               description="the ROIs of the series")
        timing = {"timestamps": spec.timestamps} if spec.timestamps is not None else {
            "rate": float(spec.rate), "starting_time": float(spec.starting_time)}
        values = data if spec.chunks is None else H5DataIO(data, chunks=spec.chunks, compression="gzip")
        containers[container].add_roi_response_series(RoiResponseSeries(
            name=name, data=values, rois=region, unit="n.a.", **timing))
    if spec.images:
        module.add(Images(name="SegmentationImages", description="summary images", images=[
            GrayscaleImage(name=name, data=np.ascontiguousarray(image.T)) for name, image in spec.images.items()]))
    path = Path(path)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def _example_nwb(folder: Path) -> tuple[Path, dict]:
    data = movie(60, 48, 64, dtype="uint16", seed=11)
    path = write_nwb_series(folder / "example_session.nwb", [NwbSeriesSpec("TwoPhotonSeries", data, rate=20.0,
                                                                             chunks=(20, 64, 48))])
    return path, {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"nwb": _example_nwb}
