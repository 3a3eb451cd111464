"""Synthetic Bruker Prairie View datasets, laid out as Prairie View writes them.

The layout copies the real sample in the test data (``bruker/NCCR32_2022_11_03_IntoTheVoid_t_series-005``,
Prairie View 5.6.64.400):

- ``<folder>/<name>.xml``: UTF-8 with a byte order mark; ``<PVScan version= date= notes="">`` holding
  ``<SystemIDs>``, the root ``<PVStateShard>`` with the real file's keys in its order (activeMode, bitDepth,
  currentScanAmplitude, ..., micronsPerPixel, ..., positionCurrent with a focus drive and an ETL, ...,
  zDevice), then one ``<Sequence type= cycle= time= bidirectionalZ= xYStageGrid...>`` per cycle, each with an
  empty ``<PVStateShard />`` and one ``<Frame relativeTime= absoluteTime= index= parameterSet=>`` per frame:
  one ``<File channel= channelName= filename=>`` per channel (``page=`` in the 5.8 multi-page layout),
  ``<ExtraParameters lastGoodFrame="0" />`` and the frame's ``<PVStateShard>`` (framePeriod,
  positionCurrent for z-stacks, scanLinePeriod).
- ``<name>_Cycle00001_Ch2_000001.ome.tif``: one classic little-endian TIFF per frame and channel with the
  real files' layout: header, pixels at offset 8 in strips of 8 rows, the strip tables, Software
  (``Prairie View <version>``), DateTime, resolutions, MetaMorph UIC tags, the 19-entry IFD, then the
  ImageDescription. The first file's description is an OME-XML companion that lists more cycles than were
  written (as Prairie View 5.7+ writes it: not to be trusted); the others' point to it (``BinaryOnly``).
- 5.8 multi-page layout (``multipage=True``): one file per cycle and channel whose pages are the cycle's
  frames, referred to with ``page="k"``.

Pixel values of sample ``s``, plane ``p`` of the channel at index ``k`` of ``channels`` are
``movie(num_samples, rows, columns, planes, dtype, channel=k)[s, ..., p]``
(:func:`ophysio.examples.movie`), whatever order the frames were acquired in.
"""

from __future__ import annotations

import math
import os
import struct
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_bruker", "bruker_expected", "EXAMPLES"]

_VERSION = "5.6.64.400"
_VERSION_MULTIPAGE = "5.8.64.200"
_ROWS_PER_STRIP = 8


def bruker_expected(num_samples: int, rows: int, columns: int, planes: int = 1, channel: int = 0,
                    dtype: str = "uint16") -> np.ndarray:
    """The samples of the channel at index ``channel`` that :func:`write_bruker` writes (planes last if > 1)."""
    from .movie import movie

    return movie(num_samples, rows, columns, planes if planes > 1 else None, dtype=dtype, channel=channel)


