"""Segmentations into NWB: the real suite2p run read back with h5py and pynwb against numpy reads of its
files; masks that overlay the movie; movie and segmentation in one file, linked; background components,
dF/F, recorded times, stubs, tiled trace chunks, every compression; the command line; nwbinspector."""

from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio import write_nwb
from ophysio.conversion.converter import NWBConverter
from ophysio.conversion.interfaces import interface_from_paths
from ophysio.conversion.nwb import read_source_metadata
from ophysio.conversion.nwb.segmentation import trace_chunks
from ophysio.conversion.segmentation_interface import SegmentationInterface, segmentation_interface_from_path
from ophysio.errors import MetadataError
from ophysio.extractors import NumpySegmentationExtractor, Suite2pImagingExtractor, Suite2pSegmentationExtractor
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_suite2p, write_suite2p_segmentation

USER = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
                                "optical_channel": [{"emission_lambda": 510.0}, {"emission_lambda": 580.0}]}]},
}
OPHYS = "processing/ophys"


def _inspect(path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.CRITICAL,
                                                   Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.object_name, m.message) for m in bad]


def _real_plane(p: int) -> dict:
    """The files of plane ``p`` of the real run, read with numpy."""
    folder = sample_file("segmentation/suite2p") / f"plane{p}"
    ops = np.load(folder / "ops.npy", allow_pickle=True).item()
    return {"stat": np.load(folder / "stat.npy", allow_pickle=True), "ops": ops,
            **{name: np.load(folder / f"{name}.npy") for name in ("F", "Fneu", "spks", "F_chan2", "Fneu_chan2",
                                                                   "iscell", "redcell")}}


def test_the_real_run_reads_back_equal(tmp_path):
    interface = segmentation_interface_from_path(sample_file("segmentation/suite2p"))
    assert [ex.channel_name for ex in interface.extractors] == ["chan1", "chan2"]
    out = interface.run_conversion(tmp_path / "real.nwb", USER)
    with h5py.File(out, "r") as f:
        for p in (0, 1):
            plane = _real_plane(p)
            table = f[f"{OPHYS}/ImageSegmentation/PlaneSegmentationPlane{p}"]
            n = len(plane["stat"])
            offset = 0 if p == 0 else 15  # ids run across the planes, as in suite2p's combined/
            np.testing.assert_array_equal(table["id"][:], np.arange(n) + offset)
            masks = table["image_mask"][:]  # (ROI, x = column, y = row): small enough for "auto" to pick images
            assert masks.shape == (n, 128, 128)
            for i, roi in enumerate(plane["stat"]):
                expected = np.zeros((128, 128), dtype=np.float32)
                expected[roi["xpix"], roi["ypix"]] = roi["lam"]
                np.testing.assert_array_equal(masks[i], expected)
            np.testing.assert_array_equal(table["Accepted"][:], plane["iscell"][:, 0] == 1)
            np.testing.assert_array_equal(table["Rejected"][:], plane["iscell"][:, 0] == 0)
            np.testing.assert_array_equal(table["iscell_probability"][:], plane["iscell"][:, 1])
            np.testing.assert_array_equal(table["redcell_probability"][:], plane["redcell"][:, 1])
            np.testing.assert_array_equal(table["npix"][:], [roi["npix"] for roi in plane["stat"]])
            centroids = np.array([[np.average(roi[axis], weights=roi["lam"]) for axis in ("xpix", "ypix")]
                                  for roi in plane["stat"]])
            np.testing.assert_allclose(table["ROICentroids"][:], centroids, rtol=1e-6)
            assert table["imaging_plane"] == f[f"general/optophysiology/ImagingPlanePlane{p}"]
            for series, key in (("RoiResponseSeries", "F"), ("Neuropil", "Fneu"), ("Deconvolved", "spks"),
                                ("RoiResponseSeriesChan2", "F_chan2"), ("NeuropilChan2", "Fneu_chan2")):
                group = f[f"{OPHYS}/Fluorescence/{series}Plane{p}"]
                np.testing.assert_array_equal(group["data"][:], plane[key].T, err_msg=series)
                assert group["starting_time"].attrs["rate"] == plane["ops"]["fs"]
                assert f[group["rois"].attrs["table"]] == table
                np.testing.assert_array_equal(group["rois"][:], np.arange(n))
            images = f[f"{OPHYS}/SegmentationImages"]
            suffix = f"_PlaneSegmentationPlane{p}"
            np.testing.assert_array_equal(images[f"mean_image{suffix}"][:], plane["ops"]["meanImg"].T)
            np.testing.assert_array_equal(images[f"correlation_image{suffix}"][:], plane["ops"]["Vcorr"].T)
            np.testing.assert_array_equal(images[f"max_image{suffix}"][:], plane["ops"]["max_proj"].T)
            np.testing.assert_array_equal(images[f"mean_chan2_image{suffix}"][:], plane["ops"]["meanImg_chan2"].T)
    headers = read_source_metadata(out)
    assert headers["PlaneSegmentationPlane0"]["format"] == "suite2p"
    assert headers["PlaneSegmentationPlane0"]["metadata"]["ops"]["plane0"]["nframes"] == 250
    assert headers["PlaneSegmentationPlane1"] == headers["PlaneSegmentationPlane0"]  # one source, stored once
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(out), "r") as io:  # pynwb reads what was written
        nwb = io.read()
        table = nwb.processing["ophys"]["ImageSegmentation"]["PlaneSegmentationPlane1"]
        assert len(table) == 25 and table.imaging_plane.name == "ImagingPlanePlane1"
        series = nwb.processing["ophys"]["Fluorescence"]["RoiResponseSeriesPlane1"]
        assert series.rois.table is table and series.rate == 10.0
    _inspect(out)


