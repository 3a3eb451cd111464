"""Acquisition facts: what the base answers for any extractor, and how the views adjust their parent's."""

import dataclasses

import numpy as np
import pytest

from ophysio import open_imaging
from ophysio.extractors import MultiImagingExtractor, NumpyImagingExtractor
from ophysio.extractors.facts import AcquisitionFacts, StreamRoi
from ophysio.testing.data import sample_file


def test_base_facts_are_channel_rate_and_header():
    planar = NumpyImagingExtractor(np.zeros((4, 3, 5), "uint8"), sampling_frequency=7.5)
    facts = planar.get_acquisition_facts()
    assert facts.frame_rate_hz == 7.5 and facts.volume_rate_hz is None
    assert facts.channel_name == planar.channel_name and facts.channel_names == tuple(planar.get_channel_names())
    assert facts.source_header == planar.get_metadata()
    assert facts.session_start_time is None and facts.pixel_size_um is None and facts.roi is None
    volume = NumpyImagingExtractor(np.zeros((4, 3, 5, 2), "uint8"), sampling_frequency=2.0)
    assert volume.get_acquisition_facts().volume_rate_hz == 2.0
    assert volume.get_acquisition_facts().frame_rate_hz is None
    assert planar.split_streams() == [planar]


def test_facts_are_frozen():
    facts = AcquisitionFacts(pixel_size_um=(1.0, 2.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.pixel_size_um = (3.0, 3.0)
    assert facts.replace(pixel_size_um=(3.0, 3.0)).pixel_size_um == (3.0, 3.0)
    assert AcquisitionFacts(channel_name="b", channel_names=("a", "b"),
                            emission_wavelengths_nm=(510.0, 600.0)).emission_wavelength_nm == 600.0


@pytest.fixture
def volume():
    """A real ScanImage volume: 9 planes 2 um apart, 20 x 20 pixels."""
    with open_imaging(sample_file("scanimage/vol_no_flyback_00001_00001.tif")) as ex:
        yield ex


def test_sample_slice_keeps_the_facts(volume):
    whole = volume.get_acquisition_facts()
    part = volume.slice_samples(2, 5).get_acquisition_facts()
    assert part == whole  # the acquisition (and its start) does not change with the samples read


def test_crop_moves_the_origin_and_shrinks_the_field(volume):
    whole = volume.get_acquisition_facts()
    dy, dx = whole.pixel_size_um
    crop = volume.slice_field_of_view(3, 15, 4, 10).get_acquisition_facts()
    assert crop.pixel_size_um == whole.pixel_size_um
    np.testing.assert_allclose(crop.origin_um, [whole.origin_um[0] + 3 * dy, whole.origin_um[1] + 4 * dx,
                                                whole.origin_um[2]])
    np.testing.assert_allclose(crop.field_of_view_um, [12 * dy, 6 * dx, whole.field_of_view_um[2]])
    assert crop.plane_depths_um == whole.plane_depths_um


def test_crop_without_pixel_size_forgets_what_it_cannot_know():
    ex = NumpyImagingExtractor(np.zeros((2, 6, 6), "uint8"), sampling_frequency=1.0)
    assert ex.slice_field_of_view(1, 4, 0, 3).get_acquisition_facts().origin_um is None


def test_plane_has_one_depth_and_binning_divides_the_rate(volume):
    whole = volume.get_acquisition_facts()
    plane = volume.select_plane(4).get_acquisition_facts()
    assert plane.plane_depths_um == (whole.plane_depths_um[4],)
    assert plane.origin_um == (*whole.origin_um[:2], whole.plane_depths_um[4])
    assert plane.plane_spacing_um is None and plane.field_of_view_um == whole.field_of_view_um[:2]
    binned = volume.bin_samples(2).get_acquisition_facts()
    assert binned.volume_rate_hz == pytest.approx(whole.volume_rate_hz / 2)
    assert binned.frame_rate_hz == whole.frame_rate_hz
    # views compose: a crop of one plane
    both = volume.select_plane(4).slice_field_of_view(row_start=2).get_acquisition_facts()
    assert both.origin_um[2] == whole.plane_depths_um[4]
    assert both.origin_um[0] == pytest.approx(whole.origin_um[0] + 2 * whole.pixel_size_um[0])


def test_concatenation_answers_its_first_part(volume):
    joined = MultiImagingExtractor([volume.slice_samples(0, 3), volume.slice_samples(3, 6)])
    facts = joined.get_acquisition_facts()
    assert facts.replace(source_header={}) == volume.get_acquisition_facts().replace(source_header={})
    assert len(facts.source_header["parts"]) == 2


def test_stream_roi_is_plain_data():
    roi = StreamRoi(index=1, name="V1", count=2, time_offset_s=0.001)
    assert dataclasses.asdict(roi) == {"index": 1, "name": "V1", "count": 2, "time_offset_s": 0.001}
