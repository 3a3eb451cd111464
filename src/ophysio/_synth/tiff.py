"""Synthetic legacy ScanImage, plain/ImageJ TIFF and OME-TIFF files.

Pixel values come from :func:`ophysio.examples.movie`, so a test computes what a reader must
return without reading the file. Layouts follow what the writing software documents:

- legacy ScanImage: 3.x ``state.*=`` lines joined by ``\\r``; 4.x ``scanimage.SI4.* = `` lines; 5.0
  ``scanimage.SI5.*``; 5.1 per-frame lines then ``scanimage.SI.*`` lines; the full header in every
  page's ImageDescription; pages channel fastest, then frames per slice, slices (+ flyback), volumes;
- ImageJ hyperstacks: pages in ImageJ's C, Z, T order (channel fastest) with ``images/channels/slices/
  frames/finterval`` in the ImageJ description;
- OME-TIFF: OME-XML (2016-06 schema) in the first page, ``TiffData`` blocks mapping planes to IFDs
  (and to other files through ``UUID FileName``), ``Plane DeltaT`` per plane, and pymmcore-plus /
  mesofield per-frame sidecars ``<file name>_frame_metadata.json`` = ``{"p0": [frame dict, ...]}``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "write_scanimage_legacy",
    "legacy_expected",
    "write_tiff_movie",
    "write_tiff_series",
    "write_imagej_hyperstack",
    "write_interleaved_tiff",
    "write_ome_tiff",
    "write_ome_tiff_multifile",
    "write_frame_metadata_sidecar",
    "ome_expected",
]


def _movie(*args, **kwargs):
    from .movie import movie

    return movie(*args, **kwargs)


# ---------------------------------------------------------------------------------------------------- legacy
def _matlab(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ";".join(_matlab(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def _legacy_header(version: str, frame_rate: float | None, channels: Sequence[int], slices: int,
                   frames_per_slice: int, flyback: int, fast_z: bool, rows: int, columns: int,
                   extra: dict | None) -> list[tuple[str, object]]:
    items: list[tuple[str, object]]
    if version.startswith("3"):
        items = [("state.configName", "synthetic"), ("state.software.version", float(version)),
                 ("state.acq.numberOfZSlices", slices), ("state.acq.zStepSize", 2),
                 ("state.acq.numberOfFrames", frames_per_slice), ("state.acq.averaging", 0),
                 ("state.acq.linesPerFrame", rows), ("state.acq.pixelsPerLine", columns)]
        if frame_rate is not None:
            items.append(("state.acq.frameRate", frame_rate))
        for c in range(1, 5):
            items.append((f"state.acq.acquiringChannel{c}", int(c in channels)))
            items.append((f"state.acq.savingChannel{c}", int(c in channels)))
        items += [("state.acq.numberOfChannelsSave", len(channels)),
                  ("state.internal.triggerTimeString", "3/14/2012 09:26:53.589")]
    elif version.startswith("4") or version == "5.0":
        p = "scanimage.SI4." if version.startswith("4") else "scanimage.SI5."
        items = [(p + "versionMajor", float(version)), (p + "channelsSave", list(channels) if len(channels) > 1
                                                          else channels[0]),
                 (p + "stackNumSlices", slices), (p + "acqNumFrames", frames_per_slice),
                 (p + "acqNumAveragedFrames", 1), (p + "fastZEnable", int(fast_z)),
                 (p + "fastZDiscardFlybackFrames", int(flyback > 0)), (p + "fastZNumDiscardFrames", flyback),
                 (p + "scanLinesPerFrame", rows), (p + "scanPixelsPerLine", columns),
                 (p + "triggerTime", "2014-05-02 17:03:11.250")]
        if frame_rate is not None:
            items.append((p + "scanFrameRate", frame_rate))
            items.append((p + "scanFramePeriod", 1.0 / frame_rate))
            if fast_z:
                items.append((p + "fastZPeriod", (slices + flyback) / frame_rate))
    elif version == "5.1":
        p = "scanimage.SI."
        items = [(p + "VERSION_MAJOR", "5.1"), (p + "hChannels.channelSave", list(channels) if len(channels) > 1
                                                else channels[0]),
                 (p + "hStackManager.enable", int(slices > 1 and not fast_z)),
                 (p + "hStackManager.numSlices", slices), (p + "hStackManager.framesPerSlice", frames_per_slice),
                 (p + "hFastZ.enable", int(fast_z)), (p + "hFastZ.discardFlybackFrames", int(flyback > 0)),
                 (p + "hFastZ.numDiscardFlybackFrames", flyback),
                 (p + "hRoiManager.linesPerFrame", rows), (p + "hRoiManager.pixelsPerLine", columns)]
        if frame_rate is not None:
            items.append((p + "hRoiManager.scanFrameRate", frame_rate))
            per_volume = (slices + flyback) if slices > 1 else 1
            items.append((p + "hRoiManager.scanVolumeRate", frame_rate / per_volume))
    else:
        raise ValueError(f"unknown legacy ScanImage version {version!r}")
    items += list((extra or {}).items())
    return items


def legacy_expected(num_samples: int, rows: int, columns: int, channels: int, slices: int,
                    dtype: str = "int16") -> list[np.ndarray]:
    """The movie of each saved channel that :func:`write_scanimage_legacy` writes (planes last if slices > 1)."""
    return [_movie(num_samples, rows, columns, planes=slices if slices > 1 else None, dtype=dtype, channel=c)
            for c in range(channels)]


def write_scanimage_legacy(
    path: str | os.PathLike,
    version: str = "3.8",
    num_samples: int = 8,
    rows: int = 16,
    columns: int = 12,
    channels: Sequence[int] = (1,),
    slices: int = 1,
    frames_per_slice: int = 1,
    flyback: int = 0,
    frame_rate: float | None = 15.0,
    dtype: str = "int16",
    extra: dict | None = None,
) -> Path:
    """Write a ScanImage 3.x/4.x/5.0/5.1 style TIFF and return its path.

    ``channels`` are the 1-based saved channel numbers. Volumetric files (``slices > 1``) are written as
    fast-Z volumes (one frame per slice, ``flyback`` discarded frames of zeros after each volume) when
    ``frames_per_slice == 1``, else as a slow stack with ``frames_per_slice`` frames per slice, frame
    ``f`` of slice ``z`` holding ``movie + f`` so that a reader of the wrong frame is caught. The values
    of channel index ``k`` are ``legacy_expected(...)[k]``.
    """
    import tifffile

    path = Path(path)
    fast_z = slices > 1 and frames_per_slice == 1
    header = _legacy_header(version, frame_rate, list(channels), slices, frames_per_slice, flyback, fast_z,
                            rows, columns, extra)
    if version.startswith("3"):
        header_text = "\r".join(f"{k}={_matlab(v)}" for k, v in header)
    else:
        header_text = "\n".join(f"{k} = {_matlab(v)}" for k, v in header)
    movies = legacy_expected(num_samples, rows, columns, len(channels), slices, dtype)
    rate = frame_rate or 10.0
    frame_number = 0
    with tifffile.TiffWriter(path) as tif:
        for s in range(num_samples):
            for z in range(slices + (flyback if slices > 1 else 0)):
                for f in range(frames_per_slice if slices > 1 else 1):
                    for c in range(len(channels)):
                        if z >= slices:
                            image = np.zeros((rows, columns), dtype=dtype)
                        elif slices > 1:
                            image = (movies[c][s, :, :, z] + np.asarray(f, dtype=dtype)).astype(dtype)
                        else:
                            image = movies[c][s]
                        if version == "5.1" or version == "5.0":
                            per_frame = (f"frameNumbers = {frame_number + 1}\nframeNumberAcquisition = "
                                         f"{frame_number + 1}\nframeTimestamps_sec = {frame_number / rate:.6f}\n"
                                         f"acqTriggerTimestamps_sec = \nepoch = [2016 3 1 10 20 30.5]\n")
                            text = per_frame + header_text
                        else:
                            text = header_text
                        tif.write(image, description=text, metadata=None, contiguous=False)
                    frame_number += 1
    return path


# ---------------------------------------------------------------------------------------------------- plain TIFF
def write_tiff_movie(path: str | os.PathLike, num_samples: int = 12, rows: int = 16, columns: int = 12,
                     dtype: str = "uint16", compression: str | None = None, channel: int = 0,
                     byteorder: str = "<", bigtiff: bool = False, rowsperstrip: int | None = None,
                     imagej_rate: float | None = None, predictor: bool = False,
                     tile: tuple[int, int] | None = None) -> Path:
    """Write ``movie(num_samples, rows, columns)`` one page per frame (optionally compressed).

    With ``imagej_rate`` the file is an ImageJ stack whose description states ``finterval``;
    ``predictor`` adds horizontal differencing before compression, ``tile`` writes tiles, not strips.
    """
    import tifffile

    path = Path(path)
    data = _movie(num_samples, rows, columns, dtype=dtype, channel=channel)
    kwargs: dict = {"compression": compression, "byteorder": byteorder, "bigtiff": bigtiff}
    if rowsperstrip is not None:
        kwargs["rowsperstrip"] = rowsperstrip
    if imagej_rate is not None:
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX", "finterval": 1.0 / imagej_rate},
                         compression=compression)
    else:
        with tifffile.TiffWriter(path, byteorder=byteorder, bigtiff=bigtiff) as tif:
            extra: dict = {"rowsperstrip": rowsperstrip} if rowsperstrip else {}
            if predictor:
                extra["predictor"] = True
            if tile:
                extra["tile"] = tile
            for frame in data:
                tif.write(frame, compression=compression, metadata=None,
                          contiguous=compression is None and not tile, **extra)
    return path


def write_tiff_series(folder: str | os.PathLike, num_files: int = 3, samples_per_file: int = 5, rows: int = 10,
                      columns: int = 8, dtype: str = "uint16", stem: str = "series",
                      compression: str | None = None) -> list[Path]:
    """Write ``movie`` split over files ``<stem>_1.tif, _2.tif ... _10.tif`` (natural, not lexical, order).

    ``compression`` is passed to tifffile (``"lzw"``, ``"zstd"``... need imagecodecs).
    """
    import tifffile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = _movie(num_files * samples_per_file, rows, columns, dtype=dtype)
    paths = []
    for i in range(num_files):
        path = folder / f"{stem}_{i + 1}.tif"
        tifffile.imwrite(path, data[i * samples_per_file : (i + 1) * samples_per_file], metadata=None,
                         photometric="minisblack",  # 3 or 4 frames a file are frames, not RGB(A) planes
                         compression=compression)
        paths.append(path)
    return paths


def write_imagej_hyperstack(path: str | os.PathLike, frames: int = 5, slices: int = 3, channels: int = 2,
                            rows: int = 12, columns: int = 10, dtype: str = "uint16",
                            finterval: float | None = 0.25) -> Path:
    """Write an ImageJ hyperstack (TZCYX in ImageJ's page order: channel fastest, then slice, then frame).

    Channel ``c`` holds ``movie(frames, rows, columns, planes=slices, channel=c)``.
    """
    import tifffile

    path = Path(path)
    data = np.stack([_movie(frames, rows, columns, planes=slices, dtype=dtype, channel=c) for c in range(channels)])
    # (C, T, Y, X, Z) -> (T, Z, C, Y, X)
    hyper = np.ascontiguousarray(data.transpose(1, 4, 0, 2, 3))
    metadata: dict = {"axes": "TZCYX"}
    if finterval is not None:
        metadata["finterval"] = finterval
    tifffile.imwrite(path, hyper, imagej=True, metadata=metadata)
    return path


def write_interleaved_tiff(path: str | os.PathLike, num_samples: int = 4, channels: int = 2, planes: int = 3,
                           rows: int = 10, columns: int = 8, dimension_order: str = "CZT",
                           dtype: str = "uint16") -> Path:
    """Write pages interleaving channels and planes in ``dimension_order`` (fastest first, OME style).

    Channel ``c`` holds ``movie(num_samples, rows, columns, planes=planes, channel=c)``.
    """
    import tifffile

    path = Path(path)
    data = {c: _movie(num_samples, rows, columns, planes=planes, dtype=dtype, channel=c) for c in range(channels)}
    sizes = {"T": num_samples, "Z": planes, "C": channels}
    slow_to_fast = dimension_order[::-1]
    with tifffile.TiffWriter(path) as tif:
        for combo in np.ndindex(*(sizes[a] for a in slow_to_fast)):
            where = dict(zip(slow_to_fast, combo))
            tif.write(data[where["C"]][where["T"], :, :, where["Z"]], metadata=None, contiguous=True)
    return path


# ---------------------------------------------------------------------------------------------------- OME-TIFF
_OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
_OME_TYPES = {"uint8": "uint8", "uint16": "uint16", "int16": "int16", "int8": "int8", "uint32": "uint32",
              "int32": "int32", "float32": "float", "float64": "double"}


def ome_expected(size_t: int, rows: int, columns: int, size_z: int = 1, channel: int = 0,
                 dtype: str = "uint16") -> np.ndarray:
    """The movie of one channel as the OME writers here store it (planes last when ``size_z > 1``)."""
    return _movie(size_t, rows, columns, planes=size_z if size_z > 1 else None, dtype=dtype, channel=channel)


def _plane_order(dimension_order: str, size_z: int, size_c: int, size_t: int) -> list[tuple[int, int, int]]:
    """(z, c, t) of each plane in storage order (DimensionOrder XY + fastest..slowest)."""
    sizes = {"Z": size_z, "C": size_c, "T": size_t}
    slow_to_fast = dimension_order[2:][::-1]
    planes = []
    for combo in np.ndindex(*(sizes[a] for a in slow_to_fast)):
        where = dict(zip(slow_to_fast, combo))
        planes.append((where["Z"], where["C"], where["T"]))
    return planes


def _ome_xml(size_t, size_z, channel_names, rows, columns, dtype, dimension_order, tiff_data: str,
             delta_t: Sequence[float] | None, time_increment: float | None, file_uuid: str) -> str:
    size_c = len(channel_names)
    channels = "".join(f'<Channel ID="Channel:0:{c}" Name="{name}" SamplesPerPixel="1"/>'
                       for c, name in enumerate(channel_names))
    planes = ""
    if delta_t is not None:
        for k, (z, c, t) in enumerate(_plane_order(dimension_order, size_z, size_c, size_t)):
            planes += f'<Plane TheZ="{z}" TheC="{c}" TheT="{t}" DeltaT="{delta_t[k]!r}" DeltaTUnit="s"/>'
    increment = f' TimeIncrement="{time_increment!r}" TimeIncrementUnit="s"' if time_increment is not None else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{_OME_NS}" UUID="{file_uuid}" Creator="ophysio synthetic">'
        f'<Image ID="Image:0" Name="p0"><AcquisitionDate>2024-05-06T07:08:09</AcquisitionDate>'
        f'<Pixels ID="Pixels:0" DimensionOrder="{dimension_order}" Type="{_OME_TYPES[str(np.dtype(dtype))]}" '
        f'SizeX="{columns}" SizeY="{rows}" SizeZ="{size_z}" SizeC="{size_c}" SizeT="{size_t}" '
        f'PhysicalSizeX="0.5" PhysicalSizeXUnit="µm" PhysicalSizeY="0.5" PhysicalSizeYUnit="µm"{increment}>'
        f"{channels}{tiff_data}{planes}</Pixels></Image></OME>"
    )


def _ome_planes(size_t, size_z, size_c, rows, columns, dtype, dimension_order):
    movies = [ome_expected(size_t, rows, columns, size_z, c, dtype) for c in range(size_c)]
    for z, c, t in _plane_order(dimension_order, size_z, size_c, size_t):
        yield (movies[c][t, :, :, z] if size_z > 1 else movies[c][t])


def write_ome_tiff(path: str | os.PathLike, size_t: int = 6, size_z: int = 1,
                   channel_names: Sequence[str] = ("GCaMP",), rows: int = 12, columns: int = 10,
                   dtype: str = "uint16", dimension_order: str = "XYZCT", delta_t: Sequence[float] | None = None,
                   time_increment: float | None = 0.1, compression: str | None = None,
                   micromanager_elapsed_ms: Sequence[float] | None = None) -> Path:
    """Write a single-file OME-TIFF (one Image) whose planes follow ``dimension_order``.

    Channel ``c`` holds ``ome_expected(size_t, rows, columns, size_z, c)``. ``delta_t`` gives one DeltaT
    (seconds) per plane in storage order; ``micromanager_elapsed_ms`` one ``ElapsedTime-ms`` per plane,
    stored as Micro-Manager does in a per-image JSON tag (51123).
    """
    import tifffile

    path = Path(path)
    n = size_t * size_z * len(channel_names)
    xml = _ome_xml(size_t, size_z, list(channel_names), rows, columns, dtype, dimension_order,
                   f'<TiffData IFD="0" PlaneCount="{n}"/>', delta_t, time_increment, f"urn:uuid:{uuid.uuid4()}")
    with tifffile.TiffWriter(path) as tif:
        for k, plane in enumerate(_ome_planes(size_t, size_z, len(channel_names), rows, columns, dtype,
                                              dimension_order)):
            extratags = []
            if micromanager_elapsed_ms is not None:
                record = {"ElapsedTime-ms": micromanager_elapsed_ms[k], "Camera": "Camera", "ImageNumber": str(k)}
                extratags.append((51123, "s", 0, json.dumps(record), True))
            tif.write(plane, description=xml.encode("utf-8") if k == 0 else None, metadata=None,
                      compression=compression, contiguous=False, extratags=extratags)
    return path


def write_ome_tiff_multifile(folder: str | os.PathLike, num_files: int = 3, size_t: int = 6,
                             channel_names: Sequence[str] = ("GCaMP", "tdTomato"), rows: int = 12,
                             columns: int = 10, dtype: str = "uint16", stem: str = "multi") -> list[Path]:
    """Write an OME-TIFF dataset whose timepoints are split over ``num_files`` files (XYCZT order).

    Every file carries the full OME-XML, with one ``TiffData`` block per file giving ``FirstT``, ``IFD``,
    ``PlaneCount`` and ``<UUID FileName=...>``, as Bio-Formats and Micro-Manager write multi-file datasets.
    """
    import tifffile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    size_c = len(channel_names)
    bounds = np.linspace(0, size_t, num_files + 1).astype(int)
    names = [f"{stem}_{i}.ome.tif" for i in range(num_files)]
    uuids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(num_files)]
    blocks = "".join(
        f'<TiffData FirstT="{bounds[i]}" FirstC="0" FirstZ="0" IFD="0" '
        f'PlaneCount="{(bounds[i + 1] - bounds[i]) * size_c}">'
        f'<UUID FileName="{names[i]}">{uuids[i]}</UUID></TiffData>'
        for i in range(num_files)
    )
    planes = list(_ome_planes(size_t, 1, size_c, rows, columns, dtype, "XYCZT"))
    paths = []
    for i in range(num_files):
        xml = _ome_xml(size_t, 1, list(channel_names), rows, columns, dtype, "XYCZT", blocks, None, 0.05, uuids[i])
        path = folder / names[i]
        with tifffile.TiffWriter(path) as tif:
            for k, plane in enumerate(planes[bounds[i] * size_c : bounds[i + 1] * size_c]):
                tif.write(plane, description=xml.encode("utf-8") if k == 0 else None, metadata=None, contiguous=False)
        paths.append(path)
    return paths


def write_frame_metadata_sidecar(ome_path: str | os.PathLike, num_frames: int, source: str = "elapsed",
                                 positions: Sequence[str] = ("p0",), interval_ms: float = 33.0,
                                 mda_index: Sequence[dict] | None = None) -> Path:
    """Write ``<ome file name>_frame_metadata.json`` as mesofield does: ``{"p0": [frame dict, ...]}``.

    ``source`` picks what the records carry: ``"elapsed"`` (camera ElapsedTime-ms, TimeReceivedByCore and
    runner_time_ms), ``"received"`` (TimeReceivedByCore and runner_time_ms) or ``"runner"`` (runner_time_ms
    only, as for a non-sequenced MDA). Frame ``k`` of position ``i`` was taken at ``k * interval_ms`` ms
    (ElapsedTime-ms), received 2 ms later, runner time 3 ms later; position ``i`` adds ``i * 1000`` ms.
    ``mda_index`` gives each record an ``mda_event`` with that ``index``.
    """
    import datetime as dt

    path = Path(os.fspath(ome_path) + "_frame_metadata.json")
    start = dt.datetime(2024, 5, 6, 7, 8, 9, 250000)
    data = {}
    for i, key in enumerate(positions):
        records = []
        for k in range(num_frames):
            elapsed = k * interval_ms + i * 1000.0
            record: dict = {"format": "frame-dict", "version": "1.0", "runner_time_ms": elapsed + 3.0,
                            "camera_device": "Camera", "property_values": [], "exposure_ms": 5.0,
                            "pixel_size_um": 1.0, "position": {"x": float(i), "y": 0.0, "z": 0.0},
                            "mda_event": None if mda_index is None else {"index": dict(mda_index[k])}}
            if source in ("elapsed", "received"):
                camera = {"Camera": "Camera", "ImageNumber": str(k),
                          "TimeReceivedByCore": (start + dt.timedelta(milliseconds=elapsed + 2.0)).isoformat(" ")}
                if source == "elapsed":
                    camera["ElapsedTime-ms"] = f"{elapsed:.2f}"
                record["camera_metadata"] = camera
            records.append(record)
        data[key] = records
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------------- examples
def _example_tiff(folder: Path) -> tuple[Path, dict]:
    return write_tiff_movie(folder / "example_movie.tif", 100, 64, 64, compression="zlib"), {"sampling_frequency": 30.0}


def _example_imagej(folder: Path) -> tuple[Path, dict]:
    return write_imagej_hyperstack(folder / "example_hyperstack.tif", frames=20, slices=3, channels=2, rows=48,
                                   columns=48), {"channel_name": "0"}


def _example_ome(folder: Path) -> tuple[Path, dict]:
    path = write_ome_tiff(folder / "example.ome.tif", size_t=50, rows=48, columns=64, time_increment=0.033)
    write_frame_metadata_sidecar(path, 50, source="elapsed")
    return path, {}


def _example_legacy(folder: Path) -> tuple[Path, dict]:
    return write_scanimage_legacy(folder / "example_si38.tif", "3.8", num_samples=50, rows=64, columns=64), {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"tiff": _example_tiff, "imagej_hyperstack": _example_imagej, "ome_tiff": _example_ome,
            "scanimage_legacy": _example_legacy}