# ---------------------------------------------------------------------------------------------------- TIFF
def _entry(tag: int, typ: int, count: int, value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\x00")
    if typ == 3 and count == 1:
        return struct.pack("<HHIHH", tag, typ, count, value, 0)
    return struct.pack("<HHII", tag, typ, count, value)


def _uic_block(at: int) -> tuple[bytes, list[int]]:
    """MetaMorph's UIC1 values (21 longs) and the bytes they point to, as in Prairie View's files."""
    pointed = (struct.pack("<4I", 99, 1, 99, 1) + b"\x08\x00\x00\x00microns\x00" + b"\x08\x00\x00\x00Gattaca\x00"
               + b"\x00" * 8 + struct.pack("<I", 1) + b"\x00" * 16)
    values = [0, 0, 1, 0, 2, 65535, 3, 1, 4, at, 5, at + 8, 6, at + 16, 7, at + 28, 8, 0, 9, 255, 11]
    return pointed, values


def _page(pixels: np.ndarray, start: int, description: bytes, software: bytes, date: bytes) -> tuple[bytes, int, int]:
    """One page laid out as Prairie View lays it out, starting at file offset ``start`` (pixels first).

    Returns the page's bytes, the file offset of its IFD and that of its next-IFD pointer.
    """
    rows, columns = pixels.shape
    itemsize = pixels.dtype.itemsize
    out = bytearray(pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes())
    strips = math.ceil(rows / _ROWS_PER_STRIP)
    strip_bytes = [min(_ROWS_PER_STRIP, rows - s * _ROWS_PER_STRIP) * columns * itemsize for s in range(strips)]
    offsets = [start + sum(strip_bytes[:s]) for s in range(strips)]

    def put(data: bytes) -> int:
        at = start + len(out)
        out.extend(data)
        return at

    def table(values: list[int]) -> int:
        return values[0] if len(values) == 1 else put(struct.pack(f"<{len(values)}I", *values))

    strip_offsets, strip_counts = table(offsets), table(strip_bytes)
    software_at = put(software)
    date_at = put(date)
    put(b"\xff\xff\xff\xff" + b"\x00" * 8)  # what lies between, as in the real files
    resolution_at = put(struct.pack("<4I", 72, 1, 72, 1))
    pointed, uic1 = _uic_block(start + len(out))
    put(pointed)
    uic2_at = put(b"\x00" * 24)
    uic3_at = put(struct.pack("<2I", 77, 43))
    uic1_at = put(struct.pack("<21I", *uic1))
    ifd_at = start + len(out)
    entries = [
        (254, 4, 1, 0), (256, 4, 1, columns), (257, 4, 1, rows), (258, 3, 1, 8 * itemsize), (259, 3, 1, 1),
        (262, 3, 1, 1), (270, 2, len(description), None), (273, 4, strips, strip_offsets),
        (278, 4, 1, _ROWS_PER_STRIP), (279, 4, strips, strip_counts), (282, 5, 1, resolution_at),
        (283, 5, 1, resolution_at + 8), (296, 3, 1, 2), (305, 2, len(software), software_at),
        (306, 2, len(date), date_at), (317, 3, 1, 1), (33628, 4, 21, uic1_at), (33629, 5, 1, uic2_at),
        (33630, 5, 1, uic3_at),
    ]
    if pixels.dtype.kind == "i":  # SampleFormat for signed data (Prairie View itself writes uint16)
        entries.insert(16, (339, 3, 1, 2))
    next_at = ifd_at + 2 + 12 * len(entries)
    description_at = next_at + 4 + 1  # one NUL byte before the description, as in the real files
    ifd = struct.pack("<H", len(entries)) + b"".join(
        _entry(tag, typ, count, description_at if value is None else value) for tag, typ, count, value in entries)
    out.extend(ifd + b"\x00\x00\x00\x00" + b"\x00" + description)
    if len(out) % 2:
        out.extend(b"\x00")
    return bytes(out), ifd_at, next_at


def _write_tiff(path: Path, frames: list[np.ndarray], descriptions: list[bytes], version: str, date: bytes) -> None:
    """A classic little-endian TIFF of one page per frame, each laid out as :func:`_page` lays it out."""
    software = f"Prairie View {version}".encode() + b"\x00"
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    previous = 4
    for pixels, description in zip(frames, descriptions):
        page, ifd_at, next_at = _page(pixels, len(out), description, software, date)
        out.extend(page)
        struct.pack_into("<I", out, previous, ifd_at)
        previous = next_at
    with open(path, "wb") as fh:
        fh.write(out)


# ---------------------------------------------------------------------------------------------------- XML
def _state_shard(rows: int, columns: int, frame_period: float, z_focus: float, etl: float, pixel_um: float,
                 z_step: float, laser_wavelength: float | None, channels: Sequence[int]) -> str:
    """The root PVStateShard with the real sample's keys, in its order."""
    v = '    <PVStateValue key="{}" value="{}" />\n'.format

    def indexed(key: str, items: list[tuple[str, str, str | None]]) -> str:
        lines = [f'    <PVStateValue key="{key}">\n']
        for index, value, description in items:
            extra = f' description="{description}"' if description is not None else ""
            lines.append(f'      <IndexedValue index="{index}" value="{value}"{extra} />\n')
        lines.append("    </PVStateValue>\n")
        return "".join(lines)

    amplitude = 4.17170481
    parts = ["  <PVStateShard>\n", v("activeMode", "ResonantGalvo"), v("bitDepth", "13"),
             indexed("currentScanAmplitude", [("XAxis", f"{amplitude}", None), ("YAxis", f"{amplitude}", None)]),
             indexed("currentScanCenter", [("XAxis", "0", None), ("YAxis", "0", None)]),
             v("dwellTime", "0.4"), v("framePeriod", f"{frame_period * 0.68:.9f}"),
             v("interlacedScanTrackCount", "0")]
    if laser_wavelength is not None:
        parts.append(indexed("laserWavelength", [("0", f"{laser_wavelength:g}", "Excitation 1")]))
    parts += [indexed("laserPower", [("0", "599.609375", "920 Axon"), ("1", "0", "1064 Axon"), ("2", "0", "Monaco")]),
              v("linesPerFrame", str(rows)),
              indexed("maxVoltage", [("XAxis", f"{amplitude / 2}", None), ("YAxis", f"{amplitude / 2}", None)]),
              indexed("micronsPerPixel", [("XAxis", f"{pixel_um}", None), ("YAxis", f"{pixel_um * 1.25}", None),
                                          ("ZAxis", f"{z_step:g}", None)]),
              indexed("minVoltage", [("XAxis", f"{-amplitude / 2}", None), ("YAxis", f"{-amplitude / 2}", None)]),
              v("objectiveLens", "16X"), v("objectiveLensMag", "16"), v("objectiveLensNA", "0.8"),
              v("opticalZoom", "2"), v("pixelsPerLine", str(columns)),
              indexed("pmtGain", [("0", "0", "PMT 1 HV (Red)"), ("1", "700", "PMT 2 HV (Green)")]),
              '    <PVStateValue key="positionCurrent">\n', _position(z_focus, etl, indent=6),
              "    </PVStateValue>\n",
              '    <PVStateValue key="preampFilter" value="NoFilter" description="None" />\n',
              '    <PVStateValue key="preampOffset">\n      <SubindexedValues index="0">\n']
    for number in sorted(set(channels) | {1, 2}):
        parts.append(f'        <SubindexedValue subindex="{number - 1}" value="0" description="Ch{number}" />\n')
    parts += ["      </SubindexedValues>\n    </PVStateValue>\n", v("rastersPerFrame", "1"), v("rotation", "0"),
              v("samplesPerPixel", "3"), v("scanLinePeriod", "6.3123E-05"), v("useInterlacedScanPattern", "False"),
              v("xYStageGridIndex", "-1"), v("xYStageGridXIndex", "-1"), v("xYStageGridYIndex", "-1"),
              v("yAspectExpansion", "1"), v("zDevice", "1"), "  </PVStateShard>\n"]
    return "".join(parts)


def _position(z_focus: float, etl: float, indent: int) -> str:
    pad = " " * indent
    return (f'{pad}<SubindexedValues index="XAxis">\n{pad}  <SubindexedValue subindex="0" value="14.927" />\n'
            f'{pad}</SubindexedValues>\n{pad}<SubindexedValues index="YAxis">\n'
            f'{pad}  <SubindexedValue subindex="0" value="56.215" />\n{pad}</SubindexedValues>\n'
            f'{pad}<SubindexedValues index="ZAxis">\n'
            f'{pad}  <SubindexedValue subindex="0" value="{z_focus:g}" description="Z Focus" />\n'
            f'{pad}  <SubindexedValue subindex="1" value="{etl:g}" description="Optotune ETL 10-30" />\n'
            f'{pad}</SubindexedValues>\n')


def _ome_companion(files: list[str], planes: int, rows: int, columns: int, channel: str, cycles: int,
                   dtype: str, uuids: dict[str, str]) -> bytes:
    """The OME-XML Prairie View puts in its first file: it lists two cycles more than were written."""
    blocks = []
    for name in files:
        blocks.append(f'<TiffData FirstC="0" FirstT="0" FirstZ="0" PlaneCount="1" IFD="0"><UUID FileName="{name}">'
                      f'{uuids[name]}</UUID></TiffData>')
    base = files[0].split("_Cycle")[0]
    for cycle in range(cycles + 1, cycles + 3):  # the lie: cycles that do not exist
        phantom = f"{base}_Cycle{cycle:05d}_{channel}_000001.ome.tif"
        blocks.append(f'<TiffData FirstC="0" FirstT="0" FirstZ="0" PlaneCount="1" IFD="0"><UUID FileName="{phantom}">'
                      f'urn:uuid:{uuid.UUID(int=cycle)}</UUID></TiffData>')
    first = uuids[files[0]]
    text = ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2012-06" '
            f'UUID="{first}"><Image ID="Image:1" Name="Sequence:1"><AcquisitionDate>2022-11-03T11:25:41'
            f'</AcquisitionDate><Pixels DimensionOrder="XYZCT" ID="Pixels:1" PhysicalSizeX="1.1078125" '
            f'PhysicalSizeY="1.1078125" SizeC="1" SizeT="1" SizeX="{columns}" SizeY="{rows}" SizeZ="{planes}" '
            f'Type="{dtype}"><Channel ID="Channel:1:0" Name="{channel}" SamplesPerPixel="1"/>'
            + "".join(blocks) + "</Pixels></Image></OME>")
    return text.encode() + b"\x00"


