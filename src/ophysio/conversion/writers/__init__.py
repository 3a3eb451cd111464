"""Writers of imaging movies to other formats: TIFF/BigTIFF, OME-TIFF, HDF5, MAT, suite2p binary, Zarr, video.

:func:`write_imaging` streams any extractor (or several, one per channel) into a file in bounded
memory; :func:`open_writer` gives a writer that pipelines producing frames over time feed batch by
batch. Every output appears at its path only when complete: a write that fails or is killed leaves
nothing there.

>>> import ophysio
>>> ophysio.write_imaging(extractor, "movie.h5")                        # doctest: +SKIP
>>> with ophysio.open_writer("out.ome.tif", sampling_frequency=30.0) as writer:  # doctest: +SKIP
...     for frames in motion_corrected_batches():
...         writer.write_frames(frames)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UnknownFormatError
from ._base import ImagingWriter, WriterError

__all__ = ["write_imaging", "open_writer", "ImagingWriter", "WriterError", "WRITER_FORMATS", "guess_writer_format"]

#: format id -> (module, class, suffixes); a format that ophysio also reads has its reader's id (the
#: ``writer`` of its :class:`~ophysio.extractors.registry.FormatSpec`)
WRITER_FORMATS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ome_tiff": (".ome_tiff", "OmeTiffWriter", (".ome.tif", ".ome.tiff", ".ome.btf", ".ome.tf8")),
    "tiff": (".tiff", "TiffWriter", (".tif", ".tiff", ".btf", ".tf8")),
    "hdf5": (".hdf5", "Hdf5Writer", (".h5", ".hdf5", ".hdf", ".he5")),
    "mat": (".mat", "MatWriter", (".mat",)),
    "suite2p": (".suite2p", "Suite2pWriter", ()),
    "zarr": (".zarr_v3", "ZarrWriter", (".zarr", ".ome.zarr")),
    "video": (".video", "VideoWriter", (".mkv", ".avi", ".mp4", ".mov", ".m4v")),
}

#: other spellings scripts use: "ome-tiff" was the OME-TIFF writer's id, "binary" means suite2p's data.bin
_ALIASES = {"ome-tiff": "ome_tiff", "ometiff": "ome_tiff", "tif": "tiff", "bigtiff": "tiff", "h5": "hdf5",
            "matlab": "mat", "binary": "suite2p", "suite2p-binary": "suite2p"}


def guess_writer_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The writer format id for ``path`` (from ``format`` when given, else from the suffix)."""
    if format is not None:
        key = format.lower()
        key = _ALIASES.get(key, key)
        if key not in WRITER_FORMATS:
            raise UnknownFormatError(f"no writer for format {format!r}; writers: {', '.join(WRITER_FORMATS)}")
        return key
    name = Path(path).name.lower()
    if name == "suite2p":
        return "suite2p"
    for key, (_, _, suffixes) in WRITER_FORMATS.items():
        if any(name.endswith(s) for s in suffixes):
            return key
    raise UnknownFormatError(
        f"cannot tell the output format of {Path(path).name!r} from its suffix; pass format= "
        f"({', '.join(WRITER_FORMATS)}; suite2p writes a folder)"
    )


def _writer_class(format_id: str) -> type[ImagingWriter]:
    module, cls, _ = WRITER_FORMATS[format_id]
    return getattr(importlib.import_module(module, __name__), cls)


