"""Preview one session (:func:`preview`) or several (:func:`preview_sessions`)."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checklist import _checklist
from .page import _img_tag, _session_html, _write_page
from .pictures import _draw, _safe
from .sources import _open_streams
from .stats import DEFAULT_BUDGET_BYTES, SessionPreview, _stream_stats

__all__ = ["preview", "preview_sessions"]


def preview(
    source: Any,
    output_dir: str | os.PathLike,
    metadata: Any = None,
    format: str | None = None,
    options: dict | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
    timezone: str | None = None,
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
    timezone : str, optional
        The zone a conversion would give a start time recorded without one (``--timezone``, a batch spec's
        ``conversion.timezone``), so that the checklist judges what the NWB file would hold.

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
        from ..conversion.metadata import merge_metadata

        metadata = merge_metadata(defaults, metadata)
    if timezone is not None and metadata is not None and not nwb_fields:
        metadata = _with_timezone(metadata, timezone)
    name, checklist = _checklist(metadata, nwb_fields, stats)
    session = SessionPreview(label, stats, name, checklist, output / "index.html")
    _write_page(session.index, f"ophysio preview: {Path(label).name}", _session_html(session))
    return session


def _with_timezone(metadata: Any, timezone: str) -> Any:
    """``metadata`` with a naive start time (and date of birth) in ``timezone``, as the conversion gives it."""
    from ..conversion.metadata import Metadata, apply_timezone

    try:
        model = metadata if isinstance(metadata, Metadata) else Metadata.from_dict(metadata)
    except Exception:  # invalid metadata: the checklist says what is wrong with it
        return metadata
    return apply_timezone(model, timezone).to_dict()


def preview_sessions(
    sessions: Sequence[tuple[str, Any, Any]], output_dir: str | os.PathLike, budget_bytes: int = DEFAULT_BUDGET_BYTES,
    timezone: str | None = None,
) -> Path:
    """Preview several sessions: one sub-folder each and an ``index.html`` with one row per session.

    Parameters
    ----------
    sessions : sequence of (name, source, metadata[, format, options])
        Sessions as :func:`preview` takes them; a session that cannot be previewed gets a row with the reason.
    output_dir : path
        Created if needed.
    timezone : str, optional
        As :func:`preview`'s, for every session (a batch spec's ``conversion.timezone``).

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
                              budget_bytes=budget_bytes, timezone=timezone)
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
