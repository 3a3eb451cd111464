"""OME-TIFF from pymmcore-plus: channels by name, and per-frame times from the sidecar JSON."""

from ophysio.extractors import OMETiffImagingExtractor
from ophysio.testing.data import sample_file

path = sample_file("ome_tiff/pmmp_demo_tc.ome.tiff")  # 5 timepoints x 2 channels, 64 x 48
print("channels:", OMETiffImagingExtractor.get_available_channel_names(path))

fitc = OMETiffImagingExtractor(path, channel_name="FITC")
print(fitc)
print("timestamps come from:", fitc.timestamp_source)
print("times (s):", fitc.get_timestamps().round(3))
print("first frame's sidecar record has", len(fitc.get_frame_metadata()[0]), "keys")
