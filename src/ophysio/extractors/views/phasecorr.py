"""Phase correlation and shifts with numpy only: what the correction views estimate and apply.

Conventions: a *shift* is what is applied to the moving image to line it up with the reference, in
pixels, positive towards higher indices (``moved[x] = image[x - shift]``). The estimate is the peak of
the inverse transform of the phase of the cross-power spectrum ``F(reference) * conj(F(moving))``
(phase correlation); the integer peak is refined by evaluating that transform on a grid of
``1 / upsample`` pixels around it (the matrix-multiply DFT of Guizar-Sicairos et al., Opt. Lett. 2008),
so no array larger than the images is ever made.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LineSpectrum", "estimate_shift_2d", "shift_columns", "shift_image", "window"]


def window(n: int, taper: float = 0.25) -> np.ndarray:
    """A Tukey window of ``n`` points: flat in the middle, cosine tapers over ``taper`` of the length
    (half at each end), so that the edges do not correlate while the content barely feels the window."""
    if n < 3:
        return np.ones(n)
    x = (np.arange(n) + 0.5) / n
    edge = taper / 2
    w = np.ones(n)
    low, high = x < edge, x > 1 - edge
    w[low] = 0.5 * (1 - np.cos(np.pi * x[low] / edge))
    w[high] = 0.5 * (1 - np.cos(np.pi * (1 - x[high]) / edge))
    return w


def _fft_size(n: int) -> int:
    size = 1
    while size < 2 * n:
        size *= 2
    return size


class LineSpectrum:
    """The summed cross-power spectrum of the odd scan lines against the even lines around them.

    Each odd line is compared with the mean of the even lines above and below it (the even lines
    interpolated to its position), so that how the image changes from line to line does not pass for a
    horizontal shift. Lines of any length up to ``max_columns`` are windowed, their mean removed,
    zero-padded to one transform length and summed, so that pieces of different widths (the ROIs of a
    canvas) add up.
    """

    def __init__(self, max_columns: int):
        self.size = _fft_size(max_columns)
        self.spectrum = np.zeros(self.size // 2 + 1, np.complex128)
        self.pairs = 0

    def add_lines(self, lines: np.ndarray, parity: int = 0) -> None:
        """Add the scan lines of ``lines`` (..., rows, columns): row ``r`` is an odd scan line when
        ``(r + parity) % 2 == 1``."""
        rows, columns = lines.shape[-2:]
        first_odd = 1 - parity % 2
        odd = np.arange(first_odd, rows - 1, 2)
        odd = odd[odd >= 1]
        if columns < 2 or odd.size == 0:
            return
        data = lines.reshape(-1, rows, columns).astype(np.float64)
        even = (data[:, odd - 1] + data[:, odd + 1]) / 2
        self._add(even.reshape(-1, columns), data[:, odd].reshape(-1, columns))

    def _add(self, a: np.ndarray, b: np.ndarray) -> None:
        # Tapering both lines would pull the peak towards no shift (the windows line up there), tapering
        # one would push it aside; the sum of "tapered even x plain odd" and "plain even x tapered odd"
        # is symmetric.
        taper = window(a.shape[-1])
        a = a - a.mean(axis=1, keepdims=True)
        b = b - b.mean(axis=1, keepdims=True)
        fa, fb = np.fft.rfft(a, self.size, axis=1), np.fft.rfft(b, self.size, axis=1)
        fwa, fwb = np.fft.rfft(a * taper, self.size, axis=1), np.fft.rfft(b * taper, self.size, axis=1)
        self.spectrum += (fwa * np.conj(fb) + fa * np.conj(fwb)).sum(axis=0)
        self.pairs += len(a)

    def merge(self, other: LineSpectrum) -> None:
        self.spectrum += other.spectrum
        self.pairs += other.pairs

    def shift(self, upsample: int = 100, max_shift: float = 8.0, normalization: str | None = None) -> float:
        """Shift to apply to the odd lines to line them up with the even ones, to ``1 / upsample`` pixel,
        searched within ``max_shift``; ``normalization="phase"`` whitens the spectrum first."""
        if self.pairs == 0 or not np.any(self.spectrum):
            return 0.0
        spectrum = _phase(self.spectrum) if normalization == "phase" else self.spectrum
        n = self.size
        corr = np.fft.irfft(spectrum, n)
        lags = np.fft.fftfreq(n, 1 / n)
        allowed = np.abs(lags) <= max_shift
        coarse = float(lags[np.flatnonzero(allowed)[np.argmax(corr[allowed])]])
        if upsample <= 1:
            return coarse
        full = np.concatenate([spectrum, np.conj(spectrum[1:-1][::-1])])  # the whole (Hermitian) spectrum
        freqs = np.fft.fftfreq(n)
        grid = coarse + np.arange(-1.5, 1.5 + 0.5 / upsample, 1 / upsample)
        grid = grid[np.abs(grid) <= max_shift]
        values = np.exp(2j * np.pi * np.outer(grid, freqs)) @ full
        return round(float(grid[np.argmax(values.real)]) * upsample) / upsample


def _phase(spectrum: np.ndarray) -> np.ndarray:
    magnitude = np.abs(spectrum)
    floor = magnitude.max() * 1e-12 if magnitude.size else 0.0
    return spectrum / np.maximum(magnitude, floor if floor > 0 else 1.0)


def estimate_shift_2d(reference: np.ndarray, moving: np.ndarray, upsample: int = 1,
                      max_shift: float | None = None, normalization: str | None = None) -> tuple[float, float]:
    """(dy, dx) to apply to ``moving`` to line it up with ``reference`` (2-D images of one shape).

    Integer shifts with ``upsample=1``; otherwise to ``1 / upsample`` pixel. ``max_shift`` bounds the
    search in both axes (default: a quarter of each side). ``normalization="phase"`` whitens the
    cross-power spectrum (phase correlation in the strict sense); None (default) correlates the images as
    they are, which is steadier on smooth or noisy images.
    """
    rows, columns = reference.shape
    taper = np.outer(window(rows), window(columns))
    a = reference - reference.mean()
    b = moving - moving.mean()
    # "tapered reference x plain moving" plus "plain reference x tapered moving": symmetric, so the taper
    # neither pulls the peak towards no shift nor pushes it aside
    size = (_fft_size(rows), _fft_size(columns))  # zero-padded: the correlation does not wrap around

    def transform(image: np.ndarray) -> np.ndarray:
        return np.fft.fft2(image, size)

    phase = transform(a * taper) * np.conj(transform(b)) + transform(a) * np.conj(transform(b * taper))
    phase = _phase(phase) if normalization == "phase" else phase
    corr = np.fft.ifft2(phase).real
    ly = np.fft.fftfreq(size[0], 1 / size[0])
    lx = np.fft.fftfreq(size[1], 1 / size[1])
    limit_y = rows / 4 if max_shift is None else max_shift
    limit_x = columns / 4 if max_shift is None else max_shift
    masked = np.where((np.abs(ly)[:, None] <= limit_y) & (np.abs(lx)[None, :] <= limit_x), corr, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(masked)), corr.shape)
    dy, dx = float(ly[iy]), float(lx[ix])
    if upsample <= 1:
        return dy, dx
    steps = np.arange(-1.5, 1.5 + 0.5 / upsample, 1 / upsample)
    gy, gx = dy + steps, dx + steps
    ky = np.exp(2j * np.pi * np.outer(gy, np.fft.fftfreq(size[0])))
    kx = np.exp(2j * np.pi * np.outer(np.fft.fftfreq(size[1]), gx))
    values = (ky @ phase @ kx).real
    jy, jx = np.unravel_index(int(np.argmax(values)), values.shape)
    return round(float(gy[jy]) * upsample) / upsample, round(float(gx[jx]) * upsample) / upsample


def _round_into(values: np.ndarray, out: np.ndarray) -> None:
    if out.dtype.kind in "iub":
        info = np.iinfo(out.dtype) if out.dtype.kind != "b" else None
        values = np.rint(values)
        if info is not None:
            np.clip(values, info.min, info.max, out=values)
    out[...] = values


def shift_columns(lines: np.ndarray, shift: float, out: np.ndarray) -> None:
    """``out[..., x] = lines[..., x - shift]`` along the last axis, the nearest column beyond the edges.

    An integer shift moves pixels unchanged; a fractional one interpolates linearly between the two
    nearest columns (rounded to nearest for integer data).
    """
    columns = lines.shape[-1]
    x = np.arange(columns)
    whole = int(np.floor(shift))
    frac = float(shift) - whole
    first = np.clip(x - whole, 0, columns - 1)
    if frac < 1e-9:
        out[...] = np.take(lines, first, axis=-1)
        return
    second = np.clip(x - whole - 1, 0, columns - 1)
    values = (1.0 - frac) * np.take(lines, first, axis=-1).astype(np.float64)
    values += frac * np.take(lines, second, axis=-1)
    _round_into(values, out)


def shift_image(image: np.ndarray, dy: float, dx: float, fill: float, out: np.ndarray) -> None:
    """``out[..., y, x] = image[..., y - dy, x - dx]`` over the last two axes, ``fill`` outside the image.

    Integer shifts move pixels unchanged; fractional ones interpolate bilinearly (a pixel that needs a
    point outside the image gets ``fill``).
    """
    rows, columns = image.shape[-2:]
    wy, wx = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = float(dy) - wy, float(dx) - wx
    if fy < 1e-9 and fx < 1e-9:
        out[...] = fill
        src_y = slice(max(0, -wy), min(rows, rows - wy))
        src_x = slice(max(0, -wx), min(columns, columns - wx))
        dst_y = slice(max(0, wy), min(rows, rows + wy))
        dst_x = slice(max(0, wx), min(columns, columns + wx))
        if src_y.stop > src_y.start and src_x.stop > src_x.start:
            out[..., dst_y, dst_x] = image[..., src_y, src_x]
        return
    ys = np.arange(rows) - wy
    xs = np.arange(columns) - wx
    total = np.zeros(image.shape, np.float64)
    weight = np.zeros((rows, columns), np.float64)
    for oy, wy_ in ((0, 1 - fy), (-1, fy)):
        for ox, wx_ in ((0, 1 - fx), (-1, fx)):
            w = wy_ * wx_
            if w < 1e-12:
                continue
            yy, xx = ys + oy, xs + ox
            inside = ((yy >= 0) & (yy < rows))[:, None] & ((xx >= 0) & (xx < columns))[None, :]
            picked = image[..., np.clip(yy, 0, rows - 1), :][..., np.clip(xx, 0, columns - 1)]
            total += w * np.where(inside, picked, 0)
            weight += w * inside
    complete = weight > 1 - 1e-9
    _round_into(np.where(complete, total, fill), out)
