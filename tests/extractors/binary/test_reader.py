"""Raw binary movies (NumpyMemmapImagingExtractor) through the conformance suite, plus layout errors."""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from ophysio.errors import FormatError, MetadataError, SelectionError, UnknownFormatError
from ophysio.extractors import open_imaging
from ophysio.extractors.binary import NumpyMemmapImagingExtractor, VideoStructure
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.synthetic import write_raw_binary

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-binary-"))

# name: (writer keywords, structure keywords, dtype, header bytes, extractor keywords)
CASES = {
    "planar-header": (dict(num_frames=9, rows=7, columns=5), dict(num_rows=7, num_columns=5), "<u2", 13, {}),
    "big-endian": (dict(num_frames=6, rows=4, columns=8, dtype=">i2"), dict(num_rows=4, num_columns=8), ">i2", 0, {}),
    "float32": (dict(num_frames=5, rows=3, columns=4, dtype="<f4"), dict(num_rows=3, num_columns=4), "<f4", 4, {}),
    "channel-last-ch1": (
        dict(num_frames=8, rows=5, columns=6, num_channels=2),
        dict(num_rows=5, num_columns=6, num_channels=2),
        "<u2", 0, {"channel_name": "green", "channel_names": ["red", "green"]},
    ),
    "channel-first-ch0": (
        dict(num_frames=7, rows=5, columns=6, num_channels=3, axes=("frames", "channels", "rows", "columns")),
        dict(num_rows=5, num_columns=6, num_channels=3, channels_axis=1, rows_axis=2, columns_axis=3),
        "<u2", 32, {"channel_index": 0},
    ),
    "frames-last": (
        dict(num_frames=6, rows=5, columns=4, axes=("rows", "columns", "channels", "frames")),
        dict(num_rows=5, num_columns=4, rows_axis=0, columns_axis=1, channels_axis=2, frame_axis=3),
        "<u2", 0, {},
    ),
    "volume": (
        dict(num_frames=5, rows=4, columns=6, num_planes=3, axes=("frames", "planes", "rows", "columns", "channels")),
        dict(num_rows=4, num_columns=6, num_planes=3, planes_axis=1, rows_axis=2, columns_axis=3, channels_axis=4),
        "<u2", 0, {},
    ),
}

AXES_DEFAULT = ("frames", "rows", "columns", "channels")


def _path(case: str) -> Path:
    path = FOLDER / f"{case}.bin"
    if not path.exists():
        writer, _, _, header, _ = CASES[case]
        write_raw_binary(path, header=bytes(range(header)), **writer)
    return path


def _expected(case: str) -> np.ndarray:
    """Read the file with numpy in the documented stored order and bring it to (T, Y, X[, Z])."""
    writer, structure, dtype, header, kwargs = CASES[case]
    axes = writer.get("axes", AXES_DEFAULT)
    sizes = {"frames": writer["num_frames"], "rows": writer["rows"], "columns": writer["columns"],
             "channels": writer.get("num_channels", 1), "planes": writer.get("num_planes", 1)}
    raw = np.fromfile(_path(case), dtype=dtype, offset=header).reshape([sizes[a] for a in axes])
    canonical = [a for a in ("frames", "rows", "columns", "planes", "channels") if a in axes]
    data = raw.transpose([axes.index(a) for a in canonical])
    channel = kwargs.get("channel_index", 0)
    if "channel_name" in kwargs:
        channel = kwargs["channel_names"].index(kwargs["channel_name"])
    return np.ascontiguousarray(data[..., channel])


def _open(case: str, path=None, **extra) -> NumpyMemmapImagingExtractor:
    _, structure, dtype, header, kwargs = CASES[case]
    return NumpyMemmapImagingExtractor(
        path or _path(case), VideoStructure(**structure), sampling_frequency=20.0, dtype=dtype, offset=header,
        **{**kwargs, **extra},
    )


