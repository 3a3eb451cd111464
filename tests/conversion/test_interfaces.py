"""Interfaces on synthetic and real files: default metadata, one series per channel/plane, exact read-back."""

from datetime import datetime

import numpy as np
import pytest
import tifffile
from pynwb import NWBHDF5IO

from ophysio._synth.scanimage import page_pixels
from ophysio.conversion.interfaces import ScanImageImagingInterface, interface_from_paths
from ophysio.conversion.metadata import merge_metadata
from ophysio.conversion.nwb import read_source_metadata
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_scanimage

from .test_metadata import COMPLETE


def complete(interface, **extra):
    """The interface's defaults, completed with the values the source cannot give."""
    meta = interface.get_metadata()
    for plane in meta["Ophys"]["ImagingPlane"]:
        plane.update(excitation_lambda=920.0, indicator="GCaMP6f", location="VISp")
        for channel in plane["optical_channel"]:
            channel["emission_lambda"] = 510.0
    session = {k: v for k, v in COMPLETE.items() if k != "Ophys"}
    if "session_start_time" in meta["NWBFile"]:
        session = merge_metadata(session, {"NWBFile": {"session_start_time": None}})
        session["NWBFile"].pop("session_start_time")
    return merge_metadata(session, merge_metadata({"Ophys": meta["Ophys"]}, extra))


def read_all(path):
    out = {}
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        for name, series in nwbfile.acquisition.items():
            out[name] = (series.data[:], np.asarray(series.get_timestamps()), series.timestamps is not None)
        out["_start"] = nwbfile.session_start_time
    return out


def check_exact(path, interface):
    """Every stream of the interface is in the file with exactly its pixels and times."""
    written = read_all(path)
    meta = interface.get_metadata()
    for (ex, _), series_meta in zip(interface.streams(), meta["Ophys"]["PhotonSeries"]):
        data, times, _ = written[series_meta["name"]]
        np.testing.assert_array_equal(data, np.swapaxes(ex.get_series(), 1, 2))
        assert np.max(np.abs(times - ex.get_timestamps())) <= 1e-6
    return written


def test_scanimage_two_channels_multi_file_from_first_file(tmp_path):
    paths = write_scanimage(tmp_path / "src", "s", num_samples=24, rows=16, columns=20, channels=(1, 3),
                            frames_per_file=10, frame_rate=20.0)
    assert len(paths) == 3
    interface = ScanImageImagingInterface(file_path=paths[0])
    meta = interface.get_metadata()
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == ["TwoPhotonSeriesChannel1", "TwoPhotonSeriesChannel3"]
    assert meta["NWBFile"]["session_start_time"] == datetime(2024, 3, 14, 9, 26, 53, 500000)  # naive, as recorded
    assert "ScanImage 2023.1" in meta["Ophys"]["Device"][0]["description"]
    # geometry, independently from the header as tifffile reads it
    with tifffile.TiffFile(paths[0]) as tif:
        header = tif.scanimage_metadata
    field = header["RoiGroups"]["imagingRoiGroup"]["rois"]["scanfields"]
    um_per_degree = header["FrameData"]["SI.objectiveResolution"]
    plane = meta["Ophys"]["ImagingPlane"][0]
    np.testing.assert_allclose(plane["grid_spacing"][:2], np.array(field["sizeXY"]) * um_per_degree * 1e-6 / [20, 16])
    np.testing.assert_allclose(plane["origin_coords"][:2],
                               (np.array(field["centerXY"]) - np.array(field["sizeXY"]) / 2) * um_per_degree * 1e-6)
    assert plane["imaging_rate"] == 20.0

    out = interface.run_conversion(tmp_path / "si.nwb", complete(interface), timezone="America/New_York")
    written = check_exact(out, interface)
    # independent expectation: page k of the series holds page_pixels(k); channel c is every other page
    for c, name in enumerate(["TwoPhotonSeriesChannel1", "TwoPhotonSeriesChannel3"]):
        pages = np.arange(24) * 2 + c
        np.testing.assert_array_equal(written[name][0], page_pixels(pages, 16, 20).swapaxes(1, 2))
        assert not written[name][2]  # regular: written as starting_time + rate
    assert written["_start"].isoformat() == "2024-03-14T09:26:53.500000-04:00"
    headers = read_source_metadata(out)
    assert headers["TwoPhotonSeriesChannel3"]["files"] == [str(p) for p in paths]
    frame_data = headers["TwoPhotonSeriesChannel1"]["metadata"]["frame_data"]
    assert frame_data["SI.hRoiManager.scanFrameRate"] == 20.0 and len(frame_data) == len(header["FrameData"])


