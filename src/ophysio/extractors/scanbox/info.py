"""The Scanbox ``info`` struct: where the files of a recording are, the struct as Python values, and the
layout of the ``.sbx`` movie it describes (:class:`SbxLayout`).

**Files.** Scanbox (Neurolabware) saves a recording as ``<name>.sbx`` (the frames) beside ``<name>.mat``
(one variable, the ``info`` struct). :func:`scanbox_paths` finds one from the other or from the stem.

**Layout of the .sbx** (Scanbox's own ``sbxread.m``, and the readers ``sbxreader`` and roiextractors'
``SbxImagingExtractor``, which agree): no header; frame after frame of little-endian ``uint16``; each
frame is a MATLAB column-major array of shape ``[channels, columns, rows]`` (``sbxread`` reshapes the
values read to ``[nchan sz(2) recordsPerBuffer N]``), that is in C order ``(rows, columns, channels)``:
channels interleaved pixel by pixel, pixels of a line together, lines one after another. The value of a
pixel is ``65535 - stored`` (``intmax('uint16') - x`` in ``sbxread``), which for ``uint16`` is the
bitwise complement of the stored bits. Frames of an optotune volume are consecutive frames of the file,
plane after plane (``sbxsplit.m`` sends frame ``n`` to plane ``mod(n, nslices)``). With ``fold_lines``
> 0 each stored frame holds ``rows / fold_lines`` frames of ``fold_lines`` lines one after another
(``sbxread`` reshapes them out).

**Fields used** (the rest is kept as metadata):

- ``sz``: ``[rows, columns]`` of a stored frame (Scanbox 3 computes the frame size as ``prod(sz)``);
  ``recordsPerBuffer`` (doubled when bidirectional, as ``sbxread`` does) must agree with ``sz(1)``.
- ``chan.nchan`` (Scanbox 3 and later), else ``channels``: 1 = both PMTs (two channels, PMT0 then
  PMT1), 2 = PMT0 only, 3 = PMT1 only.
- ``scanmode``: 1 unidirectional (the default when absent, as in ``sbxread``), 0 bidirectional.
- ``resfreq`` (resonant mirror frequency, Hz) and ``config.lines``: the line rate is ``resfreq`` (twice
  that when bidirectional) and the frame rate is the line rate over the lines of a frame
  (``config.lines``, or ``fold_lines`` when folded), as the Scanbox window computes it; a volume's rate
  is the frame rate over the planes.
- ``volscan`` with ``etl_table`` (newer versions: one row per plane), else ``otwave`` (one value per
  plane), else ``otparam(3)`` (``[min max period]``: the period is the number of planes): the number of
  optotune planes. Without ``volscan`` (older files), a non-empty ``otwave`` means a volume.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError

__all__ = ["scanbox_paths", "load_info", "jsonable", "SbxLayout", "sbx_layout", "DTYPE"]

#: Type of the stored values (and of the pixels): little-endian uint16.
DTYPE = np.dtype("<u2")
#: Largest info file read (a real one is well under 1 MB: the struct and its TTL event records).
MAX_INFO_BYTES = 256 * 1024**2
#: Deepest nesting of structs and cells converted (Scanbox's info nests 4 levels).
_MAX_DEPTH = 32


def scanbox_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(sbx, mat)``: the movie and its info file, from either of them or from their common stem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".sbx", ".mat"):
        stem = path.with_suffix("")
    else:
        stem = path
    sbx = _beside(stem, ".sbx", path if suffix == ".sbx" else None)
    mat = _beside(stem, ".mat", path if suffix == ".mat" else None)
    return sbx, mat


def _beside(stem: Path, suffix: str, given: Path | None) -> Path:
    if given is not None:
        return given
    plain = stem.with_name(stem.name + suffix)
    if not plain.exists():
        upper = stem.with_name(stem.name + suffix.upper())
        if upper.exists():
            return upper
    return plain


# ---------------------------------------------------------------------- the struct as Python values
def load_info(mat: Path) -> dict:
    """The ``info`` struct of a Scanbox ``.mat`` file as a dict (see :func:`matlab_value`).

    Raises
    ------
    FormatError
        The file is not a MAT-file, holds no ``info`` struct, or is a v7.3 (HDF5) MAT-file.
    CorruptFileError
        scipy cannot parse it.
    """
    from scipy.io import loadmat

    from ...errors import CorruptFileError

    size = mat.stat().st_size
    if size > MAX_INFO_BYTES:
        raise FormatError(f"{mat} is {size} bytes: too large for a Scanbox info file (at most {MAX_INFO_BYTES})")
    with open(mat, "rb") as fh:
        head = fh.read(128)
    if head.startswith(b"MATLAB 7.3"):
        raise FormatError(f"{mat} is a MATLAB v7.3 (HDF5) file; Scanbox saves its info struct as a v5/v7 "
                          "MAT-file: save it again with save(name, 'info', '-v7')")
    if not head.startswith(b"MATLAB 5.0"):
        raise FormatError(f"{mat} is not a MATLAB MAT-file (no 'MATLAB 5.0' header), so not a Scanbox info file")
    try:
        variables = loadmat(mat, variable_names=["info"], squeeze_me=False, struct_as_record=True,
                            chars_as_strings=True)
    except Exception as exc:  # scipy raises ValueError, TypeError, zlib.error... on damaged files
        raise CorruptFileError(f"{mat}: the MAT-file cannot be read ({type(exc).__name__}: {exc})") from exc
    info = variables.get("info")
    if not isinstance(info, np.ndarray) or info.dtype.names is None or info.size != 1:
        raise FormatError(f"{mat} holds no 1x1 struct named 'info', so it is not a Scanbox info file")
    return matlab_value(info, str(mat))


def matlab_value(value: Any, where: str, depth: int = 0) -> Any:
    """A MATLAB value from :func:`scipy.io.loadmat` as Python values.

    A 1x1 struct is a dict (a struct array a list of dicts); a cell array a list; text a ``str`` (a char
    matrix a list of its rows); a number a Python number; a numeric vector a 1-D numpy array and a matrix
    a 2-D numpy array (in MATLAB's row and column order; :func:`jsonable` makes lists of them); an empty
    value ``[]``; anything else (MATLAB objects, function handles) the text ``"<MATLAB ...>"``.
    """
    if depth > _MAX_DEPTH:
        raise MetadataError(f"{where}: the info struct nests more than {_MAX_DEPTH} levels deep")
    if isinstance(value, np.ndarray):
        if value.dtype.names is not None:  # struct
            items = [{name: matlab_value(item[name], where, depth + 1) for name in value.dtype.names}
                     for item in value.ravel(order="F")]
            return items[0] if value.size == 1 else items
        if value.dtype.kind == "O":  # cell
            return [matlab_value(item, where, depth + 1) for item in value.ravel(order="F")]
        if value.dtype.kind == "U":
            rows = [str(s) for s in value.ravel(order="F")]
            return rows[0] if len(rows) == 1 else ("" if not rows else rows)
        if value.dtype.kind in "biuf":
            if value.size == 0:
                return []
            if value.size == 1:
                return value.ravel()[0].item()
            if sum(n > 1 for n in value.shape) == 1:
                return value.ravel().copy()
            return value.copy()
        if value.dtype.kind == "c":
            return [[v.real, v.imag] for v in value.ravel(order="F").tolist()]
    if isinstance(value, (str, int, float, bool)):
        return value
    return f"<MATLAB {type(value).__name__}>"


def jsonable(value: Any) -> Any:
    """A copy of a value from :func:`load_info` with numpy arrays as (nested) lists: JSON-able."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


# ---------------------------------------------------------------------- the layout of the .sbx
_CHANNELS = {1: ("PMT0", "PMT1"), 2: ("PMT0",), 3: ("PMT1",)}


@dataclass(frozen=True)
class SbxLayout:
    """How the frames of a ``.sbx`` file are laid out, from its info struct.

    Attributes
    ----------
    rows, columns : int
        Size of one frame (after folding).
    channel_names : tuple of str
        The stored channels in order (``PMT0``/``PMT1``; ``channel_0``... when the info does not say which
        PMT a single channel is).
    planes : int
        Optotune planes per volume (1 for planar data).
    fold : int
        Frames per stored frame (``sz(1) / fold_lines``; 1 without folding).
    bidirectional : bool
        Scan mode.
    line_rate_hz, frame_rate_hz : float or None
        Rates from ``resfreq`` (None when the info has none).
    plane_depths_um : tuple of float or None
        ``otwave_um`` (optotune focus of each plane, micrometers) when it has one value per plane.
    """

    rows: int
    columns: int
    channel_names: tuple[str, ...]
    planes: int
    fold: int
    bidirectional: bool
    line_rate_hz: float | None
    frame_rate_hz: float | None
    plane_depths_um: tuple[float, ...] | None

    @property
    def frame_bytes(self) -> int:
        """Bytes of one (folded) frame, all channels."""
        return self.rows * self.columns * len(self.channel_names) * DTYPE.itemsize

    @property
    def volume_rate_hz(self) -> float | None:
        return None if self.frame_rate_hz is None else self.frame_rate_hz / self.planes


def _count(value: Any) -> int:
    """Number of entries of a list/array field (0 for [] or a missing field; 1 for a scalar)."""
    if value is None or isinstance(value, str):
        return 0
    if isinstance(value, (list, np.ndarray)):
        return len(value)
    return 1


def _integer(info: dict, key: str, mat: Path, positive: bool = True) -> int | None:
    """``info[key]`` as an int (None when absent or empty); an error when it is not a whole number."""
    value = info.get(key)
    if value is None or (isinstance(value, list) and not value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and float(value).is_integer() and (value > 0 or not positive):
        return int(value)
    raise MetadataError(f"{mat}: info.{key} = {_short(value)} is not a {'positive ' if positive else ''}whole "
                        "number")


def _short(value: Any) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _channel_names(info: dict, mat: Path) -> tuple[str, ...]:
    chan = info.get("chan")
    channels = info.get("channels")
    if isinstance(chan, dict) and "nchan" in chan:
        nchan = _integer(chan, "nchan", mat)
        if nchan not in (1, 2):
            raise MetadataError(f"{mat}: info.chan.nchan = {nchan}; Scanbox saves 1 or 2 channels")
        if nchan == 2:
            return _CHANNELS[1]
        return _CHANNELS[channels] if channels in (2, 3) else ("channel_0",)
    if channels not in _CHANNELS:
        raise MetadataError(f"{mat}: info.channels = {_short(channels)}: Scanbox writes 1 (PMT0 and PMT1), "
                            "2 (PMT0) or 3 (PMT1), or info.chan.nchan in newer versions")
    return _CHANNELS[channels]


def _planes(info: dict, mat: Path) -> tuple[int, tuple[float, ...] | None]:
    """Optotune planes per volume, and the depth of each (``otwave_um``) when recorded."""
    if "volscan" in info:
        volscan = info["volscan"]
        volumetric = isinstance(volscan, (int, float)) and bool(volscan)
    else:
        volumetric = _count(info.get("otwave")) > 0
    if not volumetric:
        return 1, None
    table = info.get("etl_table")
    otwave, otparam = info.get("otwave"), info.get("otparam")
    if _count(table):
        planes = _count(table)
    elif _count(otwave):
        planes = _count(otwave)
        period = float(otparam[2]) if isinstance(otparam, np.ndarray) and otparam.size >= 3 else None
        if period is not None and period != planes:
            raise MetadataError(f"{mat}: info.otwave has {planes} values (one per plane) but info.otparam(3), "
                                f"the optotune period, is {period:g}: the info struct contradicts itself")
    elif isinstance(otparam, np.ndarray) and otparam.size >= 3:
        period = float(otparam[2])
        if not period.is_integer() or period < 1:
            raise MetadataError(f"{mat}: info.otparam(3) = {period:g} is not a number of planes")
        planes = int(period)
    else:
        planes = 1
    depths = info.get("otwave_um")
    values = None
    if _count(depths) == planes and planes > 1:
        values = tuple(float(v) for v in np.ravel(np.asarray(depths, dtype=float)))
        if not all(math.isfinite(v) for v in values):
            values = None
    return planes, values


def sbx_layout(info: dict, mat: Path) -> SbxLayout:
    """The layout of the ``.sbx`` movie that ``info`` (from :func:`load_info` of ``mat``) describes.

    Raises
    ------
    MetadataError
        A field needed is missing or malformed, or two fields contradict each other.
    FormatError
        The info describes what ophysio does not read (folded lines in a volume).
    """
    size = info.get("sz")
    if size is None:
        raise MetadataError(f"{mat}: the info struct has no 'sz' (the [lines, pixels] of a frame), so the layout "
                            "of the .sbx movie is unknown (files from before Scanbox recorded sz are not read)")
    values = np.ravel(size) if isinstance(size, np.ndarray) and size.dtype.kind in "iuf" else np.zeros(0)
    if values.size != 2 or not all(math.isfinite(v) and v >= 1 and float(v).is_integer() for v in values):
        raise MetadataError(f"{mat}: info.sz = {_short(size)} is not [lines, pixels] (two positive whole numbers)")
    stored_rows, columns = int(values[0]), int(values[1])
    names = _channel_names(info, mat)

    scanmode = _integer(info, "scanmode", mat, positive=False)
    if scanmode not in (None, 0, 1):
        raise MetadataError(f"{mat}: info.scanmode = {scanmode}; Scanbox writes 1 (unidirectional) or 0 "
                            "(bidirectional)")
    bidirectional = scanmode == 0
    records = _integer(info, "recordsPerBuffer", mat)
    if records is not None and records * (2 if bidirectional else 1) != stored_rows:
        raise MetadataError(
            f"{mat}: info.recordsPerBuffer = {records} ({'x 2 lines, bidirectional' if bidirectional else 'lines'}) "
            f"disagrees with info.sz = [{stored_rows}, {columns}] lines x pixels: Scanbox's sbxread needs them to "
            "agree to read a frame"
        )

    fold_lines = _integer(info, "fold_lines", mat, positive=False) or 0
    planes, depths = _planes(info, mat)
    fold = 1
    rows = stored_rows
    if fold_lines:
        if stored_rows % fold_lines:
            raise MetadataError(f"{mat}: info.fold_lines = {fold_lines} does not divide the {stored_rows} lines "
                                "of a frame")
        fold, rows = stored_rows // fold_lines, fold_lines
        if planes > 1 and fold > 1:
            raise FormatError(f"{mat}: folded lines (fold_lines = {fold_lines}) in an optotune volume of {planes} "
                              "planes: ophysio does not read this combination")

    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    resfreq = info.get("resfreq")
    line_rate = frame_rate = None
    if isinstance(resfreq, (int, float)) and not isinstance(resfreq, bool) and math.isfinite(resfreq) \
            and resfreq > 0:
        line_rate = float(resfreq) * (2 if bidirectional else 1)
        lines = fold_lines or _integer(config, "lines", mat) or stored_rows
        frame_rate = line_rate / lines
    return SbxLayout(rows=rows, columns=columns, channel_names=names, planes=planes, fold=fold,
                     bidirectional=bidirectional, line_rate_hz=line_rate, frame_rate_hz=frame_rate,
                     plane_depths_um=depths)


def require_file(path: Path, what: str, other: Path) -> None:
    """A :class:`FileSetError` unless ``path`` (the ``what`` of the recording ``other`` belongs to) is a file."""
    if not path.is_file():
        raise FileSetError(f"{path} ({what}) is missing beside {other.name}: a Scanbox recording is a .sbx movie "
                           f"and its .mat info file with the same name, in the same folder")
