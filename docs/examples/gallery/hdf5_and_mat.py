"""HDF5 and MATLAB movies: name what the file does not say (dataset, axis order, rate)."""

import ophysio
from ophysio.testing.data import sample_file

# PySight photon counts in the dataset "Full Stack/Channel 1"; the file has no rate, so give one
fly = ophysio.open_imaging(sample_file("hdf5/fly.hdf5"), sampling_frequency=15.0)
print(fly)
print("dataset:", fly.get_metadata().get("dataset"))

# a MATLAB Y x X x channel x T variable (MATLAB order, as size() reports it)
chips = ophysio.open_imaging(sample_file("mat/denoise.mat"), variable="dataOut", dims="YXCT",
                             sampling_frequency=30.0)
print(chips)
print("pixel (row 0, column 0) over time:", chips.get_series()[:, 0, 0])