def test_pixel_and_voxel_masks_are_x_y_weight(tmp_path):
    root = sample_file("segmentation/suite2p")
    pixel = SegmentationInterface(Suite2pSegmentationExtractor(root, plane_name="plane1"), mask_type="pixel")
    voxel = SegmentationInterface(Suite2pSegmentationExtractor(root), split_planes=False)
    plane = _real_plane(1)
    with h5py.File(pixel.run_conversion(tmp_path / "pixel.nwb", USER), "r") as f:
        table = f[f"{OPHYS}/ImageSegmentation/PlaneSegmentation"]
        assert "image_mask" not in table
        ends = table["pixel_mask_index"][:]
        data = table["pixel_mask"][:]
        for i, roi in enumerate(plane["stat"]):
            mask = data[(ends[i - 1] if i else 0) : ends[i]]
            np.testing.assert_array_equal(mask["x"], roi["xpix"])
            np.testing.assert_array_equal(mask["y"], roi["ypix"])
            np.testing.assert_array_equal(mask["weight"], roi["lam"])
    meta = {**USER, "Ophys": {**USER["Ophys"], "PlaneSegmentation": [{"mask_type": "voxel"}]}}
    with h5py.File(voxel.run_conversion(tmp_path / "voxel.nwb", meta), "r") as f:
        table = f[f"{OPHYS}/ImageSegmentation/PlaneSegmentation"]
        data, ends = table["voxel_mask"][:], table["voxel_mask_index"][:]
        assert len(ends) == 40
        last = data[ends[-2] : ends[-1]]
        roi = plane["stat"][-1]
        np.testing.assert_array_equal(last["x"], roi["xpix"])
        np.testing.assert_array_equal(last["z"], np.ones(len(roi["xpix"])))
        np.testing.assert_array_equal(table["ROICentroids"][:, 2], [0] * 15 + [1] * 25)
        images = f[f"{OPHYS}/SegmentationImages"]
        np.testing.assert_array_equal(images["mean_image_plane1"][:], plane["ops"]["meanImg"].T)
        assert f[f"{OPHYS}/Fluorescence/RoiResponseSeries/data"].shape == (250, 40)


def _session(folder: Path, planes: int = 2) -> Path:
    """A suite2p run with its movie (data.bin) and its segmentation, of the same field of view."""
    write_suite2p(folder, num_frames=40, rows=24, columns=32, num_planes=planes, num_channels=2)
    return write_suite2p_segmentation(folder, num_planes=planes, rois_per_plane=[5, 4][:planes] if planes <= 2 else 4,
                                      num_frames=40, rows=24, columns=32, num_channels=2, combined=False)


