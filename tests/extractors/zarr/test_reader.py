"""Zarr: the conformance suite on ophysio's own Zarr v3 / OME-NGFF 0.5 output (planar, volume, channels,
sharded, gzip and blosc), OME-NGFF 0.4 (Zarr v2) as ome-zarr-py lays it out, plain arrays, local and over
HTTP; expected pixels read by zarr-python (an independent reader) in the axis order the metadata state."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import ophysio
from ophysio._synth.zarr import write_ome_zarr_v2
from ophysio.errors import FormatError, SelectionError
from ophysio.extractors import ZarrImagingExtractor, detect_format
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.synthetic import movie
from ophysio.testing.writers import RATE, irregular_times, make_source

zarr = pytest.importorskip("zarr")  # in the test extra (Python 3.11+): the independent reader

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-zarr-"))
atexit.register(shutil.rmtree, FOLDER, True)


def _ophysio_output(name: str, case: str, timestamps: bool = False, **options) -> Path:
    from ophysio.conversion.writers import write_imaging

    path = FOLDER / f"{name}.ome.zarr"
    if not path.exists():
        write_imaging(make_source(case, timestamps=timestamps), path, format="zarr", **options)
    return path


def _ome_v2(name: str, channels: int, planes: int | None) -> Path:
    path = FOLDER / f"{name}.ome.zarr"
    if not path.exists():
        write_ome_zarr_v2(path, [movie(13, 10, 14, planes, "uint16", channel=c) for c in range(channels)],
                          chunk_samples=4)
    return path


def _zarr_lib_v3(name: str) -> Path:
    """An OME-NGFF 0.5 image written by zarr-python itself (not ophysio): axes t, z, y, x in millisecond and
    nanometer units, sharded chunks, a translation."""
    path = FOLDER / f"{name}.ome.zarr"
    if not path.exists():
        data = movie(9, 16, 12, 2, "int16", seed=9).transpose(0, 3, 1, 2)  # t z y x
        group = zarr.open_group(path, mode="w", zarr_format=3)
        array = group.create_array("s0", shape=data.shape, dtype=data.dtype, chunks=(2, 1, 8, 6),
                                   shards=(4, 2, 16, 12), dimension_names=["t", "z", "y", "x"])
        array[:] = data
        group.attrs["ome"] = {"version": "0.5", "multiscales": [{
            "axes": [{"name": "t", "type": "time", "unit": "millisecond"},
                     {"name": "z", "type": "space", "unit": "micrometer"},
                     {"name": "y", "type": "space", "unit": "nanometer"},
                     {"name": "x", "type": "space", "unit": "nanometer"}],
            "datasets": [{"path": "s0", "coordinateTransformations": [
                {"type": "scale", "scale": [40.0, 3.0, 500.0, 250.0]},
                {"type": "translation", "translation": [0.0, -10.0, 1000.0, 2000.0]}]}]}]}
    return path


def _plain(name: str) -> Path:
    """A root array of Zarr v2 with xarray's dimension names (t, y, x stored y, x, t)."""
    path = FOLDER / f"{name}.zarr"
    if not path.exists():
        data = movie(7, 9, 11, dtype="float32").transpose(1, 2, 0)  # y x t
        array = zarr.open_array(path, mode="w", zarr_format=2, shape=data.shape, dtype=data.dtype, chunks=(5, 11, 3))
        array[:] = data
        array.attrs["_ARRAY_DIMENSIONS"] = ["y", "x", "time"]
    return path


#: case -> (store maker, keywords, stored axes of its array, channel index to take, plane)
CASES = {
    "ophysio-planar": (lambda: _ophysio_output("planar", "planar"), {}, "TYX", None),
    "ophysio-volume-times": (lambda: _ophysio_output("volume", "volumetric", timestamps=True), {}, "TZYX", None),
    "ophysio-channels-ch1": (lambda: _ophysio_output("channels", "multichannel"), {"channel_name": "ch1"}, "TCZYX", 1),
    "ophysio-sharded-gzip": (lambda: _ophysio_output("sharded", "planar", chunks=(2, 6, 9), shards=(4, 12, 9),
                                                     compression="gzip"), {}, "TYX", None),
    "ophysio-blosc": (lambda: _ophysio_output("blosc", "volumetric", compression="blosc"), {}, "TZYX", None),
    "ome-v2-channels-volume": (lambda: _ome_v2("v2cz", 2, 3), {"channel_name": "Channel 2"}, "TCZYX", 1),
    "ome-v2-planar": (lambda: _ome_v2("v2", 1, None), {}, "TYX", None),
    "zarr-lib-v3-sharded": (lambda: _zarr_lib_v3("v3lib"), {}, "TZYX", None),
    "plain-v2-root-array": (lambda: _plain("plain"), {"sampling_frequency": 12.0}, "YXT", None),
}