def open_writer(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    overwrite: bool = False,
    sampling_frequency: float | None = None,
    channel_names: Sequence[str] | None = None,
    num_samples: int | None = None,
    split: str | None = None,
    pattern: str | None = None,
    **format_options: Any,
) -> ImagingWriter:
    """A writer for frames produced over time (motion correction, live acquisition).

    Feed it with ``writer.write_frames(frames, timestamps=None)``; it is configured from the first
    batch (channels, shape, dtype). ``close()`` (or leaving the ``with`` block) finishes the file and
    moves it into place; an exception inside the block removes it.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (a folder for ``suite2p`` and ``zarr``).
    format : str, optional
        ``tiff``, ``ome_tiff`` (or ``ome-tiff``), ``hdf5``, ``mat``, ``suite2p``, ``zarr`` or ``video``
        (``.mkv``/``.avi`` FFV1, ``.mp4``/``.mov`` H.264); by default from the suffix.
    overwrite : bool
        Replace an existing output once the new one is complete.
    sampling_frequency : float, optional
        Samples per second (else derived from the timestamps at the end).
    channel_names : sequence of str, optional
        Names of the channels.
    num_samples : int, optional
        Number of samples that will be written, when known.
    split : {None, "channels", "planes"}
        Write one output per channel or per plane (named by ``pattern``) instead of one output.
    pattern : str, optional
        Names of the parts of a split output, with the fields ``{stem}``, ``{suffix}``, ``{channel}``,
        ``{channel_index}`` and ``{plane}``; by default ``"{stem}_{channel}{suffix}"`` for channels and
        ``"{stem}_plane{plane}{suffix}"`` for planes.
    **format_options
        Options of the format's writer (see each writer class).

    Returns
    -------
    ImagingWriter
        (a :class:`~ophysio.conversion.writers._multi.SplitWriter` with the same methods when ``split``
        is given).
    """
    format_id = guess_writer_format(path, format)
    return _make_writer(
        format_id,
        path,
        split,
        pattern,
        overwrite=overwrite,
        sampling_frequency=sampling_frequency,
        channel_names=channel_names,
        num_samples=num_samples,
        **format_options,
    )


def _accepted_options(cls: type) -> set[str]:
    """Keywords a writer class takes, its base classes' included (they pass ``**kwargs`` on)."""
    import inspect

    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass is not object:
            for name, param in inspect.signature(klass.__init__).parameters.items():
                if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD) and name not in ("self", "path"):
                    names.add(name)
    return names


def _make_writer(format_id: str, path, split: str | None, pattern: str | None, **options: Any):
    cls = _writer_class(format_id)
    unknown = sorted(set(options) - _accepted_options(cls))
    if unknown:
        accepted = ", ".join(sorted(_accepted_options(cls) - set(options)))
        raise WriterError(f"the {format_id} writer has no option {', '.join(map(repr, unknown))}; "
                          f"its options: {accepted}")
    if split is None:
        if pattern is not None:
            raise WriterError("pattern= names the parts of a split output: give split='channels' or 'planes'")
        return cls(path, **options)
    from ._multi import SplitWriter

    return SplitWriter(path, cls, WRITER_FORMATS[format_id][2], split, pattern, **options)


