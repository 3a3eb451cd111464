"""OME-TIFF acquisition facts against the OME-XML as tifffile gives it, parsed here with xml.etree."""

import json
import os
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
import tifffile

from ophysio import open_imaging
from ophysio.extractors import OMETiffImagingExtractor
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_ome_tiff

NS = {"ome": "http://www.openmicroscopy.org/Schemas/OME/2016-06"}


def pixels_of(path):
    with tifffile.TiffFile(path) as tif:
        root = ET.fromstring(tif.ome_metadata)
    return root, root.find("ome:Image", NS), root.find("ome:Image/ome:Pixels", NS)


@pytest.mark.parametrize("name", ["t", "tc", "tz", "seq"])
def test_real_file_facts_are_the_xml(name):
    path = sample_file(f"ome_tiff/pmmp_demo_{name}.ome.tiff")
    root, image, pixels = pixels_of(path)
    channels = [c.get("Name") or str(i) for i, c in enumerate(pixels.findall("ome:Channel", NS))]
    assert OMETiffImagingExtractor.get_available_channel_names(path) == channels
    for channel in channels:
        with open_imaging(path, channel_name=channel) as ex:
            facts = ex.get_acquisition_facts()
            volumetric = ex.is_volumetric
        assert facts.channel_names == tuple(channels) and facts.channel_name == channel
        assert facts.software == root.get("Creator")
        size_x, size_z = pixels.get("PhysicalSizeX"), pixels.get("PhysicalSizeZ")
        sidecar = f"{path}_frame_metadata.json"
        if size_x is not None:
            assert facts.pixel_size_um is not None
        elif os.path.isfile(sidecar):  # pymmcore-plus: the pixel size every frame record states
            with open(sidecar) as fh:
                sizes = {record["pixel_size_um"] for records in json.load(fh).values() for record in records}
            assert len(sizes) == 1 and facts.pixel_size_um == (float(sizes.pop()),) * 2
        else:
            assert facts.pixel_size_um is None
        assert facts.plane_spacing_um == (float(size_z) if size_z and volumetric else None)
        assert facts.emission_wavelengths_nm is None and facts.excitation_wavelength_nm is None
        if image.find("ome:AcquisitionDate", NS) is None and name != "seq":
            assert facts.session_start_time is None
    # the sequence has a pymmcore-plus sidecar: the start is its first frame's wall-clock time
    if name == "seq":
        assert facts.session_start_time == facts.source_header["first_frame_time"] is not None


def test_pixel_size_date_wavelengths_and_instrument(tmp_path):
    path = write_ome_tiff(tmp_path / "w.ome.tif", size_t=3, size_z=2, channel_names=("GCaMP", "tdTomato"))
    with tifffile.TiffFile(path) as tif:
        xml = tif.pages[0].description
    xml = xml.replace('Name="GCaMP"', 'Name="GCaMP" ExcitationWavelength="920" EmissionWavelength="0.51" '
                      'EmissionWavelengthUnit="µm"')
    xml = xml.replace('Name="tdTomato"', 'Name="tdTomato" EmissionWavelength="581"')
    xml = xml.replace('PhysicalSizeY="0.5"', 'PhysicalSizeY="0.75" PhysicalSizeZ="3" PhysicalSizeZUnit="µm"')
    xml = xml.replace('<Image ID="Image:0" Name="p0">',
                      '<Instrument ID="Instrument:0"><Microscope Manufacturer="Bruker" Model="Ultima"/>'
                      '<Objective ID="Objective:0" Model="Nikon 16x"/></Instrument>'
                      '<Image ID="Image:0" Name="p0"><InstrumentRef ID="Instrument:0"/>')
    tifffile.tiffcomment(path, xml.encode("utf-8"))
    root, image, pixels = pixels_of(path)  # what the XML now says, read independently
    expected_date = datetime.fromisoformat(image.find("ome:AcquisitionDate", NS).text)
    with open_imaging(path, channel_name="GCaMP") as ex:
        facts = ex.get_acquisition_facts()
        assert facts.pixel_size_um == (float(pixels.get("PhysicalSizeY")), float(pixels.get("PhysicalSizeX")))
        assert facts.plane_spacing_um == 3.0
        assert facts.session_start_time == expected_date
        assert facts.excitation_wavelength_nm == 920.0
        assert facts.emission_wavelengths_nm == pytest.approx((510.0, 581.0))
        assert facts.emission_wavelength_nm == pytest.approx(510.0)
        assert (facts.manufacturer, facts.device_name, facts.objective) == ("Bruker", "Ultima", "Nikon 16x")
        assert ex.select_plane(1).get_acquisition_facts().plane_spacing_um is None
    with open_imaging(path, channel_name="tdTomato") as ex:
        assert ex.get_acquisition_facts().emission_wavelength_nm == 581.0
        assert ex.get_acquisition_facts().excitation_wavelength_nm is None