@pytest.mark.parametrize("split", [False, True])
def test_movie_and_segmentation_in_one_file_are_linked_and_overlay(tmp_path, split):
    root = _session(tmp_path / "run")
    movie = Suite2pImagingExtractor(root)
    segmentation = Suite2pSegmentationExtractor(root)
    if split:
        converter = NWBConverter({"Imaging": interface_from_paths(root, split_planes=True, channel_name="chan1"),
                                  "Segmentation": SegmentationInterface(segmentation)})
        out = converter.run_conversion(tmp_path / "both.nwb", USER)
    else:
        out = write_nwb([movie, segmentation], tmp_path / "both.nwb", USER)
    with h5py.File(out, "r") as f:
        segmentation_tables = f[f"{OPHYS}/ImageSegmentation"]
        if split:
            assert sorted(segmentation_tables) == ["PlaneSegmentationPlane0", "PlaneSegmentationPlane1"]
            for p in (0, 1):
                table = segmentation_tables[f"PlaneSegmentationPlane{p}"]
                series = f[f"acquisition/TwoPhotonSeriesPlane{p}"]
                assert table["imaging_plane"] == series["imaging_plane"]
                frame = series["data"][3]  # (x, y)
                masks = table["image_mask"][:]  # (ROI, x, y)
                stat = np.load(root / f"plane{p}" / "stat.npy", allow_pickle=True)
                movie_frame = movie.get_series(3, 4)[0, :, :, p]  # (rows, columns) in ophysio
                for i, roi in enumerate(stat):  # the mask picks the same pixels of the movie in NWB as in suite2p
                    assert np.sum(masks[i] * frame) == pytest.approx(
                        np.sum(roi["lam"] * movie_frame[roi["ypix"], roi["xpix"]]), rel=1e-5)
        else:
            (name,) = segmentation_tables
            table = segmentation_tables[name]
            series = f["acquisition/TwoPhotonSeries"]
            assert table["imaging_plane"] == series["imaging_plane"]
            masks = table["image_mask"][:]  # (ROI, x, y, z), the series' (t, x, y, z)
            assert masks.shape == (9, 32, 24, 2) and series["data"].shape[1:] == (32, 24, 2)
            frame = series["data"][5]
            assert np.sum(masks[-1] * frame) == pytest.approx(
                np.sum(segmentation.get_roi_image_masks([8])[..., 0] * movie.get_series(5, 6)[0]), rel=1e-5)
        # the movie's imaging planes only: the segmentation's tables name them
        assert list(f["general/optophysiology"]) == (["ImagingPlanePlane0", "ImagingPlanePlane1"] if split
                                                     else ["ImagingPlane"])
    _inspect(out)


def test_a_segmentation_of_another_field_of_view_gets_its_own_imaging_plane(tmp_path):
    root = _session(tmp_path / "run", planes=1)
    other = NumpySegmentationExtractor(pixel_masks=[np.array([[1, 2, 1.0]])], movie_dims=(10, 10),
                                       raw=np.ones((40, 1), dtype=np.float32), sampling_frequency=10.0)
    with pytest.warns(UserWarning, match="does not cover the movie's field of view"):
        converter = NWBConverter({"Imaging": interface_from_paths(root, channel_name="chan1"),
                                  "Segmentation": SegmentationInterface(other)})
    meta = converter.get_metadata()
    assert meta["Ophys"]["PlaneSegmentation"][0]["imaging_plane"] == "ImagingPlaneSegmentation"
    with h5py.File(converter.run_conversion(tmp_path / "o.nwb", USER), "r") as f:
        assert sorted(f["general/optophysiology"]) == ["ImagingPlane", "ImagingPlaneSegmentation"]
        table = f[f"{OPHYS}/ImageSegmentation/PlaneSegmentation"]
        assert table["imaging_plane"] == f["general/optophysiology/ImagingPlaneSegmentation"]


