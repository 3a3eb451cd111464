"""Synthetic Micro-Manager image file stacks (MMStack), laid out byte for byte as Micro-Manager writes them.

The layout follows Micro-Manager's own writer (``MultipageTiffWriter``, ``FileSet``, ``OMEMetadata`` in
mmstudio's ``data/internal/multipagetiff``) and its "Micro-Manager File Formats" page:

- bytes 0-7: a classic TIFF header whose first-IFD offset points past the blocks below;
- bytes 8-39: four (header, value) pairs of 32-bit integers: index map offset header 54773648 and the
  index map's offset; display settings offset header 483765892 and offset; comments offset header
  99384722 and offset; summary metadata header 2355492 and the summary's length;
- byte 40: the summary metadata (UTF-8 JSON, pretty-printed as Gson writes it);
- the index map: header 3453623, the number of entries, then one entry of five 32-bit integers per image
  (channel, slice, frame, position, offset of its IFD), followed by the zeros of the space reserved for
  the entries a full file would need;
- one IFD per image in acquisition order: 13 entries (17 for the first, which adds two
  ImageDescription tags, OME-XML then ImageJ text, and ImageJ's 50838/50839 metadata tags), the next-IFD
  pointer, then the pixels, the X/Y resolution rationals and the per-image JSON (tag 51123, NUL-ended);
- after the last image (written when the acquisition closes): ImageJ's metadata (file info, display
  ranges, LUTs), the OME-XML text, the ImageJ description, the display settings block (header 347834724,
  ``256 x channels`` reserved bytes that hold the start of a longer JSON), the comments block (header
  84720485, length, JSON), and 8 spare bytes.

A file set is ``<prefix>_MMStack_<position name>.ome.tif`` (or ``<prefix>_MMStack.ome.tif`` when positions
share files) continued in ``..._1.ome.tif``, ``..._2.ome.tif``: Micro-Manager starts a new file at about
4 GB; here ``images_per_file`` makes the split small. Every file carries the whole dataset's OME-XML,
whose ``TiffData`` blocks name the file and IFD of each plane. ``DisplaySettings.json`` (Micro-Manager
2's property map format) sits beside the files.

Two flavours of metadata are written: Micro-Manager 2 (``AxisOrder``, ``IntendedDimensions``,
``StartTime``, per-image ``PixelSizeUm``, coordinates as ``Frame``/``FrameIndex``...) and 1.4 (``TimeFirst``/
``SlicesFirst``, ``Time``, summary ``PixelSize_um``, coordinates as ``FrameIndex``/``SliceIndex``...).
Pixels of channel ``c`` at position ``p`` are :func:`mmstack_expected` ``(..., channel=c, position=p)``.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _micromanager_metadata as meta

__all__ = ["write_mmstack", "mmstack_expected", "mmstack_elapsed_ms", "MMStackDataset"]

INDEX_MAP_OFFSET_HEADER = 54773648
INDEX_MAP_HEADER = 3453623
DISPLAY_SETTINGS_OFFSET_HEADER = 483765892
DISPLAY_SETTINGS_HEADER = 347834724
COMMENTS_OFFSET_HEADER = 99384722
COMMENTS_HEADER = 84720485
SUMMARY_MD_HEADER = 2355492
DISPLAY_SETTINGS_BYTES_PER_CHANNEL = 256

_AXES = ("channel", "z", "position", "time")  # Micro-Manager's default order, fastest first


def mmstack_expected(frames: int, rows: int, columns: int, slices: int = 1, channel: int = 0, position: int = 0,
                     dtype: str = "uint16") -> np.ndarray:
    """The movie of one channel of one position: (frames, rows, columns), plus planes last when ``slices > 1``."""
    from .movie import movie

    return movie(frames, rows, columns, slices if slices > 1 else None, dtype, channel=channel, seed=position)


def mmstack_elapsed_ms(t: int, c: int, z: int, p: int, interval_ms: float = 50.0, channels: int = 1,
                       slices: int = 1) -> float:
    """The default ``ElapsedTime-ms`` of an image: the timepoint's start, the image's place in it, a jitter."""
    return 7.25 + t * interval_ms + p * 1.5 + (c * slices + z) * 2.5 + 0.125 * (t % 3)


@dataclass
class MMStackDataset:
    """What :func:`write_mmstack` wrote.

    Attributes
    ----------
    folder : Path
    files : dict
        Position index -> its files in series order (all positions share the lists when positions share
        files).
    summary : dict
        The summary metadata written in every file.
    position_names : list of str
    order : list of tuple
        (time, channel, z, position) of every image in the order written.
    """

    folder: Path
    files: dict[int, list[Path]]
    summary: dict
    position_names: list[str]
    order: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def first_file(self) -> Path:
        return self.files[0][0]

    @property
    def all_files(self) -> list[Path]:
        return sorted({p for paths in self.files.values() for p in paths})


def _acquisition_order(frames, channels, slices, positions, axis_order):
    """(t, c, z, p) in acquisition order: ``axis_order`` lists the axes fastest first."""
    sizes = {"time": frames, "channel": channels, "z": slices, "position": positions}
    slow_first = list(reversed(axis_order))
    for values in itertools.product(*(range(sizes[a]) for a in slow_first)):
        coords = dict(zip(slow_first, values))
        yield coords["time"], coords["channel"], coords["z"], coords["position"]


@dataclass
class _Image:
    t: int
    c: int
    z: int
    p: int
    pixels: np.ndarray
    record: dict


class _Out:
    """A file written front to back, with earlier bytes patched later (as Micro-Manager fills in offsets)."""

    def __init__(self, fh):
        self.fh, self.size = fh, 0

    def __len__(self) -> int:
        return self.size

    def append(self, data: bytes) -> None:
        self.fh.write(data)
        self.size += len(data)

    def patch(self, offset: int, data: bytes) -> None:
        self.fh.seek(offset)
        self.fh.write(data)
        self.fh.seek(self.size)


def _write_file(path: Path, order: str, summary_text: str, images, count: int, ome_xml: str | None,
                ij_description: str, display_json: str, comments_json: str, channels: int, index_slack: int,
                pixel_size_um: float, finished: bool = True) -> None:
    """One MMStack file of ``count`` images: header, summary, index map, IFD chain, and (``finished``) the
    closing blocks. ``images`` may be a generator: the file is written as it goes."""
    with open(path, "wb") as fh:
        out = _Out(fh)
        _write_images(out, order, summary_text, images, count, index_slack, pixel_size_um, finished, ome_xml,
                      ij_description, display_json, comments_json, channels)


def _write_images(out: _Out, order, summary_text, images, count, index_slack, pixel_size_um, finished, ome_xml,
                  ij_description, display_json, comments_json, channels) -> None:
    u32 = struct.Struct(order + "I")
    summary = summary_text.encode("utf-8")
    capacity = count + index_slack
    index_space = 8 + 20 * capacity
    first_ifd = 40 + len(summary) + index_space
    out.append((b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, first_ifd))
    out.append(struct.pack(order + "8I", INDEX_MAP_OFFSET_HEADER, 40 + len(summary), 0, 0, 0, 0, SUMMARY_MD_HEADER,
                           len(summary)))
    out.append(summary)
    # the number of entries is the reserved capacity until finish() writes the real count
    out.append(struct.pack(order + "II", INDEX_MAP_HEADER, count if finished else capacity))
    entries_at = len(out)
    out.append(bytes(20 * capacity))
    index_map = []
    cm_per_pixel = 1e-4 * pixel_size_um
    numerator, denominator = (int(1 / cm_per_pixel), 1) if cm_per_pixel < 1 else (1, int(cm_per_pixel))
    spots: dict[str, int] = {}
    next_pointer = -1
    for k, image in enumerate(images):
        first = k == 0
        ifd_at = len(out)
        index_map.append(struct.pack(order + "5I", image.c, image.z, image.t, image.p, ifd_at))
        md = (json.dumps(image.record, separators=(",", ":"), ensure_ascii=False) + " ").encode("utf-8")
        md = md[:-1] + b"\x00"
        pixels = np.ascontiguousarray(image.pixels, dtype=image.pixels.dtype.newbyteorder(order)).tobytes()
        rows, columns = image.pixels.shape
        n = 17 if first else 13
        data_at = ifd_at + 2 + n * 12 + 4
        resolution_at = data_at + len(pixels)
        md_at = resolution_at + 16
        entries: list[tuple[int, int, int, int]] = [
            (256, 4, 1, columns), (257, 4, 1, rows), (258, 3, 1, image.pixels.dtype.itemsize * 8), (259, 3, 1, 1),
            (262, 3, 1, 1)]
        if first:
            entries += [(270, 2, 0, 0), (270, 2, 0, 0)]  # OME-XML, then ImageJ: filled in when the file closes
        entries += [(273, 4, 1, data_at), (277, 3, 1, 1), (278, 3, 1, rows), (279, 4, 1, len(pixels)),
                    (282, 5, 1, resolution_at), (283, 5, 1, resolution_at + 8), (296, 3, 1, 3)]
        if first:
            entries += [(50838, 4, 0, 0), (50839, 1, 0, 0)]
        entries.append((51123, 2, len(md), md_at))
        ifd = bytearray(struct.pack(order + "H", n))
        for j, (tag, typ, number, value) in enumerate(entries):
            if first and tag in (270, 50838, 50839):
                key = {270: "ome" if "ome" not in spots else "ij", 50838: "ijcounts", 50839: "ijdata"}[tag]
                spots[key] = ifd_at + 2 + 12 * j
            packed = struct.pack(order + "HH", value, 0) if typ == 3 else u32.pack(value)
            ifd += struct.pack(order + "HHI", tag, typ, number) + packed
        next_pointer = ifd_at + len(ifd)
        ifd += u32.pack(md_at + len(md))  # where the next IFD will be; the last one is zeroed by finish()
        out.append(bytes(ifd))
        out.append(pixels)
        out.append(struct.pack(order + "4I", numerator, denominator, numerator, denominator))
        out.append(md)
    out.patch(entries_at, b"".join(index_map))
    if finished and next_pointer >= 0:
        out.patch(next_pointer, u32.pack(0))
    if finished:
        _close_file(out, order, spots, ome_xml, ij_description, display_json, comments_json, channels, summary_text)
    else:
        out.append(bytes(64 * 1024))  # Micro-Manager sets the file's length ahead of the images it expects


def _close_file(out: _Out, order: str, spots: dict[str, int], ome_xml: str | None, ij_description: str,
                display_json: str, comments_json: str, channels: int, info: str) -> None:
    """What Micro-Manager writes when the acquisition closes (``MultipageTiffWriter.close``)."""
    i32 = order + "I"
    # ImageJ metadata: byte counts (header, file info, display ranges, one LUT per channel), then the data
    info_bytes = info.encode("utf-16-le" if order == "<" else "utf-16-be")
    counts = [4 + 3 * 8, len(info_bytes), channels * 16] + [768] * channels
    out.patch(spots["ijcounts"] + 4, struct.pack(order + "II", len(counts), len(out)))
    out.append(struct.pack(order + f"{len(counts)}I", *counts))
    data = struct.pack(order + "7I", 0x494A494A, 0x696E666F, 1, 0x72616E67, 1, 0x6C757473, channels) + info_bytes
    data += struct.pack(order + f"{2 * channels}d", *([0.0, 65535.0] * channels))
    data += bytes(np.tile(np.arange(256, dtype=np.uint8), 3)) * channels
    out.patch(spots["ijdata"] + 4, struct.pack(order + "II", len(data), len(out)))
    out.append(data)
    for key, text in (("ome", ome_xml), ("ij", ij_description)):
        if text is None:
            continue
        raw = (text + " ").encode("utf-8")[:-1] + b"\x00"
        out.patch(spots[key] + 4, struct.pack(order + "II", len(raw), len(out)))
        out.append(raw)
    reserved = channels * DISPLAY_SETTINGS_BYTES_PER_CHANNEL
    out.patch(16, struct.pack(order + "II", DISPLAY_SETTINGS_OFFSET_HEADER, len(out)))
    # the settings JSON is longer than the space reserved for it: what follows overwrites its end
    settings = display_json.encode("utf-8")[:reserved].ljust(reserved, b"\x00")
    out.append(struct.pack(order + "II", DISPLAY_SETTINGS_HEADER, reserved) + settings)
    comments = comments_json.encode("utf-8")
    out.patch(24, struct.pack(order + "II", COMMENTS_OFFSET_HEADER, len(out)))
    out.append(struct.pack(i32, COMMENTS_HEADER) + struct.pack(i32, len(comments)) + comments)
    out.append(bytes(8))


def write_mmstack(
    folder: str | os.PathLike,
    prefix: str = "mm",
    frames: int = 6,
    channel_names: Sequence[str] = ("GCaMP",),
    slices: int = 1,
    positions: int = 1,
    rows: int = 12,
    columns: int = 10,
    dtype: str = "uint16",
    axis_order: Sequence[str] = _AXES,
    images_per_file: int | None = None,
    split_positions: bool = True,
    position_names: Sequence[str] | None = None,
    interval_ms: float = 50.0,
    z_step_um: float = 2.0,
    z_start_um: float = 100.0,
    pixel_size_um: float = 0.65,
    start_time: str = "2024-03-05 14:22:31.123 -0800",
    elapsed_ms: Callable[[int, int, int, int], float] | None | bool = True,
    camera: str = "HamamatsuHam_DCAM",
    flavour: str = "2.0",
    byteorder: str = "<",
    display_settings_file: bool = True,
    playback_fps: float = 20.0,
    ome_xml: bool = True,
    index_slack: int = 16,
    finished: bool = True,
    planned_frames: int | None = None,
    frame_source: Callable[[int, int, int, int], np.ndarray] | None = None,
    scope_properties: int = 0,
) -> MMStackDataset:
    """Write a Micro-Manager MMStack dataset into ``folder`` (see the module notes for the layout).

    Parameters
    ----------
    axis_order : sequence of str
        The acquisition order of ``"channel"``, ``"z"``, ``"position"``, ``"time"``, fastest first, as
        Micro-Manager 2's summary ``AxisOrder`` lists it; images are written in that order.
    images_per_file : int, optional
        Start a new file of the set (``_1``, ``_2``...) after this many images, as Micro-Manager does when
        a file reaches 4 GB.
    split_positions : bool
        One file set per position (Micro-Manager's default); else one set holds every position.
    elapsed_ms : callable, True or None
        ``ElapsedTime-ms`` of image (t, c, z, p): True for :func:`mmstack_elapsed_ms`, None for none.
    flavour : ``"2.0"`` or ``"1.4"``
        Which Micro-Manager's summary and per-image keys to write.
    byteorder : ``"<"`` or ``">"``
        Micro-Manager writes the machine's order (little-endian on every current machine).
    finished : bool
        False leaves the files as a crashed acquisition does: the index map's count still the reserved
        capacity, no closing blocks, the last IFD pointing into the zeros of the space pre-allocated.
    planned_frames : int, optional
        Frames the acquisition was set up for, when it stopped after ``frames``: the summary (written at
        the start) says ``planned_frames``, the OME-XML and ImageJ text (written at the end) ``frames``.
    frame_source : callable, optional
        The image (rows, columns) of (t, c, z, p), made as it is written (for large benchmark inputs);
        by default :func:`mmstack_expected`.
    scope_properties : int
        More device properties in each image's JSON (about 40 bytes each), to make it as large as a real
        rig's.
    """
    if dtype not in meta.PIXEL_TYPES:
        raise ValueError(f"Micro-Manager stacks hold uint8 or uint16 images, not {dtype}")
    if sorted(axis_order) != sorted(_AXES):
        raise ValueError(f"axis_order must order {_AXES}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(channel_names)
    axis_order = list(axis_order)
    position_names = list(position_names or [f"Pos{p}" for p in range(positions)])
    version = "1.4.23 20160628" if flavour == "1.4" else "2.0.3 20240305"
    declared = planned_frames or frames
    if flavour == "1.4":
        summary = meta.summary_14(prefix, names, declared, slices, positions, axis_order, interval_ms, z_step_um,
                              "2024-03-05 Tue 14:22:31 -0800", dtype, rows, columns, pixel_size_um, version)
    else:
        summary = meta.summary_2(prefix, names, declared, slices, positions, axis_order, interval_ms, z_step_um,
                                 start_time, dtype, rows, columns, position_names, version)
    summary_text = json.dumps(summary, indent=2, ensure_ascii=False)
    elapsed_of = (lambda t, c, z, p: mmstack_elapsed_ms(t, c, z, p, interval_ms, len(names), slices)) \
        if elapsed_ms is True else elapsed_ms
    if frame_source is None:
        movies = {(c, p): mmstack_expected(frames, rows, columns, slices, c, p, dtype)
                  for c in range(len(names)) for p in range(positions)}

        def frame_of(t, c, z, p):
            return movies[(c, p)][t] if slices == 1 else movies[(c, p)][t, :, :, z]
    else:
        def frame_of(t, c, z, p):
            return np.asarray(frame_source(t, c, z, p), dtype=dtype).reshape(rows, columns)
    order = list(_acquisition_order(frames, len(names), slices, positions, axis_order))

    # the plan: which file and IFD each image goes to (needed first: every file's OME-XML names them all)
    sets: dict[str, list[tuple[int, int, int, int]]] = {}
    for t, c, z, p in order:
        base = f"{prefix}_MMStack_{position_names[p]}" if split_positions else f"{prefix}_MMStack"
        sets.setdefault(base, []).append((t, c, z, p))
    files: dict[int, list[Path]] = {}
    plan: list[tuple[Path, str, list[tuple[int, int, int, int]]]] = []
    for base, coords in sets.items():
        step = images_per_file or len(coords)
        for i, start in enumerate(range(0, len(coords), step)):
            name = f"{base}.ome.tif" if i == 0 else f"{base}_{i}.ome.tif"
            chunk = coords[start : start + step]
            plan.append((folder / name, f"urn:uuid:{uuid.uuid4()}", chunk))
            for p in sorted({q for *_, q in chunk}):
                files.setdefault(p, []).append(folder / name)
    positions_planes: dict[int, list] = {p: [] for p in range(positions)}
    for path, file_uuid, chunk in plan:
        for ifd, (t, c, z, p) in enumerate(chunk):
            elapsed = None if elapsed_of is None else round(float(elapsed_of(t, c, z, p)), 4)
            positions_planes[p].append((t, c, z, ifd, path.name, file_uuid, elapsed, z_start_um + z * z_step_um))
    xml = meta.ome_xml(names, frames, slices, rows, columns, dtype, axis_order, pixel_size_um, z_step_um, interval_ms,
                   positions_planes, position_names, "2024-03-05T14:22:31", prefix) if ome_xml else None
    ij = meta.ij_description(len(names), slices, frames, z_step_um, axis_order.index("z") < axis_order.index("channel"))
    display = json.dumps(meta.display_settings_json(names, playback_fps))
    comments = json.dumps({"Summary": "synthetic MMStack", **{f"{c}_{z}_{t}_{p}": "" for t, c, z, p in order[:4]}})
    def images(path: Path, chunk, first_number: int):
        for k, (t, c, z, p) in enumerate(chunk, first_number):
            plane = frame_of(t, c, z, p)
            elapsed = None if elapsed_of is None else round(float(elapsed_of(t, c, z, p)), 4)
            record = meta.image_json(flavour, t, c, z, p, k, names=names, camera=camera, dtype=dtype, rows=rows,
                                 columns=columns, pixel_size_um=pixel_size_um, elapsed=elapsed,
                                 z_um=z_start_um + z * z_step_um, start_time=start_time,
                                 position_name=position_names[p], file_name=path.name,
                                 scope_properties=scope_properties)
            yield _Image(t, c, z, p, plane, record)

    number = 0
    for path, _, chunk in plan:
        _write_file(path, byteorder, summary_text, images(path, chunk, number), len(chunk), xml, ij, display,
                    comments, len(names), index_slack, pixel_size_um, finished)
        number += len(chunk)
    if display_settings_file:
        settings = meta.display_settings_json(names, playback_fps)
        (folder / "DisplaySettings.json").write_text(json.dumps(settings, indent=1), encoding="utf-8")
    return MMStackDataset(folder, files, summary, position_names, order)


# ---------------------------------------------------------------------------------------------------- examples
def _example_micromanager(folder: Path) -> tuple[Path, dict]:
    data = write_mmstack(folder / "mmstack_example", prefix="example", frames=60, rows=64, columns=64,
                         images_per_file=40, interval_ms=50.0)
    return data.folder, {}


#: Built-in examples (see :data:`ophysio.examples.EXAMPLES`).
EXAMPLES = {"micromanager": _example_micromanager}
