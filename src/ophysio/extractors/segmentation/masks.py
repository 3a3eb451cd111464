"""ROI masks in their two shapes, and what is computed from them.

A mask is either *sparse*, a ``(n_pixels, 3)`` array of ``[row, column, weight]`` (a pixel mask; a voxel
mask of a volumetric segmentation is ``(n_voxels, 4)``: ``[row, column, plane, weight]``, roiextractors'
column order), or *dense*, an image of the field of view holding each pixel's weight. A stack of dense
masks has the ROIs last: ``(rows, columns, n)``, or ``(rows, columns, planes, n)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import FormatError

__all__ = ["pixel_masks_to_dense", "dense_to_pixel_masks", "mask_centroids", "check_pixel_mask", "mask_planes",
           "label_image"]


def check_pixel_mask(mask, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``mask`` as a float64 ``(n, len(shape) + 1)`` array, its coordinates checked against ``shape``.

    A coordinate that is not a whole number or falls outside the field of view is a
    :class:`~ophysio.errors.FormatError` naming ``where``: a damaged file must not paint other pixels.
    """
    array = np.asarray(mask, dtype=np.float64)
    columns = len(shape) + 1
    if array.size == 0:
        return np.zeros((0, columns), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != columns:
        raise FormatError(f"{where}: a mask must have {columns} columns ({', '.join(_COLUMN_NAMES[:columns - 1])}, "
                          f"weight); got shape {array.shape}")
    coords = array[:, :-1]
    if not np.all(np.isfinite(array)) or np.any(coords != np.round(coords)):
        raise FormatError(f"{where}: mask coordinates must be whole numbers and weights finite")
    low = coords.min(axis=0)
    high = coords.max(axis=0)
    if np.any(low < 0) or np.any(high >= np.asarray(shape)):
        axis = int(np.flatnonzero((low < 0) | (high >= np.asarray(shape)))[0])
        raise FormatError(f"{where}: a {_COLUMN_NAMES[axis]} index of the mask ({int(low[axis])}..{int(high[axis])}) "
                          f"is outside the field of view of {' x '.join(str(s) for s in shape)}")
    return array


_COLUMN_NAMES = ("row", "column", "plane")


def pixel_masks_to_dense(masks: Sequence[np.ndarray], shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """Dense masks ``(*shape, n)`` from sparse masks (a pixel listed twice keeps its last weight)."""
    out = np.zeros((*shape, len(masks)), dtype=dtype)
    for i, mask in enumerate(masks):
        mask = np.asarray(mask)
        if len(mask):
            coords = tuple(mask[:, axis].astype(np.intp) for axis in range(len(shape)))
            out[(*coords, i)] = mask[:, -1]
    return out


def dense_to_pixel_masks(dense: np.ndarray) -> list[np.ndarray]:
    """Sparse masks (the nonzero pixels, in C order) from dense masks ``(*shape, n)``."""
    result = []
    for i in range(dense.shape[-1]):
        image = np.asarray(dense[..., i])
        coords = np.nonzero(image)
        result.append(np.column_stack([*coords, image[coords]]).astype(np.float64, copy=False)
                      if coords[0].size else np.zeros((0, image.ndim + 1), dtype=np.float64))
    return result


def mask_centroids(masks: Sequence[np.ndarray], ndim: int) -> np.ndarray:
    """``(n, ndim)`` centroids (row, column[, plane]) of sparse masks: coordinates averaged with the weights
    as weights (plain average when the weights sum to zero; NaN for an empty mask)."""
    out = np.full((len(masks), ndim), np.nan, dtype=np.float64)
    for i, mask in enumerate(masks):
        mask = np.asarray(mask, dtype=np.float64)
        if not len(mask):
            continue
        weights = mask[:, -1]
        total = weights.sum()
        coords = mask[:, :ndim]
        out[i] = (weights @ coords) / total if total != 0 else coords.mean(axis=0)
    return out


def mask_planes(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Plane of each voxel mask: its only plane, or -1 when it spans several planes or is empty."""
    planes = np.full(len(masks), -1, dtype=np.int64)
    for i, mask in enumerate(masks):
        mask = np.asarray(mask)
        if len(mask):
            values = np.unique(mask[:, 2])
            if len(values) == 1:
                planes[i] = int(values[0])
    return planes


def label_image(masks: Sequence[np.ndarray], shape: tuple[int, ...], labels: Sequence[int] | None = None,
                dtype=np.int32) -> np.ndarray:
    """One integer image of ``shape`` from sparse masks: each pixel holds the label of the mask that weighs it
    most (0 where no mask has a positive weight).

    ``labels`` are the masks' labels (by default ``1, 2, ...`` in order). Where masks overlap, the pixel goes
    to the mask of the largest weight there, and between equal weights to the smallest label; pixels of
    zero, negative or NaN weight belong to no mask.
    """
    labels = np.arange(1, len(masks) + 1) if labels is None else np.asarray(labels, dtype=np.int64)
    if len(labels) != len(masks):
        raise ValueError(f"{len(labels)} labels for {len(masks)} masks")
    out = np.zeros(shape, dtype=dtype)
    pixels, weights, owners = [], [], []
    for mask, label in zip(masks, labels):
        mask = np.asarray(mask, dtype=np.float64)
        if not len(mask):
            continue
        keep = mask[:, -1] > 0
        coords = tuple(mask[keep, axis].astype(np.intp) for axis in range(len(shape)))
        pixels.append(np.ravel_multi_index(coords, shape))
        weights.append(mask[keep, -1])
        owners.append(np.full(int(keep.sum()), label, dtype=np.int64))
    if not pixels:
        return out
    pixel, weight, owner = (np.concatenate(parts) for parts in (pixels, weights, owners))
    order = np.lexsort((owner, -weight, pixel))  # by pixel, then the largest weight, then the smallest label
    pixel, owner = pixel[order], owner[order]
    first = np.ones(len(pixel), dtype=bool)
    first[1:] = pixel[1:] != pixel[:-1]
    out.reshape(-1)[pixel[first]] = owner[first]
    return out
