"""OME-TIFF: the real pymmcore-plus files with their mesofield sidecars, and synthetic OME layouts."""

import datetime as dt
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio._synth.tiff import (
    ome_expected,
    write_frame_metadata_sidecar,
    write_ome_tiff,
    write_ome_tiff_multifile,
)
from ophysio.errors import CorruptFileError, FileSetError, FormatError, MetadataError, SelectionError
from ophysio.extractors.ome_tiff import OMETiffImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file


def real(name: str) -> Path:
    return sample_file(f"ome_tiff/pmmp_demo_{name}.ome.tiff")


def sidecar_records(name: str) -> list[dict]:
    with open(str(real(name)) + "_frame_metadata.json") as fh:
        return json.load(fh)["p0"]


def tifffile_series(path) -> tuple[np.ndarray, str]:
    with tifffile.TiffFile(path) as tif:
        return tif.series[0].asarray(), tif.series[0].axes


@functools.cache
def folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="ophysio-ome-"))
    import atexit

    atexit.register(shutil.rmtree, path, True)
    return path


DELTA_T = [0.5 + 0.1 * k + 0.001 * k * k for k in range(12)]  # 6 timepoints x 2 channels, XYCZT


@functools.cache
def synthetic(name: str):
    f = folder()
    if name == "deltat":
        return write_ome_tiff(f / "deltat.ome.tif", size_t=6, channel_names=("GCaMP", "Red"), dimension_order="XYCZT",
                              delta_t=DELTA_T, time_increment=None)
    if name == "tcz-order":
        return write_ome_tiff(f / "tcz.ome.tif", size_t=4, size_z=3, channel_names=("A", "B"),
                              dimension_order="XYTCZ", time_increment=0.5)
    if name == "zlib":
        return write_ome_tiff(f / "zlib.ome.tif", size_t=5, dtype="int16", compression="zlib")
    if name == "lzw":
        return write_ome_tiff(f / "lzw.ome.tif", size_t=16, channel_names=("GCaMP", "Red"), rows=24, columns=20,
                              compression="lzw")
    if name == "multifile":
        return write_ome_tiff_multifile(f / "multi", num_files=3, size_t=7)
    if name == "received-indexed":
        # records written in an order different from the pages (channel-major), mapped by mda_event index
        path = write_ome_tiff(f / "indexed.ome.tif", size_t=4, channel_names=("A", "B"), dimension_order="XYCZT",
                              time_increment=None)
        order = [{"t": t, "c": c} for c in range(2) for t in range(4)]
        write_frame_metadata_sidecar(path, 8, source="received", mda_index=order, interval_ms=10.0)
        return path
    if name == "positions":
        path = write_ome_tiff(f / "positions.ome.tif", size_t=5, time_increment=None)
        write_frame_metadata_sidecar(path, 5, source="elapsed", positions=("p0", "p1"))
        return path
    raise KeyError(name)


def _with_codecs(make):
    """``make()`` once imagecodecs (the optional ``codecs`` extra, LZW) is importable, else skip the case."""
    pytest.importorskip("imagecodecs")
    return make()


def _real_expected(name, channel=0):
    data, axes = tifffile_series(real(name))
    if axes == "TCYX":
        return data[:, channel]
    if axes == "TZYX":
        return data.transpose(0, 2, 3, 1)
    return data


def _same(path):
    return path


