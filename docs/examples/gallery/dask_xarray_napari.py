"""dask, xarray and napari: a ScanImage volume series as a lazy array, then as a labelled one."""

import numpy as np

import ophysio
from ophysio.testing.data import sample_file

folder = sample_file("scanimage/vol_one_ch_multi_files")  # 10 files, 100 volumes of 20 x 20 x 9
extractor = ophysio.open_imaging(folder)
print(extractor)

# dask: chunks of whole volumes (about 10 MiB, as the NWB chunks); nothing is read before compute()
movie = extractor.to_dask(chunk_samples=25)
print(movie)
mean_volume = movie.mean(axis=0).compute()  # 4 chunks, each one get_series(start, stop) of the extractor
print("mean volume:", mean_volume.shape, "same as numpy:", np.allclose(mean_volume, extractor.get_series().mean(0)))

# a view is an extractor too: its array reads only what it shows
plane = extractor.select_plane(4).slice_samples(0, 50)
print("plane 4, first 50 volumes:", plane.to_dask().shape)

# xarray: dims (time, y, x, z); time in seconds (the recorded frame times), y/x/z in micrometers
volumes = extractor.to_xarray()
print(volumes.dims, dict(volumes.sizes))
print("time:", volumes["time"].values[:3].round(4), volumes["time"].attrs["units"])
print("x:", volumes["x"].values[:3], volumes["x"].attrs["units"], " z:", volumes["z"].values[:3])
print("where the times come from:", volumes.attrs["time_coordinate"])
print("pixel size:", volumes.attrs["pixel_size_um"], " start:", volumes.attrs["session_start_time"])

# select by label, reduce lazily: the mean trace of the plane at z = 100 um over the first second
first_second = volumes.sel(time=slice(0, 1.0), z=100.0).mean(["y", "x"])
print("mean of plane z=100 um, first", first_second.sizes["time"], "volumes:", first_second.values[:4].round(1))

# napari: what the reader plugin hands napari for this folder (no napari needed to ask)
from ophysio.napari import read  # noqa: E402

for data, keywords, kind in read(folder):
    print(kind, "layer", keywords["name"], data.shape, keywords["axis_labels"], keywords["units"],
          tuple(round(s, 4) for s in keywords["scale"]))
