"""A segmentation as labelled arrays: a suite2p run's traces in xarray, its masks as labels for napari."""

import numpy as np

import ophysio
from ophysio.testing.data import sample_file

folder = sample_file("segmentation/suite2p")  # 2 planes, 40 ROIs, 250 samples at 10 Hz
segmentation = ophysio.open_segmentation(folder)
print(segmentation)

# every trace in one Dataset: dims (time, roi); what is known of each ROI is a coordinate along roi
traces = segmentation.to_xarray()
print(list(traces.data_vars), dict(traces.sizes))
print("roi coordinates:", [name for name, coord in traces.coords.items() if coord.dims == ("roi",)][:8], "...")
print("time:", traces["time"].values[:3], traces["time"].attrs["units"], "-", traces.attrs["time_coordinate"])

# select by label: the accepted cells of plane 1, their neuropil-corrected trace, averaged lazily
cells = traces.where(traces["accepted"] & (traces["plane"] == 1), drop=True)
corrected = cells["raw"] - 0.7 * cells["neuropil"]
print("accepted cells of plane 1:", cells.sizes["roi"], " ids:", cells["roi"].values)
print("their mean corrected trace, first samples:", corrected.mean("roi").values[:4].round(1))

# one trace alone, as a dask array: chunks of samples, each one get_traces() of the extractor
spikes = segmentation.to_dask("deconvolved", chunk_samples=100)
print(spikes)
print("events per ROI (first 5):", (spikes > 0).sum(axis=0).compute()[:5])

# masks as a lazy (roi, y, x, z) array; summary images as DataArrays
masks = segmentation.masks_to_xarray()
print("masks:", masks.dims, masks.shape, " pixels of ROI 0:", int((masks.isel(roi=0) > 0).sum()))
images = segmentation.images_to_xarray()
print("images:", {name: image.dims for name, image in images.items()})

# every mask in one integer image: label k is the ROI at position k - 1, the heaviest mask winning overlaps
labels = segmentation.get_label_image()
print("label image:", labels.shape, "ROIs drawn:", np.unique(labels[labels > 0]).size)

# napari: what the reader plugin hands napari for this folder (no napari needed to ask)
from ophysio.napari import read  # noqa: E402

for data, keywords, kind in read(folder):
    print(f"{kind:6}", keywords["name"], np.shape(data), "visible" if keywords["visible"] else "hidden")
