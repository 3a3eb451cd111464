"""NwbSegmentationExtractor on local NWB HDF5 files: SegmentationTests on files written by pynwb directly
(image, pixel and voxel masks; rate and timestamps) and on every segmentation format ophysio reads written
to NWB by ophysio (numpy, the real suite2p, CaImAn and Minian samples), against h5py reads of the NWB
files (see ``_segmentation_cases``); the round trips also against the source extractors (whose own tests
check them against reads of the source files); detection, choosing a table, damaged tables, ``ophysio info``."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from ophysio import open_segmentation
from ophysio.errors import FormatError, SelectionError
from ophysio.extractors import NwbSegmentationExtractor
from ophysio.testing.segmentation import SegmentationTests, sorted_mask

from ._segmentation_cases import MAKERS, case, dense, expected

CASES = list(MAKERS)


class TestNwbSegmentation(SegmentationTests):
    cases = CASES
    case_ids = CASES

    def make_extractor(self, name):
        c = case(name)
        return NwbSegmentationExtractor(c.path, c.table)

    def make_shrinkable(self, name, tmp_path):
        c = case(name)
        copy = tmp_path / c.path.name
        shutil.copy(c.path, copy)
        return NwbSegmentationExtractor(copy, c.table), [copy]

    def expected_roi_ids(self, name):
        return expected(case(name))["ids"]

    def expected_pixel_masks(self, name):
        return expected(case(name))["masks"]

    def expected_traces(self, name):
        return expected(case(name))["traces"]

    def expected_images(self, name):
        return expected(case(name))["images"]

    def expected_accepted(self, name):
        return expected(case(name)).get("accepted")

    def expected_rejected(self, name):
        return expected(case(name)).get("rejected")

    def expected_sampling_frequency(self, name):
        return expected(case(name))["rate"]

    def expected_timestamps(self, name):
        return expected(case(name))["timestamps"]

    def test_backgrounds_and_shape(self, extractor, case):
        c = _case(case)
        values = expected(c)
        assert extractor.get_background_ids() == values.get("background_ids", [])
        for a, b in zip(extractor.get_background_pixel_masks(), values.get("background_masks", [])):
            np.testing.assert_allclose(sorted_mask(a), sorted_mask(b), rtol=1e-6)
        volume = extractor._mask_shape()
        np.testing.assert_allclose(extractor.get_roi_image_masks(), dense(values["masks"], volume), rtol=1e-6)


def _case(name):
    return case(name)


# ---------------------------------------------------------------------- round trips against the sources
ROUND_TRIPS = [name for name in CASES if name.startswith("ophysio:")]


@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_round_trip_equals_the_source(name):
    """Written by ophysio and read back: ids, masks, traces, images, accepted / rejected, background, times and
    rate equal the source's."""
    c = case(name)
    with c.source() as source, NwbSegmentationExtractor(c.path, c.table) as back:
        assert back.get_roi_ids() == source.get_roi_ids()
        assert back.get_image_shape() == source.get_image_shape()
        assert back.get_num_planes() == source.get_num_planes()
        for a, b in zip(back.get_roi_pixel_masks(), source.get_roi_pixel_masks()):
            np.testing.assert_allclose(sorted_mask(a), sorted_mask(b).astype(np.float32), rtol=1e-6)
        assert back.get_background_ids() == source.get_background_ids()
        for a, b in zip(back.get_background_pixel_masks(), source.get_background_pixel_masks()):
            np.testing.assert_allclose(sorted_mask(a), sorted_mask(b).astype(np.float32), rtol=1e-6)
        names = source.get_trace_names()
        assert sorted(n for n in back.get_trace_names() if not n.endswith("_chan2")) == sorted(names)
        for trace in names:
            ids = source.get_background_ids() if trace == "background" else None
            expected_values = source.get_traces(ids, name=trace)
            got = back.get_traces(ids, name=trace)
            assert got.dtype == expected_values.dtype, trace
            np.testing.assert_array_equal(got, expected_values, err_msg=trace)
        images = source.get_images_dict()
        assert sorted(back.get_images_dict()) == sorted(images)
        for key, image in images.items():
            np.testing.assert_array_equal(back.get_image(key), image, err_msg=key)
        assert back.get_accepted_list() == source.get_accepted_list()
        assert back.get_rejected_list() == source.get_rejected_list()
        assert back.get_sampling_frequency() == pytest.approx(source.get_sampling_frequency(), rel=1e-12)
        np.testing.assert_allclose(back.get_timestamps(), source.get_timestamps(), rtol=0, atol=1e-9)
        if name.startswith("ophysio:suite2p"):
            with h5py.File(c.path, "r") as f:  # the second channel's traces, as ophysio wrote them
                plane = c.table[-1]
                np.testing.assert_array_equal(back.get_traces(name="raw_chan2"),
                                              f[f"processing/ophys/Fluorescence/RoiResponseSeriesChan2Plane{plane}"
                                                "/data"][:])
            for key in ("iscell_probability", "npix"):
                np.testing.assert_array_equal(back.get_property(key), source.get_property(key), err_msg=key)
            facts = back.get_acquisition_facts()
            assert facts.indicator == "GCaMP6f" and facts.excitation_wavelength_nm == 920.0
            assert back.get_channel_names() == ["chan1", "chan2"]