CASES = {
    # real files: pixels from tifffile's OME series, times from the sidecar read here with json
    "real-t": (lambda w=_same: OMETiffImagingExtractor(w(real("t"))), lambda: _real_expected("t"),
               lambda: np.array([r["runner_time_ms"] for r in sidecar_records("t")]) / 1000),
    "real-tc-DAPI": (lambda w=_same: OMETiffImagingExtractor(w(real("tc")), channel_name="DAPI"),
                     lambda: _real_expected("tc", 0),
                     lambda: np.array([r["runner_time_ms"] for r in sidecar_records("tc")])[0::2] / 1000),
    "real-tc-FITC": (lambda w=_same: OMETiffImagingExtractor(w(real("tc")), channel_name="FITC"),
                     lambda: _real_expected("tc", 1),
                     lambda: np.array([r["runner_time_ms"] for r in sidecar_records("tc")])[1::2] / 1000),
    "real-tz": (lambda w=_same: OMETiffImagingExtractor(w(real("tz"))), lambda: _real_expected("tz"),
                lambda: np.array([r["runner_time_ms"] for r in sidecar_records("tz")])[0::3] / 1000),
    "real-seq": (lambda w=_same: OMETiffImagingExtractor(w(real("seq"))), lambda: _real_expected("seq"),
                 lambda: np.array([float(r["camera_metadata"]["ElapsedTime-ms"]) for r in sidecar_records("seq")])
                 / 1000),
    "real-t-no-sidecar": (lambda w=_same: OMETiffImagingExtractor(w(real("t")), frame_metadata_path=False),
                          lambda: _real_expected("t"), lambda: np.arange(10) * 0.02),  # TimeIncrement 0.02 s
    "deltat-Red": (lambda w=_same: OMETiffImagingExtractor(w(synthetic("deltat")), channel_name="Red"),
                   lambda: ome_expected(6, 12, 10, channel=1), lambda: np.array(DELTA_T)[1::2]),
    "tcz-order-B": (lambda w=_same: OMETiffImagingExtractor(w(synthetic("tcz-order")), channel_name="B"),
                    lambda: ome_expected(4, 12, 10, size_z=3, channel=1), lambda: np.arange(4) * 0.5),
    "zlib": (lambda w=_same: OMETiffImagingExtractor(w(synthetic("zlib"))),
             lambda: ome_expected(5, 12, 10, dtype="int16"),
             lambda: np.arange(5) * 0.1),
    "lzw-Red": (lambda w=_same: _with_codecs(lambda: OMETiffImagingExtractor(w(synthetic("lzw")), channel_name="Red")),
                lambda: ome_expected(16, 24, 20, channel=1), lambda: np.arange(16) * 0.1),
    "multifile-middle-tdTomato": (
        lambda w=_same: OMETiffImagingExtractor(w(synthetic("multifile")[1]), channel_name="tdTomato"),
        lambda: ome_expected(7, 12, 10, channel=1), lambda: np.arange(7) * 0.05),
    "received-indexed-B": (lambda w=_same: OMETiffImagingExtractor(w(synthetic("received-indexed")), channel_name="B"),
                           lambda: ome_expected(4, 12, 10, channel=1),
                           # record k = c * 4 + t, received at 10 ms * k + 2 ms; seconds after the first record
                           lambda: (np.arange(4, 8) * 10.0) / 1000),
    "position-1": (lambda w=_same: OMETiffImagingExtractor(w(synthetic("positions")), position=1),
                   lambda: ome_expected(5, 12, 10), lambda: (np.arange(5) * 33.0 + 1000.0) / 1000),
}


class TestOMETiff(ExtractorTests):
    cases = list(CASES)

    def make_extractor(self, case):
        return CASES[case][0]()

    def make_shrinkable(self, case, tmp_path):
        from ..tiff.test_reader import relocator

        with CASES[case][0]() as original:
            folder = Path(original.get_file_paths()[0]).parent
        extractor = CASES[case][0](relocator(folder, copy_source(folder, tmp_path)))
        return extractor, [p for p in extractor.get_file_paths() if not p.endswith(".json")]

    def expected_series(self, case):
        return CASES[case][1]()

    def expected_timestamps(self, case):
        return CASES[case][2]()


def test_timestamp_sources_of_real_files():
    assert OMETiffImagingExtractor(real("seq")).timestamp_source == "ElapsedTime-ms"
    for name in ("t", "tz"):
        assert OMETiffImagingExtractor(real(name)).timestamp_source == "runner_time_ms"
    assert OMETiffImagingExtractor(synthetic("received-indexed"), channel_name="A").timestamp_source == \
        "TimeReceivedByCore"
    assert OMETiffImagingExtractor(synthetic("deltat"), channel_name="Red").timestamp_source == "DeltaT"


def test_real_tc_channels_and_frame_records():
    fitc = OMETiffImagingExtractor(real("tc"), channel_name="FITC")
    assert fitc.get_channel_names() == ["DAPI", "FITC"]
    # each FITC sample's record is the one taken with the FITC filter set (the Q505LP dichroic)
    dichroics = [r["property_values"][0]["val"] for r in fitc.get_frame_metadata()]
    assert dichroics == ["Q505LP"] * 5
    dapi = OMETiffImagingExtractor(real("tc"), channel_name="DAPI")
    assert [r["property_values"][0]["val"] for r in dapi.get_frame_metadata()] == ["400DCLP"] * 5
    assert len(dapi.get_all_frame_metadata()) == 10


def test_real_tz_volumes_and_metadata():
    ex = OMETiffImagingExtractor(real("tz"))
    assert ex.get_sample_shape() == (48, 64, 3) and ex.get_num_samples() == 3
    records = ex.get_frame_metadata()
    assert [r["position"]["z"] for r in records[1]] == [-2.0, 0.0, 2.0]
    meta = ex.get_metadata()
    assert meta["physical_sizes"]["Z"] == (2.0, "µm")
    assert meta["dimension_order"] == "XYCZT" and meta["sizes"]["Z"] == 3
    assert "<OME" in meta["ome_xml"] and meta["position_key"] == "p0"
    # the volume rate follows the recorded times (the requested 20 ms interval was not met)
    times = np.array([r["runner_time_ms"] for r in sidecar_records("tz")])[0::3] / 1000
    assert ex.get_sampling_frequency() == pytest.approx(1 / np.median(np.diff(times)))


