"""The metadata text of a synthetic Micro-Manager stack (see :mod:`ophysio._synth.micromanager` for the file
layout): the summary JSON of Micro-Manager 2 and 1.4, each image's JSON, the display settings, the OME-XML
and ImageJ's description, as Micro-Manager writes them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

__all__ = ["PIXEL_TYPES", "summary_2", "summary_14", "scope_data", "image_json", "display_settings_json", "ome_xml",
           "ij_description"]

PIXEL_TYPES = {"uint8": ("GRAY8", 8), "uint16": ("GRAY16", 16)}


def summary_2(prefix, names, frames, slices, positions, axis_order, interval_ms, z_step_um, start_time, dtype, rows,
               columns, position_names, version):
    pixel_type, _ = PIXEL_TYPES[dtype]
    return {
        "Prefix": prefix, "UserName": "lab", "ProfileName": "Default user",
        "MicroManagerVersion": version, "MetadataVersion": "12.0.0", "ComputerName": "rig-2p",
        "Directory": "D:\\data\\2024-03-05", "ChannelGroup": "Channel", "ChNames": list(names),
        "z-step_um": z_step_um, "Interval_ms": interval_ms, "CustomIntervals_ms": [],
        "AxisOrder": list(axis_order),
        "TimeFirst": axis_order.index("time") < axis_order.index("position"),
        "SlicesFirst": axis_order.index("z") < axis_order.index("channel"),
        "IntendedDimensions": {"time": frames, "position": positions, "z": slices, "channel": len(names)},
        "Frames": frames, "Positions": positions, "Slices": slices, "Channels": len(names),
        "StartTime": start_time,
        "StagePositions": [{"Label": name, "GridRow": 0, "GridCol": p, "DefaultXYStage": "XY",
                            "DefaultZStage": "Z",
                            "DevicePositions": [{"Device": "XY", "Position_um": [p * 100.0, 0.0]}]}
                           for p, name in enumerate(position_names)],
        "KeepShutterOpenSlices": False, "KeepShutterOpenChannels": False,
        "PixelType": pixel_type, "Width": columns, "Height": rows, "UserData": {},
    }


def summary_14(prefix, names, frames, slices, positions, axis_order, interval_ms, z_step_um, start_time, dtype,
                rows, columns, pixel_size_um, version):
    pixel_type, bits = PIXEL_TYPES[dtype]
    return {
        "Prefix": prefix, "Source": "Micro-Manager", "MicroManagerVersion": version, "MetadataVersion": 10,
        "ComputerName": "rig-2p", "UserName": "lab", "Directory": "C:\\data", "Channels": len(names),
        "ChNames": list(names), "ChColors": [-1] * len(names), "ChContrastMin": [0] * len(names),
        "ChContrastMax": [65535] * len(names), "Slices": slices, "Frames": frames, "Positions": positions,
        "Interval_ms": interval_ms, "z-step_um": z_step_um, "PixelSize_um": pixel_size_um, "PixelAspect": 1,
        "Time": start_time, "TimeFirst": axis_order.index("time") < axis_order.index("position"),
        "SlicesFirst": axis_order.index("z") < axis_order.index("channel"), "Width": columns, "Height": rows,
        "PixelType": pixel_type, "BitDepth": bits, "IJType": 1 if bits == 16 else 0, "Depth": 2 if bits == 16 else 1,
        "KeepShutterOpenSlices": False, "KeepShutterOpenChannels": False, "Comment": "",
    }


def scope_data(camera: str, exposure_ms: float, z_um: float, extra: int = 0) -> dict[str, str]:
    """Device properties as Micro-Manager stores them with each image (``extra`` more, as a rig with many
    devices has: real per-image JSON is often 5-20 KB)."""
    return {**{f"Device{i // 8}-Property{i % 8}": f"{i * 0.5:.4f}" for i in range(extra)},
        "Core-Camera": camera, "Core-Focus": "Z", "Core-XYStage": "XY", "Core-Shutter": "Shutter",
        f"{camera}-Name": "HamamatsuHam_DCAM", f"{camera}-CameraName": "C13440-20CU",
        f"{camera}-CameraID": "S/N: 301234", f"{camera}-Description": "Hamamatsu DCAM camera",
        f"{camera}-Exposure": f"{exposure_ms:.4f}", f"{camera}-Binning": "1x1", "Z-Position": f"{z_um:.4f}",
    }


def image_json(flavour, t, c, z, p, k, *, names, camera, dtype, rows, columns, pixel_size_um, elapsed, z_um,
                start_time, position_name, file_name, exposure_ms=10.0, scope_properties=0):
    pixel_type, bits = PIXEL_TYPES[dtype]
    scope = scope_data(camera, exposure_ms, z_um, scope_properties)
    if flavour == "1.4":
        record = {"ChannelIndex": c, "SliceIndex": z, "FrameIndex": t, "PositionIndex": p, "Channel": names[c],
                  "Slice": z, "Frame": t, "Camera": camera, "Width": columns, "Height": rows,
                  "PixelType": pixel_type, "BitDepth": bits, "PixelSizeUm": pixel_size_um,
                  "Exposure-ms": exposure_ms, "ElapsedTime-ms": elapsed, "Time": start_time,
                  "ImageNumber": str(k), "ZPositionUm": z_um,
                  "XPositionUm": p * 100.0, "YPositionUm": 0.0, "PositionName": position_name, "Source": camera,
                  "FileName": file_name, "UUID": str(uuid.uuid4()), **scope}
    else:
        record = {"Width": columns, "Height": rows, "PixelType": pixel_type,
                  "completeCoords": {"time": t, "position": p, "z": z, "channel": c},
                  "Frame": t, "FrameIndex": t, "PositionIndex": p, "Slice": z, "SliceIndex": z, "ChannelIndex": c,
                  "UUID": str(uuid.uuid4()), "Camera": camera, "Binning": 1, "ROI": f"0-0-{columns}-{rows}",
                  "BitDepth": bits, "Exposure-ms": exposure_ms, "ElapsedTime-ms": elapsed, "ImageNumber": str(k),
                  "ReceivedTime": start_time, "PixelSizeUm": pixel_size_um,
                  "PixelSizeAffine": f"{pixel_size_um};0.0;0.0;0.0;{pixel_size_um};0.0", "PixelAspect": 1.0,
                  "PositionName": position_name, "XPositionUm": p * 100.0, "YPositionUm": 0.0, "ZPositionUm": z_um,
                  **scope, "ScopeDataKeys": list(scope), "UserData": {}, "FileName": file_name}
    if elapsed is None:
        del record["ElapsedTime-ms"]
    return record


def display_settings_json(names: Sequence[str], fps: float) -> dict:
    channel = [{"Channel": {"type": "STRING", "scalar": name},
                "Color": {"type": "COLOR", "scalar": -1},
                "Visible": {"type": "BOOLEAN", "scalar": True}} for name in names]
    return {"encoding": "UTF-8", "format": "Micro-Manager Property Map", "major_version": 2, "minor_version": 0,
            "map": {"PlaybackFPS": {"type": "DOUBLE", "scalar": fps},
                    "ColorMode": {"type": "STRING", "scalar": "COMPOSITE" if len(names) > 1 else "GRAYSCALE"},
                    "Autostretch": {"type": "BOOLEAN", "scalar": True},
                    "ChannelSettings": {"type": "PROPERTY_MAP", "array": channel}}}


def ome_xml(names, frames, slices, rows, columns, dtype, axis_order, pixel_size_um, z_step_um, interval_ms,
             positions_planes, position_names, acquisition_date, prefix) -> str:
    """The dataset's OME-XML as Micro-Manager's OMEMetadata writes it: one Image per position."""
    order = "XYZCT" if axis_order.index("z") < axis_order.index("channel") else "XYCZT"
    ns = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
    images = []
    for p, planes in positions_planes.items():
        channels = "".join(f'<Channel ID="Channel:{p}:{c}" Name={quoteattr(n)} SamplesPerPixel="1"><LightPath/>'
                           "</Channel>" for c, n in enumerate(names))
        tiff_data = "".join(
            f'<TiffData FirstC="{c}" FirstT="{t}" FirstZ="{z}" IFD="{ifd}" PlaneCount="1">'
            f"<UUID FileName={quoteattr(name)}>{file_uuid}</UUID></TiffData>"
            for (t, c, z, ifd, name, file_uuid, _, _) in planes)
        plane_xml = "".join(
            f'<Plane DeltaT="{elapsed}" DeltaTUnit="ms" ExposureTime="10.0" ExposureTimeUnit="ms" '
            f'PositionX="{p * 100.0}" PositionXUnit="µm" PositionY="0.0" PositionYUnit="µm" PositionZ="{z_um}" '
            f'PositionZUnit="µm" TheC="{c}" TheT="{t}" TheZ="{z}"/>' if elapsed is not None else
            f'<Plane TheC="{c}" TheT="{t}" TheZ="{z}"/>'
            for (t, c, z, _, _, _, elapsed, z_um) in planes)
        physical_z = f' PhysicalSizeZ="{abs(z_step_um)}" PhysicalSizeZUnit="µm"' if z_step_um else ""
        increment = f' TimeIncrement="{interval_ms}" TimeIncrementUnit="ms"' if interval_ms > 0 else ""
        images.append(
            f'<Image ID="Image:{p}" Name={quoteattr(f"{prefix}_MMStack_{position_names[p]}")}>'
            f"<AcquisitionDate>{escape(acquisition_date)}</AcquisitionDate>"
            f'<InstrumentRef ID="Instrument:0"/>'
            f'<Pixels BigEndian="false" DimensionOrder="{order}" ID="Pixels:{p}" Interleaved="false" '
            f'PhysicalSizeX="{pixel_size_um}" PhysicalSizeXUnit="µm" PhysicalSizeY="{pixel_size_um}" '
            f'PhysicalSizeYUnit="µm"{physical_z} SignificantBits="{PIXEL_TYPES[dtype][1]}" SizeC="{len(names)}" '
            f'SizeT="{frames}" SizeX="{columns}" SizeY="{rows}" SizeZ="{slices}"{increment} Type="{dtype}">'
            f"{channels}{tiff_data}{plane_xml}</Pixels>"
            f'<StageLabel Name={quoteattr(position_names[p])} X="{p * 100.0}" XUnit="µm" Y="0.0" YUnit="µm"/></Image>')
    return (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{ns}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'UUID="urn:uuid:{uuid.uuid4()}" xsi:schemaLocation="{ns} {ns}/ome.xsd">'
            '<Instrument ID="Instrument:0"><Detector ID="Detector:0:0" Manufacturer="HamamatsuHam_DCAM" '
            'Model="C13440-20CU" SerialNumber="S/N: 301234"/></Instrument>' + "".join(images) + "</OME>")


def ij_description(channels, slices, frames, z_step_um, slices_first) -> str:
    lines = ["ImageJ=1.54f"]
    if channels > 1:
        lines.append(f"channels={channels}")
    if slices > 1:
        lines.append(f"slices={slices}")
    if frames > 1:
        lines.append(f"frames={frames}")
    if frames > 1 or slices > 1 or channels > 1:
        lines.append("hyperstack=true")
    if channels > 1 and slices > 1 and slices_first:
        lines.append("order=zct")
    lines.append("unit=um")
    if slices > 1:
        lines.append(f"spacing={z_step_um}")
    lines.append("mode=composite" if channels > 1 else "min=0\nmax=65535")
    return "\n".join(lines) + "\n"
