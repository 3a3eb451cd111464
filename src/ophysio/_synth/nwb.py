"""Synthetic NWB files written with pynwb directly (not through ophysio's writer), in pynwb's own layout.

pynwb documents a photon series' data as (time, x, y) or (time, x, y, z), x being the image's column (its
width) and y its row: a movie of (samples, rows, columns[, planes]) is handed to pynwb transposed,
``movie.swapaxes(1, 2)``, as neuroconv and roiextractors write it. :func:`write_nwb_series` writes one
or more TwoPhotonSeries / OnePhotonSeries, planar or volumetric, timed by ``rate`` (and
``starting_time``) or by ``timestamps``, in ``/acquisition`` or in a processing module, with an
ImagingPlane (grid spacing, origin, indicator, location, excitation), one OpticalChannel and a Device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .movie import movie

__all__ = ["NwbSeriesSpec", "write_nwb_series", "EXAMPLES"]


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


def _example_nwb(folder: Path) -> tuple[Path, dict]:
    data = movie(60, 48, 64, dtype="uint16", seed=11)
    path = write_nwb_series(folder / "example_session.nwb", [NwbSeriesSpec("TwoPhotonSeries", data, rate=20.0,
                                                                             chunks=(20, 64, 48))])
    return path, {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"nwb": _example_nwb}
