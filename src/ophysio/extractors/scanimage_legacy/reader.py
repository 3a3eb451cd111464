"""ScanImage 3.x, 4.x and 5.0/5.1 TIFF files (headers in every page's ImageDescription).

Older ScanImage versions (before the 2016 releases, which :mod:`ophysio.extractors.scanimage` reads)
write the acquisition settings as MATLAB ``key = value`` text into the ImageDescription of every page:

- ScanImage 3.x: ``state.acq.frameRate=3.90625`` lines, usually separated by ``\\r``;
- ScanImage 4.x: ``scanimage.SI4.scanFrameRate = 7.8`` lines (5.0 used the same names under
  ``scanimage.SI5.``);
- ScanImage 5.1: per-frame lines (``frameNumbers``, ``frameTimestamps_sec``, ``epoch``...) followed by
  ``scanimage.SI.hRoiManager.scanFrameRate = 30`` lines.

Pages are written channel fastest, then frames per slice, then slices (plus discarded flyback frames
in fast-Z volumes), then volumes or repeats. One extractor reads one saved channel; volumetric data
(more than one slice) gives samples of shape (rows, columns, planes).
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError, SelectionError
from .._matlab.values import parse_header_lines
from .._tiff.index import index_tiff
from .._tiff.read import PagedSampleReads, TiffPageSource, read_page_descriptions
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["ScanImageLegacyImagingExtractor", "parse_scanimage_legacy_header"]

_FRAME_KEYS = ("frameNumbers", "frameNumberAcquisition", "frameTimestamps_sec", "acqTriggerTimestamps_sec",
               "nextFileMarkerTimestamps_sec", "endOfAcquisition", "endOfAcquisitionMode", "dcOverVoltage",
               "epoch", "acqNumber", "auxTrigger0", "auxTrigger1", "auxTrigger2", "auxTrigger3", "I2CData")


def parse_scanimage_legacy_header(description: str) -> tuple[str, dict, dict]:
    """Split one legacy ScanImage ImageDescription into (version family, header, per-frame values).

    The version family is ``"3"`` (``state.*``), ``"4"`` (``scanimage.SI4.*``), ``"5.0"``
    (``scanimage.SI5.*``) or ``"5.1"`` (``scanimage.SI.*``).

    Raises
    ------
    FormatError
        The text holds none of these headers.
    """
    values = parse_header_lines(description)
    header = {k: v for k, v in values.items() if k.startswith(("state.", "scanimage."))}
    frame = {k: v for k, v in values.items() if k not in header}
    if any(k.startswith("state.") for k in header):
        family = "3"
    elif any(k.startswith("scanimage.SI4.") for k in header):
        family = "4"
    elif any(k.startswith("scanimage.SI5.") for k in header):
        family = "5.0"
    elif any(k.startswith("scanimage.SI.") for k in header):
        family = "5.1"
    else:
        raise FormatError("the ImageDescription holds no state.*, scanimage.SI4.*, scanimage.SI5.* or "
                          "scanimage.SI.* header: not a ScanImage 3.x-5.1 file")
    return family, header, frame


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(item if isinstance(item, list) else [item])
        return out
    return [value]


def _positive_int(value, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 1:
        return default
    return int(value)


def _parse_time(text) -> _dt.datetime | None:
    if isinstance(text, list) and len(text) == 6:  # epoch = [Y M D h m s.frac]
        try:
            seconds = float(text[5])
            return _dt.datetime(*(int(v) for v in text[:5])) + _dt.timedelta(seconds=seconds)
        except (TypeError, ValueError, OverflowError):
            return None
    if not isinstance(text, str) or not text.strip():
        return None
    for fmt in ("%m/%d/%Y %H:%M:%S.%f", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
                "%d-%b-%Y %H:%M:%S", "%m-%d-%Y %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S.%f", "%Y/%m/%d %H:%M:%S"):
        try:
            return _dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


class ScanImageLegacyImagingExtractor(PagedSampleReads, ImagingExtractor):
    """One saved channel of a ScanImage 3.x, 4.x or 5.0/5.1 TIFF file.

    Parameters
    ----------
    file_path : str or os.PathLike
        The TIFF file.
    channel_name : str, optional
        The saved channel to read (``"Channel 1"``...; see :meth:`get_channel_names`). Required when the
        file holds several saved channels.
    sampling_frequency : float, optional
        Overrides the rate in the header (frames per second for planar data, volumes per second for
        volumetric data). Required when the header states none.
    slice_sample : int, optional
        For slow stacks that save several frames per slice: which frame of each slice to read as the
        plane of a volume.
    """

    format_id = "scanimage_legacy"
    extractor_name = "ScanImageLegacyImaging"

    def __init__(
        self,
        file_path: str | os.PathLike,
        channel_name: str | None = None,
        sampling_frequency: float | None = None,
        slice_sample: int | None = None,
    ):
        super().__init__()
        self.file_path = os.fspath(file_path)
        if not os.path.isfile(self.file_path):
            raise FileSetError(f"{self.file_path} does not exist")
        index = index_tiff(self.file_path)
        (description,) = read_page_descriptions(index, [0])
        try:
            family, header, frame = parse_scanimage_legacy_header(description)
        except FormatError as exc:
            raise FormatError(f"{self.file_path}, IFD 0: {exc}") from None
        self._family, self._header, self._first_frame = family, header, frame
        self._source = TiffPageSource([self.file_path], [index])
        self._read_layout(header, family)

        names = [f"Channel {c}" for c in self._saved_channels]
        self._channel_index = self._choose_channel(names, channel_name, str(self.file_path), "saved channels")

        z, f = self._num_slices, self._frames_per_slice
        if z > 1:
            if f > 1 and slice_sample is None:
                raise SelectionError(f"{self.file_path} saves {f} frames per slice of each volume; pass "
                                     f"slice_sample= (0..{f - 1}) to choose the frame read as each plane")
            slice_sample = 0 if slice_sample is None else int(slice_sample)
            if not 0 <= slice_sample < f:
                raise SelectionError(f"slice_sample={slice_sample} is outside 0..{f - 1}")
            self._pages_per_sample = (z + self._flyback) * f * self._num_channels
        else:
            slice_sample = 0
            self._pages_per_sample = self._num_channels
        self._slice_sample = slice_sample
        total = self._source.num_pages
        self._num_samples = total // self._pages_per_sample
        if total % self._pages_per_sample:
            warnings.warn(
                f"{self.file_path}: {total} pages are not a whole number of samples of {self._pages_per_sample} "
                f"pages; the last {total % self._pages_per_sample} pages (an incomplete sample) are left out",
                stacklevel=2,
            )
        if self._num_samples == 0:
            raise FormatError(f"{self.file_path}: {total} pages hold no complete sample of "
                              f"{self._pages_per_sample} pages (channels x slices x frames per slice)")

        if sampling_frequency is not None:
            self._sampling_frequency = checked_rate(sampling_frequency)
        else:
            self._sampling_frequency = self._header_rate()

    # ------------------------------------------------------------------ header interpretation
    def _get(self, *keys, default=None):
        for key in keys:
            if key in self._header:
                return self._header[key]
        return default

    def _read_layout(self, header: dict, family: str) -> None:
        if family == "3":
            channels = [c for c in range(1, 5) if self._get(f"state.acq.savingChannel{c}") == 1]
            if not channels:
                channels = list(range(1, _positive_int(self._get("state.acq.numberOfChannelsSave"), 1) + 1))
            self._num_slices = _positive_int(self._get("state.acq.numberOfZSlices"), 1)
            frames = _positive_int(self._get("state.acq.numberOfFrames"), 1)
            if self._get("state.acq.averaging") == 1:
                frames = max(1, frames // _positive_int(self._get("state.acq.numAvgFramesSave"), 1))
            self._flyback = 0
        elif family in ("4", "5.0"):
            p = "scanimage.SI4." if family == "4" else "scanimage.SI5."
            channels = [int(c) for c in _as_list(self._get(p + "channelsSave")) if isinstance(c, (int, float))]
            fast_z = self._get(p + "fastZEnable") in (1, True)
            self._num_slices = _positive_int(self._get(p + "stackNumSlices"), 1)
            frames = _positive_int(self._get(p + "acqNumFrames"), 1) // _positive_int(
                self._get(p + "acqNumAveragedFrames"), 1) or 1
            discard = self._get(p + "fastZDiscardFlybackFrames") in (1, True)
            self._flyback = _positive_int(self._get(p + "fastZNumDiscardFrames"), 0) if fast_z and discard else 0
            if fast_z:
                frames = 1
        else:
            p = "scanimage.SI."
            channels = [int(c) for c in _as_list(self._get(p + "hChannels.channelSave"))
                        if isinstance(c, (int, float))]
            fast_z = self._get(p + "hFastZ.enable") in (1, True)
            stack = self._get(p + "hStackManager.enable") in (1, True)
            self._num_slices = _positive_int(self._get(p + "hStackManager.numSlices"), 1) if fast_z or stack else 1
            frames = 1 if fast_z else _positive_int(self._get(p + "hStackManager.framesPerSlice"), 1)
            discard = self._get(p + "hFastZ.discardFlybackFrames") in (1, True)
            flyback = _positive_int(self._get(p + "hFastZ.numDiscardFlybackFrames"), 0)
            self._flyback = flyback if fast_z and discard else 0
        self._saved_channels = channels or [1]
        self._num_channels = len(self._saved_channels)
        self._frames_per_slice = frames if self._num_slices > 1 else 1

    def _header_rate(self) -> float | None:
        family = self._family
        keys = {
            "3": ("state.acq.frameRate",),
            "4": ("scanimage.SI4.scanFrameRate",),
            "5.0": ("scanimage.SI5.scanFrameRate",),
            "5.1": ("scanimage.SI.hRoiManager.scanFrameRate",),
        }[family]
        frame_rate = self._get(*keys)
        if isinstance(frame_rate, bool) or not isinstance(frame_rate, (int, float)) or not np.isfinite(frame_rate) \
                or frame_rate <= 0:
            return self._rate_unknown(
                f"{self.file_path}: the header states no frame rate ({' or '.join(keys)} is "
                f"{'missing' if frame_rate is None else repr(frame_rate)})")
        if self._num_slices == 1:
            return float(frame_rate)
        if family in ("4", "5.0"):
            p = "scanimage.SI4." if family == "4" else "scanimage.SI5."
            period = self._get(p + "fastZPeriod")
            if self._get(p + "fastZEnable") in (1, True) and isinstance(period, (int, float)) \
                    and not isinstance(period, bool) and np.isfinite(period) and period > 0:
                return 1.0 / float(period)
        if family == "5.1":
            volume_rate = self._get("scanimage.SI.hRoiManager.scanVolumeRate")
            if isinstance(volume_rate, (int, float)) and not isinstance(volume_rate, bool) and volume_rate > 0 \
                    and np.isfinite(volume_rate):
                return float(volume_rate)
        frames_per_volume = (self._num_slices + self._flyback) * self._frames_per_slice
        return float(frame_rate) / frames_per_volume

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return self._num_samples

    def get_image_shape(self) -> tuple[int, int]:
        return self._source.shape

    def get_num_planes(self) -> int:
        return self._num_slices

    def get_dtype(self) -> np.dtype:
        return self._source.dtype

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return [self.file_path]

    @property
    def scanimage_version(self) -> str:
        """The header family: ``"3"``, ``"4"``, ``"5.0"`` or ``"5.1"``."""
        return self._family

    def get_acquisition_facts(self):
        """What the file records (see :mod:`ophysio.extractors.scanimage_legacy.facts`)."""
        from .facts import scanimage_legacy_facts

        return scanimage_legacy_facts(self)

    def get_metadata(self) -> dict:
        """The whole header (``state.*`` / ``scanimage.*`` keys as Python values).

        Two keys are added: ``"session_start_time"`` (the trigger time as a naive datetime, or None) and
        ``"frame"`` (the per-frame values of the first page, for 5.x files).
        """
        metadata = dict(self._header)
        metadata["session_start_time"] = self.get_session_start_time()
        metadata["frame"] = dict(self._first_frame)
        return metadata

    def get_session_start_time(self) -> _dt.datetime | None:
        """The acquisition trigger time recorded in the header (local time of the rig), or None."""
        candidates = (
            self._get("state.internal.triggerTimeString"),
            self._get("state.internal.triggerTimeFirstString"),
            self._get("scanimage.SI4.triggerTime"),
            self._get("scanimage.SI5.triggerTime"),
            self._get("scanimage.SI4.triggerClockTimeFirst"),
            self._get("scanimage.SI5.triggerClockTimeFirst"),
            self._first_frame.get("epoch"),
        )
        for value in candidates:
            when = _parse_time(value)
            if when is not None:
                return when
        return None

    def get_original_frame_indices(self) -> np.ndarray:
        """Page (IFD) number of every sample's first page of this channel."""
        return self._pages(np.arange(self._num_samples), 0)

    # ------------------------------------------------------------------ reading
    def _pages(self, samples: np.ndarray, plane: int) -> np.ndarray:
        f, c = self._frames_per_slice, self._num_channels
        return samples * self._pages_per_sample + (plane * f + self._slice_sample) * c + self._channel_index

    def _sample_pages(self, indices: np.ndarray) -> np.ndarray:
        step = self._frames_per_slice * self._num_channels
        return self._pages(indices, 0)[:, None] + np.arange(self._num_slices) * step

    def _get_native_timestamps(self) -> np.ndarray | None:
        if "frameTimestamps_sec" not in self._first_frame:
            return None
        pages = self.get_original_frame_indices()
        texts = read_page_descriptions(self._source.indexes[0], pages.tolist())
        times = np.empty(len(pages), dtype=np.float64)
        for i, text in enumerate(texts):
            value = parse_header_lines(text.split("scanimage.", 1)[0]).get("frameTimestamps_sec")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise MetadataError(f"{self.file_path}, IFD {int(pages[i])}: frameTimestamps_sec is missing or not a "
                                    f"number ({value!r})")
            times[i] = value
        return times

