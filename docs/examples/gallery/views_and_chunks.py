"""Lazy views and chunked reading: a mean image of a cropped stretch of a movie, in bounded memory."""

import numpy as np

import ophysio
from ophysio.testing.data import sample_file

movie = ophysio.open_imaging(sample_file("hdf5/fly.hdf5"), sampling_frequency=15.0)  # 161 x 64 x 512
part = movie.slice_samples(10, 110).slice_field_of_view(row_start=0, row_end=32, column_start=128, column_end=384)
print(part)

total = np.zeros(part.get_image_shape(), dtype=np.float64)
for chunk in part.iter_series(chunk_samples=25):  # 4 reads of 25 samples each
    total += chunk.sum(axis=0)
mean_image = total / part.get_num_samples()
print("mean image:", mean_image.shape, "max", round(float(mean_image.max()), 3))
print("same as reading it whole:", np.allclose(mean_image, part.get_series().mean(axis=0)))

# time <-> sample conversions follow the view's own numbering (0 is sample 10 of the movie)
print("sample 0 of the view is at", round(float(part.sample_indices_to_time(0)), 4), "s")
