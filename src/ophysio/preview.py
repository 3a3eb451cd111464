"""A visual check of a session before (or after) conversion: images, timing, facts, DANDI checklist.

``ophysio preview SOURCE_OR_NWB -o DIR`` (extra ``preview``: ``pip install "ophysio[preview]"``, which
brings matplotlib) writes into ``DIR``, for each channel and plane of the session, a mean and a max image,
a frame-interval plot (median interval and the frames off by more than half of it), the mean intensity
over time, and an ``index.html`` with those PNGs embedded beside the facts (shape, dtype, chunks,
compression, planned DANDI name) and a checklist of what would fail DANDI validation.

It reads a sample of the data, not all of it: a few evenly spaced runs of consecutive samples for the
images and evenly spaced single samples for the intensity trace, within a byte budget
(``budget_bytes``, 128 MB by default), so that a 10 GB session previews in seconds. Timestamps are
read whole (they are small). The page says how many samples the images and the trace come from.

The source may be anything :func:`ophysio.open_imaging` opens, an :class:`~ophysio.ImagingExtractor`,
or an NWB file (``.nwb``; every ``TwoPhotonSeries``/``OnePhotonSeries`` in ``/acquisition``).
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["preview", "preview_sessions", "StreamPreview", "SessionPreview"]

DEFAULT_BUDGET_BYTES = 128 * 1024**2
_RUNS = 8  # runs of consecutive samples spread over the recording for the images
_MAX_TRACE_POINTS = 1000


# ---------------------------------------------------------------------- sources
class _Stream:
    """One photon series seen through a minimal reading interface (rows, columns[, planes] layout)."""

    name: str
    num_samples: int
    sample_shape: tuple[int, ...]
    dtype: np.dtype
    chunks: str
    compression: str

    def read(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_samples(self, indices: np.ndarray) -> np.ndarray:
        return np.stack([self.read(int(i), int(i) + 1)[0] for i in indices])

    def timestamps(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class _ExtractorStream(_Stream):
    def __init__(self, extractor, name: str):
        self.extractor = extractor
        self.name = name
        self.num_samples = extractor.get_num_samples()
        self.sample_shape = tuple(extractor.get_sample_shape())
        self.dtype = np.dtype(extractor.get_dtype())
        try:
            from .conversion.chunks import chunk_shape_for

            self.chunks = f"{chunk_shape_for(extractor)} planned in NWB layout (samples, x, y[, z])"
        except ImportError:  # pragma: no cover - conversion module not present
            self.chunks = "n/a"
        self.compression = "source as recorded; NWB output: gzip + shuffle (ophysio default)"

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.extractor.get_series(start, stop)

    def read_samples(self, indices: np.ndarray) -> np.ndarray:
        return self.extractor.get_samples(indices)

    def timestamps(self) -> np.ndarray:
        return np.asarray(self.extractor.get_timestamps(), dtype=float)


class _NWBStream(_Stream):
    """A photon series of an NWB HDF5 file (NWB stores (samples, x, y[, z]); read back as rows, columns)."""

    def __init__(self, path: Path, series_path: str):
        import h5py

        self.path = path
        self.series_path = series_path
        self.name = series_path.rsplit("/", 1)[-1]
        with h5py.File(path, "r") as f:
            data = f[series_path]["data"]
            shape = data.shape
            self.num_samples = shape[0]
            self.sample_shape = (shape[2], shape[1], *shape[3:])
            self.dtype = data.dtype
            self.chunks = str(data.chunks) + " in NWB layout (samples, x, y[, z])" if data.chunks else "contiguous"
            opts = [data.compression or "none"]
            if data.compression_opts is not None:
                opts[0] += f" (level {data.compression_opts})"
            if data.shuffle:
                opts.append("shuffle")
            self.compression = " + ".join(opts)

    def _data(self, f):
        return f[self.series_path]["data"]

    def read(self, start: int, stop: int) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.ascontiguousarray(self._data(f)[start:stop].swapaxes(1, 2))

    def read_samples(self, indices: np.ndarray) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            return np.ascontiguousarray(self._data(f)[np.asarray(indices)].swapaxes(1, 2))

    def timestamps(self) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            group = f[self.series_path]
            if "timestamps" in group:
                return np.asarray(group["timestamps"][()], dtype=float)
            start = group["starting_time"]
            return float(start[()]) + np.arange(self.num_samples) / float(start.attrs["rate"])


def _nwb_series_paths(path: Path) -> list[str]:
    import h5py

    found = []
    with h5py.File(path, "r") as f:
        acquisition = f.get("acquisition")
        if acquisition is not None:
            for key, obj in acquisition.items():
                kind = obj.attrs.get("neurodata_type", b"")
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                if kind in ("TwoPhotonSeries", "OnePhotonSeries") and "data" in obj:
                    found.append(f"/acquisition/{key}")
    return found


def _open_interface(paths: list[str], format: str | None, options: dict):
    """The format's conversion interface for ``paths``: every channel, plus the defaults read from the source."""
    from .conversion.interfaces import interface_for_format
    from .extractors.registry import detect_format, get_format

    spec = get_format(format) if format else detect_format(paths[0])
    if len(paths) == 1:
        keywords = {spec.path_argument: paths[0]}
    elif spec.paths_argument:
        keywords = {spec.paths_argument: paths}
    else:
        raise ValueError(f"the {spec.id} format reads one path at a time, got {len(paths)}")
    from .errors import SelectionError

    try:
        return interface_for_format(spec.id)(**keywords, **options)
    except SelectionError:
        # a multi-channel source that wants one channel named: open each channel the format lists
        cls = spec.load_class()
        lister = getattr(cls, "get_available_channel_names", None)
        if lister is None or "channel_name" in options:
            raise
        from .conversion.interfaces import interface_for_extractor

        names = lister(paths[0])
        return interface_for_extractor([cls(**keywords, **options, channel_name=name) for name in names])


