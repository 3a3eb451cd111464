"""Synthetic Femtonics MESc (``.mesc``) files, laid out as MESc 3.3 writes them.

The layout follows the real sample ``femtonics/p29.mesc`` (MESc 3.3, revision 4356), attribute for
attribute: an HDF5 file whose root carries ``Vendor``, ``FileFormatVersion``, ``Uuid`` and the file's
times; one group ``MSession_<i>`` per session (``Comment``, ``Uuid``, ``VecMUnitsSize``...), one group
``MUnit_<j>`` per measurement unit inside it, and in each unit one dataset ``Channel_<k>`` per channel,
uint16 ``(ZDim, YDim, XDim)`` = (frames, rows, columns), chunked one frame per chunk and deflated at
level 1. The unit's attributes hold the acquisition: the axes' linear conversions (X and Y in µm per
pixel, Z in ms per frame, each with its title and unit name), ``XDim``/``YDim``/``ZDim``, the
measurement date (``MeasurementDatePosix`` + ``MeasurementDateNanoSecs``), the geometric transformation
(``GeomTransTransl``, ``GeomTransRot``, ``LabelingOriginTransl``), the MESc version, the experimenter,
per-channel ``Channel_<k>_Name``/conversion/LUT attributes and the ``MeasurementParamsXML`` and
``ViewerParamsXML`` texts. Texts are stored as MESc stores them: NUL-terminated int16 arrays of UTF-16
code units (names, titles, units, version), and byte strings in Latin-1 (the XML).

Pixel values are :func:`~ophysio._synth.movie.movie` of (frames, rows, columns) with the channel's
index as ``channel`` and the unit's ``seed``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .movie import movie

__all__ = ["MescUnit", "write_femtonics", "mesc_text", "EXAMPLES"]

VENDOR = b"Femtonics Ltd. http://femtonics.eu"


@dataclass(frozen=True)
class MescUnit:
    """One measurement unit (``MUnit_<j>``) of a synthetic MESc file.

    ``pixel_size_um`` is (row height, column width), i.e. (Y, X); ``frame_period`` and
    ``first_frame_time`` are in ``time_unit``, the Z axis's unit name (``"ms"`` as MESc writes time series;
    a length such as ``"µm"`` makes the Z axis depth).
    """

    frames: int = 8
    rows: int = 24
    columns: int = 32
    channels: tuple[str, ...] = ("UG", "UR")
    frame_period: float = 32.29672617170252
    first_frame_time: float = 0.0
    pixel_size_um: tuple[float, float] = (1.7821140546875, 1.7821140546875)
    time_unit: str = "ms"
    space_unit: str = "µm"
    measurement_posix: int = 1506671580
    measurement_ns: int = 903593500
    stage_z_um: float = -11608.54
    labeling_origin_z_um: float = -11474.34
    mesc_version: str = "MESc 3.3"
    revision: int = 4356
    compression: str | None = "gzip"
    seed: int = 0
    extra_attrs: dict = field(default_factory=dict)

    def pixels(self, channel: int) -> np.ndarray:
        """The values of ``Channel_<channel>``: (frames, rows, columns) uint16."""
        return movie(self.frames, self.rows, self.columns, dtype="uint16", channel=channel, seed=self.seed)


def mesc_text(text: str) -> np.ndarray:
    """``text`` as MESc stores names and units: UTF-16 code units in an int16 array, NUL-terminated."""
    units = np.frombuffer(text.encode("utf-16-le"), dtype="<u2")
    return np.concatenate([units, [0]]).astype(np.uint16).view(np.int16)


def _uuid(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, 16).astype(np.uint8)


def _axis(attrs: dict, axis: str, scale: float, offset: float, title: str, unit: str, role: int) -> None:
    prefix = f"{axis}AxisConversion"
    attrs[f"{prefix}ConversionIFFormatVersion"] = np.uint32(1)
    attrs[f"{prefix}ConversionLinearFormatVersion"] = np.uint32(1)
    attrs[f"{prefix}ConversionLinearOffset"] = np.float64(offset)
    attrs[f"{prefix}ConversionLinearScale"] = np.float64(scale)
    attrs[f"{prefix}ConversionNoParamsIFFormatVersion"] = np.uint32(1)
    attrs[f"{prefix}LowerLimitDouble"] = np.float64(-1.7976931348623157e308)
    attrs[f"{prefix}LowerLimitUint16"] = np.uint16(0)
    attrs[f"{prefix}Title"] = mesc_text(title)
    attrs[f"{prefix}Type"] = np.uint32(1)
    attrs[f"{prefix}UnitName"] = mesc_text(unit)
    attrs[f"{prefix}UnitNamePostfix"] = mesc_text("]")
    attrs[f"{prefix}UnitNamePrefix"] = mesc_text(" [")
    attrs[f"{prefix}UpperLimitDouble"] = np.float64(1.7976931348623157e308)
    attrs[f"{prefix}UpperLimitUint16"] = np.uint16(65535)
    attrs[f"{axis}AxisGeomRole"] = np.uint32(role)
    attrs[f"{axis}AxisInvertedDisplay"] = np.int32(0)


def _channel(attrs: dict, k: int, name: str) -> None:
    prefix = f"Channel_{k}_"
    attrs[prefix + "Channel3DDiskFormatVersion"] = np.uint32(1)
    attrs[prefix + "Conversion_ConversionIFFormatVersion"] = np.uint32(1)
    attrs[prefix + "Conversion_ConversionLinearFormatVersion"] = np.uint32(1)
    attrs[prefix + "Conversion_ConversionLinearOffset"] = np.float64(65535.0)
    attrs[prefix + "Conversion_ConversionLinearScale"] = np.float64(-1.0)
    attrs[prefix + "Conversion_ConversionNoParamsIFFormatVersion"] = np.uint32(1)
    attrs[prefix + "Conversion_LowerLimitDouble"] = np.float64(0.0)
    attrs[prefix + "Conversion_LowerLimitUint16"] = np.uint16(0)
    attrs[prefix + "Conversion_Title"] = mesc_text(f"PMT {name}")
    attrs[prefix + "Conversion_Type"] = np.uint32(1)
    attrs[prefix + "Conversion_UnitName"] = mesc_text("scalar")
    attrs[prefix + "Conversion_UnitNamePostfix"] = mesc_text("]")
    attrs[prefix + "Conversion_UnitNamePrefix"] = mesc_text(" [")
    attrs[prefix + "Conversion_UpperLimitDouble"] = np.float64(65535.0)
    attrs[prefix + "Conversion_UpperLimitUint16"] = np.uint16(65535)
    attrs[prefix + "LUT_DefaultLUTEditorType"] = np.uint32(0)
    attrs[prefix + "LUT_LUTFormatVersion"] = np.uint32(1)
    attrs[prefix + "LUT_RangeLowerBound"] = np.float64(0.0)
    attrs[prefix + "LUT_RangeUpperBound"] = np.float64(65535.0)
    attrs[prefix + "LUT_VecBounds"] = np.array([895.0, 3327.0])
    attrs[prefix + "LUT_VecColors"] = np.array([0, 65280], dtype=np.uint32)
    attrs[prefix + "Name"] = mesc_text(name)
    attrs[prefix + "Type"] = np.uint32(0)


def _measurement_xml(unit: MescUnit) -> bytes:
    """A ``MeasurementParamsXML`` text as MESc 3.3 writes it for a resonant scan (Latin-1, no declaration)."""
    dy, dx = unit.pixel_size_um
    gears = "".join(
        f'<Gear name="PMT_{name}" type="PMT"><param name="warmup_time" value="-2.00000000000000011e-01" />'
        f'<param name="reference_voltage" value="{65 + 5 * k:.17e}" /><param name="channel_name" value="{name}" />'
        f"</Gear>" for k, name in enumerate(unit.channels))
    params = (f'<param name="SizeX" value="{unit.columns}" /><param name="SizeY" value="{unit.rows}" />'
              f'<param name="PixelSizeX" value="{dx:.17e}" /><param name="PixelSizeY" value="{dy:.17e}" />'
              '<param name="Pixelclock" value="8.11673600000000000e+06" />'
              '<param name="ZLibCompressionLevel" value="1" />')
    axes = (f'<axis attribute="AttributePosition" id="SlowZ" value="{unit.stage_z_um:.17e}" />'
            f'<axis attribute="Unit" id="SlowX" value="{unit.space_unit}" />')
    text = (f'<Task Type="TaskResonantScan" Version="1.0"><Devices>{gears}</Devices><Params>{params}</Params>'
            f'<AxisControl><snapshot space="space1">{axes}</snapshot></AxisControl></Task>')
    return text.encode("latin-1")


def _unit_attrs(unit: MescUnit, index: int) -> dict:
    import h5py

    dy, dx = unit.pixel_size_um
    attrs: dict = {}
    for k, name in enumerate(unit.channels):
        _channel(attrs, k, name)
    attrs.update({
        "Comment": mesc_text(""),
        "CommentDebugString": np.bytes_(b""),
        "CreatingMEScRevision": np.uint64(unit.revision),
        "CreatingMEScVersion": mesc_text(unit.mesc_version),
        "CurveVectorFormatVersion": np.uint32(2),
        "CurveVectorSize": np.uint64(0),
        "ExperimenterHostname": mesc_text("RIG-PC-01"),
        "ExperimenterProfilename": mesc_text("Measurement"),
        "ExperimenterSetupID": mesc_text("SN00000000-SYNTH_1"),
        "ExperimenterUsername": mesc_text("experimenter"),
        "GeomTransGeomTransRotTranslFormatVersion": np.uint32(1),
        "GeomTransGeomTransTranslFormatVersion": np.uint32(1),
        "GeomTransRot": np.array([0.0, 0.0, 0.0, 1.0]),
        "GeomTransTransl": np.array([-unit.columns * dx / 2, -unit.rows * dy / 2, unit.stage_z_um]),
        "Image3DDiskFormatVersion": np.uint32(1),
        "LabelingOriginGeomTransTranslFormatVersion": np.uint32(1),
        "LabelingOriginTransl": np.array([0.0, 0.0, unit.labeling_origin_z_um]),
        "MImage3DFormatVersion": np.uint32(1),
        "MUnitFormatVersion": np.uint32(2),
        "MeasurementDateNanoSecs": np.uint32(unit.measurement_ns),
        "MeasurementDatePosix": np.uint64(unit.measurement_posix),
        "MeasurementParamsXML": np.bytes_(_measurement_xml(unit)),
        "PointsPointsFormatVersion": np.uint32(1),
        "PointsShow": np.int32(1),
        "PointsShowInDepth": np.int32(1),
        "PointsShowNumbering": np.int32(0),
        "PointsSpaceDrawableFormatVersion": np.uint32(1),
        "PointsSpaceDrawableType": np.uint32(0),
        "PointsVecPointsVisible": np.ones(8, dtype=np.int32),
        "SpaceName": mesc_text("space1"),
        "Type": np.uint32(4),
        "TypeDebugString": np.bytes_(b"MImage3D"),
        "Uuid": _uuid(1000 + index + unit.seed),
        "VecChannelsSize": np.uint64(len(unit.channels)),
        "ViewerParamsXML": np.bytes_(
            b'<Viewerparams><param name="IsGlobal" value="0" /><param name="ChannelNameMap" value="'
            + " ".join(unit.channels).encode("latin-1") + b'" /></Viewerparams>'),
        "XDim": np.uint64(unit.columns),
        "YDim": np.uint64(unit.rows),
        "ZDim": np.uint64(unit.frames),
        "ZDimUnlimited": np.int32(1),
    })
    for i in range(8):  # no marked points: empty attributes, as MESc leaves them
        attrs[f"PointsColors{i}"] = h5py.Empty("uint32")
        attrs[f"PointsPositions{i}"] = h5py.Empty("<f8")
    _axis(attrs, "X", dx, dx / 2, "x", unit.space_unit, 1)
    _axis(attrs, "Y", dy, dy / 2, "y", unit.space_unit, 2)
    time_axis = unit.time_unit in ("ms", "s", "us", "µs")
    _axis(attrs, "Z", unit.frame_period, unit.first_frame_time, "t" if time_axis else "z", unit.time_unit, 0)
    attrs.update(unit.extra_attrs)
    return attrs


def write_femtonics(path: str | os.PathLike, sessions: Sequence[Sequence[MescUnit]] = ((MescUnit(),),)) -> Path:
    """Write a MESc file with ``sessions[i][j]`` as ``MSession_<i>/MUnit_<j>``; return its path."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for i, units in enumerate(sessions):
            session = f.create_group(f"MSession_{i}")
            session.attrs.update({"Comment": mesc_text(""), "CommentDebugString": np.bytes_(b""),
                                  "FormatVersion": np.uint32(1), "Info": h5py.Empty(h5py.string_dtype()),
                                  "Uuid": _uuid(i), "VecMUnitsSize": np.uint64(len(units))})
            for j, unit in enumerate(units):
                group = session.create_group(f"MUnit_{j}")
                for k in range(len(unit.channels)):
                    options = {"compression": "gzip", "compression_opts": 1} if unit.compression else {}
                    group.create_dataset(f"Channel_{k}", data=unit.pixels(k), chunks=(1, unit.rows, unit.columns),
                                         **options)
                group.attrs.update(_unit_attrs(unit, j))
        # MESc writes the root's attributes last (they sit at the end of a real file)
        f.attrs.update({"AccessTime": np.uint64(1506675593), "CreationTime": np.uint64(1506668580),
                        "FileFormatVersion": np.uint32(2), "ModificationTime": np.uint64(1506675521),
                        "NeedsH5Repack": np.int32(0), "Uuid": _uuid(99), "VecMSessionsSize": np.uint64(len(sessions)),
                        "Vendor": np.bytes_(VENDOR)})
    return path


def _example_femtonics(folder: Path) -> tuple[Path, dict]:
    unit = MescUnit(frames=50, rows=48, columns=64)
    return write_femtonics(folder / "example.mesc", [[unit]]), {}


#: Built-in examples of this module (see :func:`ophysio.examples.write_example`).
EXAMPLES = {"femtonics": _example_femtonics}
