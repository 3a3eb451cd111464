"""Legacy ScanImage acquisition facts against the ImageDescription as tifffile gives it."""

import re
from datetime import datetime

import tifffile

from ophysio import open_imaging
from ophysio.testing.data import sample_file


def test_real_file_facts_are_the_header():
    path = sample_file("scanimage_legacy/sample_scanimage_version_3_8.tiff")
    with tifffile.TiffFile(path) as tif:
        text = tif.pages[0].description
    version = re.search(r"state\.software\.version=([^\r\n]*)", text).group(1)
    trigger = re.search(r"state\.internal\.triggerTimeString='([^']*)'", text).group(1)
    with open_imaging(path) as ex:
        facts = ex.get_acquisition_facts()
        assert facts.frame_rate_hz == ex.get_sampling_frequency()
    assert facts.software == "ScanImage" and facts.software_version == str(float(version))
    assert facts.manufacturer == "Vidrio Technologies"
    assert facts.session_start_time == datetime.strptime(trigger, "%m/%d/%Y %H:%M:%S.%f")
    assert facts.channel_names == ("Channel 1",)
    assert facts.pixel_size_um is None  # not yet answered (zoom and scan angles stay in the header)
