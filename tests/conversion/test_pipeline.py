"""The chunk pipeline: each step against numpy/zlib on its own, and chunks that plain h5py reads back."""

import os
import threading
import time
import zlib

import h5py
import numpy as np
import pytest

from ophysio.conversion.pipeline import (
    ChunkPipeline,
    ChunkWriter,
    Compression,
    Deflate,
    OptionValueError,
    RawBytes,
    ReadAhead,
    ShuffleBytes,
    TransposeToNWB,
    Writeback,
    fill_dataset,
)
from ophysio.errors import OptionError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import movie


def reference(chunk: np.ndarray, shuffle: bool) -> bytes:
    nwb = np.ascontiguousarray(chunk.swapaxes(1, 2))
    if not shuffle or nwb.dtype.itemsize == 1:
        return nwb.tobytes()
    as_bytes = nwb.view(np.uint8).reshape((*nwb.shape, nwb.dtype.itemsize))
    return np.ascontiguousarray(np.moveaxis(as_bytes, -1, 0)).tobytes()


def _chunk(dtype, shape):
    planes = shape[3] if len(shape) == 4 else None
    chunk = movie(shape[0], shape[1], shape[2], planes=planes, dtype="float64" if "complex" in dtype else dtype)
    if "complex" in dtype:
        chunk = chunk.astype(dtype) + 1j * chunk[::-1]
    return np.ascontiguousarray(chunk)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float16", "int32", "float32", "float64", "complex64"])
@pytest.mark.parametrize("shape", [(4, 20, 20), (3, 130, 77), (2, 200, 300), (2, 70, 90, 3), (1, 33, 1000),
                                   (2, 128, 192), (2, 512, 512), (3, 130, 200, 2), (1, 1000, 64)])  # tiles, edges
def test_transpose_matches_numpy(dtype, shape):
    chunk = _chunk(dtype, shape)
    step = TransposeToNWB()
    for _ in range(2):  # the per-thread buffer is reused
        np.testing.assert_array_equal(step.encode(chunk), chunk.swapaxes(1, 2))


def test_transpose_gives_native_byte_order():
    chunk = _chunk("int16", (3, 40, 50)).astype(">i2")
    out = TransposeToNWB().encode(chunk)
    assert out.dtype == np.dtype("=i2")
    np.testing.assert_array_equal(out, chunk.swapaxes(1, 2))


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float16", "int32", "float32", "float64", "complex64",
                                   "complex128"])
def test_shuffle_matches_numpy(dtype):
    chunk = _chunk(dtype, (3, 17, 11))
    want = reference(chunk.swapaxes(1, 2), True)  # reference transposes: give it the untransposed view
    for _ in range(2):
        assert bytes(ShuffleBytes().encode(chunk)) == want
    assert bytes(RawBytes().encode(chunk)) == chunk.tobytes()