def _open_streams(source: Any, format: str | None = None,
                  options: dict | None = None) -> tuple[list[_Stream], str, dict, dict]:
    """Streams of a source, a label, the DANDI fields an NWB file holds, and the source's default metadata."""
    from .extractors import ImagingExtractor

    if isinstance(source, ImagingExtractor):
        return [_ExtractorStream(source, source.channel_name)], repr(source), {}, {}
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, ImagingExtractor) for s in source):
        return [_ExtractorStream(s, s.channel_name) for s in source], repr(source[0]), {}, {}
    paths = [str(p) for p in source] if isinstance(source, (list, tuple)) else [str(source)]
    path = Path(paths[0])
    if len(paths) == 1 and path.suffix.lower() == ".nwb" and path.is_file():
        from .conversion.dandi import nwb_dandi_fields

        series = _nwb_series_paths(path)
        if not series:
            raise ValueError(f"{path} holds no TwoPhotonSeries or OnePhotonSeries in /acquisition")
        return [_NWBStream(path, s) for s in series], str(path), nwb_dandi_fields(path), {}
    interface = _open_interface(paths, format, dict(options or {}))
    try:
        defaults = interface.get_metadata()
    except Exception:  # defaults are a help for the checklist, not a requirement
        defaults = {}
    label = paths[0] + (f" (+{len(paths) - 1} files)" if len(paths) > 1 else "")
    return [_ExtractorStream(ex, ex.channel_name) for ex in interface.extractors], label, {}, defaults


# ---------------------------------------------------------------------- statistics
@dataclass
class StreamPreview:
    """What the preview computed for one channel (all planes)."""

    name: str
    num_samples: int
    sample_shape: tuple[int, ...]
    dtype: str
    chunks: str
    compression: str
    image_samples: np.ndarray  #: indices of the samples averaged into the images
    mean_image: np.ndarray  #: (rows, columns[, planes]) float64
    max_image: np.ndarray  #: (rows, columns[, planes])
    trace_samples: np.ndarray  #: indices of the samples of the intensity trace
    mean_intensity: np.ndarray  #: mean of each trace sample
    timestamps: np.ndarray
    median_interval: float
    irregular_samples: np.ndarray  #: indices i whose interval t[i+1]-t[i] is off by more than half the median
    images: dict[str, Path] = field(default_factory=dict)  #: name -> PNG written


