"""The options of an NWB conversion: one frozen object, parsed once, bad values named; memory bounded."""

import dataclasses

import h5py
import numpy as np
import pytest

from ophysio.conversion import pipeline
from ophysio.conversion.interfaces import ImagingInterface
from ophysio.conversion.nwb import Compression, OptionValueError, WriteOptions, write_nwb
from ophysio.errors import OptionError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie

from ..memory_helpers import traced_peak
from .test_metadata import COMPLETE


def test_defaults_and_frozen():
    options = WriteOptions.parse()
    assert options.compression == Compression() and options.backend == "hdf5" and not options.stub_test
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.chunk_bytes = 5


def test_keywords_are_parsed_into_the_object():
    options = WriteOptions.parse(compression="gzip:6", chunk_bytes=1000, stub_test=True, stub_samples=7, max_workers=1)
    assert options.compression == Compression("gzip", 6)
    assert (options.chunk_bytes, options.stub_samples, options.max_workers) == (1000, 7, 1)
    assert options.samples_to_write(50, 100) == 7 and WriteOptions.parse().samples_to_write(50, 100) == 50
    assert WriteOptions.parse(chunk_bytes=None).chunk_bytes == WriteOptions().chunk_bytes


@pytest.mark.parametrize("keywords, option", [
    ({"compression": "brotli"}, "compression"),
    ({"compression": "gzip:11"}, "compression"),
    ({"chunk_bytes": 0}, "chunk_bytes"),
    ({"chunk_bytes": "10MB"}, "chunk_bytes"),
    ({"stub_samples": -1}, "stub_samples"),
    ({"max_workers": 0}, "max_workers"),
    ({"backend": "n5"}, "backend"),
    ({"progress_callback": 3}, "progress_callback"),
    ({"stub_test": "yes"}, "stub_test"),
    ({"backend": "zarr", "append": True}, "append"),
    ({"backend": "zarr", "compression": "lzf"}, "compression"),
])
def test_a_bad_value_raises_an_option_error_naming_the_option(keywords, option):
    with pytest.raises(OptionValueError, match=f"^{option}: ") as info:
        WriteOptions.parse(**keywords)
    assert info.value.option == option
    assert isinstance(info.value, OptionError) and isinstance(info.value, ValueError)


def test_an_unknown_keyword_is_an_option_error_naming_it(tmp_path):
    ex = NumpyImagingExtractor(movie(5, 4, 4), sampling_frequency=5.0)
    with pytest.raises(OptionError, match="compresion"):
        ImagingInterface(ex).run_conversion(tmp_path / "x.nwb", COMPLETE, compresion="gzip")
    assert list(tmp_path.iterdir()) == []


def test_a_bad_value_is_reported_before_anything_is_read_or_written(tmp_path):
    class Untouchable(NumpyImagingExtractor):
        def get_series(self, *args, **kwargs):
            raise AssertionError("read")

    ex = Untouchable(movie(5, 4, 4), sampling_frequency=5.0)
    with pytest.raises(OptionValueError, match="max_workers"):
        write_nwb(ex, tmp_path / "x.nwb", COMPLETE, max_workers=-2)
    assert list(tmp_path.iterdir()) == []


def test_compression_is_parsed_once_per_conversion(tmp_path, monkeypatch):
    calls = []
    original = Compression.parse.__func__

    def counting(cls, value, option="compression"):
        if not isinstance(value, Compression):
            calls.append(value)
        return original(cls, value, option)

    monkeypatch.setattr(pipeline.Compression, "parse", classmethod(counting))
    ex = NumpyImagingExtractor(movie(12, 6, 5, dtype="int16"), sampling_frequency=5.0)
    write_nwb([ex, NumpyImagingExtractor(movie(12, 6, 5, dtype="int16"), sampling_frequency=5.0)],
              tmp_path / "x.nwb", {**COMPLETE, "Ophys": {**COMPLETE["Ophys"], "PhotonSeries": [
                  {"name": "A"}, {"name": "B"}]}},  # merged in order over the two streams' entries
              compression="gzip:3")
    assert calls == ["gzip:3"]


def test_peak_memory_of_the_overlapped_fill_stays_a_few_chunks(tmp_path):
    frames, rows, columns = 240, 96, 128
    data = movie(frames, rows, columns, dtype="int16")
    chunk = 4 * rows * columns * 2  # 4 frames a chunk: 60 chunks
    ex = NumpyImagingExtractor(data, sampling_frequency=5.0)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        dataset = f.create_dataset("d", shape=(frames, columns, rows), dtype="int16", chunks=(4, columns, rows),
                                   compression="gzip", shuffle=True)
        _, peak = traced_peak(lambda: pipeline.fill_dataset(dataset, ex, max_workers=2))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        np.testing.assert_array_equal(f["d"][()], data.swapaxes(1, 2))
    # read buffers (workers + 2), per-thread transpose and shuffle buffers, encoded chunks waiting (2 * workers)
    assert peak < 16 * chunk, (peak, chunk)
    assert peak < data.nbytes / 3
