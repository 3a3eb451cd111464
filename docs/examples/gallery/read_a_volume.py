"""A ScanImage fast-Z volume: samples are volumes, and one plane reads as a planar movie."""

import ophysio
from ophysio.testing.data import sample_file

path = sample_file("scanimage/vol_no_flyback_00001_00001.tif")  # 10 volumes x 9 slices, 20 x 20 pixels
volume = ophysio.open_imaging(path)
print(volume)
print("planes:", volume.get_num_planes(), "| sample shape:", volume.get_sample_shape())

data = volume.get_series(0, 3)  # (samples, rows, columns, planes)
print("first 3 volumes:", data.shape, data.dtype)

plane = volume.select_plane(4)  # a lazy view: nothing is read until asked
print("plane 4:", plane.get_num_samples(), "samples of", plane.get_image_shape())
print("plane 4 mean of volume 0:", round(float(plane.get_series(0, 1).mean()), 2))
print("volume times (s):", volume.get_timestamps()[:4].round(4), "...")
