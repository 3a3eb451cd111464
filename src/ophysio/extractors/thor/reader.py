"""ThorImageLS acquisitions: :class:`ThorTiffImagingExtractor` (roiextractors' name and keywords).

An acquisition is a folder with ``Experiment.xml`` and the images ThorImageLS saved beside it, in one
of three layouts, all read lazily with positional reads:

- one single-page OME-TIFF per frame and channel, ``ChanA_001_001_<plane>_<time>.tif`` (the default);
- one multipage TIFF per channel holding every frame in order (plane fastest);
- one ``Image_0001_0001.raw`` stream: uint16 frames, volume after volume, each volume its planes then its
  flyback frames, each frame its channels one after the other (the enabled ones, or a slot for each
  detector channel when ``RawData onlyEnabledChannels`` is 0).

``Experiment.xml`` is authoritative for the structure (see :mod:`.experiment`): the image size, the
channels, the planes and flyback frames of fast-Z volumes (flyback frames are never returned) and the
rate. Building an extractor reads the XML, lists the folder once and indexes the first image file; it
reads no pixels and opens no other file, so a recording of 100,000 one-frame files opens in a fraction
of a second and in little memory.

**Timestamps.** ThorImageLS records per-frame times only in some setups. When the folder holds
``timing.txt`` (older ThorImageLS versions write one software time per saved frame, seconds from the
first frame), the time of each sample is its line (the first plane's for a volume: one line per plane,
or per plane and flyback frame for a raw stream); otherwise times are ``index / rate`` with the rate of
:attr:`~.experiment.ThorExperiment.sampling_frequency`. ThorSync's ``Episode*.h5`` lives in its own folder
and is not read; align to it with ``set_times``.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ...errors import CorruptFileError, FileSetError, MetadataError
from .._tiff.index import index_tiff
from .._tiff.read import PagedSampleReads, TiffPageSource
from ..imaging import ImagingExtractor, checked_rate
from .experiment import ThorExperiment, channel_slot, read_experiment
from .files import ThorFolder, read_timing, scan_folder
from .sources import RawFrames, TiffFrameFiles

__all__ = ["ThorTiffImagingExtractor"]


class ThorTiffImagingExtractor(PagedSampleReads, ImagingExtractor):
    """One channel of a ThorImageLS acquisition (TIFF series, multipage TIFF or ``.raw``).

    Parameters
    ----------
    file_path : str or os.PathLike
        The acquisition folder, its ``Experiment.xml``, or any of its image files (a TIFF of the series, the
        ``.raw`` file).
    channel_name : str, optional
        The channel to read, as ``Experiment.xml`` names it (``"ChanA"`` ... ``"ChanD"``); required when the
        acquisition has several (:meth:`get_available_channel_names` lists them).

    Raises
    ------
    FileSetError
        ``Experiment.xml`` or an image file of the series is missing (the message names it).
    CorruptFileError
        The ``.raw`` file is shorter than the acquisition it holds, or an image file is damaged.
    MetadataError, FormatError
        ``Experiment.xml`` is damaged, or describes an acquisition ophysio does not read.
    SelectionError
        A channel that is not in the acquisition, or none when there are several.
    """

    format_id = "thor"
    extractor_name = "ThorTiffImaging"

    def __init__(self, file_path: str | os.PathLike, channel_name: str | None = None):
        super().__init__()
        self.file_path = os.fspath(file_path)
        found = scan_folder(self.file_path)
        self.folder_path = os.fspath(found.folder)
        experiment = read_experiment(found.experiment_path)
        self._experiment = experiment
        self._channel_index = self._choose_channel(experiment.channel_names, channel_name,
                                                   f"the ThorImageLS acquisition {found.folder}")
        self.channel_names = list(experiment.channel_names)
        self._planes = experiment.planes
        self._raw_channels = 1
        self._raw_slot = 0
        self._storage = self._choose_storage(found, experiment)
        if self._storage == "raw":
            self._open_raw(found, experiment)
        else:
            self._open_tiffs(found, experiment)
        self._rate = checked_rate(experiment.sampling_frequency, f"{experiment.path}: {experiment.rate_rule}")
        self.timestamp_source: str | None = None
        self._recorded = self._load_timing(found)

    # ------------------------------------------------------------------ layout
    def _choose_storage(self, found: ThorFolder, experiment: ThorExperiment) -> str:
        """"raw" or "tiff": the kind of file the user opened, else what the XML says was saved and is there."""
        opened = found.opened
        if opened is not None and opened.suffix.lower() == ".raw":
            return "raw"
        if opened is not None and opened.suffix.lower() in (".tif", ".tiff"):
            return "tiff"
        has_tiffs = any(g.channel in experiment.channel_names for g in found.groups.values())
        if found.raw_files and (experiment.raw_data == 1 or not has_tiffs):
            return "raw"
        if has_tiffs:
            return "tiff"
        raise FileSetError(f"{found.folder} holds no image file of the acquisition: neither TIFF files named "
                           f"{experiment.channel_names[0]}_001_001_001_001.tif ... nor an Image_0001_0001.raw file")

    def _open_tiffs(self, found: ThorFolder, experiment: ThorExperiment) -> None:
        name = self.channel_name
        key = found.tiff_key()
        group = None if key is None else found.groups.get((name, *key))
        if group is None:
            raise FileSetError(f"{found.folder} holds no TIFF file of channel {name} ({name}_001_001_001_001.tif ...)"
                               "; the acquisition's channels are " + ", ".join(experiment.channel_names))
        planes = self._planes
        samples = experiment.num_samples
        if samples is None:  # stimulus storage or a stopped experiment: the files say how many
            samples = group.max_t
        index = None
        if len(group.names) == 1:  # one file: one frame, or the multipage layout
            only = found.checked(next(iter(group.names)))
            index = index_tiff(only)
            if index.num_pages > 1:
                self._open_multipage(only, index, samples, experiment)
                return
        names = group.names_of(range(planes), range(samples))
        missing = [n for n in names if n not in group.names]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise FileSetError(
                f"{missing[0]} is missing from {found.folder}{more}"
                f": {found.experiment_path.name} describes {samples} samples of {planes} plane(s) of channel {name}, "
                f"{len(names)} files {names[0]} ... {names[-1]}, and {len(names) - len(missing)} of them are there"
            )
        if len(group.names) > len(names) and group.max_t > samples:
            warnings.warn(f"{found.folder} holds {name} files past the {samples} samples {found.experiment_path.name} "
                          f"describes (up to {group.name(0, group.max_t - 1)}); they are not read", UserWarning,
                          stacklevel=3)
        paths = [found.checked(n) for n in names]
        first = index if index is not None else index_tiff(paths[0])
        self._check_shape(first.shape, paths[0], experiment)
        self._source = TiffFrameFiles(paths, first)
        self._samples = samples
        self._frame_stride = planes

    def _open_multipage(self, path: str, index, samples: int, experiment: ThorExperiment) -> None:
        planes = self._planes
        if experiment.num_samples is None:
            samples = index.num_pages // planes
        elif index.num_pages != samples * planes:
            raise MetadataError(f"{path} holds {index.num_pages} pages, but {experiment.path} describes {samples} "
                                f"samples of {planes} plane(s) ({samples * planes} frames); the file and the XML "
                                "are not of one acquisition, or the file is incomplete")
        self._check_shape(index.shape, path, experiment)
        self._source = TiffPageSource([path], [index])
        self._storage = "multipage"
        self._samples = samples
        self._frame_stride = planes

    def _check_shape(self, shape: tuple[int, int], path: str, experiment: ThorExperiment) -> None:
        if tuple(shape) != (experiment.rows, experiment.columns):
            raise MetadataError(f"{path} holds {shape[0]}x{shape[1]} images, but {experiment.path} describes "
                                f"{experiment.rows}x{experiment.columns} (LSM pixelY x pixelX); they are not of one "
                                "acquisition")

    def _open_raw(self, found: ThorFolder, experiment: ThorExperiment) -> None:
        name = found.raw_name()
        if name is None:
            raise FileSetError(f"{found.folder} holds no Image_*.raw file")
        path = found.checked(name)
        size = os.path.getsize(path)
        frame_bytes = experiment.rows * experiment.columns * 2
        names = experiment.channel_names
        per_sample = experiment.frames_per_sample
        samples = experiment.num_samples
        slots = [channel_slot(n) for n in names]
        stored, slot = len(names), self._channel_index
        if None not in slots:  # the enabled channels, in detector order A, B, C, D
            slot = sorted(slots).index(slots[self._channel_index])
        if not experiment.only_enabled_channels and len(names) > 1:
            # a slot for every detector channel: 4, or 3 on two-channel detectors; the file size tells which
            if None in slots:
                raise MetadataError(f"{experiment.path}: RawData onlyEnabledChannels is 0, but the channels "
                                    f"{list(names)} are not ChanA ... ChanD, so their slots in {name} are unknown")
            candidates = [n for n in (4, 3) if n > max(slots)]
            volume = frame_bytes * per_sample
            exact = [n for n in candidates
                     if (size == samples * volume * n if samples is not None else size % (volume * n) == 0)]
            stored, slot = (exact or candidates)[0], slots[self._channel_index]
        sample_bytes = frame_bytes * stored * per_sample
        if samples is None:
            samples = size // sample_bytes
            if size % sample_bytes:
                warnings.warn(f"{path} ends {size % sample_bytes} bytes into sample {samples} (of {sample_bytes} "
                              "bytes); the incomplete sample is not read", UserWarning, stacklevel=3)
        elif size < samples * sample_bytes:
            raise CorruptFileError(
                f"{path} is {size} bytes, but {experiment.path} describes {samples} samples of {per_sample} frame(s) "
                f"x {stored} channel(s) x {experiment.rows}x{experiment.columns} uint16 = {samples * sample_bytes} "
                f"bytes: the file is truncated (it holds {size // sample_bytes} whole samples)"
            )
        self._source = RawFrames(path, (experiment.rows, experiment.columns), size // frame_bytes)
        self._samples = samples
        self._raw_channels, self._raw_slot = stored, slot
        self._frame_stride = per_sample

    def _sample_pages(self, indices: np.ndarray) -> np.ndarray:
        """Frame numbers (in the source) of each sample's planes, as an (n, planes) array."""
        planes = np.arange(self._planes, dtype=np.int64)
        frames = indices.astype(np.int64)[:, None] * self._frame_stride + planes[None, :]
        return frames * self._raw_channels + self._raw_slot

    # ------------------------------------------------------------------ time
    def _load_timing(self, found: ThorFolder) -> np.ndarray | None:
        if found.timing is None:
            return None
        values = read_timing(Path(found.checked(found.timing.name)))
        n, planes, per_sample = self._samples, self._planes, self._experiment.frames_per_sample
        for count, step in ((n, 1), (n * planes, planes), (n * per_sample, per_sample)):
            if len(values) == count:
                self.timestamp_source = f"{found.timing.name} (one line per {'sample' if step == 1 else 'frame'})"
                return values[::step].copy()
        warnings.warn(f"{found.timing}: {len(values)} times for {n} samples of {planes} plane(s); they do not "
                      "match the files and are not used (times follow the rate)", UserWarning, stacklevel=3)
        return None

    def _get_native_timestamps(self) -> np.ndarray | None:
        return self._recorded

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return self._samples

    def get_image_shape(self) -> tuple[int, int]:
        return (self._experiment.rows, self._experiment.columns)

    def get_num_planes(self) -> int:
        return self._planes

    def get_dtype(self) -> np.dtype:
        return np.dtype(self._source.dtype)

    def get_sampling_frequency(self) -> float:
        if self._recorded is None:
            return self._rate
        return self._rate_agreeing_with_times(self._rate, f"{self._experiment.path} ({self._experiment.rate_rule})")

    def get_file_paths(self) -> list[str]:
        return list(self._source.paths) if self._storage != "raw" else [self._source.path]

    @property
    def num_flyback_frames(self) -> int:
        """Frames after each fast-Z volume that are not images (skipped)."""
        return self._experiment.flyback_frames

    @property
    def storage(self) -> str:
        """How the frames are stored: ``"tiff"`` (a file per frame), ``"multipage"`` or ``"raw"``."""
        return self._storage

    @property
    def experiment(self) -> ThorExperiment:
        """The parsed ``Experiment.xml``."""
        return self._experiment

    def get_metadata(self) -> dict:
        """The whole ``Experiment.xml`` (text and as nested dictionaries) and how it was read."""
        ex = self._experiment
        return {
            "experiment_xml_path": ex.path,
            "experiment_xml": ex.text,
            "experiment": ex.as_dict(),
            "storage": self._storage,
            "capture_mode": ex.capture_mode,
            "num_planes": ex.planes,
            "num_flyback_frames": ex.flyback_frames,
            "remote_focus": ex.remote_focus,
            "raw_stored_channels": self._raw_channels if self._storage == "raw" else None,
            "sampling_frequency_rule": ex.rate_rule,
            "timestamp_source": self.timestamp_source,
        }

    def get_acquisition_facts(self):
        """What Experiment.xml records (see :mod:`ophysio.extractors.thor.facts`)."""
        from .facts import thor_facts

        return thor_facts(self)

    # ------------------------------------------------------------------ roiextractors names
    @staticmethod
    def get_available_channel_names(file_path: str | os.PathLike) -> list[str]:
        """Channel names of an acquisition (``Experiment.xml`` ``Wavelength`` names) without building an extractor."""
        return list(read_experiment(scan_folder(file_path).experiment_path).channel_names)

    get_available_channels = get_available_channel_names

    @property
    def _experiment_xml_dict(self) -> dict:
        """The Experiment.xml as roiextractors gives it to neuroconv's ThorImagingInterface."""
        return self._experiment.as_dict()

    def _get_session_start_time(self) -> datetime:
        """The acquisition start (``Date uTime``) as an aware UTC datetime, as roiextractors gives it."""
        utime = self._experiment.get("Date", "uTime")
        if utime is None:
            raise MetadataError(f"{self._experiment.path}: <Date> has no uTime attribute")
        return datetime.fromtimestamp(int(float(utime)), tz=timezone.utc)

