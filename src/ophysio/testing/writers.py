"""The shared suite every writer's tests subclass, and the synthetic sources it writes.

Subclass :class:`WriterTests` in a pytest module, name the writer and fill one hook:

``format``
    The writer id (``tiff``, ``hdf5``...), as :func:`ophysio.conversion.writers.write_imaging` takes it.
``output_name``
    The output's file (or folder) name, e.g. ``"movie.h5"``.
``read_back(self, path, case, options)``
    Read the written output without ophysio (tifffile, h5py, scipy, numpy, zarr) and return one
    (samples, rows, columns[, planes]) array per channel (required).
``check_written(self, path, case, options)``
    Extra checks of the format (attributes, metadata, layout): optional.

Every test then runs for every case (``planar``, ``volumetric``, ``multichannel`` by default) and every
option set in ``option_sets``: the round trip read back independently, atomic output (nothing at the path
after a failure mid-write), options checked (an unknown option is an error naming it) and a memory bound
(the peak allocation of writing stays under :meth:`WriterTests.memory_bound` while the source is larger)::

    class TestHDF5Writer(WriterTests):
        format = "hdf5"
        output_name = "movie.h5"

        def read_back(self, path, case, options):
            with h5py.File(path) as f:
                data = f["mov"][:]
            return [data] if data.ndim == ... else [data[..., c] for c in range(data.shape[-1])]
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..extractors.numpy import NumpyImagingExtractor
from .synthetic import movie

__all__ = ["WriterTests", "WRITER_CASES", "RATE", "channel_movies", "irregular_times", "make_source", "traced_peak"]

#: Sampling rate of the synthetic sources.
RATE = 7.5

#: name -> (samples, rows, columns, planes or None, channels, dtype)
WRITER_CASES = {
    "planar": (11, 12, 9, None, 1, "uint16"),
    "volumetric": (7, 10, 8, 3, 1, "int16"),
    "multichannel": (6, 9, 7, 2, 2, "uint16"),
}


def channel_movies(case: str) -> list[np.ndarray]:
    """The movie of each channel of a case, (samples, rows, columns[, planes])."""
    samples, rows, cols, planes, channels, dtype = WRITER_CASES[case]
    return [movie(samples, rows, cols, planes, dtype, channel=c) for c in range(channels)]


def irregular_times(samples: int) -> np.ndarray:
    """Timestamps that a rate cannot describe (the intervals grow)."""
    return 0.5 + np.arange(samples) / RATE + 0.003 * np.arange(samples) ** 2


def make_source(case: str, timestamps: bool = False):
    """One extractor per channel of a case (a mapping ``ch<i>`` -> extractor when there are several)."""
    movies = channel_movies(case)
    times = irregular_times(movies[0].shape[0]) if timestamps else None
    exts = [
        NumpyImagingExtractor(m, None if timestamps else RATE, timestamps=times, channel_name=f"ch{c}")
        for c, m in enumerate(movies)
    ]
    return exts[0] if len(exts) == 1 else {f"ch{c}": e for c, e in enumerate(exts)}


def traced_peak(call) -> tuple[Any, int]:
    """``(call(), peak bytes allocated while it ran)`` (tracemalloc sees numpy buffers and bytes objects)."""
    tracemalloc.start()
    try:
        result = call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


class _FailingSource(NumpyImagingExtractor):
    """A source whose reads fail once ``reads_before_failure`` reads have succeeded (a disk gone mid-write)."""

    def __init__(self, data: np.ndarray, rate: float, reads_before_failure: int):
        super().__init__(data, rate)
        self._reads_left = reads_before_failure

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._reads_left <= 0:
            raise OSError(5, "Input/output error (the source went away mid-write)")
        self._reads_left -= 1
        super()._read_series(start, stop, out)


class WriterTests:
    """Checks every writer must pass; subclasses set ``format``, ``output_name`` and :meth:`read_back`."""

    format: str = ""
    output_name: str = ""
    #: source cases (keys of :data:`WRITER_CASES`)
    cases: list[str] = list(WRITER_CASES)
    #: writer options to round-trip with (each a dict of ``write_imaging`` keywords)
    option_sets: list[dict[str, Any]] = [{}]
    #: whether the round trip's source has irregular timestamps (True) or a rate (False)
    source_timestamps: bool = False
    #: options of every write of the suite (e.g. ``{"version": "5"}`` for MAT v5)
    write_options: dict[str, Any] = {}
    #: options for the memory test (e.g. a chunk shape for a writer whose default chunks are large)
    memory_options: dict[str, Any] = {}

    # ---- hooks -------------------------------------------------------------------------------
    def read_back(self, path: Path, case: str, options: dict[str, Any]) -> list[np.ndarray]:
        raise NotImplementedError  # pragma: no cover - must be overridden

    def check_written(self, path: Path, case: str, options: dict[str, Any]) -> None:
        """Format-specific checks of a round trip's output (attributes, metadata); none by default."""

    def expected_movies(self, case: str) -> list[np.ndarray]:
        """What :meth:`read_back` must return for a case: the movie of each channel."""
        return channel_movies(case)

    def case_options(self, case: str) -> dict[str, Any]:
        """Options of the round trip that depend on the case (e.g. one metadata record per sample)."""
        return {}

    def make_source(self, case: str):
        """The source written for a case (numpy extractors, one per channel)."""
        return make_source(case, timestamps=self.source_timestamps)

    def memory_bound(self, target_chunk_bytes: int) -> int:
        """Peak bytes writing may allocate with chunks of ``target_chunk_bytes``."""
        return 10 * target_chunk_bytes + 2 * 1024**2

    # ---- parametrisation ---------------------------------------------------------------------
    def pytest_generate_tests(self, metafunc):
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", self.cases)
        if "options" in metafunc.fixturenames:
            ids = [",".join(f"{k}={v}" for k, v in o.items()) or "defaults" for o in self.option_sets]
            metafunc.parametrize("options", self.option_sets, ids=ids)

    def _write(self, source: Any, folder: Path, **options: Any):
        from ..conversion.writers import write_imaging

        return write_imaging(source, folder / self.output_name, format=self.format, **{**self.write_options, **options})

    # ---- the round trip ----------------------------------------------------------------------
    def test_round_trip_read_back_independently(self, tmp_path, case, options):
        out = self._write(self.make_source(case), tmp_path, target_chunk_mb=0.002, **self.case_options(case), **options)
        assert Path(out).name == self.output_name
        assert not [p for p in tmp_path.rglob("*") if ".partial" in p.name]  # no temporary file left
        expected = self.expected_movies(case)
        got = self.read_back(Path(out), case, options)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.dtype == e.dtype
            np.testing.assert_array_equal(g, e)
        self.check_written(Path(out), case, options)

    # ---- atomic output -----------------------------------------------------------------------
    def test_failure_mid_write_leaves_nothing_at_the_path(self, tmp_path):
        source = _FailingSource(movie(12, 8, 6, dtype="uint16"), RATE, reads_before_failure=2)
        with pytest.raises(OSError, match="went away mid-write"):
            self._write(source, tmp_path, target_chunk_mb=0.0001)
        assert list(tmp_path.iterdir()) == []

    def test_interrupted_write_leaves_nothing_at_the_path(self, tmp_path):
        def stop(done, total):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            self._write(make_source("planar"), tmp_path, target_chunk_mb=0.0001, callback=stop)
        assert list(tmp_path.iterdir()) == []

    # ---- options -------------------------------------------------------------------------------
    def test_unknown_option_is_an_error_naming_it(self, tmp_path):
        from ..conversion.writers import WriterError

        with pytest.raises(WriterError, match=f"the {self.format} writer has no option 'bogus_option'; its options"):
            self._write(make_source("planar"), tmp_path, bogus_option=1)
        assert list(tmp_path.iterdir()) == []

    # ---- memory --------------------------------------------------------------------------------
    def test_peak_memory_of_writing_stays_bounded(self, tmp_path):
        data = movie(800, 128, 128, dtype="uint16") % 30000  # 26 MB, values every format stores exactly
        source = NumpyImagingExtractor(data, RATE)
        target = 1024**2
        bound = self.memory_bound(target)
        assert bound < data.nbytes / 2, "the bound must show that the movie is streamed, not held"
        _, peak = traced_peak(lambda: self._write(source, tmp_path, target_chunk_mb=target / 1024**2,
                                                  **self.memory_options))
        assert peak < bound, f"writing {data.nbytes / 1e6:.1f} MB allocated {peak / 1e6:.1f} MB at its peak"