def test_deflate_is_a_zlib_stream():
    data = _chunk("int16", (2, 30, 30)).tobytes()
    encoded = Deflate(lambda b: zlib.compress(b, 3)).encode(data)
    assert zlib.decompress(encoded) == data


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "complex64"])
@pytest.mark.parametrize("shape", [(4, 20, 20), (3, 130, 77), (2, 70, 90, 3)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_the_pipeline_is_the_steps_in_order(dtype, shape, shuffle):
    chunk = _chunk(dtype, shape)
    pipeline = Compression("gzip", 5, shuffle, engine="zlib").pipeline(chunk.dtype, transpose=True)
    assert [type(s).__name__ for s in pipeline.steps][0] == "TransposeToNWB"
    assert zlib.decompress(pipeline.encode(chunk)) == reference(chunk, shuffle)


def test_a_pipeline_without_steps_after_the_array_gives_bytes():
    chunk = _chunk("int16", (2, 5, 6))
    assert ChunkPipeline([RawBytes()]).encode(chunk) == chunk.tobytes()


@pytest.mark.parametrize("engine", ["zlib", "isal"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_chunks_written_directly_read_back_with_plain_h5py(tmp_path, engine, shuffle):
    source = _chunk("int16", (23, 40, 30))  # 23 samples, chunks of 5: a padded edge chunk
    with h5py.File(tmp_path / "p.h5", "w") as f:
        dataset = f.create_dataset("d", shape=(23, 30, 40), dtype="int16", chunks=(5, 30, 40), compression="gzip",
                                   compression_opts=1, shuffle=shuffle)
        writer = ChunkWriter(dataset, Compression("gzip", None, shuffle, engine).pipeline("int16", transpose=True), 2)
        for a in range(0, 23, 5):
            block = np.zeros((5, 40, 30), dtype="int16")
            block[: min(5, 23 - a)] = source[a : a + 5]
            writer.submit(a, block, min(5, 23 - a))
        writer.close()
    with h5py.File(tmp_path / "p.h5", "r") as f:
        np.testing.assert_array_equal(f["d"][()], source.swapaxes(1, 2))


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_fill_dataset_equals_the_source(tmp_path, compression):
    data = movie(37, 24, 18, dtype="uint16")
    ex = NumpyImagingExtractor(data, sampling_frequency=5.0)
    seen = []
    with h5py.File(tmp_path / "f.h5", "w") as f:
        dataset = f.create_dataset("d", shape=(37, 18, 24), dtype="uint16", chunks=(4, 18, 24),
                                   compression=compression, shuffle=compression is not None)
        fill_dataset(dataset, ex, max_workers=2, progress_callback=lambda done, total: seen.append((done, total)))
    with h5py.File(tmp_path / "f.h5", "r") as f:
        np.testing.assert_array_equal(f["d"][()], data.swapaxes(1, 2))
    assert seen[-1] == (37, 37) and [d for d, _ in seen] == sorted(d for d, _ in seen)


class _Failing(NumpyImagingExtractor):
    def get_series(self, start=None, end=None, out=None):
        if start >= 8:
            raise OSError("the disk went away")
        return super().get_series(start, end, out=out)


def test_a_read_error_reaches_the_caller_and_no_thread_stays(tmp_path):
    ex = _Failing(movie(20, 8, 8, dtype="int16"), sampling_frequency=5.0)
    before = threading.active_count()
    with h5py.File(tmp_path / "e.h5", "w") as f:
        dataset = f.create_dataset("d", shape=(20, 8, 8), dtype="int16", chunks=(4, 8, 8), compression="gzip")
        with pytest.raises(OSError, match="went away"):
            fill_dataset(dataset, ex, max_workers=2)
    assert threading.active_count() == before


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="the platform has no fdatasync")
def test_writeback_syncs_the_file_while_it_fills_and_lets_go_of_it(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(os.fstat(fd).st_ino))
    with h5py.File(tmp_path / "w.h5", "w") as f:
        dataset = f.create_dataset("d", shape=(4, 8, 8), dtype="int16", chunks=(1, 8, 8))
        before = threading.active_count()
        writeback = Writeback(dataset, interval=0.01)
        deadline = time.monotonic() + 5
        while len(synced) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        fd = writeback._fd
        writeback.close()
        assert threading.active_count() == before
    assert len(synced) >= 2 and set(synced) == {os.stat(tmp_path / "w.h5").st_ino}
    with pytest.raises(OSError):  # its own descriptor is closed; the file's own was HDF5's
        os.fstat(fd)


def test_writeback_without_one_descriptor_starts_no_thread(tmp_path):
    with h5py.File(tmp_path / "core.h5", "w", driver="core", backing_store=False) as f:
        dataset = f.create_dataset("d", shape=(2, 4, 4), dtype="int16")
        before = threading.active_count()
        writeback = Writeback(dataset)
        assert threading.active_count() == before
        writeback.close()


def test_read_ahead_reuses_a_few_buffers():
    ex = NumpyImagingExtractor(movie(50, 6, 5, dtype="int16"), sampling_frequency=5.0)
    reader = ReadAhead(ex, 3, 50, 4, buffers=3)
    seen, got = set(), []
    for _first, count, buffer in reader:
        seen.add(id(buffer))
        got.append(buffer[:count].copy())
        reader.release(buffer)
    reader.close()
    assert len(seen) <= 3
    np.testing.assert_array_equal(np.concatenate(got), ex.get_series(3, 50))


# ---------------------------------------------------------------------- the one vocabulary
@pytest.mark.parametrize("text, method, level", [("gzip", "gzip", None), ("gzip:4", "gzip", 4), ("none", None, None),
                                                 ("lzf", "lzf", None), ("zstd:9", "zstd", 9)])
def test_compression_parse(text, method, level):
    parsed = Compression.parse(text)
    assert (parsed.method, parsed.level) == (method, level)
    assert Compression.parse(parsed) is parsed


@pytest.mark.parametrize("text", ["brotli", "gzip:10", "lzf:1", "zstd:0"])
def test_a_bad_compression_names_the_option(text):
    with pytest.raises(OptionValueError, match="^compression: ") as info:
        Compression.parse(text)
    assert info.value.option == "compression"
    assert isinstance(info.value, OptionError) and isinstance(info.value, ValueError)


def test_the_writer_spelling_is_the_same_vocabulary():
    assert Compression.from_writer_options("gzip", 6) == Compression("gzip", 6, True, "zlib")
    assert Compression.from_writer_options("gzip:6") == Compression("gzip", 6, True, "zlib")
    assert Compression.from_writer_options("gzip", shuffle=False) == Compression("gzip", 1, False, "zlib")
    assert Compression.from_writer_options(None).method is None
    with pytest.raises(OptionValueError, match="compression_level"):
        Compression.from_writer_options("gzip:6", 5)
    with pytest.raises(OptionValueError, match="compression_level"):
        Compression.from_writer_options("gzip", 12)