def _binary_only(own: str, first_name: str, first_uuid: str) -> bytes:
    return ('<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2012-06" '
            f'UUID="{own}"><BinaryOnly MetadataFile="{first_name}" UUID="{first_uuid}"/></OME>').encode() + b"\x00"


# ---------------------------------------------------------------------------------------------------- writer
def _seconds(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def write_bruker(
    folder: str | os.PathLike,
    name: str = "TSeries-001",
    num_samples: int = 6,
    rows: int = 16,
    columns: int = 12,
    planes: int = 1,
    channels: Sequence[int] = (2,),
    channel_names: Sequence[str] | None = None,
    multipage: bool = False,
    bidirectional: bool = False,
    bursts: int = 1,
    frame_period: float = 0.048474237,
    burst_gap: float = 1.5,
    incomplete_frames: int = 0,
    dtype: str = "uint16",
    laser_wavelength: float | None = None,
    version: str | None = None,
    date: str = "11/3/2022 11:20:34 AM",
    z_focus: float = 166.575,
    z_step: float = 260.0,
    pixel_um: float = 1.1078125,
) -> Path:
    """Write a Prairie View dataset into ``folder/name`` and return that folder (it holds ``name.xml``).

    Parameters
    ----------
    planes : int
        Above 1: a ``TSeries ZSeries Element`` acquisition, one cycle (sequence) per sample whose frames are
        the planes (an electrically tunable lens moving ``z_step`` between planes, centred on 0).
    channels, channel_names : sequence
        The channel numbers saved (one file per frame and channel) and their ``channelName`` (``Ch<n>``).
    multipage : bool
        Prairie View 5.8's layout: one file per cycle and channel, ``page="k"`` on every ``<File>``.
    bidirectional : bool
        ``bidirectionalZ="True"``: the second, fourth... cycles acquire their planes last to first.
    bursts : int
        For planar data: split the samples over this many cycles whose ``relativeTime`` starts again at 0,
        each ``burst_gap`` seconds after the previous one ends on the ``absoluteTime`` clock.
    incomplete_frames : int
        For volumes: a last cycle holding only this many frames (an acquisition stopped mid-volume).
    laser_wavelength : float, optional
        Write ``laserWavelength`` into the root state (Prairie View versions and rigs that record it).
    """
    folder = Path(folder) / name
    folder.mkdir(parents=True, exist_ok=True)
    version = version or (_VERSION_MULTIPAGE if multipage else _VERSION)
    names = list(channel_names) if channel_names is not None else [f"Ch{c}" for c in channels]
    movies = [bruker_expected(num_samples, rows, columns, planes, k, dtype) for k in range(len(channels))]
    volumetric = planes > 1
    # the acquisition, cycle by cycle: (cycle, [(sample, plane), ...]) in acquisition order
    cycles: list[list[tuple[int, int]]] = []
    if volumetric:
        for s in range(num_samples):
            order = list(range(planes))
            if bidirectional and s % 2 == 1:
                order.reverse()
            cycles.append([(s, p) for p in order])
        if incomplete_frames:
            cycles.append([(-1, p) for p in range(incomplete_frames)])
    else:
        for part in np.array_split(np.arange(num_samples), max(1, bursts)):
            cycles.append([(int(s), 0) for s in part])
    date_tag = b"2022:11:03 11:25:41\x00"
    uuids: dict[str, str] = {}
    all_files: list[str] = []
    frames_xml: list[list[str]] = []
    file_frames: dict[str, list[np.ndarray]] = {}
    restart = not volumetric and bursts > 1  # relativeTime starts again at each cycle (bursts)
    burst_start = 6.71  # absoluteTime of the first frame, as in the real sample
    done = done_in_burst = 0  # frames written before this cycle, frames of the previous burst
    for c, cycle in enumerate(cycles, start=1):
        lines = []
        if restart and c > 1:
            burst_start += done_in_burst * frame_period + burst_gap
        done_in_burst = len(cycle)
        for k, (sample, plane) in enumerate(cycle):
            relative = (k if restart else done + k) * frame_period
            absolute = (burst_start if restart else 6.71) + relative
            lines.append(f'    <Frame relativeTime="{_seconds(relative)}" absoluteTime="{_seconds(absolute)}" '
                         f'index="{k + 1}" parameterSet="CurrentSettings">\n')
            for ci, (number, channel_name) in enumerate(zip(channels, names)):
                index = 1 if multipage else k + 1
                file_name = f"{name}_Cycle{c:05d}_Ch{number}_{index:06d}.ome.tif"
                page = f' page="{k + 1}"' if multipage else ""
                lines.append(f'      <File channel="{number}" channelName="{channel_name}"{page} '
                             f'filename="{file_name}" />\n')
                if file_name not in uuids:
                    uuids[file_name] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, str(folder / file_name))}"
                    all_files.append(file_name)
                pixels = (movies[ci][sample] if not volumetric else movies[ci][sample, ..., plane]) if sample >= 0 \
                    else np.zeros((rows, columns), dtype)
                file_frames.setdefault(file_name, []).append(pixels)
            lines.append('      <ExtraParameters lastGoodFrame="0" />\n      <PVStateShard>\n'
                         f'        <PVStateValue key="framePeriod" value="{frame_period}" />\n')
            if volumetric:
                etl = (plane - (planes - 1) / 2) * z_step
                lines.append('        <PVStateValue key="positionCurrent">\n' + _position(z_focus, etl, indent=10)
                             + "        </PVStateValue>\n")
            lines.append('        <PVStateValue key="scanLinePeriod" value="6.3128E-05" />\n'
                         "      </PVStateShard>\n    </Frame>\n")
        done += len(cycle)
        frames_xml.append(lines)
    # the TIFF files: the first one carries the (untrustworthy) OME companion, the others point to it
    first = all_files[0]
    for file_name in all_files:
        pages = file_frames[file_name]
        if file_name == first:
            description = _ome_companion(all_files, planes, rows, columns, names[0], len(cycles),
                                         np.dtype(dtype).name, uuids)
        else:
            description = _binary_only(uuids[file_name], first, uuids[first])
        # a multi-page file carries the OME-XML on its first page only
        _write_tiff(folder / file_name, pages, [description] + [b"\x00"] * (len(pages) - 1), version, date_tag)
    # the XML
    etl0 = -(planes - 1) / 2 * z_step if volumetric else -129.972946650127
    sequence_type = "TSeries ZSeries Element" if volumetric else "TSeries Timed Element"
    parts = ['\ufeff<?xml version="1.0" encoding="utf-8"?>\n',
             f'<PVScan version="{version}" date="{date}" notes="">\n',
             '  <SystemIDs SystemID="E8D0-2F5E-B967-36D1-3CA0-8C25-681B-CEF3">\n'
             '    <SystemID SystemID="4886" Description="SYNTHETIC" />\n  </SystemIDs>\n',
             _state_shard(rows, columns, frame_period, z_focus, etl0, pixel_um, z_step, laser_wavelength, channels)]
    for c, lines in enumerate(frames_xml, start=1):
        seconds = 34.9066674 + (c - 1) * 0.1
        parts.append(f'  <Sequence type="{sequence_type}" cycle="{c}" time="11:20:{seconds:010.7f}" '
                     f'bidirectionalZ="{bidirectional}" xYStageGridDefined="False" xYStageGridNumXPositions="0" '
                     'xYStageGridNumYPositions="0" xYStageGridOverlapPercentage="10" xYStageGridXOverlap="10" '
                     'xYStageGridYOverlap="10">\n    <PVStateShard />\n')
        parts.extend(lines)
        parts.append("  </Sequence>\n")
    parts.append("</PVScan>\n")
    with open(folder / f"{name}.xml", "w", encoding="utf-8", newline="\r\n") as fh:
        fh.write("".join(parts))
    return folder


def _example_bruker(folder: Path) -> tuple[Path, dict]:
    return write_bruker(folder, "TSeries-example", num_samples=40, rows=48, columns=64, planes=3,
                        laser_wavelength=920.0), {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"bruker": _example_bruker}
