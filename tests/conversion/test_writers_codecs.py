"""TIFF and OME-TIFF written with LZW, zstd and leveled zlib pages read back exactly.

The compressed strips are checked against imagecodecs' own encoding of the expected pixels (so the
level given is the level used), tifffile decodes the pages independently, and ophysio's extractors read
back the source (pixels, dtype, shape, rate; OME-TIFF also the timestamps). Files that tifffile writes
itself with these codecs (with and without the horizontal predictor) read back exactly as well, and
reading them stays page by page.
"""

from __future__ import annotations

import subprocess
import sys
import zlib

import imagecodecs
import numpy as np
import pytest
import tifffile

import ophysio
from ophysio.conversion.writers import WriterError, open_writer, write_imaging
from ophysio.extractors.ome_tiff import OMETiffImagingExtractor
from ophysio.extractors.tiff import TiffImagingExtractor
from ophysio.testing.synthetic import movie

from ..memory_helpers import traced_peak
from ._writer_cases import CASES, RATE, channel_movies, irregular_times, make_source, read_tiff_pages

#: name -> (compression_level given, TIFF compression code, the imagecodecs encoders tifffile may use)
CODECS = {
    "lzw": (None, 5, [imagecodecs.lzw_encode]),
    "zstd": (19, 50000, [imagecodecs.zstd_encode]),
    # tifffile deflates with libdeflate when imagecodecs has it, else with zlib: same stream format
    "zlib": (9, 8, [imagecodecs.deflate_encode, imagecodecs.zlib_encode]),
}


def _options(codec: str) -> dict:
    level = CODECS[codec][0]
    return {"compression": codec} if level is None else {"compression": codec, "compression_level": level}


def _check_pages(path, codec: str, planes: int, channels: int, expected: list[np.ndarray]) -> None:
    """Every page carries the codec's tag, its strips are the codec's encoding at the level, pixels match."""
    level, code, encoders = CODECS[codec]
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == expected[0].shape[0] * planes * channels
        fh = tif.filehandle
        for page in tif.pages:
            assert page.compression == code and page.predictor == 1
            raw = page.asarray()
            rows_per_strip = page.rowsperstrip
            for s, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts)):
                fh.seek(offset)
                stored = fh.read(count)
                strip = np.ascontiguousarray(raw[s * rows_per_strip : (s + 1) * rows_per_strip]).tobytes()
                assert stored in [encode(strip) if level is None else encode(strip, level=level) for encode in encoders]
                if codec == "zlib":
                    assert zlib.decompress(stored) == strip
    for got, want in zip(read_tiff_pages(path, planes, channels), expected):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype


def _check_extractor(ext, expected: np.ndarray, rate: float = RATE, times: np.ndarray | None = None) -> None:
    assert ext.get_num_samples() == expected.shape[0]
    assert ext.get_sample_shape() == expected.shape[1:]
    assert ext.get_dtype() == expected.dtype
    np.testing.assert_array_equal(ext.get_series(), expected)
    np.testing.assert_array_equal(ext.get_samples([expected.shape[0] - 1, 0]), expected[[-1, 0]])
    assert ext.get_sampling_frequency() == pytest.approx(rate, rel=1e-12)
    if times is not None:
        np.testing.assert_allclose(ext.get_timestamps(), times, rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("codec", list(CODECS))
def test_tiff_writer_codecs_read_back(tmp_path, codec, case):
    movies = channel_movies(case)
    planes = CASES[case][3] or 1
    out = write_imaging(make_source(case), tmp_path / "m.tif", **_options(codec))
    _check_pages(out, codec, planes, len(movies), movies)
    if len(movies) == 1:
        ext = ophysio.open_imaging(out)
        assert isinstance(ext, TiffImagingExtractor)
        _check_extractor(ext, movies[0])
    for c, expected in enumerate(movies):
        _check_extractor(TiffImagingExtractor(out, channel_name=str(c)), expected)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("codec", list(CODECS))
def test_ome_tiff_writer_codecs_read_back_with_timestamps(tmp_path, codec, case):
    movies = channel_movies(case)
    planes = CASES[case][3] or 1
    times = irregular_times(movies[0].shape[0])
    rate = 1 / np.median(np.diff(times))
    out = write_imaging(make_source(case, timestamps=True), tmp_path / "m.ome.tif", **_options(codec))
    _check_pages(out, codec, planes, len(movies), movies)
    if len(movies) == 1:
        assert isinstance(ophysio.open_imaging(out), OMETiffImagingExtractor)
    for c, expected in enumerate(movies):
        _check_extractor(OMETiffImagingExtractor(out, channel_name=f"ch{c}"), expected, rate, times)


@pytest.mark.parametrize("codec", ["lzw", "zstd"])
def test_streamed_batches_with_codecs(tmp_path, codec):
    """open_writer fed in uneven batches: one compressed page per frame, in order."""
    data = movie(13, 20, 16, dtype="float32")
    with open_writer(tmp_path / "s.tif", sampling_frequency=RATE, **_options(codec)) as writer:
        for a, b in [(0, 1), (1, 6), (6, 13)]:
            writer.write_frames(data[a:b])
    _check_pages(tmp_path / "s.tif", codec, 1, 1, [data])
    _check_extractor(ophysio.open_imaging(tmp_path / "s.tif"), data)


@pytest.mark.parametrize("predictor", [False, True])
@pytest.mark.parametrize("codec", ["lzw", "zstd"])
def test_tifffile_written_codec_files_read_back(tmp_path, codec, predictor):
    """Files tifffile writes itself: a plain page stack and an ImageJ hyperstack (2 planes, 2 channels)."""
    planar = movie(9, 33, 21, dtype="uint16")
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, planar, compression=codec, predictor=predictor, rowsperstrip=8, photometric="minisblack")
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].compression == CODECS[codec][1] and len(tif.pages[0].dataoffsets) == 5
        assert tif.pages[0].predictor == (2 if predictor else 1)
    _check_extractor(TiffImagingExtractor(path, sampling_frequency=RATE), planar)

    volumes = [movie(5, 14, 11, planes=2, dtype="int16", channel=c) for c in range(2)]
    stack = np.stack([v.transpose(0, 3, 1, 2) for v in volumes], axis=2)  # TZCYX
    path = tmp_path / "hyper.tif"
    tifffile.imwrite(path, stack, imagej=True, compression=codec, predictor=predictor,
                     metadata={"axes": "TZCYX", "finterval": 1 / RATE})
    for c, expected in enumerate(volumes):
        _check_extractor(TiffImagingExtractor(path, channel_name=str(c)), expected)