class TestRawBinary(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return _open(case)

    def make_shrinkable(self, case, tmp_path):
        extractor = _open(case, copy_source(_path(case), tmp_path))
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return _expected(case)

    def expected_sampling_frequency(self, case):
        return 20.0


def test_values_are_the_written_pattern_and_byte_order_is_kept():
    from ophysio.testing.synthetic import movie

    ex = _open("big-endian")
    assert ex.get_dtype() == np.dtype(">i2")
    np.testing.assert_array_equal(ex.get_series(), movie(6, 4, 8, dtype="int16"))
    assert ex.get_series().dtype.byteorder == ">"
    np.testing.assert_array_equal(_open("channel-last-ch1").get_series(), movie(8, 5, 6, dtype="uint16", channel=1))
    assert _open("channel-last-ch1").channel_name == "green"
    assert _open("volume").get_sample_shape() == (4, 6, 3)


def test_size_that_does_not_divide_is_a_clear_error(tmp_path):
    path = write_raw_binary(tmp_path / "m.bin", 4, 3, 5)  # 4 frames of 3x5 uint16 = 120 bytes
    with open(path, "ab") as fh:
        fh.write(b"xyz")
    with pytest.raises(FormatError, match=r"123 bytes .*\(30 bytes each\): 4 frames and 3 bytes left over"):
        NumpyMemmapImagingExtractor(path, VideoStructure(3, 5), 10.0, "<u2")
    with pytest.raises(FormatError, match="structure does not fit the file: one frame .* is 2000 bytes"):
        NumpyMemmapImagingExtractor(path, VideoStructure(10, 100), 10.0, "<u2")
    with pytest.raises(FormatError, match="0 bytes after the 500-byte header"):
        NumpyMemmapImagingExtractor(path, VideoStructure(3, 5), 10.0, "<u2", offset=500)


def test_bad_structures_and_selections():
    with pytest.raises(MetadataError, match="permutation"):
        VideoStructure(4, 4, rows_axis=0)
    with pytest.raises(MetadataError, match="planes_axis"):
        VideoStructure(4, 4, num_planes=2)
    with pytest.raises(MetadataError, match="positive integer"):
        VideoStructure(0, 4)
    with pytest.raises(SelectionError, match="'blue' is not one of"):
        _open("channel-last-ch1", channel_name="blue")
    with pytest.raises(SelectionError, match="out of range"):
        _open("channel-first-ch0", channel_index=3)
    with pytest.raises(MetadataError, match="sampling_frequency"):
        NumpyMemmapImagingExtractor(_path("planar-header"), VideoStructure(7, 5), 0, "<u2", offset=13)


def test_open_imaging_needs_the_format_named():
    path = _path("planar-header")
    with pytest.raises(UnknownFormatError):
        open_imaging(path)
    ex = open_imaging(path, format="binary", video_structure=VideoStructure(7, 5), sampling_frequency=5.0,
                      dtype="<u2", offset=13)
    np.testing.assert_array_equal(ex.get_series(), _expected("planar-header"))


def test_metadata_keeps_the_header_and_layout():
    meta = _open("channel-first-ch0").get_metadata()
    assert meta["header"] == bytes(range(32)) and meta["offset"] == 32 and meta["dtype"] == "<u2"
    assert meta["video_structure"]["num_channels"] == 3 and meta["num_frames"] == 7
    assert "header" not in _open("big-endian").get_metadata()


def test_structure_from_a_dict_or_a_lookalike_object():
    from types import SimpleNamespace

    expected = _expected("channel-last-ch1")
    kwargs = dict(sampling_frequency=1.0, dtype="<u2", channel_index=1)
    as_dict = {"num_rows": 5, "num_columns": 6, "num_channels": 2}
    from_dict = NumpyMemmapImagingExtractor(_path("channel-last-ch1"), as_dict, **kwargs)
    np.testing.assert_array_equal(from_dict[:], expected)
    lookalike = SimpleNamespace(num_rows=5, num_columns=6, num_channels=2, rows_axis=1, columns_axis=2,
                                channels_axis=3, frame_axis=0)
    ex = NumpyMemmapImagingExtractor(_path("channel-last-ch1"), lookalike, **kwargs)
    np.testing.assert_array_equal(ex[:], expected)
    with pytest.raises(TypeError, match="video_structure must be"):
        NumpyMemmapImagingExtractor(_path("channel-last-ch1"), (5, 6), **kwargs)


@pytest.mark.parametrize(
    "axes, expected_shape",
    [
        (dict(frame_axis=0, rows_axis=1, columns_axis=2, channels_axis=3), (5, 7, 2)),
        (dict(frame_axis=0, channels_axis=1, rows_axis=2, columns_axis=3), (2, 5, 7)),
        (dict(frame_axis=3, rows_axis=0, columns_axis=1, channels_axis=2), (5, 7, 2)),
        (dict(frame_axis=1, rows_axis=3, columns_axis=2, channels_axis=0), (2, 7, 5)),
    ],
)
def test_video_structure_frame_shape_and_pixels_per_frame(axes, expected_shape):
    # roiextractors' names: one stored frame's shape (stored order, frames axis removed) and its size
    structure = VideoStructure(num_rows=5, num_columns=7, num_channels=2, **axes)
    assert structure.frame_shape == expected_shape
    stored = np.zeros(structure.build_video_shape(3))
    assert np.take(stored, 0, axis=axes["frame_axis"]).shape == expected_shape
    assert structure.number_of_pixels_per_frame == 5 * 7 * 2 == int(np.prod(expected_shape))
    volume = VideoStructure(num_rows=4, num_columns=3, num_planes=6, planes_axis=4)
    assert volume.frame_shape == (4, 3, 1, 6) and volume.number_of_pixels_per_frame == 4 * 3 * 6
