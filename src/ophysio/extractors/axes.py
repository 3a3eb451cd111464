"""Shared by the HDF5 and MAT extractors: axis orders (``dims``), reading an N-D array as our samples,
finding the movie among the datasets (or variables) of a file, and attributes as Python values.

Axis letters: ``T`` time (samples), ``Y`` rows, ``X`` columns, ``Z`` planes, ``C`` channels. A ``dims``
string names the stored axes from first to last (C order, as numpy/h5py see them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FormatError, MetadataError, SelectionError

__all__ = [
    "parse_dims",
    "dims_from_labels",
    "ArrayLayout",
    "Candidate",
    "Stream",
    "choose_stream",
    "python_value",
    "channel_count",
    "rate_from_attrs",
    "checked_timestamps",
    "channel_names_from",
    "RATE_KEYS",
]

_LETTERS = set("TYXZC")
_LABELS = {
    "T": {"t", "time", "times", "frame", "frames", "sample", "samples", "timepoint", "timepoints"},
    "Y": {"y", "row", "rows", "height", "line", "lines"},
    "X": {"x", "col", "cols", "column", "columns", "width", "pixel", "pixels"},
    "Z": {"z", "plane", "planes", "depth", "slice", "slices"},
    "C": {"c", "channel", "channels", "ch"},
}
#: Attribute (or scalar variable) names that hold the sampling rate, in order of preference.
RATE_KEYS = ("fr", "fs", "rate", "sampling_frequency", "sampling_rate", "frame_rate", "framerate", "frameRate")
CONVENTIONAL = ("mov", "data", "imaging")
CHANNEL_NAME = re.compile(r"^(?:ch|chan|channel)[\s_-]*(\d+)$", re.IGNORECASE)


def parse_dims(dims: str, ndim: int, where: str) -> str:
    """Check an axis-order string against a stored array of ``ndim`` axes; return it upper-cased."""
    text = str(dims).upper()
    if len(text) != ndim or set(text) - _LETTERS or len(set(text)) != len(text):
        raise MetadataError(
            f"dims={dims!r} does not describe {where}: it needs one distinct letter per stored axis "
            f"({ndim} axes) from T (time), Y (rows), X (columns), Z (planes), C (channels)"
        )
    missing = set("TYX") - set(text)
    if missing:
        raise MetadataError(f"dims={dims!r} for {where} lacks {''.join(sorted(missing))}: T, Y and X are required")
    return text


def dims_from_labels(labels: Iterable[str]) -> str | None:
    """Axis letters from dimension labels (``DIMENSION_LABELS``), or None when any is unknown."""
    letters = []
    for label in labels:
        key = str(label).strip().lower()
        letter = next((k for k, names in _LABELS.items() if key in names), None)
        if letter is None:
            return None
        letters.append(letter)
    text = "".join(letters)
    if len(set(text)) != len(text) or not set("TYX") <= set(text):
        return None
    return text


@dataclass(frozen=True)
class ArrayLayout:
    """How a stored N-D array with axes ``dims`` maps to samples (T, Y, X[, Z]) of one channel.

    ``plane`` selects one plane of a ``Z`` axis (the result is then planar).
    """

    dims: str
    shape: tuple[int, ...]
    channel: int = 0
    plane: int | None = None
    where: str = "the array"  # what and where the array is, for messages

    def __post_init__(self) -> None:
        empty = [letter for letter, size in zip(self.dims, self.shape) if size == 0]
        if empty:  # no pixel to read: hdmf would fail much later, at conversion, with a bare Exception
            raise FormatError(
                f"{self.where} has a zero-size axis ({', '.join(empty)} of dims {self.dims}, shape "
                f"{'x'.join(map(str, self.shape))}): it holds no pixels"
            )
        if self.channel and "C" not in self.dims:
            raise SelectionError(f"channel {self.channel} asked of an array without a channel axis ({self.dims})")
        count = self.size("C")
        if not 0 <= self.channel < count:
            raise SelectionError(f"channel index {self.channel} is out of range for {count} channel(s)")
        if self.plane is not None:
            if "Z" not in self.dims:
                raise SelectionError(f"plane_index given for an array without a planes axis ({self.dims})")
            if not 0 <= self.plane < self.size("Z"):
                raise SelectionError(f"plane_index {self.plane} is out of range for {self.size('Z')} planes")

    def size(self, letter: str) -> int:
        return int(self.shape[self.dims.index(letter)]) if letter in self.dims else 1

    @property
    def num_samples(self) -> int:
        return self.size("T")

    @property
    def num_planes(self) -> int:
        return 1 if self.plane is not None else self.size("Z")

    @property
    def volumetric(self) -> bool:
        return "Z" in self.dims and self.plane is None

    @property
    def kept(self) -> str:
        """Letters of the stored axes left after selecting a channel (and plane), in stored order."""
        return "".join(d for d in self.dims if d != "C" and not (d == "Z" and self.plane is not None))

    @property
    def target(self) -> str:
        return "TYXZ" if self.volumetric else "TYX"

    @property
    def canonical(self) -> bool:
        """Whether the selected axes are already stored in (T, Y, X[, Z]) order."""
        return self.kept == self.target

    def selection(self, start: int, stop: int) -> tuple:
        """The stored-array selection of samples ``start:stop``."""
        sel: list[Any] = []
        for letter in self.dims:
            if letter == "T":
                sel.append(slice(start, stop))
            elif letter == "C":
                sel.append(self.channel)
            elif letter == "Z" and self.plane is not None:
                sel.append(self.plane)
            else:
                sel.append(slice(None))
        while len(sel) > 1 and sel[-1] == slice(None):  # h5py selects faster without trailing full slices
            sel.pop()
        return tuple(sel)

    def permutation(self) -> list[int]:
        kept = self.kept
        return [kept.index(letter) for letter in self.target]

    def read(self, source: Any, start: int, stop: int, out: np.ndarray) -> None:
        """Read samples ``start:stop`` of ``source`` (h5py Dataset or numpy array) into ``out``."""
        sel = self.selection(start, stop)
        if self.canonical and hasattr(source, "read_direct"):
            source.read_direct(out, sel)
            return
        block = source[sel]
        np.copyto(out, block if self.canonical else block.transpose(self.permutation()), casting="unsafe")


class LayoutFacts:
    """The facts of an extractor that reads one array through an :class:`ArrayLayout`.

    Mixed in before :class:`~ophysio.extractors.imaging.ImagingExtractor` by the HDF5 and MAT readers, which
    set ``_layout``, ``_dtype``, ``_sampling_frequency`` and ``_file_path``.
    """

    _layout: ArrayLayout
    _dtype: np.dtype
    _sampling_frequency: float
    _file_path: str

    def get_num_samples(self) -> int:
        return self._layout.num_samples

    def get_image_shape(self) -> tuple[int, int]:
        return (self._layout.size("Y"), self._layout.size("X"))

    def get_num_planes(self) -> int:
        return self._layout.num_planes

    @property
    def is_volumetric(self) -> bool:
        return bool(self._layout.volumetric)

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def get_sampling_frequency(self) -> float:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [self._file_path]


@dataclass(frozen=True)
class Candidate:
    """A dataset (or variable) that could hold a movie."""

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def basename(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[0] if "/" in self.path.strip("/") else ""

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def describe(self) -> str:
        return f"{self.path} {'x'.join(map(str, self.shape))} {self.dtype}"


@dataclass
class Stream:
    """One movie: a single dataset, or per-channel datasets (``ch1``, ``Channel 2``...) of one group."""

    key: str
    channels: dict[str, Candidate] = field(default_factory=dict)  # name -> dataset ("" for a plain one)

    @property
    def per_channel(self) -> bool:
        return "" not in self.channels

    @property
    def first(self) -> Candidate:
        return next(iter(self.channels.values()))

    def describe(self) -> str:
        if not self.per_channel:
            return self.first.describe()
        return f"{self.key or '/'} (channels: " + ", ".join(c.describe() for c in self.channels.values()) + ")"


def _channel_number(name: str) -> int:
    match = CHANNEL_NAME.match(name)
    return int(match.group(1)) if match else -1


def _streams(candidates: list[Candidate]) -> list[Stream]:
    streams: dict[str, Stream] = {}
    for cand in candidates:
        parent_name = cand.parent.rsplit("/", 1)[-1]
        if CHANNEL_NAME.match(cand.basename):
            key, name = cand.parent + "/*", cand.basename
        elif parent_name and CHANNEL_NAME.match(parent_name):
            grand = cand.parent.rsplit("/", 1)[0] if "/" in cand.parent else ""
            key, name = f"{grand}/*/{cand.basename}", parent_name
        else:
            key, name = cand.path, ""
        streams.setdefault(key, Stream(key)).channels[name] = cand
    for stream in streams.values():
        stream.channels = dict(sorted(stream.channels.items(), key=lambda item: (_channel_number(item[0]), item[0])))
    return list(streams.values())


def choose_stream(candidates: list[Candidate], where: str, what: str = "dataset") -> Stream:
    """The movie among ``candidates``: conventional names, then per-channel groups, then the largest.

    Raises
    ------
    FormatError
        No candidate, or several equally good ones (the message lists them and says how to choose).
    """
    if not candidates:
        raise FormatError(f"{where} has no 3-D or higher numeric {what} that could be a movie")
    streams = _streams(candidates)

    def rank(stream: Stream) -> int:
        base = stream.key.rstrip("/*").rsplit("/", 1)[-1].lower() if not stream.per_channel else ""
        if base in CONVENTIONAL:
            return CONVENTIONAL.index(base)
        if stream.per_channel:
            inner = stream.key.rsplit("/", 1)[-1].lower()
            return len(CONVENTIONAL) + (0 if inner in CONVENTIONAL or inner == "*" else 1)
        return len(CONVENTIONAL) + 2

    best = min(rank(s) for s in streams)
    tier = [s for s in streams if rank(s) == best]
    if best < len(CONVENTIONAL) + 2:
        depth = min(s.key.count("/") for s in tier)
        tier = [s for s in tier if s.key.count("/") == depth]
    else:
        largest = max(s.first.size for s in tier)
        tier = [s for s in tier if s.first.size == largest]
    if len(tier) == 1:
        return tier[0]
    listing = "\n".join(f"  {s.describe()}" for s in sorted(streams, key=lambda s: s.key))
    raise FormatError(
        f"{where} holds several {what}s that could be the movie and none is clearly it:\n{listing}\n"
        f"pass {what}=... to choose one"
    )


#: Most channels a C axis may hold; more come from a wrong dims= or a damaged shape, and a name would be
#: made for each (2**31 of them: minutes and gigabytes before any error).
MAX_CHANNELS = 4096


def channel_count(shape: tuple[int, ...], dims: str, where: str) -> int:
    """The size of the C axis of ``shape`` (1 without one), checked against :data:`MAX_CHANNELS`."""
    count = int(shape[dims.index("C")]) if "C" in dims else 1
    if count > MAX_CHANNELS:
        raise MetadataError(f"{where}: its C axis (dims {dims}) holds {count} channels, more than {MAX_CHANNELS}; "
                            "the shape is damaged or dims= names the wrong axis C")
    return count


def python_value(value: Any) -> Any:
    """An attribute as a plain Python value: text decoded, numpy scalars unwrapped, opaque bytes kept.

    Opaque values (e.g. CaImAn's pickled ``meta_data``) stay ``bytes``: nothing is ever unpickled.
    """
    if isinstance(value, np.void):
        return bytes(value.tobytes())
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    if isinstance(value, np.generic):
        if value.dtype.kind in "fc" and value.dtype.itemsize > (8 if value.dtype.kind == "f" else 16):
            value = value.astype(np.float64 if value.dtype.kind == "f" else np.complex128)  # long double:
        return value.item()  # its item() is itself, which JSON encoders cannot take
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO" and value.size <= 10000:
            return [python_value(v) for v in value.ravel().tolist()]
        if value.dtype.kind == "V":
            return bytes(value.tobytes())
        if value.dtype.kind in "fc" and value.dtype.itemsize > (8 if value.dtype.kind == "f" else 16):
            value = value.astype(np.float64 if value.dtype.kind == "f" else np.complex128)
        return value.tolist() if value.size <= 10000 else value
    return value


def rate_from_attrs(sources: Iterable[tuple[str, Callable[[str], Any]]]) -> tuple[float, str] | None:
    """The first valid rate found under :data:`RATE_KEYS` in ``sources`` ((where, getter) pairs)."""
    for where, getter in sources:
        for key in RATE_KEYS:
            value = getter(key)
            if value is None:
                continue
            value = python_value(value)
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            try:
                rate = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(rate) and rate > 0:
                return rate, f"{where}{key}"
    return None


def checked_timestamps(values: Any, num_samples: int, where: str) -> np.ndarray:
    """Stored per-sample times as float64 seconds, after checking them against the movie.

    ``values`` must hold ``num_samples`` real numbers (a vector, or a row or column matrix as MATLAB
    stores one), finite and non-decreasing. ``where`` names the file and dataset (or variable) for the
    error.

    Raises
    ------
    MetadataError
        Wrong type or length, a NaN or infinite value, or times that go backwards.
    """
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise MetadataError(f"{where} holds {array.dtype} values, not times in seconds")
    if array.ndim > 1 and sum(n != 1 for n in array.shape) <= 1:
        array = array.reshape(-1)
    if array.ndim != 1 or array.shape[0] != num_samples:
        raise MetadataError(
            f"{where} has shape {array.shape}; the movie has {num_samples} samples, so it needs {num_samples} "
            "timestamps (pass timestamps through set_times() or repair the file)"
        )
    times = array.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(times))
    if bad.size:
        raise MetadataError(f"{where}: timestamp {int(bad[0])} is {times[bad[0]]}, not a finite number of seconds")
    back = np.flatnonzero(np.diff(times) < 0)
    if back.size:
        i = int(back[0])
        raise MetadataError(f"{where}: timestamps go backwards at sample {i + 1} ({times[i]} then {times[i + 1]})")
    return times


def channel_names_from(value: Any, count: int) -> list[str] | None:
    """Stored channel names (an attribute or variable) when they name ``count`` distinct channels, else None."""
    value = python_value(value)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) != count:
        return None
    if not all(isinstance(name, str) and name.strip() for name in value) or len(set(value)) != count:
        return None
    return list(value)