# ---------------------------------------------------------------------- detection and choosing
def test_open_segmentation_detects_nwb_and_lists_tables():
    c = case("ophysio:suite2p-plane0")
    with pytest.raises(SelectionError, match="PlaneSegmentationPlane0.*PlaneSegmentationPlane1"):
        open_segmentation(c.path)
    with open_segmentation(c.path, plane_segmentation_name="PlaneSegmentationPlane1") as ex:
        assert isinstance(ex, NwbSegmentationExtractor)
        assert ex.plane_segmentation_path == "/processing/ophys/ImageSegmentation/PlaneSegmentationPlane1"
    with pytest.raises(SelectionError, match="no PlaneSegmentation 'nope'"):
        NwbSegmentationExtractor(c.path, "nope")
    assert NwbSegmentationExtractor.get_available_plane_segmentations(c.path) == [
        "/processing/ophys/ImageSegmentation/PlaneSegmentationPlane0",
        "/processing/ophys/ImageSegmentation/PlaneSegmentationPlane1"]
    caiman = case("ophysio:caiman")  # the background table is not a choice: it belongs to its table
    with open_segmentation(caiman.path) as ex:
        assert ex.plane_segmentation_name == "PlaneSegmentation" and ex.get_num_background_components() > 0


def test_a_movie_only_nwb_file_is_not_a_segmentation(tmp_path):
    from ophysio._synth.nwb import NwbSeriesSpec, write_nwb_series
    from ophysio.errors import UnknownFormatError
    from ophysio.extractors.registry import detect_format

    path = write_nwb_series(tmp_path / "movie.nwb", [NwbSeriesSpec("TwoPhotonSeries", np.zeros((4, 8, 6), "u2"))])
    with pytest.raises(UnknownFormatError, match="without a PlaneSegmentation"):
        detect_format(path, "segmentation")
    with pytest.raises(SelectionError, match="holds no PlaneSegmentation"):
        NwbSegmentationExtractor(path)


def test_info_describes_an_nwb_segmentation(capsys):
    from ophysio.cli import main

    c = case("ophysio:caiman")
    assert main(["info", str(c.path)]) == 0
    out = capsys.readouterr().out
    assert "segmentation" in out and "nwb" in out
    with c.source() as source:
        assert f"ROIs:        {source.get_num_rois()}" in out