def test_scanimage_volume_split_into_planes(tmp_path):
    paths = write_scanimage(tmp_path / "src", "v", num_samples=5, rows=8, columns=6, num_slices=3, num_flyback=1,
                            frame_rate=40.0)
    interface = ScanImageImagingInterface(file_path=paths[0], split_planes=True)
    meta = interface.get_metadata()
    assert [s["name"] for s in meta["Ophys"]["PhotonSeries"]] == [f"TwoPhotonSeriesPlane{p}" for p in range(3)]
    depths = [p["origin_coords"][2] for p in meta["Ophys"]["ImagingPlane"]]
    assert depths[0] < depths[1] < depths[2]
    out = interface.run_conversion(tmp_path / "v.nwb", complete(interface), timezone="UTC")
    written = check_exact(out, interface)
    for p in range(3):
        pages = np.arange(5) * 4 + p  # 3 slices + 1 flyback frame per volume, one channel
        np.testing.assert_array_equal(written[f"TwoPhotonSeriesPlane{p}"][0], page_pixels(pages, 8, 6).swapaxes(1, 2))


def test_scanimage_conversion_and_stub_pass_nwbinspector(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    paths = write_scanimage(tmp_path / "src", "c", num_samples=130, rows=24, columns=32, channels=(1, 2),
                            pattern="cells")
    interface = ScanImageImagingInterface(file_path=paths[0])
    meta = complete(interface)
    full = interface.run_conversion(tmp_path / "full.nwb", meta, timezone="Europe/Berlin")
    stub = interface.run_conversion(tmp_path / "stub.nwb", meta, timezone="Europe/Berlin", stub_test=True)
    check_exact(full, interface)
    for path in (full, stub):
        messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
        bad = [m for m in messages
               if m.importance in (Importance.ERROR, Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
        assert bad == [], [(m.check_function_name, m.message) for m in bad]


REAL_FILES = [
    ("scanimage/ScanImageBigTIFFv57.tif", {}),
    ("scanimage/vol_no_flyback_00001_00001.tif", {}),
    ("scanimage/vol_one_ch_multi_files/vol_one_ch_multi_files_00001_00005.tif", {}),
    ("scanimage_legacy/sample_scanimage_version_3_8.tiff", {}),
    ("ome_tiff/pmmp_demo_t.ome.tiff", {}),
    ("ome_tiff/pmmp_demo_tc.ome.tiff", {}),
    ("ome_tiff/pmmp_demo_tz.ome.tiff", {}),
    ("ome_tiff/pmmp_demo_seq.ome.tiff", {}),
    ("hdf5/fly.hdf5", {"sampling_frequency": 15.0}),
    ("mat/denoise.mat", {"sampling_frequency": 10.0, "dims": "YXCT"}),
]


@pytest.mark.parametrize("name, options", REAL_FILES, ids=[n for n, _ in REAL_FILES])
def test_real_files_convert_exactly(tmp_path, name, options):
    interface = interface_from_paths(sample_file(name), **options)
    out = interface.run_conversion(tmp_path / "real.nwb", complete(interface), timezone="UTC")
    check_exact(out, interface)
    headers = read_source_metadata(out)
    assert len(headers) == len(interface.streams())
    assert all(h["metadata"] for h in headers.values()) or name.startswith(("hdf5", "mat"))


def test_real_multi_file_series_converts_every_file(tmp_path):
    interface = interface_from_paths(
        sample_file("scanimage/vol_one_ch_multi_files/vol_one_ch_multi_files_00001_00001.tif"), split_planes=True
    )
    assert len(interface.extractor.get_file_paths()) == 10 and interface.extractor.get_num_samples() == 100
    out = interface.run_conversion(tmp_path / "multi.nwb", complete(interface), timezone="UTC", stub_test=True,
                                   stub_samples=100)
    written = check_exact(out, interface)
    assert written["TwoPhotonSeriesPlane8"][0].shape == (100, 20, 20)


def test_session_start_from_legacy_trigger_time_and_ome_sidecar(shared_data):
    import datetime as dt
    import json

    from ophysio.conversion.interfaces import interface_from_paths

    legacy = interface_from_paths(shared_data / "scanimage_legacy" / "sample_scanimage_version_3_8.tiff")
    assert legacy.get_metadata()["NWBFile"]["session_start_time"] == dt.datetime(2017, 10, 9, 16, 57, 7, 967000)
    legacy.close()

    seq = shared_data / "ome_tiff" / "pmmp_demo_seq.ome.tiff"
    first = json.loads((seq.parent / (seq.name + "_frame_metadata.json")).read_text())["p0"][0]["camera_metadata"]
    expected = dt.datetime.fromisoformat(first["TimeReceivedByCore"]) - dt.timedelta(
        milliseconds=float(first["ElapsedTime-ms"]))
    ome = interface_from_paths(seq)
    assert ome.extractors[0].get_metadata()["first_frame_time"] == expected
    assert ome.get_metadata()["NWBFile"]["session_start_time"] == expected
    ome.close()


def test_multi_roi_acquisition_gives_one_series_and_plane_per_channel_and_roi(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    rois = [dict(rows=6, columns=8, name="V1 left", center_xy=[-2, 0]),
            dict(rows=4, columns=8, name="V1 right", center_xy=[3, 1])]
    # more samples than rows or columns: nwbinspector takes a short movie for a transposed one
    paths = write_scanimage(tmp_path / "src", "m", num_samples=12, rois=rois, flyto_lines=3, channels=(1, 2))
    interface = ScanImageImagingInterface(file_path=paths[0])
    meta = complete(interface)
    names = [s["name"] for s in meta["Ophys"]["PhotonSeries"]]
    assert names == ["TwoPhotonSeriesChannel1RoiV1Left", "TwoPhotonSeriesChannel1RoiV1Right",
                     "TwoPhotonSeriesChannel2RoiV1Left", "TwoPhotonSeriesChannel2RoiV1Right"]
    path = interface.run_conversion(tmp_path / "mroi.nwb", meta, timezone="Europe/Berlin")
    written = read_all(path)
    # independent of the extractor: the stored pages (channels interleaved), cropped to each ROI's rows
    with tifffile.TiffFile(paths[0]) as tif:  # 24 pages of 6 + 3 fly-to + 4 rows
        pages = np.stack([page.asarray() for page in tif.pages])
    assert pages.shape == (24, 13, 8)
    for channel in (0, 1):
        for roi, rows in (("V1Left", slice(0, 6)), ("V1Right", slice(9, 13))):
            data = written[f"TwoPhotonSeriesChannel{channel + 1}Roi{roi}"][0]
            np.testing.assert_array_equal(data, pages[channel::2, rows].swapaxes(1, 2))
    with NWBHDF5IO(str(path), "r") as io:
        planes = io.read().imaging_planes
        left, right = planes["ImagingPlaneChannel1RoiV1Left"], planes["ImagingPlaneChannel1RoiV1Right"]
        assert "ROI 'V1 left' (index 0)" in left.description
        assert left.origin_coords[0] < right.origin_coords[0]  # the scanfields' centres are 5 degrees apart
        assert left.grid_spacing[1] != right.grid_spacing[1]  # same field size, 6 and 4 rows
        # the right ROI starts 9 lines into each 13-line frame, at the synthetic 30 Hz frame rate
        late = io.read().acquisition["TwoPhotonSeriesChannel1RoiV1Right"].description
        assert f"scanned {9 / (30.0 * 13) * 1e3:.3f} ms later" in late
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                    Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]

    whole = ScanImageImagingInterface(file_path=paths[0], split_rois=False)  # pages as stored
    assert [(ex.channel_name, ex.roi_index, ex.get_image_shape()) for ex in whole.extractors] == [
        ("Channel 1", None, (13, 8)), ("Channel 2", None, (13, 8))]
    one = ScanImageImagingInterface(file_path=paths[0], roi_name="V1 right", channel_name="Channel 2")
    assert [(ex.roi_index, ex.get_image_shape()) for ex in one.extractors] == [(1, (4, 8))]
