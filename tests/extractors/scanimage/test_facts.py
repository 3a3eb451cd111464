"""ScanImage acquisition facts against the header as tifffile reads it (independently of ophysio's parser)."""

import re
from datetime import datetime

import numpy as np
import pytest
import tifffile

from ophysio import open_imaging
from ophysio.extractors.facts import AcquisitionFacts
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_scanimage

REAL = ["scanimage/ScanImageBigTIFFv57.tif", "scanimage/vol_no_flyback_00001_00001.tif",
        "scanimage/vol_one_ch_multi_files/vol_one_ch_multi_files_00001_00001.tif"]


def tifffile_header(path):
    with tifffile.TiffFile(path) as tif:
        header = tif.scanimage_metadata
        description = tif.pages[0].description
    return header["FrameData"], header["RoiGroups"], description


def first_scanfield(roi_groups):
    rois = roi_groups["imagingRoiGroup"]["rois"]
    roi = rois if isinstance(rois, dict) else [r for r in rois if r.get("enable", 1)][0]
    fields = roi["scanfields"]
    return fields if isinstance(fields, dict) else fields[0]


@pytest.mark.parametrize("name", REAL)
def test_real_file_facts_are_the_header(name):
    path = sample_file(name)
    frame_data, roi_groups, description = tifffile_header(path)
    from ophysio.extractors import ScanImageImagingExtractor

    names = ScanImageImagingExtractor.get_available_channel_names(path)
    with open_imaging(path, channel_name=names[0]) as ex:
        facts = ex.get_acquisition_facts()
        rows, columns = ex.get_image_shape()
        volumetric = ex.is_volumetric
    assert isinstance(facts, AcquisitionFacts)
    assert facts.software == "ScanImage" and facts.manufacturer == "Vidrio Technologies"
    assert facts.software_version == f"{frame_data['SI.VERSION_MAJOR']}.{frame_data['SI.VERSION_MINOR']}"
    epoch = [float(v) for v in re.search(r"epoch = \[([^\]]*)\]", description).group(1).split()]
    seconds = int(epoch[5])
    assert facts.session_start_time == datetime(*map(int, epoch[:5]), seconds, round((epoch[5] - seconds) * 1e6))
    assert facts.session_start_time.tzinfo is None  # local time of the rig, as recorded
    assert facts.line_rate_hz == pytest.approx(1 / frame_data["SI.hRoiManager.linePeriod"])
    assert facts.frame_rate_hz == pytest.approx(frame_data["SI.hRoiManager.scanFrameRate"])
    assert facts.channel_names == tuple(names) and facts.channel_name == names[0]
    zs = np.ravel(frame_data["SI.hStackManager.zs"]).astype(float)
    assert facts.plane_depths_um == tuple(zs)
    # geometry: scanfield degrees x objectiveResolution (um per degree)
    field = first_scanfield(roi_groups)
    um_per_degree = frame_data["SI.objectiveResolution"]
    width, height = np.array(field["sizeXY"], dtype=float) * um_per_degree
    corner_x, corner_y = (np.array(field["centerXY"], dtype=float) - np.array(field["sizeXY"]) / 2) * um_per_degree
    np.testing.assert_allclose(facts.pixel_size_um, [height / rows, width / columns])
    np.testing.assert_allclose(facts.origin_um, [corner_y, corner_x, zs[0]])
    np.testing.assert_allclose(facts.field_of_view_um[:2], [height, width])
    if volumetric:
        step = frame_data["SI.hStackManager.stackZStepSize"]
        assert facts.volume_rate_hz == pytest.approx(frame_data["SI.hRoiManager.scanVolumeRate"])
        assert facts.plane_spacing_um == abs(step)
        assert facts.field_of_view_um[2] == pytest.approx(abs(step) * ex.get_num_planes())
    else:
        assert facts.volume_rate_hz is None and facts.plane_spacing_um is None
    assert facts.source_header["frame_data"]["SI.objectiveResolution"] == um_per_degree
    assert facts.roi is None


def test_a_plane_of_a_volume_has_its_depth():
    path = sample_file("scanimage/vol_no_flyback_00001_00001.tif")
    frame_data, _, _ = tifffile_header(path)
    zs = [float(z) for z in frame_data["SI.hStackManager.zs"]]
    whole = open_imaging(path)
    chosen = open_imaging(path, plane_index=3).get_acquisition_facts()
    viewed = whole.select_plane(3).get_acquisition_facts()
    for facts in (chosen, viewed):  # the reader's plane_index and the PlaneView agree
        assert facts.plane_depths_um == (zs[3],)
        assert facts.origin_um[2] == zs[3]
        assert facts.plane_spacing_um is None and len(facts.field_of_view_um) == 2
    assert chosen.origin_um == viewed.origin_um and chosen.pixel_size_um == viewed.pixel_size_um


def test_multi_roi_streams_each_have_their_scanfield(tmp_path):
    rois = [dict(rows=6, columns=8, name="V1 left", center_xy=[-2, 0]),
            dict(rows=4, columns=8, name="V1 right", center_xy=[3, 1])]
    paths = write_scanimage(tmp_path, "m", num_samples=4, rois=rois, flyto_lines=3, channels=(1,))
    frame_data, roi_groups, _ = tifffile_header(paths[0])
    um_per_degree = frame_data["SI.objectiveResolution"]
    whole = open_imaging(paths[0])
    assert whole.get_acquisition_facts().pixel_size_um is None  # ROIs stacked: no single pixel grid
    streams = whole.split_streams()
    assert [ex.roi_index for ex in streams] == [0, 1]
    fields = roi_groups["imagingRoiGroup"]["rois"]
    for ex, roi, spec in zip(streams, fields, rois):
        facts = ex.get_acquisition_facts()
        field = roi["scanfields"] if isinstance(roi["scanfields"], dict) else roi["scanfields"][0]
        size, center = np.array(field["sizeXY"], float), np.array(field["centerXY"], float)
        assert facts.roi.name == spec["name"] and facts.roi.count == 2 and facts.roi.index == ex.roi_index
        np.testing.assert_allclose(facts.pixel_size_um, size[::-1] * um_per_degree / [spec["rows"], spec["columns"]])
        np.testing.assert_allclose(facts.origin_um[:2], ((center - size / 2) * um_per_degree)[::-1])
    # the right ROI's first line comes 9 lines (6 rows + 3 fly-to) after the frame's time
    line_period = frame_data["SI.hRoiManager.linePeriod"]
    assert streams[1].get_acquisition_facts().roi.time_offset_s == pytest.approx(9 * line_period)
    assert streams[0].split_streams() == [streams[0]]
