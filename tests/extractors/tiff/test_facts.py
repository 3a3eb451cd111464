"""Plain TIFF acquisition facts: ImageJ names itself; nothing else is claimed."""

import tifffile

from ophysio import open_imaging
from ophysio.testing.synthetic import write_tiff_movie


def test_imagej_software_and_plain_tiff(tmp_path):
    imagej = write_tiff_movie(tmp_path / "ij.tif", imagej_rate=8.0)
    with tifffile.TiffFile(imagej) as tif:
        expected = tif.imagej_metadata["ImageJ"]
    with open_imaging(imagej, format="tiff") as ex:
        facts = ex.get_acquisition_facts()
    assert (facts.software, facts.software_version) == ("ImageJ", str(expected) or None)
    assert facts.frame_rate_hz == 8.0
    plain = write_tiff_movie(tmp_path / "plain.tif")
    with open_imaging(plain, format="tiff", sampling_frequency=3.0) as ex:
        facts = ex.get_acquisition_facts()
    assert facts.software is None and facts.frame_rate_hz == 3.0 and facts.pixel_size_um is None