def test_damaged_tables_are_clear_errors(tmp_path):
    c = case("pynwb:pixel-timestamps")
    table = "processing/ophys/ImageSegmentation/Cells"
    for damage, message in (("index", "pixel_mask_index"), ("id", "id column"), ("rows", "pixel_mask")):
        copy = tmp_path / f"{damage}.nwb"
        shutil.copy(c.path, copy)
        with h5py.File(copy, "r+") as f:
            if damage == "index":
                values = f[f"{table}/pixel_mask_index"][:]
                del f[f"{table}/pixel_mask_index"]
                f[f"{table}/pixel_mask_index"] = values[::-1]
            elif damage == "id":
                del f[f"{table}/id"]
            else:
                rows = f[f"{table}/pixel_mask"][:]
                rows["x"][0] = 10_000  # a pixel outside the field of view
                f[f"{table}/pixel_mask"][...] = rows
        if damage == "rows":
            with NwbSegmentationExtractor(copy) as ex, pytest.raises(FormatError, match=message):
                ex.get_roi_pixel_masks()
        else:
            with pytest.raises(FormatError, match=message):
                NwbSegmentationExtractor(copy)


def test_a_time_slice_of_some_rois_reads_only_that(monkeypatch):
    """h5py is asked for the samples and ROIs needed, not the whole dataset."""
    c = case("pynwb:pixel-timestamps")
    asked = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        if self.name.endswith("RoiResponseSeries/data"):
            asked.append(key)
        return original(self, key)

    with NwbSegmentationExtractor(c.path) as ex:
        full = ex.get_traces(name="raw")
        monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
        got = ex.get_traces([ex.get_roi_ids()[5], ex.get_roi_ids()[4]], 30, 40, name="raw")
    np.testing.assert_array_equal(got, full[30:40, [5, 4]])
    assert asked == [(slice(30, 40), slice(4, 6))]


def test_pickled_extractor_reads_the_same():
    import pickle

    c = case("ophysio:minian")
    with NwbSegmentationExtractor(c.path) as ex:
        clone = pickle.loads(pickle.dumps(ex))
        with clone:
            np.testing.assert_array_equal(clone.get_traces(name="background", roi_ids=clone.get_background_ids()),
                                          ex.get_traces(name="background", roi_ids=ex.get_background_ids()))



def test_an_external_link_out_of_the_folder_is_refused(tmp_path):
    """A trace whose data are an external link to a file outside the NWB file's folder is not followed."""
    from ophysio.errors import ContainmentError

    c = case("pynwb:pixel-timestamps")
    inside = tmp_path / "session"
    inside.mkdir()
    copy = inside / "linked.nwb"
    shutil.copy(c.path, copy)
    outside = tmp_path / "elsewhere.h5"
    with h5py.File(outside, "w") as f:
        f["data"] = np.zeros((120, 7))
    with h5py.File(copy, "r+") as f:
        del f["processing/ophys/Fluorescence/RoiResponseSeries/data"]
        f["processing/ophys/Fluorescence/RoiResponseSeries/data"] = h5py.ExternalLink(str(outside), "/data")
    with pytest.raises(ContainmentError, match="elsewhere.h5"):
        NwbSegmentationExtractor(copy)
    shutil.move(outside, inside / "elsewhere.h5")  # inside the folder: followed
    with h5py.File(copy, "r+") as f:
        del f["processing/ophys/Fluorescence/RoiResponseSeries/data"]
        f["processing/ophys/Fluorescence/RoiResponseSeries/data"] = h5py.ExternalLink("elsewhere.h5", "/data")
    with NwbSegmentationExtractor(copy) as ex:
        np.testing.assert_array_equal(ex.get_traces(name="raw"), np.zeros((120, 7)))