def test_background_dff_and_recorded_times(tmp_path):
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.random(60) * 0.05 + 0.01)
    masks = [np.array([[r, c, 1.0] for r in range(i, i + 3) for c in range(3)]) for i in range(4)]
    extractor = NumpySegmentationExtractor(
        pixel_masks=masks, movie_dims=(12, 9), raw=rng.random((60, 4)), dff=rng.standard_normal((60, 4)),
        background=rng.random((60, 2)).astype(np.float32),
        background_pixel_masks=[np.array([[0, 0, 0.5], [11, 8, 0.25]]), np.array([[5, 5, 1.0]])],
        timestamps=times, accepted_list=[0, 1], rejected_list=[3], images={"mean": rng.random((12, 9))})
    out = write_nwb(extractor, tmp_path / "bg.nwb", {**USER, "Ophys": {"ImagingPlane": [{
        "excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
        "optical_channel": [{"emission_lambda": 510.0}]}]}})
    with h5py.File(out, "r") as f:
        segmentation = f[f"{OPHYS}/ImageSegmentation"]
        assert sorted(segmentation) == ["BackgroundPlaneSegmentation", "PlaneSegmentation"]
        background = segmentation["BackgroundPlaneSegmentation"]
        np.testing.assert_array_equal(background["image_mask"][0], np.array(
            [[0.5 if (x, y) == (0, 0) else 0.25 if (x, y) == (8, 11) else 0 for y in range(12)] for x in range(9)]))
        assert list(background["roi_name"].asstr()[:]) == ["background0", "background1"]
        bg = f[f"{OPHYS}/Fluorescence/Background"]
        np.testing.assert_array_equal(bg["data"][:], extractor.get_traces(name="background", roi_ids=["background0",
                                                                                                     "background1"]))
        assert f[bg["rois"].attrs["table"]] == background
        dff = f[f"{OPHYS}/DfOverF/DfOverF"]
        np.testing.assert_array_equal(dff["data"][:], extractor.get_traces(name="dff"))
        np.testing.assert_array_equal(dff["timestamps"][:], times)  # irregular: written as timestamps
        table = segmentation["PlaneSegmentation"]
        np.testing.assert_array_equal(table["Accepted"][:], [True, True, False, False])
        np.testing.assert_array_equal(table["Rejected"][:], [False, False, False, True])  # ROI 2 is undecided
    _inspect(out)