def _image_runs(num_samples: int, sample_nbytes: int, budget: int) -> list[tuple[int, int]]:
    total = max(1, budget // max(sample_nbytes, 1))
    if total >= num_samples:
        return [(0, num_samples)]
    runs = max(1, min(_RUNS, total))
    length = max(1, total // runs)
    starts = np.linspace(0, num_samples - length, runs).astype(int)
    merged: list[tuple[int, int]] = []
    for start in starts:
        stop = int(start) + length
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((int(start), stop))
    return merged


def _stream_stats(stream: _Stream, budget: int) -> StreamPreview:
    n = stream.num_samples
    if n == 0:
        raise ValueError(f"{stream.name} has no samples to preview")
    sample_nbytes = int(np.prod(stream.sample_shape)) * stream.dtype.itemsize
    runs = _image_runs(n, sample_nbytes, budget // 2)
    total = np.zeros(stream.sample_shape, dtype=np.float64)
    peak = None
    used = []
    for start, stop in runs:
        block = stream.read(start, stop)
        total += block.sum(axis=0, dtype=np.float64)
        block_max = block.max(axis=0)
        peak = block_max if peak is None else np.maximum(peak, block_max)
        used.append(np.arange(start, stop))
    image_samples = np.concatenate(used)
    count = max(1, min(n, _MAX_TRACE_POINTS, (budget // 2) // max(sample_nbytes, 1)))
    trace_samples = np.unique(np.linspace(0, n - 1, count).round().astype(np.int64))
    intensity = np.empty(len(trace_samples))
    step = max(1, (16 * 1024**2) // max(sample_nbytes, 1))  # bounded memory per read
    for i in range(0, len(trace_samples), step):
        part = stream.read_samples(trace_samples[i:i + step])
        intensity[i:i + step] = part.reshape(len(part), -1).mean(axis=1, dtype=np.float64)
    times = stream.timestamps()
    if len(times) >= 2:
        intervals = np.diff(times)
        median = float(np.median(intervals))
        irregular = np.flatnonzero(np.abs(intervals - median) > median / 2)
    else:
        median, irregular = float("nan"), np.empty(0, dtype=np.int64)
    return StreamPreview(
        stream.name, n, tuple(stream.sample_shape), str(stream.dtype), stream.chunks, stream.compression,
        image_samples, total / len(image_samples), peak, trace_samples, intensity, times, median, irregular,
    )


# ---------------------------------------------------------------------- figures
def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, format="png")
    return path


def _show_images(images: list[np.ndarray], titles: list[str], suptitle: str, path: Path) -> Path:
    """One PNG with one panel per plane (a single panel with a colour bar for planar data).

    Each panel has its own contrast (0.5 and 99.5 percentiles), written in its title for several planes.
    """
    count = len(images)
    columns = min(count, 4)
    grid_rows = -(-count // columns)
    rows, cols = images[0].shape
    aspect = cols / max(rows, 1)
    panel = 3.2 if count == 1 else 2.3
    width = min(14.0, columns * panel * min(max(aspect, 0.6), 2.5) + (1.2 if count == 1 else 0.4))
    fig = _figure(width, grid_rows * panel + 0.6)
    single = count == 1
    fig.subplots_adjust(left=0.15 if single else 0.06, right=0.9 if single else 0.98, bottom=0.08,
                        top=0.86 if single else 0.9, wspace=0.25, hspace=0.35)
    for i, (image, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(grid_rows, columns, i + 1)
        finite = image[np.isfinite(image)]
        low, high = (np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 1.0))
        if high <= low:
            high = low + 1
        shown = ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        ax.tick_params(labelsize=7)
        if count == 1:
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("column", fontsize=8)
            ax.set_ylabel("row", fontsize=8)
            fig.colorbar(shown, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
        else:
            ax.set_title(f"{title} ({low:.4g} to {high:.4g})", fontsize=7)
    fig.suptitle(suptitle, fontsize=9)
    return _save(fig, path)


def _plot_intervals(sp: StreamPreview, path: Path) -> Path:
    fig = _figure(7.0, 2.8)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.9)
    ax = fig.add_subplot()
    if len(sp.timestamps) >= 2:
        intervals = np.diff(sp.timestamps) * 1e3
        median = sp.median_interval * 1e3
        spread = float(np.max(np.abs(intervals - median)))
        ax.axhspan(median * 0.5, median * 1.5, color="tab:green", alpha=0.08, label="within half the median")
        marker = "o" if len(intervals) < 200 else ""
        ax.plot(np.arange(len(intervals)), intervals, lw=0.8, color="tab:blue", marker=marker, ms=3,
                label=f"interval (largest deviation {spread:.3g} ms)")
        ax.axhline(median, color="tab:green", lw=1, ls="--", label=f"median {median:.4g} ms")
        low, high = float(intervals.min()), float(intervals.max())
        if median > 0:
            ax.set_ylim(min(low, 0.4 * median), max(high, 1.6 * median))
        ax.ticklabel_format(axis="y", useOffset=False)
        if len(sp.irregular_samples):
            ax.plot(sp.irregular_samples, intervals[sp.irregular_samples], "o", ms=4, color="tab:red",
                    label=f"{len(sp.irregular_samples)} off by > half the median")
        ax.legend(fontsize=8, loc="upper right")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("sample")
    ax.set_ylabel("interval to next sample (ms)")
    ax.set_title(f"{sp.name}: sample intervals", fontsize=9)
    return _save(fig, path)


def _plot_intensity(sp: StreamPreview, path: Path) -> Path:
    fig = _figure(7.0, 2.8)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.9)
    ax = fig.add_subplot()
    times = sp.timestamps[sp.trace_samples] if len(sp.timestamps) == sp.num_samples else sp.trace_samples
    ax.plot(times, sp.mean_intensity, lw=0.8, color="tab:purple")
    ax.set_xlabel("time (s)" if len(sp.timestamps) == sp.num_samples else "sample")
    ax.set_ylabel("mean intensity")
    ax.set_title(f"{sp.name}: mean intensity ({len(sp.trace_samples)} of {sp.num_samples} samples)", fontsize=9)
    return _save(fig, path)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name) or "stream"


def _draw(sp: StreamPreview, folder: Path) -> None:
    base = _safe(sp.name)
    planes = sp.mean_image.shape[2] if sp.mean_image.ndim == 3 else None
    count = len(sp.image_samples)
    for kind, stack in (("mean", sp.mean_image), ("max", sp.max_image)):
        stack = np.asarray(stack, dtype=np.float64)
        images = [stack[..., p] for p in range(planes)] if planes else [stack]
        titles = [f"plane {p}" for p in range(planes)] if planes else [f"{kind} image"]
        sp.images[kind] = _show_images(images, titles, f"{sp.name}: {kind} of {count} of {sp.num_samples} samples",
                                       folder / f"{base}_{kind}.png")
    sp.images["intervals"] = _plot_intervals(sp, folder / f"{base}_intervals.png")
    sp.images["intensity"] = _plot_intensity(sp, folder / f"{base}_intensity.png")


# ---------------------------------------------------------------------- checklist and page
@dataclass
class SessionPreview:
    """The preview of one session: its streams, planned DANDI name, checklist and page."""

    source: str
    streams: list[StreamPreview]
    dandi_name: str | None
    checklist: list[tuple[bool, str]]  #: (passes, item)
    index: Path

    @property
    def dandi_ready(self) -> bool:
        return all(ok for ok, _ in self.checklist)


def _checklist(metadata: Any, nwb_fields: dict, streams: list[StreamPreview]) -> tuple[str | None, list]:
    from .conversion.dandi import dandi_field_problems, dandi_relative_path

    md = nwb_fields or metadata or {}
    if hasattr(md, "model_dump"):
        md = md.model_dump(exclude_none=True)
    problems = dandi_field_problems(md)
    bad = {p.field for p in problems}
    items: list[tuple[bool, str]] = []
    for fld in ("Subject.subject_id", "Subject.species", "Subject.sex", "Subject.age", "NWBFile.session_id"):
        match = [p for p in problems if p.field == fld]
        items.append((not match, str(match[0]) if match else f"{fld} given"))
    if metadata is not None and not nwb_fields:
        try:
            from .conversion.metadata import Metadata

            for line in Metadata.from_dict(metadata).missing(dandi=True):
                if line.split(":")[0] not in bad and not line.startswith("Subject."):
                    items.append((False, line))
        except Exception as exc:  # metadata invalid, or the conversion module not there yet
            items.append((False, f"metadata: {exc}"))
    elif metadata is None and not nwb_fields:
        items.append((False, "no metadata given: subject, session and imaging plane details will be asked for"))
    for sp in streams:
        if len(sp.irregular_samples):
            items.append((True, f"{sp.name}: {len(sp.irregular_samples)} sample intervals off by more than half the "
                                f"median (not a DANDI error; the NWB file keeps the timestamps)"))
    name = None
    subject = (md.get("Subject") or {}).get("subject_id")
    session = (md.get("NWBFile") or {}).get("session_id")
    if subject and session and "Subject.subject_id" not in bad and "NWBFile.session_id" not in bad:
        name = str(dandi_relative_path(subject, session))
    return name, items


def _img_tag(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.name)}" title="{html.escape(path.name)}">'


_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}img{max-width:100%;margin:4px}
.ok{color:#1a7f37}.fail{color:#c62828;font-weight:bold}.imgs{display:flex;flex-wrap:wrap}"""


def _session_html(session: SessionPreview) -> str:
    e = html.escape
    out = [f"<h2>{e(session.source)}</h2>",
           f"<p>Planned DANDI name: <code>{e(session.dandi_name or 'unknown (subject_id / session_id missing)')}"
           "</code></p>", "<h3>DANDI checklist</h3><p>What DANDI's validator and a DANDI-ready conversion "
           "need (&#10007;: missing or malformed).</p><ul>"]
    for ok, item in session.checklist:
        out.append(f'<li class="{"ok" if ok else "fail"}">{"&#10003;" if ok else "&#10007;"} {e(item)}</li>')
    out.append("</ul>")
    for sp in session.streams:
        out.append(f"<h3>{e(sp.name)}</h3><table>")
        facts = [("samples", sp.num_samples), ("sample shape (rows, columns[, planes])", sp.sample_shape),
                 ("dtype", sp.dtype), ("chunks", sp.chunks), ("compression", sp.compression),
                 ("median interval", f"{sp.median_interval * 1e3:.6g} ms ({1 / sp.median_interval:.6g} Hz)"
                  if sp.median_interval == sp.median_interval and sp.median_interval > 0 else "n/a"),
                 ("intervals off by > half the median", len(sp.irregular_samples)),
                 ("samples in the images", f"{len(sp.image_samples)} of {sp.num_samples}")]
        out.extend(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
        out.append('</table><div class="imgs">')
        out.extend(_img_tag(p) for p in sp.images.values())
        out.append("</div>")
    return "\n".join(out)


def _write_page(path: Path, title: str, body: str) -> None:
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n",
                    encoding="utf-8")


def preview(
    source: Any,
    output_dir: str | os.PathLike,
    metadata: Any = None,
    format: str | None = None,
    options: dict | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> SessionPreview:
    """Write the PNGs and ``index.html`` of one session into ``output_dir``.

    Parameters
    ----------
    source : path, list of paths, ImagingExtractor or list of them
        A source :func:`ophysio.open_imaging` opens (every channel is shown), extractors, or an NWB file.
    output_dir : path
        Created if needed.
    metadata : mapping or pydantic model, optional
        The metadata the session would be converted with (for the DANDI name and checklist); an NWB file
        brings its own.
    format : str, optional
        Format id, when it cannot be detected.
    options : dict, optional
        Extractor keywords (e.g. ``sampling_frequency`` for a ``.npy`` file).
    budget_bytes : int
        About how many bytes of pixels to read.

    Returns
    -------
    SessionPreview
        The computed images and statistics, the checklist and the page's path.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    streams, label, nwb_fields, defaults = _open_streams(source, format, options)
    stats = [_stream_stats(s, budget_bytes) for s in streams]
    for sp in stats:
        _draw(sp, output)
    if defaults:
        from .conversion.metadata import merge_metadata

        metadata = merge_metadata(defaults, metadata)
    name, checklist = _checklist(metadata, nwb_fields, stats)
    session = SessionPreview(label, stats, name, checklist, output / "index.html")
    _write_page(session.index, f"ophysio preview: {Path(label).name}", _session_html(session))
    return session


def preview_sessions(
    sessions: Sequence[tuple[str, Any, Any]], output_dir: str | os.PathLike, budget_bytes: int = DEFAULT_BUDGET_BYTES,
) -> Path:
    """Preview several sessions: one sub-folder each and an ``index.html`` with one row per session.

    Parameters
    ----------
    sessions : sequence of (name, source, metadata[, format, options])
        Sessions as :func:`preview` takes them; a session that cannot be previewed gets a row with the reason.
    output_dir : path
        Created if needed.

    Returns
    -------
    pathlib.Path
        The overview page.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    e = html.escape
    for name, source, metadata, *rest in sessions:
        folder = output / _safe(name)
        fmt, options = (list(rest) + [None, None])[:2]
        try:
            session = preview(source, folder, metadata=metadata, format=fmt, options=options,
                              budget_bytes=budget_bytes)
        except Exception as exc:
            rows.append(f"<tr><td>{e(name)}</td><td colspan='3' class='fail'>could not be previewed: "
                        f"{e(exc.__class__.__name__)}: {e(str(exc))}</td></tr>")
            continue
        first = session.streams[0]
        thumb = _img_tag(next(iter(first.images.values()))).replace("<img ", '<img width="160" ', 1)
        failing = [item for ok, item in session.checklist if not ok]
        status = ("<span class='ok'>ready</span>" if not failing
                  else "<span class='fail'>" + "<br>".join(e(i) for i in failing) + "</span>")
        rows.append(f"<tr><td><a href='{e(folder.name)}/index.html'>{e(name)}</a><br>"
                    f"<code>{e(session.dandi_name or '?')}</code></td><td>{thumb}</td>"
                    f"<td>{first.num_samples} x {first.sample_shape} {e(first.dtype)}</td><td>{status}</td></tr>")
    body = ("<table><tr><th>session</th><th>mean image</th><th>samples</th><th>DANDI checklist</th></tr>"
            + "\n".join(rows) + "</table>")
    index = output / "index.html"
    _write_page(index, f"ophysio preview: {len(sessions)} sessions", body)
    return index