def test_compressed_reads_stay_page_by_page(tmp_path):
    """Reading a few frames of a zstd/LZW file allocates about those frames, not the movie."""
    data = movie(400, 64, 64, dtype="uint16")  # 3.3 MB of pixels
    for codec in ("zstd", "lzw"):
        path = write_imaging(data, tmp_path / f"{codec}.tif", sampling_frequency=RATE, compression=codec)
        ext = ophysio.open_imaging(path)
        frames, peak = traced_peak(lambda: ext.get_series(200, 203))  # noqa: B023 - called at once
        np.testing.assert_array_equal(frames, data[200:203])
        assert peak < 400_000, f"{codec}: reading 3 frames of 8 kB allocated {peak} bytes"
        ext.close()


@pytest.mark.parametrize("codec, levels", [("zstd", (1, 19)), ("zlib", (1, 9))])
def test_compression_level_is_applied(tmp_path, codec, levels):
    """On a noisy ramp, where the levels give different streams, each page is encoded at the level given."""
    rng = np.random.default_rng(3)
    ramp = np.add.outer(np.arange(64), np.arange(64)) * 5
    data = (ramp + rng.integers(0, 8, (4, 64, 64))).astype("uint16")
    sizes = []
    for level in levels:
        path = write_imaging(data, tmp_path / f"{level}.tif", sampling_frequency=RATE, compression=codec,
                             compression_level=level)
        with tifffile.TiffFile(path) as tif:
            strips = [b for page in tif.pages for b in page.databytecounts]
            fh = tif.filehandle
            for page, frame in zip(tif.pages, data):
                assert len(page.dataoffsets) == 1
                fh.seek(page.dataoffsets[0])
                stored = fh.read(page.databytecounts[0])
                assert stored in [encode(frame.tobytes(), level=level) for encode in CODECS[codec][2]]
        sizes.append(sum(strips))
        _check_extractor(ophysio.open_imaging(path), data)
    assert sizes[1] < sizes[0]


def test_level_errors_leave_no_file(tmp_path):
    m = movie(3, 6, 5, dtype="uint16")
    cases = [
        ({"compression": "lzw", "compression_level": 5}, "'lzw' has no level"),
        ({"compression": "zstd", "compression_level": 23}, "from 1 to 22"),
        ({"compression": "zlib", "compression_level": 10}, "from 0 to 9"),
        ({"compression": "zlib", "compression_level": 2.5}, "must be an integer"),
        ({"compression_level": 4}, "without a compression"),
    ]
    for options, message in cases:
        with pytest.raises(WriterError, match=message):
            write_imaging(m, tmp_path / "x.tif", sampling_frequency=1.0, **options)
    assert list(tmp_path.iterdir()) == []


def test_missing_imagecodecs_is_a_clear_error(tmp_path, monkeypatch):
    """Without imagecodecs: the writer refuses before writing, the reader names the codec and the extra."""
    m = movie(3, 6, 5, dtype="uint16")
    path = write_imaging(m, tmp_path / "lzw.tif", sampling_frequency=1.0, compression="lzw")
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import imagecodecs now raises ImportError
    for codec in ("lzw", "zstd"):
        with pytest.raises(WriterError, match=r'pip install "ophysio\[codecs\]"'):
            write_imaging(m, tmp_path / "x.ome.tif", sampling_frequency=1.0, compression=codec)
    write_imaging(m, tmp_path / "z.tif", sampling_frequency=1.0, compression="zlib", compression_level=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lzw.tif", "z.tif"]
    # tifffile caches the codecs it has loaded: the reader is checked in a fresh interpreter
    code = (
        "import sys; sys.modules['imagecodecs'] = None\n"
        "import ophysio\n"
        "from ophysio.errors import FormatError\n"
        "try:\n"
        f"    ophysio.open_imaging({str(path)!r}).get_series(0, 1)\n"
        "except FormatError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LZW (5)" in result.stdout and 'pip install "ophysio[codecs]"' in result.stdout