def expected_series(case: str) -> np.ndarray:
    """The array read by zarr-python, as (samples, rows, columns[, planes]) from its documented axis order."""
    maker, _, dims, channel = CASES[case]
    store = zarr.open(maker(), mode="r")
    array = store if isinstance(store, zarr.Array) else store[_dataset_path(store)]
    data = array[:]
    if "C" in dims:
        data = np.take(data, channel, axis=dims.index("C"))
        dims = dims.replace("C", "")
    if dims.count("Z") and data.shape[dims.index("Z")] == 1:
        data = np.take(data, 0, axis=dims.index("Z"))
        dims = dims.replace("Z", "")
    target = "TYXZ" if "Z" in dims else "TYX"
    return np.ascontiguousarray(data.transpose([dims.index(letter) for letter in target]))


def _dataset_path(group) -> str:
    attrs = dict(group.attrs)
    ngff = attrs.get("ome", attrs)
    return ngff["multiscales"][0]["datasets"][0]["path"]


class TestZarr(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        maker, kwargs, _, _ = CASES[case]
        return ZarrImagingExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs, _, _ = CASES[case]
        copy = copy_source(maker(), tmp_path)
        chunks = sorted(p for p in copy.rglob("*") if p.is_file() and not p.name.startswith(".")
                        and p.name != "zarr.json" and "timestamps" not in p.parts)
        return ZarrImagingExtractor(copy, **kwargs), chunks

    def expected_series(self, case):
        return expected_series(case)


def test_ophysio_output_reads_back_whole(tmp_path):
    """write_imaging(..., format="zarr") then open_imaging(path) with no keywords: pixels, rate, times, channels."""
    source = make_source("multichannel", timestamps=True)
    from ophysio.conversion.writers import write_imaging

    out = write_imaging(source, tmp_path / "m.ome.zarr", format="zarr", pixel_size_um=0.7, plane_spacing_um=3.0)
    assert detect_format(out).id == "zarr"
    with ophysio.open_imaging(out) as first:
        assert first.get_channel_names() == ["ch0", "ch1"] and first.channel_name == "ch0"
        np.testing.assert_array_equal(first.get_series(), source["ch0"].get_series())
        np.testing.assert_array_equal(first.get_timestamps(), irregular_times(first.get_num_samples()))
        facts = first.get_acquisition_facts()
        assert facts.pixel_size_um == (0.7, 0.7) and facts.plane_spacing_um == 3.0
    with ophysio.open_imaging(out, channel_name="ch1", plane_index=1) as plane:
        np.testing.assert_array_equal(plane.get_series(), source["ch1"].get_series()[..., 1])
    planar = write_imaging(make_source("planar"), tmp_path / "p.ome.zarr", format="zarr")
    with ophysio.open_imaging(planar) as again:
        assert again.get_sampling_frequency() == RATE


def test_ome_zarr_v2_facts_and_resolution_levels():
    path = _ome_v2("v2cz", 2, 3)
    with ZarrImagingExtractor(path, channel_name="Channel 2") as ex:
        facts = ex.get_acquisition_facts()
        assert ex.get_sampling_frequency() == pytest.approx(20.0)
        assert facts.pixel_size_um == (0.8, 0.6) and facts.plane_spacing_um == 2.5
        assert facts.origin_um == (5.0, -3.0, 0.0) and facts.plane_depths_um == (0.0, 2.5, 5.0)
    with ZarrImagingExtractor(path, resolution_level=1) as low:
        np.testing.assert_array_equal(low.get_series(), movie(13, 10, 14, 3, "uint16")[:, ::2, ::2])
        assert low.get_acquisition_facts().pixel_size_um == (1.6, 1.2)
    with pytest.raises(SelectionError, match="resolution_level 5"):
        ZarrImagingExtractor(path, resolution_level=5)
    with pytest.raises(SelectionError, match="Channel 3"):
        ZarrImagingExtractor(path, channel_name="Channel 3")


def test_units_of_the_axes_are_applied():
    with ZarrImagingExtractor(_zarr_lib_v3("v3lib")) as ex:
        assert ex.get_sampling_frequency() == pytest.approx(25.0)  # 40 ms per sample
        facts = ex.get_acquisition_facts()
        assert facts.pixel_size_um == (0.5, 0.25) and facts.plane_spacing_um == 3.0
        assert facts.origin_um == (1.0, 2.0, -10.0)
        assert ex.get_metadata()["sharded"] is True


def test_the_codecs_of_the_metadata_are_allowed_ones(tmp_path):
    path = copy_source(_ome_v2("v2", 1, None), tmp_path)
    meta = json.loads((path / "0" / ".zarray").read_text())
    meta["compressor"] = {"id": "pickle"}  # unpickling file content would run its code: never
    (path / "0" / ".zarray").write_text(json.dumps(meta))
    with pytest.raises(FormatError, match="codec 'pickle' is not one ophysio decodes"):
        ZarrImagingExtractor(path)


def test_keys_leading_outside_the_store_are_refused(tmp_path):
    from ophysio.extractors._zarr.nodes import ZarrTree
    from ophysio.extractors._zarr.store import LocalStore

    path = copy_source(_ome_v2("v2", 1, None), tmp_path)
    tree = ZarrTree(LocalStore(path))
    with pytest.raises(FormatError, match="outside the store"):
        tree.node("../elsewhere")
    attrs = json.loads((path / ".zattrs").read_text())
    attrs["multiscales"][0]["datasets"][0]["path"] = "../../etc"
    (path / ".zattrs").write_text(json.dumps(attrs))
    with pytest.raises(FormatError, match="outside the store"):
        ZarrImagingExtractor(path)


def test_a_damaged_chunk_is_an_error_naming_it(tmp_path):
    path = copy_source(_ome_v2("v2", 1, None), tmp_path)
    chunk = path / "0" / "1" / "0" / "0"
    chunk.write_bytes(chunk.read_bytes()[:10])
    with ZarrImagingExtractor(path) as ex:
        np.testing.assert_array_equal(ex.get_series(0, 4), movie(13, 10, 14, None, "uint16")[:4])
        with pytest.raises(FormatError, match=r"chunk 0/1/0/0 cannot be decoded"):
            ex.get_series(4, 5)


def test_streamed_over_http_equals_the_local_read():
    from ophysio.testing.http_server import ProcessRangeServer

    with ProcessRangeServer(FOLDER) as server:
        for case in ("ophysio-volume-times", "ome-v2-channels-volume", "zarr-lib-v3-sharded"):
            maker, kwargs, _, _ = CASES[case]
            path = maker()
            server.reset()
            with ophysio.open_imaging(server.url(path) + "/", **kwargs) as remote, \
                    ZarrImagingExtractor(path, **kwargs) as local:
                assert type(remote) is ZarrImagingExtractor
                np.testing.assert_array_equal(remote.get_series(), local.get_series())
                np.testing.assert_array_equal(remote.get_timestamps(), local.get_timestamps())
                assert remote.get_acquisition_facts() == local.get_acquisition_facts()
            assert server.requests > 0


def test_convert_to_nwb_and_back(tmp_path):
    """A Zarr source through the generic interface: NWB written, read back with the NWB reader."""
    from ophysio.conversion.interfaces import interface_from_paths
    from ophysio.extractors import NwbImagingExtractor
    from ophysio.testing.interfaces import complete_metadata

    interface = interface_from_paths([_ome_v2("v2cz", 2, 3)])
    assert len(interface.extractors) == 2  # one photon series per channel
    out = ophysio.write_nwb(interface, tmp_path / "z.nwb", complete_metadata(interface))
    for extractor, name in zip(interface.extractors, ["TwoPhotonSeriesChannel1", "TwoPhotonSeriesChannel2"]):
        with NwbImagingExtractor(out, name) as back:
            np.testing.assert_array_equal(back.get_series(), extractor.get_series())
            assert back.get_acquisition_facts().pixel_size_um == pytest.approx((0.8, 0.6))
    interface.close()


def test_a_chunk_that_decompresses_beyond_its_size_is_refused(tmp_path):
    """A small chunk that would inflate to far more than its chunk (a damaged or hostile store) is refused before
    it is inflated whole."""
    import zlib

    path = copy_source(_ome_v2("v2", 1, None), tmp_path)
    (path / "0" / "0" / "0" / "0").write_bytes(zlib.compress(bytes(50_000_000), 9))  # 50 MB of zeros, ~50 kB
    with ZarrImagingExtractor(path) as ex, pytest.raises(FormatError, match="more than the 1120 bytes"):
        ex.get_series(0, 1)


def test_bounded_decoders_refuse_what_exceeds_the_limit():
    import numcodecs

    from ophysio.extractors._hdf5.remote import _inflate
    from ophysio.extractors._zarr.codecs import bounded_decode

    raw = bytes(range(256)) * 40
    for codec in (numcodecs.GZip(5), numcodecs.Zlib(5), numcodecs.Zstd(3), numcodecs.Blosc(), numcodecs.BZ2(),
                  numcodecs.LZMA(), numcodecs.LZ4()):
        encoded = codec.encode(raw)
        assert bytes(memoryview(bounded_decode(codec, encoded, len(raw))).cast("B")) == raw, codec
        with pytest.raises(ValueError):
            bounded_decode(codec, encoded, len(raw) - 1)
    import zlib

    from ophysio.errors import CorruptFileError

    assert _inflate(zlib.compress(raw), len(raw)) == raw
    with pytest.raises(CorruptFileError, match="more than"):
        _inflate(zlib.compress(bytes(10_000_000)), 4096)
    with pytest.raises(CorruptFileError, match="ends early"):
        _inflate(zlib.compress(raw)[:20], len(raw))