def test_received_time_start_is_reported():
    ex = OMETiffImagingExtractor(synthetic("received-indexed"), channel_name="A")
    assert ex.get_metadata()["first_frame_time"] == dt.datetime(2024, 5, 6, 7, 8, 9, 252000)


def test_positions_need_choosing():
    with pytest.raises(SelectionError, match=r"positions \['p0', 'p1'\]"):
        OMETiffImagingExtractor(synthetic("positions"))
    with pytest.raises(SelectionError, match="'p7' is not in"):
        OMETiffImagingExtractor(synthetic("positions"), position="p7")
    ex = OMETiffImagingExtractor(synthetic("positions"), position="p0")
    np.testing.assert_allclose(ex.get_timestamps(), np.arange(5) * 0.033)


def test_channel_must_be_chosen():
    with pytest.raises(SelectionError, match=r"\['DAPI', 'FITC'\].*channel_name"):
        OMETiffImagingExtractor(real("tc"))
    with pytest.raises(SelectionError, match="'Cy5' is not in"):
        OMETiffImagingExtractor(real("tc"), channel_name="Cy5")


def test_sidecar_with_wrong_frame_count(tmp_path):
    path = tmp_path / "x.ome.tif"
    shutil.copy(real("t"), path)
    records = sidecar_records("t")[:7]
    Path(str(path) + "_frame_metadata.json").write_text(json.dumps({"p0": records}))
    with pytest.raises(MetadataError, match="has 7 frame records but x.ome.tif holds 10 planes"):
        OMETiffImagingExtractor(path)
    Path(str(path) + "_frame_metadata.json").write_text("[1, 2")
    with pytest.raises(MetadataError, match="not valid UTF-8 JSON"):
        OMETiffImagingExtractor(path)
    assert OMETiffImagingExtractor(path, frame_metadata_path=False).get_num_samples() == 10


def _rewrite(src, dst, edit):
    with tifffile.TiffFile(src, is_ome=False) as tif:
        xml = tif.pages[0].description
        planes = [page.asarray() for page in tif.pages]
    with tifffile.TiffWriter(dst) as tif:
        for k, plane in enumerate(planes):
            tif.write(plane, description=edit(xml).encode("utf-8") if k == 0 else None, metadata=None)
    return dst


def test_xml_that_contradicts_the_pages(tmp_path):
    wide = _rewrite(real("t"), tmp_path / "wide.ome.tif", lambda x: x.replace('SizeX="64"', 'SizeX="65"'))
    with pytest.raises(MetadataError, match="the XML contradicts the file"):
        OMETiffImagingExtractor(wide, frame_metadata_path=False)
    longer = _rewrite(real("t"), tmp_path / "long.ome.tif",
                      lambda x: x.replace('SizeT="10"', 'SizeT="12"').replace('PlaneCount="10"', 'PlaneCount="12"'))
    with pytest.raises(MetadataError, match="IFD 10, but the file holds 10 image IFDs"):
        OMETiffImagingExtractor(longer, frame_metadata_path=False)
    uncovered = _rewrite(real("t"), tmp_path / "gap.ome.tif", lambda x: x.replace('PlaneCount="10"', 'PlaneCount="8"'))
    with pytest.raises(MetadataError, match="stores 2 of 10 planes nowhere"):
        OMETiffImagingExtractor(uncovered, frame_metadata_path=False)
    outside = _rewrite(real("t"), tmp_path / "outside.ome.tif",
                       lambda x: x.replace('<TiffData IFD="0"', '<TiffData FirstT="10" IFD="0"'))
    with pytest.raises(MetadataError, match="FirstT=10, outside the Image"):
        OMETiffImagingExtractor(outside, frame_metadata_path=False)
    evil = _rewrite(real("t"), tmp_path / "evil.ome.tif",
                    lambda x: x.replace("?>", '?><!DOCTYPE OME [<!ENTITY a "aaaa">]>', 1))
    with pytest.raises(FormatError, match="refused"):
        OMETiffImagingExtractor(evil)


def test_multifile_dataset_errors(tmp_path):
    paths = write_ome_tiff_multifile(tmp_path / "m", num_files=3, size_t=6)
    ex = OMETiffImagingExtractor(paths[0], channel_name="GCaMP")
    assert [Path(p).name for p in ex.get_file_paths()] == [p.name for p in paths]
    paths[2].unlink()
    with pytest.raises(FileSetError, match="multi_2.ome.tif is missing"):
        OMETiffImagingExtractor(paths[0], channel_name="GCaMP")


def test_truncated_file_is_a_clear_error(tmp_path):
    data = real("t").read_bytes()
    path = tmp_path / "cut.ome.tiff"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="truncated"):
        OMETiffImagingExtractor(path)