@pytest.mark.filterwarnings("ignore:lzf compression may not be available")
@pytest.mark.parametrize("compression", ["gzip", "gzip:4", "lzf", "none"])
def test_traces_written_in_tiles_read_back_exactly(tmp_path, compression):
    rng = np.random.default_rng(1)
    rois, samples = 300, 1100
    raw = rng.standard_normal((samples, rois))  # float64: 2.6 MB, several 1 MiB tiles with ragged edges
    chunks = trace_chunks(samples, rois, 8)
    assert chunks[0] < samples and samples % chunks[0] and rois % chunks[1]
    masks = [np.array([[i % 20, i // 20, 1.0]]) for i in range(rois)]
    extractor = NumpySegmentationExtractor(pixel_masks=masks, movie_dims=(20, 15), raw=raw, sampling_frequency=30.0)
    meta = {**USER, "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f",
                                                 "location": "VISp", "optical_channel": [{"emission_lambda": 510.0}]}]}}
    out = write_nwb(extractor, tmp_path / "tiles.nwb", meta, compression=compression, max_workers=2)
    with h5py.File(out, "r") as f:
        data = f[f"{OPHYS}/Fluorescence/RoiResponseSeries/data"]
        assert data.chunks == chunks
        np.testing.assert_array_equal(data[:], raw)
    stub = write_nwb(extractor, tmp_path / "stub.nwb", meta, stub_test=True)
    with h5py.File(stub, "r") as f:  # a stub keeps time the longest axis
        assert f[f"{OPHYS}/Fluorescence/RoiResponseSeries/data"].shape == (rois + 1, rois)


def test_metadata_names_rename_and_describe(tmp_path):
    interface = segmentation_interface_from_path(sample_file("segmentation/suite2p"), plane_name="plane0",
                                                 channel_name="chan1")
    meta = {**USER, "Ophys": {**USER["Ophys"],
                              "PlaneSegmentation": [{"name": "Cells", "description": "suite2p 0.14 ROIs"}],
                              "RoiResponseSeries": [{"name": "RoiResponseSeries", "description": "F", "unit": "a.u."}]}}
    with h5py.File(interface.run_conversion(tmp_path / "named.nwb", meta), "r") as f:
        table = f[f"{OPHYS}/ImageSegmentation/Cells"]
        assert table.attrs["description"] == "suite2p 0.14 ROIs"
        series = f[f"{OPHYS}/Fluorescence/RoiResponseSeries"]
        assert series.attrs["description"] == "F" and series["data"].attrs["unit"] == "a.u."
        assert f[series["rois"].attrs["table"]] == table  # renamed by name: the series follows its table
    bad = {**USER, "Ophys": {**USER["Ophys"], "RoiResponseSeries": [{"name": "X", "trace": "dff"}] * 4}}
    with pytest.raises(MetadataError, match="RoiResponseSeries has"):
        interface.run_conversion(tmp_path / "bad.nwb", bad)


def test_the_command_line_writes_the_movie_and_its_segmentation(tmp_path, capsys):
    from ophysio.cli import main

    root = _session(tmp_path / "run")
    meta = tmp_path / "meta.yaml"
    meta.write_text("NWBFile: {session_start_time: '2024-05-01T10:00:00+02:00', session_description: s}\n"
                    "Subject: {subject_id: m1, species: Mus musculus, sex: F, age: P90D}\n"
                    "Ophys:\n  ImagingPlane: [{excitation_lambda: 920.0, indicator: GCaMP6f, location: VISp, "
                    "optical_channel: [{emission_lambda: 510.0}]}]\n")
    out = tmp_path / "cli.nwb"
    assert main(["convert", str(root), "--segmentation", str(root), "-o", str(out), "--metadata", str(meta),
                 "--no-progress", "--split-planes"]) == 0
    assert "4 photon series, 2 PlaneSegmentations" in capsys.readouterr().out
    with h5py.File(out, "r") as f:
        assert sorted(f[f"{OPHYS}/ImageSegmentation"]) == ["PlaneSegmentationPlane0", "PlaneSegmentationPlane1"]
        table = f[f"{OPHYS}/ImageSegmentation/PlaneSegmentationPlane1"]
        assert table["imaging_plane"] == f["acquisition/TwoPhotonSeriesChan1Plane1/imaging_plane"]
    assert main(["metadata-template", "--segmentation", str(root)]) == 0
    template = capsys.readouterr().out
    assert "PlaneSegmentation:" in template and "RoiResponseSeries:" in template
    assert main(["convert", str(root), "--segmentation", str(root), "-o", str(tmp_path / "x.tif")]) != 0
    assert "--segmentation is for NWB output" in capsys.readouterr().err
    # the built-in example: a suite2p run with its movie, written with its own segmentation
    example = tmp_path / "example.nwb"
    assert main(["convert", "--example", "suite2p_session", "--segmentation", "-o", str(example), "--no-progress"]) == 0
    assert "2 photon series, 1 PlaneSegmentation" in capsys.readouterr().out  # chan1 and chan2 volumes, one volume
    with h5py.File(example, "r") as f:
        table = f[f"{OPHYS}/ImageSegmentation/PlaneSegmentation"]
        assert table["image_mask"].shape == (21, 64, 64, 2)  # (ROI, x, y, z): the movie is one volume
        assert table["imaging_plane"] == f["acquisition/TwoPhotonSeriesChan1/imaging_plane"]


def test_info_and_formats_show_segmentations(capsys, tmp_path):
    import json

    from ophysio.cli import main

    root = sample_file("segmentation/suite2p")
    assert main(["info", str(root)]) == 0  # a segmentation without a movie is described as one
    out = capsys.readouterr().out
    assert "ROIs:        40 (15, 25 per plane); 14 accepted, 26 rejected" in out
    assert "traces:      raw, neuropil, deconvolved" in out and "channel:     chan2" in out
    assert main(["info", str(root), "--segmentation", "--json", "-O", "plane_name=plane1"]) == 0
    info = json.loads(capsys.readouterr().out)
    iscell = np.load(root / "plane1" / "iscell.npy")
    assert (info["num_rois"], info["num_accepted"]) == (25, int(iscell[:, 0].sum()))
    session = _session(tmp_path / "run", planes=1)
    assert main(["info", str(session)]) == 0  # with a movie beside it: the movie, unless --segmentation
    assert "samples:     40 of 24 x 32 (frames)" in capsys.readouterr().out
    assert main(["formats", "--json"]) == 0
    entries = {e["id"]: e for e in json.loads(capsys.readouterr().out)}
    assert entries["suite2p"]["kinds"] == ["imaging", "segmentation"] and entries["suite2p"]["writer"] == "suite2p"
    assert main(["formats"]) == 0
    assert "suite2p segmentation (stat.npy" in capsys.readouterr().out


def test_the_sources_facts_fill_the_imaging_plane_of_an_unlinked_segmentation():
    from ophysio.extractors.facts import AcquisitionFacts

    class WithFacts(NumpySegmentationExtractor):
        def get_acquisition_facts(self):
            return AcquisitionFacts(device_name="Scope", manufacturer="Maker", channel_name=self.channel_name,
                                    channel_names=(self.channel_name,), emission_wavelengths_nm=(520.0,),
                                    excitation_wavelength_nm=930.0, pixel_size_um=(1.5, 0.5), origin_um=(10.0, 20.0))

    extractor = WithFacts(pixel_masks=[np.array([[1, 2, 1.0]])], movie_dims=(10, 10),
                          raw=np.ones((40, 1), dtype=np.float32), sampling_frequency=10.0)
    meta = SegmentationInterface(extractor).get_metadata()["Ophys"]
    (plane,) = meta["ImagingPlane"]
    assert plane["grid_spacing"] == [0.5e-6, 1.5e-6] and plane["origin_coords"] == [20e-6, 10e-6]
    assert plane["excitation_lambda"] == 930.0 and plane["optical_channel"][0]["emission_lambda"] == 520.0
    assert meta["Device"] == [{"name": "Scope", "manufacturer": "Maker"}] and plane["device"] == "Scope"


def test_two_segmentations_in_one_file_keep_their_names_apart(tmp_path):
    root = sample_file("segmentation/suite2p")
    converter = NWBConverter({f"P{p}": SegmentationInterface(Suite2pSegmentationExtractor(root, plane_name=f"plane{p}"))
                              for p in (0, 1)})
    meta = converter.get_metadata()["Ophys"]
    assert [t["name"] for t in meta["PlaneSegmentation"]] == ["PlaneSegmentationP0", "PlaneSegmentationP1"]
    assert [t["imaging_plane"] for t in meta["PlaneSegmentation"]] == ["ImagingPlaneP0", "ImagingPlaneP1"]
    assert meta["RoiResponseSeries"][3]["plane_segmentation"] == "PlaneSegmentationP1"
    with h5py.File(converter.run_conversion(tmp_path / "two.nwb", USER), "r") as f:
        np.testing.assert_array_equal(f[f"{OPHYS}/Fluorescence/RoiResponseSeriesP1/data"][:],
                                      np.load(root / "plane1" / "F.npy").T)
        images = sorted(f[f"{OPHYS}/SegmentationImages"])
        assert "mean_image" in images and "mean_image_PlaneSegmentationP1" in images


def test_a_lone_segmentation_path_converts_as_a_segmentation(tmp_path, capsys):
    """``ophysio convert caiman.hdf5 -o x.nwb``: the path is a segmentation with no movie (as ``ophysio info``
    says), so it converts as ``--segmentation PATH`` would, not as a movie of some HDF5 array."""
    from ophysio.cli import main

    source = sample_file("segmentation/caiman/caiman_analysis.hdf5")
    meta = tmp_path / "meta.yaml"
    meta.write_text("NWBFile: {session_start_time: '2024-05-01T10:00:00+02:00', session_description: s}\n"
                    "Subject: {subject_id: m1, species: Mus musculus, sex: F, age: P90D}\n"
                    "Ophys:\n  ImagingPlane: [{excitation_lambda: 920.0, indicator: GCaMP6f, location: VISp, "
                    "optical_channel: [{emission_lambda: 510.0}]}]\n")
    out = tmp_path / "caiman.nwb"
    assert main(["convert", str(source), "-o", str(out), "--metadata", str(meta), "--no-progress"]) == 0
    assert "PlaneSegmentation" in capsys.readouterr().out
    with h5py.File(source, "r") as f:
        raw = f["estimates/C"][()].T + f["estimates/YrA"][()].T  # CaImAn's raw traces: C + YrA, (time, ROI)
    with h5py.File(out, "r") as f:
        assert "acquisition" not in f or not list(f["acquisition"])
        written = f[f"{OPHYS}/Fluorescence/RoiResponseSeries/data"][()]
    np.testing.assert_allclose(written, raw.astype(written.dtype), rtol=1e-6)