def test_pixel_masks_take_the_field_of_view_of_the_movie_of_their_imaging_plane(tmp_path, capsys):
    """Movie and segmentation in one file, pixel masks in a corner of the frame, no images, the table's
    description not ophysio's: the field of view is the photon series' of the same imaging plane; ophysio info
    describes the movie unless asked for the segmentation."""
    from ophysio.cli import main
    from ophysio.conversion.converter import NWBConverter
    from ophysio.conversion.interfaces import interface_from_paths
    from ophysio.conversion.segmentation_interface import SegmentationInterface
    from ophysio.extractors import NumpySegmentationExtractor

    from ._segmentation_cases import USER

    rng = np.random.default_rng(9)
    np.save(tmp_path / "movie.npy", rng.integers(0, 100, (30, 20, 24), dtype=np.uint16))
    masks = np.zeros((20, 24, 3), dtype=np.float32)
    masks[2:5, 3:6, 0], masks[6:8, 1:4, 1], masks[9, 9, 2] = 1.0, 0.5, 0.25
    seg = NumpySegmentationExtractor(image_masks=masks, raw=rng.random((30, 3)).astype(np.float32),
                                     sampling_frequency=10.0)
    converter = NWBConverter({"Imaging": interface_from_paths(tmp_path / "movie.npy", sampling_frequency=10.0),
                              "Segmentation": SegmentationInterface(seg, mask_type="pixel")})
    path = converter.run_conversion(tmp_path / "session.nwb", USER)
    with h5py.File(path, "r+") as f:
        table = f["processing/ophys/ImageSegmentation/PlaneSegmentation"]
        assert "pixel_mask" in table
        table.attrs["description"] = "cells"
    with NwbSegmentationExtractor(path) as ex:
        assert ex.get_image_shape() == (20, 24)
        np.testing.assert_array_equal(ex.get_roi_image_masks(), masks)
        assert ex.get_metadata()["mask_type"] == "pixel"
    capsys.readouterr()
    assert main(["info", str(path)]) == 0
    assert "20 x 24" in capsys.readouterr().out
    assert main(["info", str(path), "--segmentation"]) == 0
    out = capsys.readouterr().out
    assert "ROIs:        3" in out and "NwbSegmentationExtractor" in out


def test_a_field_of_view_no_imaging_has_is_refused(tmp_path):
    """Pixel masks alone (no movie, no images, no size in the description) give the field of view by their
    extent: a coordinate of billions is a damaged table, not a reason to allocate."""
    c = case("pynwb:voxel-rate")
    copy = tmp_path / "huge.nwb"
    shutil.copy(c.path, copy)
    with h5py.File(copy, "r+") as f:
        rows = f["processing/ophys/ImageSegmentation/PlaneSegmentation/voxel_mask"][:]
        rows["y"][3] = 3_000_000_000
        f["processing/ophys/ImageSegmentation/PlaneSegmentation/voxel_mask"][...] = rows
    with pytest.raises(FormatError, match="field of view of 3000000001"):
        NwbSegmentationExtractor(copy)


@pytest.mark.parametrize("name", ["ophysio:caiman", "pynwb:image-rate", "pynwb:pixel-timestamps"])
def test_an_nwb_segmentation_converts_to_nwb_again(tmp_path, name):
    """NWB read back and written again (the segmentation interface on the NWB reader) reads back the same."""
    from ophysio.conversion.segmentation_interface import SegmentationInterface

    from ._segmentation_cases import USER

    c = case(name)
    with NwbSegmentationExtractor(c.path, c.table) as first:
        interface = SegmentationInterface(first)
        path = interface.run_conversion(tmp_path / "again.nwb", USER)
        with NwbSegmentationExtractor(path) as again:
            assert again.get_roi_ids() == first.get_roi_ids()
            assert again.get_background_ids() == first.get_background_ids()
            np.testing.assert_allclose(again.get_roi_image_masks(), first.get_roi_image_masks(), rtol=1e-6)
            np.testing.assert_allclose(again.get_background_image_masks(), first.get_background_image_masks(),
                                       rtol=1e-6)
            assert again.get_trace_names() == first.get_trace_names()
            for trace in first.get_trace_names():
                ids = first.get_background_ids() if trace == "background" else None
                np.testing.assert_array_equal(again.get_traces(ids, name=trace), first.get_traces(ids, name=trace))
            assert sorted(again.get_images_dict()) == sorted(first.get_images_dict())
            for key, image in first.get_images_dict().items():
                np.testing.assert_array_equal(again.get_image(key), image)
            assert again.get_accepted_list() == first.get_accepted_list()
            assert again.get_rejected_list() == first.get_rejected_list()
            np.testing.assert_allclose(again.get_timestamps(), first.get_timestamps(), rtol=0, atol=1e-9)
            for key in first.get_property_keys():
                if key != "roi_centroids":
                    np.testing.assert_array_equal(again.get_property(key), first.get_property(key), err_msg=key)