@pytest.mark.parametrize("name", ["t", "tc", "tz", "seq"])
def test_open_imaging_picks_ome_for_real_files(name):
    kwargs = {"channel_name": "DAPI"} if name == "tc" else {}
    assert isinstance(open_imaging(real(name), **kwargs), OMETiffImagingExtractor)


@pytest.mark.parametrize("name", ["deltat", "zlib", "multifile", "positions"])
def test_open_imaging_picks_ome_for_synthetic_files(name):
    path = synthetic(name)
    path = path[0] if isinstance(path, list) else path
    kwargs = {"deltat": {"channel_name": "GCaMP"}, "multifile": {"channel_name": "GCaMP"},
              "positions": {"position": 0}}.get(name, {})
    assert isinstance(open_imaging(path, **kwargs), OMETiffImagingExtractor)


def _write_two_descriptions(path, planes, first: bytes, second: bytes):
    """A classic little-endian TIFF whose first IFD has two ImageDescription tags (tifffile refuses to)."""
    import struct

    rows, columns = planes[0].shape
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    previous_next = 4
    for k, plane in enumerate(planes):
        texts = [first + b"\x00", second + b"\x00"] if k == 0 else []
        text_at = []
        for text in texts:
            text_at.append(len(out))
            out += text
        data_at = len(out)
        out += plane.astype("<u2").tobytes()
        if len(out) % 2:
            out += b"\x00"
        entries = [(256, 3, 1, columns), (257, 3, 1, rows), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1)]
        entries += [(270, 2, len(t), at) for t, at in zip(texts, text_at)]
        entries += [(273, 4, 1, data_at), (277, 3, 1, 1), (278, 3, 1, rows), (279, 4, 1, plane.nbytes)]
        ifd_at = len(out)
        struct.pack_into("<I", out, previous_next, ifd_at)
        out += struct.pack("<H", len(entries))
        for tag, dtype, count, value in entries:
            packed = struct.pack("<HI", value, 0)[:4] if dtype == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, dtype, count) + packed
        previous_next = len(out)
        out += b"\x00\x00\x00\x00"
    Path(path).write_bytes(bytes(out))


def test_second_image_description_does_not_hide_the_ome_xml(tmp_path):
    # Micro-Manager writes the OME-XML and then ImageJ text as two ImageDescription tags of the first page
    from ophysio.extractors import detect_format

    with tifffile.TiffFile(real("t"), is_ome=False) as tif:
        xml = tif.pages[0].description
        planes = [page.asarray() for page in tif.pages]
    path = tmp_path / "mm.ome.tif"
    _write_two_descriptions(path, planes, xml.encode("utf-8"), b"ImageJ=1.53t\nimages=10\nframes=10\n")
    assert detect_format(path).id == "ome_tiff"
    ex = OMETiffImagingExtractor(path, frame_metadata_path=False)
    np.testing.assert_array_equal(ex[:], _real_expected("t"))
    assert ex.get_sampling_frequency() == 50.0


def test_channel_names_without_building_an_extractor():
    assert OMETiffImagingExtractor.get_available_channel_names(real("tc")) == ["DAPI", "FITC"]
    assert OMETiffImagingExtractor.get_available_channel_names(real("t")) == ["0"]  # unnamed: "0" as roiextractors
    assert OMETiffImagingExtractor(real("t")).channel_name == "0"


def test_micromanager_per_image_json_times(tmp_path):
    elapsed = [12.5 + 40.0 * k + (3.0 if k % 2 else 0.0) for k in range(8)]  # 4 timepoints x 2 channels
    path = write_ome_tiff(tmp_path / "mm.ome.tif", size_t=4, channel_names=("A", "B"), time_increment=0.04,
                          micromanager_elapsed_ms=elapsed)
    ex = OMETiffImagingExtractor(path, channel_name="B")
    np.testing.assert_allclose(ex.get_timestamps(), np.array(elapsed[1::2]) / 1000)
    assert ex.timestamp_source == "MicroManagerMetadata ElapsedTime-ms"
    assert ex.get_sampling_frequency() == pytest.approx(25.0)  # TimeIncrement, without reading every page
    np.testing.assert_array_equal(ex[:], ome_expected(4, 12, 10, channel=1))


def test_position_from_the_file_name(tmp_path):
    path = write_ome_tiff(tmp_path / "run_p001.ome.tif", size_t=5, time_increment=None)
    write_frame_metadata_sidecar(path, 5, source="runner", positions=("p0", "p1"))
    ex = OMETiffImagingExtractor(path)
    assert ex.get_metadata()["position_key"] == "p1"
    np.testing.assert_allclose(ex.get_timestamps(), (np.arange(5) * 33.0 + 1003.0) / 1000)
