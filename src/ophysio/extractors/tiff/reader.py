"""Plain multi-page TIFF files, ImageJ hyperstacks and multi-file TIFF series.

Pages of all files are numbered one after the other (files in natural order when a folder or a glob
is given) and mapped to (time, plane, channel) by a dimension order, as in roiextractors'
``MultiTIFFMultiPageExtractor``: ``dimension_order`` lists Z, C and T fastest first, OME style, so
``"CZT"`` means channel varies fastest, then plane, then time. ImageJ hyperstacks describe themselves
(``channels=``, ``slices=``, ``frames=`` in ImageJ's C, Z, T page order) and need no arguments.

Uncompressed pages are read with one positional read per run of back-to-back pages straight into the
output; compressed or tiled pages are decoded one page at a time by tifffile, so a file is never loaded
whole into memory. Deflate needs nothing more; LZW, zstd, JPEG and most other codecs need the
``imagecodecs`` package (``pip install "ophysio[codecs]"``).
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import FileSetError, FormatError, MetadataError
from .._tiff.index import TiffIndex, index_tiff
from .._tiff.read import PagedSampleReads, TiffPageSource, read_page_descriptions
from ..imaging import ImagingExtractor, checked_rate

__all__ = ["TiffImagingExtractor", "resolve_tiff_paths", "parse_imagej_description"]

_ORDERS = ("ZCT", "ZTC", "CZT", "CTZ", "TCZ", "TZC")
_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")


def resolve_tiff_paths(path_or_paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """The files of a series: one file, every TIFF in a folder, a glob, or a list; naturally sorted.

    A list keeps the order given; a folder or a glob is sorted naturally (``f_2`` before ``f_10``).
    """
    from natsort import natsorted

    if isinstance(path_or_paths, (str, os.PathLike)):
        text = os.fspath(path_or_paths)
        if os.path.isdir(text):
            found = [str(p) for p in Path(text).iterdir() if p.is_file() and p.name.lower().endswith(_SUFFIXES)]
            if not found:
                raise FileSetError(f"{text} holds no .tif/.tiff files")
            return natsorted(found)
        if os.path.isfile(text):
            return [text]
        if any(ch in text for ch in "*?["):
            found = [p for p in glob.glob(text) if os.path.isfile(p)]
            if not found:
                raise FileSetError(f"no file matches the pattern {text}")
            return natsorted(found)
        raise FileSetError(f"{text} does not exist")
    paths = [os.fspath(p) for p in path_or_paths]
    if not paths:
        raise FileSetError("an empty list of TIFF files was given")
    for p in paths:
        if not os.path.isfile(p):
            raise FileSetError(f"{p} does not exist (one of the {len(paths)} files given)")
    return paths


def parse_imagej_description(text: str) -> dict | None:
    """The ``key=value`` lines of an ImageJ description (``ImageJ=1.x`` first), or None if it is not one."""
    if not text.startswith("ImageJ="):
        return None
    result: dict = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        for cast in (int, float):
            try:
                result[key.strip()] = cast(value)
                break
            except ValueError:
                continue
        else:
            result[key.strip()] = {"true": True, "false": False}.get(value, value)
    return result


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MetadataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class TiffImagingExtractor(PagedSampleReads, ImagingExtractor):
    """One channel of a multi-page TIFF, an ImageJ hyperstack, or a series of TIFF files.

    Parameters
    ----------
    file_path : str or os.PathLike, optional
        A TIFF file, a folder of TIFF files, or a glob pattern (``"session/*.tif"``).
    sampling_frequency : float, optional
        Samples per second (volumes per second for volumetric data). Required unless the file states it
        (ImageJ ``finterval`` or ``fps``).
    file_paths : list of paths, optional
        The files of a series, in order (instead of ``file_path``).
    num_channels, num_planes : int, optional
        Channels and planes interleaved in the pages (default 1, or what an ImageJ hyperstack says).
    dimension_order : {"ZCT", "ZTC", "CZT", "CTZ", "TCZ", "TZC"}, optional
        Order in which Z, C and T vary across pages, fastest first (default ``"TZC"`` as in
        roiextractors; ImageJ hyperstacks use ``"CZT"``).
    channel_name : str, optional
        Which channel to read: ``"0"``, ``"1"``... Required when there are several channels.
    """

    format_id = "tiff"
    extractor_name = "TiffImaging"

    def __init__(
        self,
        file_path: str | os.PathLike | None = None,
        sampling_frequency: float | None = None,
        *,
        file_paths: Sequence[str | os.PathLike] | None = None,
        num_channels: int | None = None,
        num_planes: int | None = None,
        dimension_order: str | None = None,
        channel_name: str | None = None,
    ):
        super().__init__()
        if (file_path is None) == (file_paths is None):
            raise FileSetError("give either file_path (a file, folder or glob) or file_paths (a list), not both")
        self.file_paths = resolve_tiff_paths(file_path if file_path is not None else file_paths)
        indexes = [index_tiff(p) for p in self.file_paths]
        (description,) = read_page_descriptions(indexes[0], [0])
        self._description = description
        self._imagej = parse_imagej_description(description)
        if self._imagej is not None and len(self.file_paths) == 1:
            self._expand_imagej_raw(indexes[0])
        self._source = TiffPageSource(self.file_paths, indexes)
        total = self._source.num_pages

        explicit = num_channels is not None or num_planes is not None or dimension_order is not None
        if self._imagej is not None and not explicit:
            channels, planes = self._imagej_count("channels", 1), self._imagej_count("slices", 1)
            order = "CZT"
            if planes > 1 and channels == 1 and self._imagej_count("frames", 1) == 1 \
                    and self._imagej.get("hyperstack") is not True:
                planes = 1  # a plain ImageJ stack counts its images as "slices": they are frames of a movie
            images = self._imagej_count("images", total)
            if images != total:
                raise FormatError(f"{self.file_paths[0]}: the ImageJ description says images={images} but the file "
                                  f"holds {total} pages; the file is incomplete or damaged")
        else:
            channels = 1 if num_channels is None else _positive(num_channels, "num_channels")
            planes = 1 if num_planes is None else _positive(num_planes, "num_planes")
            order = "TZC" if dimension_order is None else str(dimension_order).upper()
        if order not in _ORDERS:
            raise MetadataError(f"dimension_order must be one of {', '.join(_ORDERS)}, got {dimension_order!r}")
        self._num_channels, self._num_planes, self._dimension_order = channels, planes, order

        per_sample = channels * planes
        num_samples, extra = divmod(total, per_sample)
        if extra:
            if order[-1] != "T":
                raise FormatError(
                    f"{total} pages are not a whole number of {channels} channels x {planes} planes, and with "
                    f"dimension_order={order!r} (T not slowest) the layout cannot be resolved; check num_channels, "
                    f"num_planes and dimension_order"
                )
            warnings.warn(f"{total} pages are not a whole number of samples of {per_sample} pages; the last "
                          f"{extra} pages (an incomplete sample) are left out", stacklevel=2)
        if num_samples == 0:
            raise FormatError(f"{total} pages hold no complete sample of {per_sample} pages "
                              f"({channels} channels x {planes} planes)")
        self._num_samples = num_samples
        sizes = {"T": num_samples, "Z": planes, "C": channels}
        self._strides = {order[0]: 1, order[1]: sizes[order[0]], order[2]: sizes[order[0]] * sizes[order[1]]}

        where = f"the pages of {self.file_paths[0]}" + (" ..." if len(self.file_paths) > 1 else "")
        self._channel_index = self._choose_channel([str(c) for c in range(channels)], channel_name, where,
                                                   "interleaved channels")
        self._sampling_frequency = self._rate(sampling_frequency)

    @classmethod
    def from_folder(
        cls,
        folder_path: str | os.PathLike,
        file_pattern: str = "*.tif*",
        sampling_frequency: float | None = None,
        dimension_order: str | None = None,
        num_channels: int | None = None,
        channel_name: str | None = None,
        num_planes: int | None = None,
    ) -> TiffImagingExtractor:
        """The series of files in ``folder_path`` matching ``file_pattern`` (a glob), in natural order.

        The arguments of roiextractors' ``MultiTIFFMultiPageExtractor.from_folder``; every other argument
        is the constructor's.
        """
        folder = os.fspath(folder_path)
        if not os.path.isdir(folder):
            raise FileSetError(f"{folder} is not a folder")
        return cls(
            os.path.join(glob.escape(folder), file_pattern),
            sampling_frequency,
            num_channels=num_channels,
            num_planes=num_planes,
            dimension_order=dimension_order,
            channel_name=channel_name,
        )

    def _imagej_count(self, key: str, default: int) -> int:
        """A count of the ImageJ description (``default`` when absent), or a MetadataError naming it."""
        value = self._imagej.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MetadataError(f"{self.file_paths[0]}: the ImageJ description says {key}={value!r}, not a "
                                f"positive whole number; the file is damaged (or pass num_channels=/num_planes=)")
        return value

    def _expand_imagej_raw(self, index: TiffIndex) -> None:
        """ImageJ files over 4 GB keep one IFD and all images back to back after it: add the missing pages."""
        images = self._imagej.get("images")
        if not isinstance(images, int) or images <= index.num_pages or not index.fast.all():
            return
        nbytes = index.page_nbytes
        start = int(index.data_offsets[0])
        if any(int(index.data_offsets[i]) != start + i * nbytes for i in range(index.num_pages)):
            return
        if start + images * nbytes > index.file_size:
            raise FormatError(
                f"{index.path}: the ImageJ description says images={images} stored back to back, but the file ends "
                f"after {(index.file_size - start) // nbytes} of them; the file is truncated"
            )
        extra = images - index.num_pages
        index.data_offsets = start + np.arange(images, dtype=np.int64) * nbytes
        index.fast = np.ones(images, dtype=bool)
        index.ifd_offsets = np.concatenate([index.ifd_offsets, np.full(extra, -1, np.int64)])
        index.ifd_numbers = np.concatenate([index.ifd_numbers, np.full(extra, index.ifd_numbers[-1], np.int64)])
        index.description_spans = np.concatenate([index.description_spans, np.tile([[-1, 0]], (extra, 1))])
        if index.mm_spans is not None:
            index.mm_spans = np.concatenate([index.mm_spans, np.tile([[-1, 0]], (extra, 1))])

    def _rate(self, sampling_frequency) -> float | None:
        if sampling_frequency is not None:
            return checked_rate(sampling_frequency)
        if self._imagej is not None:
            finterval = self._imagej.get("finterval")
            if isinstance(finterval, (int, float)) and finterval > 0:
                return 1.0 / float(finterval)
            fps = self._imagej.get("fps")
            if isinstance(fps, (int, float)) and fps > 0:
                return float(fps)
        return self._rate_unknown(f"{self.file_paths[0]} does not state its frame rate (no ImageJ finterval or fps)")

    # ------------------------------------------------------------------ facts
    def get_num_samples(self) -> int:
        return self._num_samples

    def get_image_shape(self) -> tuple[int, int]:
        return self._source.shape

    def get_num_planes(self) -> int:
        return self._num_planes

    def get_dtype(self) -> np.dtype:
        return self._source.dtype

    def get_sampling_frequency(self) -> float | None:
        return self._sampling_frequency

    def get_file_paths(self) -> list[str]:
        return list(self.file_paths)

    @property
    def dimension_order(self) -> str:
        """Order of Z, C and T across pages, fastest first."""
        return self._dimension_order

    def get_acquisition_facts(self):
        """What the file records (see :mod:`ophysio.extractors.tiff.facts`)."""
        from .facts import tiff_facts

        return tiff_facts(self)

    def get_metadata(self) -> dict:
        """The first page's ImageDescription, the ImageJ values (if any) and the page layout."""
        return {
            "description": self._description,
            "imagej": dict(self._imagej) if self._imagej is not None else None,
            "num_channels": self._num_channels,
            "num_planes": self._num_planes,
            "dimension_order": self._dimension_order,
            "num_pages": self._source.num_pages,
        }

    def get_original_frame_indices(self) -> np.ndarray:
        """Page number (across all files) of every sample's first page."""
        return self._pages(np.arange(self._num_samples))[:, 0]

    # ------------------------------------------------------------------ reading
    def _pages(self, samples: np.ndarray) -> np.ndarray:
        s = self._strides
        base = samples * s["T"] + self._channel_index * s["C"]
        return base[:, None] + np.arange(self._num_planes, dtype=np.int64) * s["Z"]

    _sample_pages = _pages