def write_imaging(
    source: Any,
    path: str | os.PathLike,
    format: str | None = None,
    *,
    overwrite: bool = False,
    sampling_frequency: float | None = None,
    samples: slice | tuple[int | None, int | None] | None = None,
    planes: int | Sequence[int] | None = None,
    channels: str | int | Sequence[str | int] | None = None,
    target_chunk_mb: float = 32.0,
    progress: bool = False,
    callback: Callable[[int, int], Any] | None = None,
    split: str | None = None,
    pattern: str | None = None,
    **format_options: Any,
) -> Path | list[Path]:
    """Write a movie to a file of another format, streaming it in chunks of bounded size.

    Parameters
    ----------
    source : ImagingExtractor, list or mapping of extractors, or numpy.ndarray
        The movie: one extractor, several (one per channel: a list, or a mapping name -> extractor),
        or an array (samples, rows, columns[, planes]) with ``sampling_frequency``.
    path : str or os.PathLike
        The output; it appears only when complete.
    format : str, optional
        ``tiff``, ``ome_tiff`` (or ``ome-tiff``), ``hdf5``, ``mat``, ``suite2p``, ``zarr`` or ``video``
        (``.mkv``/``.avi`` FFV1, ``.mp4``/``.mov`` H.264); by default from the suffix.
    overwrite : bool
        Replace an existing output (only once the new one is complete).
    sampling_frequency : float, optional
        Rate of a numpy array source.
    samples : slice or (start, stop), optional
        The range of samples to write (Python slice semantics).
    planes : int or sequence of int, optional
        Planes of a volumetric source to write (one plane gives a planar output).
    channels : str, int or sequence, optional
        Channels to write, by name or index.
    target_chunk_mb : float
        Size of the blocks read and written at a time (all channels together); memory use is a small
        multiple of it.
    progress : bool
        Show a tqdm progress bar.
    callback : callable, optional
        Called as ``callback(samples_written, samples_total)`` after every chunk, bar or no bar.
    split : {None, "channels", "planes"}
        One output per channel or per plane instead of one output (see :func:`open_writer`).
    pattern : str, optional
        Names of the parts of a split output (see :func:`open_writer`).
    **format_options
        Options of the format's writer, e.g. ``compression=`` (see each writer class).

    Returns
    -------
    pathlib.Path or list of pathlib.Path
        The output path (the paths of the parts when ``split`` is given).
    """
    from ._source import as_source

    format_id = guess_writer_format(path, format)
    per_channel = split == "channels"
    channel_times = split is None and _writer_class(format_id).keeps_channel_times
    src = as_source(source, sampling_frequency=sampling_frequency, samples=samples, planes=planes, channels=channels,
                    per_channel_times=per_channel or channel_times)
    if src.num_samples == 0:
        raise WriterError("the selection has no samples; nothing to write")
    metadata = dict(src.metadata())
    metadata.update(format_options.pop("source_metadata", None) or {})
    writer = _make_writer(
        format_id,
        path,
        split,
        pattern,
        overwrite=overwrite,
        sampling_frequency=src.sampling_frequency,
        channel_names=src.names,
        num_samples=src.num_samples,
        source_metadata=metadata,
        **format_options,
    )
    writer._prepare_source(src)
    if per_channel:  # each channel's part keeps its own rate and times
        writer.part_rates = src.sampling_frequencies()
        per_channel_times = [src.timestamps(c) for c in range(len(src.channels))]
        timestamps = None if all(t is None for t in per_channel_times) else per_channel_times
    elif channel_times and len(src.channels) > 1:  # one time per sample and channel when they differ
        all_times = [src.timestamps(c) for c in range(len(src.channels))]
        if all(t is None for t in all_times) and len(set(src.sampling_frequencies())) == 1:
            timestamps = None
        elif all(t is not None and np.array_equal(t, all_times[0]) for t in all_times):
            timestamps = all_times[0]
        else:
            rates = src.sampling_frequencies()
            timestamps = np.stack(
                [_times_or_regular(t, r, 0, src.num_samples) for t, r in zip(all_times, rates)], axis=1
            )
    else:
        timestamps = src.timestamps()
    bar = None
    try:
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=src.num_samples, unit="sample", desc=f"writing {Path(path).name}")
        total = src.num_samples
        for offset, chunk in src.iter_chunks(src.chunk_samples(target_chunk_mb)):
            n = chunk[0].shape[0]
            if timestamps is None:
                times = None
            elif per_channel:
                times = [_times_or_regular(t, rate, offset, n) for t, rate in zip(timestamps, writer.part_rates)]
            else:
                times = timestamps[offset : offset + n]
            writer.write_frames(chunk, times)
            if bar is not None:
                bar.update(n)
            if callback is not None:
                callback(offset + n, total)
        return writer.close()
    except BaseException as exc:
        writer.abort(exc)
        raise
    finally:
        if bar is not None:
            bar.close()


def _times_or_regular(times, rate: float, offset: int, count: int):
    """The times of samples offset:offset+count: recorded ones, else ``index / rate``."""
    if times is None:
        return (offset + np.arange(count)) / rate
    return times[offset : offset + count]
