"""The PNGs of a stream: mean and max images (a panel per plane), sample intervals, mean intensity (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .stats import StreamPreview


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
