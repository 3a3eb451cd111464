"""The conformance suite every segmentation format's tests subclass: :class:`SegmentationTests`.

Subclass it in a pytest module, list the cases in ``cases`` and fill the hooks; each ``expected_*`` hook
returns values read independently of ophysio (numpy, h5py, scipy on the documented layout), or None to
check only the extractor's internal consistency:

``make_extractor(self, case)``
    A fresh extractor for the case (required).
``expected_roi_ids(self, case)``
    The ROI ids in order.
``expected_pixel_masks(self, case)`` / ``expected_image_masks(self, case)``
    The sparse masks (one ``[row, column, (plane,) weight]`` array per ROI) or the dense stack
    ``(rows, columns[, planes], n)``.
``expected_traces(self, case)``
    ``{name: (samples, ROIs) array}`` of every trace the source has.
``expected_images(self, case)``
    ``{name: image}`` of every summary image.
``expected_accepted(self, case)`` / ``expected_rejected(self, case)``
    The accepted / rejected ROI ids.
``expected_properties(self, case)``
    ``{key: values}`` of properties the source gives.
``expected_sampling_frequency(self, case)`` / ``expected_timestamps(self, case)``
    The rate and the times.
``make_shrinkable(self, case, tmp_path)``
    ``(extractor on copies of the case's files, the copies whose cut must be an error)``; None for
    in-memory cases (see :func:`~ophysio.testing.conformance.copy_source`).

Every test runs for every case: facts against the data, dense masks against sparse ones, subsets of
ROIs, slices of traces against the full traces, the lazy trace dictionary, views, properties and
centroids, times, the traces, masks and label image as dask/xarray arrays (when installed), pickling,
reads from many threads, no file left open after ``close()``, and a source cut short while open is an
error naming the file.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from ..errors import SelectionError
from ..extractors.segmentation import BACKGROUND_TRACES, SegmentationExtractor
from ..extractors.segmentation.masks import pixel_masks_to_dense
from ._suite import SourceSuite, run_in_threads

__all__ = ["SegmentationTests", "sorted_mask"]


def sorted_mask(mask: np.ndarray) -> np.ndarray:
    """A sparse mask's rows in coordinate order with zero weights dropped (to compare masks as sets)."""
    mask = np.asarray(mask, dtype=np.float64)
    mask = mask[mask[:, -1] != 0] if len(mask) else mask
    order = np.lexsort(mask[:, :-1].T[::-1]) if len(mask) else np.zeros(0, dtype=np.int64)
    return mask[order]


class SegmentationTests(SourceSuite):
    """Checks every segmentation extractor must pass; subclasses set ``cases`` and the hooks."""

    thread_count = 8
    thread_reads = 30

    # ---- hooks -------------------------------------------------------------------------------
    def make_extractor(self, case: Any) -> SegmentationExtractor:  # pragma: no cover - must be overridden
        raise NotImplementedError

    def expected_roi_ids(self, case: Any) -> list | None:
        return None

    def expected_pixel_masks(self, case: Any) -> list[np.ndarray] | None:
        return None

    def expected_image_masks(self, case: Any) -> np.ndarray | None:
        return None

    def expected_traces(self, case: Any) -> dict[str, np.ndarray] | None:
        return None

    def expected_images(self, case: Any) -> dict[str, np.ndarray] | None:
        return None

    def expected_accepted(self, case: Any) -> list | None:
        return None

    def expected_rejected(self, case: Any) -> list | None:
        return None

    def expected_properties(self, case: Any) -> dict[str, np.ndarray] | None:
        return None

    def expected_sampling_frequency(self, case: Any) -> float | None:
        return None

    def expected_timestamps(self, case: Any) -> np.ndarray | None:
        return None

    # ---- what a read is, for the shared checks (pickling, handles, a source cut short) ----------
    def _read_some(self, extractor: SegmentationExtractor) -> None:
        self._full_traces(extractor)
        extractor.get_roi_pixel_masks()
        extractor.get_images_dict()

    def _assert_same_reads(self, clone: SegmentationExtractor, extractor: SegmentationExtractor) -> None:
        assert clone.get_roi_ids() == extractor.get_roi_ids()
        np.testing.assert_array_equal(clone.get_roi_image_masks(), extractor.get_roi_image_masks())
        for name, values in self._full_traces(extractor).items():
            np.testing.assert_array_equal(self._full_traces(clone)[name], values)
        assert clone.get_sampling_frequency() == extractor.get_sampling_frequency()

    def _reads_after_cut(self, case: Any, extractor: SegmentationExtractor) -> list:
        with self.make_extractor(case) as original:
            reference = self._full_traces(original)
        for name in extractor.get_trace_names():  # opened and read
            extractor.get_traces(name=name, start_frame=0, end_frame=1)
        return [(lambda name=name: self._full_traces(extractor)[name], expected)
                for name, expected in reference.items()]

    def _full_traces(self, extractor: SegmentationExtractor) -> dict[str, np.ndarray]:
        return {name: extractor.get_traces(name=name, roi_ids=extractor.get_background_ids()
                                           if name in BACKGROUND_TRACES else None)
                for name in extractor.get_trace_names()}

    # ---- facts and expected values -------------------------------------------------------------
    def test_facts_match_the_data(self, extractor):
        ids = extractor.get_roi_ids()
        assert extractor.get_num_rois() == len(ids) == len(set(map(repr, ids)))
        assert extractor.get_num_background_components() == len(extractor.get_background_ids())
        volume = extractor._mask_shape()
        assert type(extractor.is_volumetric) is bool
        assert extractor.get_frame_shape() == extractor.get_image_shape() == volume[:2]
        assert extractor.get_num_planes() == (volume[2] if extractor.is_volumetric else 1)
        dense = extractor.get_roi_image_masks()
        assert dense.shape == (*volume, len(ids))
        for name, trace in self._full_traces(extractor).items():
            columns = extractor.get_num_background_components() if name in BACKGROUND_TRACES else len(ids)
            assert trace.shape == (extractor.get_num_samples(), columns), name
        assert extractor.get_num_frames() == extractor.get_num_samples()
        for name, image in extractor.get_images_dict().items():
            assert image.shape == volume, name
        rate = extractor.get_sampling_frequency()
        assert rate is None or (isinstance(rate, float) and rate > 0)
        assert isinstance(extractor.get_metadata(), dict)
        assert extractor.channel_name in extractor.get_channel_names()
        assert repr(extractor)

    def test_expected_values(self, extractor, case):
        ids = self.expected_roi_ids(case)
        if ids is not None:
            assert list(extractor.get_roi_ids()) == list(ids)
        masks = self.expected_pixel_masks(case)
        if masks is not None:
            got = extractor.get_roi_pixel_masks()
            assert len(got) == len(masks)
            for i, (a, b) in enumerate(zip(got, masks)):
                np.testing.assert_allclose(sorted_mask(a), sorted_mask(b), rtol=1e-6, err_msg=f"pixel mask {i}")
        dense = self.expected_image_masks(case)
        if dense is not None:
            np.testing.assert_allclose(extractor.get_roi_image_masks(), dense, rtol=1e-6)
        traces = self.expected_traces(case)
        if traces is not None:
            got = self._full_traces(extractor)
            assert sorted(got) == sorted(traces)
            for name, values in traces.items():
                assert got[name].dtype == np.asarray(values).dtype, name
                np.testing.assert_array_equal(got[name], values, err_msg=name)
        images = self.expected_images(case)
        if images is not None:
            got = extractor.get_images_dict()
            assert sorted(got) == sorted(images)
            for name, image in images.items():
                np.testing.assert_array_equal(got[name], image, err_msg=name)
                np.testing.assert_array_equal(extractor.get_image(name), image, err_msg=name)
        accepted, rejected = self.expected_accepted(case), self.expected_rejected(case)
        if accepted is not None:
            assert list(extractor.get_accepted_list()) == list(accepted)
        if rejected is not None:
            assert list(extractor.get_rejected_list()) == list(rejected)
        for key, values in (self.expected_properties(case) or {}).items():
            np.testing.assert_array_equal(extractor.get_property(key), values, err_msg=key)
        rate = self.expected_sampling_frequency(case)
        if rate is not None:
            assert extractor.get_sampling_frequency() == pytest.approx(rate, rel=1e-9)
        times = self.expected_timestamps(case)
        if times is not None:
            np.testing.assert_allclose(extractor.get_timestamps(), times, rtol=0, atol=1e-9)

    def test_accepted_and_rejected_are_rois(self, extractor):
        ids = list(extractor.get_roi_ids())
        accepted, rejected = extractor.get_accepted_list(), extractor.get_rejected_list()
        assert set(accepted) <= set(ids) and set(rejected) <= set(ids)
        assert not set(accepted) & set(rejected)
        assert accepted == [i for i in ids if i in set(accepted)]  # in ROI order

    # ---- masks -----------------------------------------------------------------------------------
    def test_dense_masks_equal_sparse_masks(self, extractor):
        volume = extractor._mask_shape()
        sparse = extractor.get_roi_pixel_masks()
        columns = len(volume) + 1
        for mask in sparse:
            assert mask.ndim == 2 and mask.shape[1] == columns
        np.testing.assert_allclose(pixel_masks_to_dense(sparse, volume, np.float64), extractor.get_roi_image_masks(),
                                   rtol=1e-6)
        background = extractor.get_background_ids()
        dense = extractor.get_background_image_masks()
        assert dense.shape == (*volume, len(background))
        np.testing.assert_allclose(pixel_masks_to_dense(extractor.get_background_pixel_masks(), volume, np.float64),
                                   dense, rtol=1e-6)

    def test_roi_subsets(self, extractor):
        ids = list(extractor.get_roi_ids())
        if not ids:
            return
        dense = extractor.get_roi_image_masks()
        sparse = extractor.get_roi_pixel_masks()
        picks = [ids[::-1], ids[len(ids) // 2 : len(ids) // 2 + 1], [ids[-1], ids[0]]]
        for pick in picks:
            where = [ids.index(i) for i in pick]
            np.testing.assert_array_equal(extractor.get_roi_image_masks(pick), dense[..., where])
            for a, b in zip(extractor.get_roi_pixel_masks(pick), [sparse[i] for i in where]):
                np.testing.assert_array_equal(a, b)
        unknown = "no such roi"
        with pytest.raises(SelectionError, match="not one of"):
            extractor.get_roi_image_masks([ids[0], unknown])
        with pytest.raises(ValueError):  # roiextractors raised ValueError: scripts that catch it still do
            extractor.get_roi_pixel_masks([unknown])
        for name in extractor.get_trace_names():
            if name not in BACKGROUND_TRACES:
                with pytest.raises(SelectionError):
                    extractor.get_traces(roi_ids=[unknown], name=name)

    # ---- traces --------------------------------------------------------------------------------
    def test_trace_slices_match_the_full_traces(self, extractor):
        n = extractor.get_num_samples()
        bounds = [None, 0, 1, n // 2, n - 1, n, n + 3, -1, -n - 2]
        for name, full in self._full_traces(extractor).items():
            ids = extractor.get_background_ids() if name in BACKGROUND_TRACES else extractor.get_roi_ids()
            for start in bounds:
                for end in bounds:
                    np.testing.assert_array_equal(
                        extractor.get_traces(ids, start, end, name=name), full[start:end],
                        err_msg=f"{name}[{start}:{end}]")
            np.testing.assert_array_equal(
                extractor.get_traces(ids, name=name, start_sample=1, end_sample=-1), full[1:-1])
            if ids:
                pick = [ids[-1], ids[0]]
                np.testing.assert_array_equal(extractor.get_traces(pick, 1, n // 2 + 1, name=name),
                                              full[1 : n // 2 + 1][:, [len(ids) - 1, 0]])
        with pytest.raises(SelectionError, match="no 'no such trace' trace"):
            extractor.get_traces(name="no such trace")

    def test_traces_dict_is_lazy_and_indexes_like_numpy(self, extractor, monkeypatch):
        reads: list[tuple] = []
        original = extractor._read_traces

        def counting(name, start, stop, positions):
            if stop > start:
                reads.append((name, start, stop, len(positions)))
            return original(name, start, stop, positions)

        monkeypatch.setattr(extractor, "_read_traces", counting)
        traces = extractor.get_traces_dict()
        assert reads == [], "get_traces_dict read traces"
        assert sorted(traces) == sorted(extractor.get_trace_names())
        n = extractor.get_num_samples()
        for name, trace in traces.items():
            assert not isinstance(trace, np.ndarray)
            full = extractor.get_traces(name=name, roi_ids=extractor.get_background_ids()
                                        if name in BACKGROUND_TRACES else None)
            assert trace.shape == full.shape and trace.dtype == full.dtype and len(trace) == n
            np.testing.assert_array_equal(np.asarray(trace), full)
            reads.clear()
            keys = [(slice(1, 4),), (slice(None), 0), (-1,), (slice(None, None, -2), slice(0, 2)),
                    (np.array([n - 1, 0, n // 2]),), (Ellipsis, -1), (slice(2, 2),)]
            for key in keys:
                if full.shape[1] == 0 and len(key) == 2 and isinstance(key[1], int):
                    continue
                np.testing.assert_array_equal(trace[key], full[key], err_msg=f"{name}{key}")
            if full.shape[1] > 1 and n > 3:
                reads.clear()
                trace[1:3, :1]
                assert reads == [(name, 1, 3, 1)], "a slice of a trace read more than it needed"

    # ---- images --------------------------------------------------------------------------------
    def test_images(self, extractor):
        images = extractor.get_images_dict()
        for name, image in images.items():
            np.testing.assert_array_equal(extractor.get_image(name), image)
            before = image.copy()
            image += 1  # the dictionary holds copies: the extractor keeps its own
            np.testing.assert_array_equal(extractor.get_image(name), before)
        with pytest.raises(SelectionError):
            extractor.get_image("no such image")

    # ---- views ---------------------------------------------------------------------------------
    def test_views(self, extractor):
        n = extractor.get_num_samples()
        full = self._full_traces(extractor)
        view = extractor.slice_samples(1, n - 1)
        assert view.get_num_samples() == max(n - 2, 0)
        for name, values in full.items():
            np.testing.assert_array_equal(self._full_traces(view)[name], values[1 : n - 1])
        np.testing.assert_array_equal(view.get_timestamps(), extractor.get_timestamps()[1 : n - 1])
        np.testing.assert_array_equal(view.get_roi_image_masks(), extractor.get_roi_image_masks())
        assert view.get_images_dict().keys() == extractor.get_images_dict().keys()
        ids = list(extractor.get_roi_ids())
        if not ids:
            return
        pick = ids[::-2]
        where = [ids.index(i) for i in pick]
        subset = extractor.select_rois(pick)
        assert subset.get_roi_ids() == pick and subset.get_num_rois() == len(pick)
        np.testing.assert_array_equal(subset.get_roi_image_masks(), extractor.get_roi_image_masks()[..., where])
        for name, values in full.items():
            if name not in BACKGROUND_TRACES:
                np.testing.assert_array_equal(subset.get_traces(name=name), values[:, where])
        for key in extractor.get_property_keys():
            np.testing.assert_array_equal(subset.get_property(key), extractor.get_property(key)[where], err_msg=key)
        both = extractor.select_rois(pick).slice_samples(-3)
        for name, values in full.items():
            if name not in BACKGROUND_TRACES:
                np.testing.assert_array_equal(both.get_traces(name=name), values[-3:, where])
        if extractor.is_volumetric:
            planes = extractor.get_roi_planes()
            for p in range(extractor.get_num_planes()):
                plane = extractor.select_plane(p)
                assert not plane.is_volumetric
                inside = [i for i, roi_plane in zip(ids, planes) if roi_plane == p]
                assert set(inside) <= set(plane.get_roi_ids())
                dense = extractor.get_roi_image_masks(plane.get_roi_ids())
                np.testing.assert_array_equal(plane.get_roi_image_masks(), dense[:, :, p, :])
                for name, image in extractor.get_images_dict().items():
                    np.testing.assert_array_equal(plane.get_image(name), image[..., p])

    # ---- properties ------------------------------------------------------------------------------
    def test_properties_and_centroids(self, extractor, case):
        ids = list(extractor.get_roi_ids())
        if not ids:
            return
        values = np.arange(len(ids), dtype=np.float64) * 1.5
        extractor.set_property("test_property", values[::-1], ids=ids[::-1], description="set by the test")
        np.testing.assert_array_equal(extractor.get_property("test_property"), values)
        np.testing.assert_array_equal(extractor.get_property("test_property", [ids[-1]]), values[-1:])
        assert extractor.get_property_description("test_property") == "set by the test"
        assert "test_property" in extractor.get_property_keys() and "roi_centroids" in extractor.get_property_keys()
        with pytest.raises(SelectionError):
            extractor.set_property("short", values[:-1], ids=ids[:-1])
        masks = self.expected_pixel_masks(case)
        if masks is None:
            masks = extractor.get_roi_pixel_masks()
        ndim = 3 if extractor.is_volumetric else 2
        expected = np.array([np.average(np.asarray(m, dtype=np.float64)[:, :ndim], axis=0,
                                        weights=np.asarray(m, dtype=np.float64)[:, -1]) for m in masks])
        np.testing.assert_allclose(extractor.get_property("roi_centroids"), expected, rtol=1e-9)
        locations = np.rint(expected[:, :2]).astype(int).T
        np.testing.assert_array_equal(extractor.get_roi_locations(), locations)

    # ---- time ----------------------------------------------------------------------------------
    def test_timestamps(self, extractor):
        n = extractor.get_num_samples()
        if extractor.get_sampling_frequency() is None and not extractor.has_recorded_times():
            return
        times = extractor.get_timestamps()
        assert times.shape == (n,) and times.dtype == np.float64
        np.testing.assert_array_equal(extractor.get_timestamps(1, -1), times[1:-1])
        assert not extractor.has_time_vector()
        shifted = times + 50.0
        extractor.set_times(shifted)
        assert extractor.has_time_vector()
        np.testing.assert_array_equal(extractor.get_timestamps(), shifted)
        view = extractor.slice_samples(1)
        assert view.has_time_vector()
        np.testing.assert_array_equal(view.get_timestamps(), shifted[1:])
        if n:
            queries = np.r_[shifted, shifted[0] - 1.0, shifted[-1] + 1.0]
            expected = np.maximum(np.searchsorted(shifted, queries, side="right") - 1, 0)
            np.testing.assert_array_equal(extractor.time_to_sample_indices(queries), expected)

    # ---- arrays (dask, xarray; optional packages) ------------------------------------------------
    def test_to_xarray_traces(self, extractor, case):
        pytest.importorskip("xarray")
        pytest.importorskip("dask.array")
        import json

        n = extractor.get_num_samples()
        full = self._full_traces(extractor)
        expected = self.expected_traces(case) or {}
        data = extractor.to_xarray(chunk_samples=max(1, (n + 2) // 3))
        assert sorted(data.data_vars) == sorted(full)
        for name, values in full.items():
            array = data[name]
            assert type(array.data).__module__.startswith("dask")  # lazy
            assert array.dims == ("time", "background_component" if name in BACKGROUND_TRACES else "roi")
            assert array.dtype == values.dtype
            np.testing.assert_array_equal(array.values, values)
            if name in expected:
                np.testing.assert_allclose(array.values, expected[name], rtol=1e-6, atol=0, equal_nan=True)
            one = extractor.to_dask(name, chunk_samples=max(1, (n + 2) // 3))  # pickled, as to a worker
            np.testing.assert_array_equal(pickle.loads(pickle.dumps(one)).compute(scheduler="sync"), values)
        assert [str(i) for i in data["roi"].values] == [str(i) for i in extractor.get_roi_ids()]
        accepted = {str(i) for i in extractor.get_accepted_list()}
        assert list(data["accepted"].values) == [str(i) in accepted for i in extractor.get_roi_ids()]
        if extractor.get_sampling_frequency() is not None or extractor.has_recorded_times():
            np.testing.assert_array_equal(data["time"].values, extractor.get_timestamps())
            times = self.expected_timestamps(case)
            if times is not None:
                np.testing.assert_allclose(data["time"].values, times, rtol=0, atol=1e-9)
        else:
            np.testing.assert_array_equal(data["time"].values, np.arange(n))
        json.dumps(data.attrs)
        assert data.attrs["format"] == extractor.format_id

    def test_masks_to_xarray_and_label_image(self, extractor):
        pytest.importorskip("xarray")
        dense = np.asarray(extractor.get_roi_image_masks())
        masks = extractor.masks_to_xarray(chunk_rois=max(1, (extractor.get_num_rois() + 1) // 2))
        assert masks.dims == (("roi", "y", "x", "z") if extractor.is_volumetric else ("roi", "y", "x"))
        np.testing.assert_allclose(masks.values, np.moveaxis(dense, -1, 0), rtol=1e-6)
        # each pixel labelled 1 + the ROI of the largest positive weight there (the first on a tie), else 0
        labels = extractor.get_label_image()
        assert labels.shape == tuple(extractor._mask_shape()) and np.issubdtype(labels.dtype, np.integer)
        if dense.shape[-1]:
            weights = np.where(np.isnan(dense), 0, dense).astype(np.float64)
            expected = np.where(weights.max(axis=-1) > 0, weights.argmax(axis=-1) + 1, 0)
        else:
            expected = np.zeros(labels.shape, dtype=np.int64)
        np.testing.assert_array_equal(labels, expected)

    # ---- resources -----------------------------------------------------------------------------
    def test_reads_from_many_threads_match_a_serial_read(self, case):
        with self.make_extractor(case) as serial:
            names = serial.get_trace_names()
            reference = self._full_traces(serial)
            ids = {name: (serial.get_background_ids() if name in BACKGROUND_TRACES else serial.get_roi_ids())
                   for name in names}
            masks = serial.get_roi_image_masks()
        if not names:
            return
        with self.make_extractor(case) as extractor:

            def work(number: int, failures: list[str]) -> None:
                rng = np.random.default_rng([3, number])
                for _ in range(self.thread_reads):
                    name = names[int(rng.integers(len(names)))]
                    full = reference[name]
                    n, k = full.shape
                    a = int(rng.integers(0, n + 1))
                    b = int(rng.integers(a, n + 1))
                    where = sorted(set(rng.integers(0, k, size=min(k, 3)).tolist())) if k else []
                    try:
                        got = extractor.get_traces([ids[name][i] for i in where], a, b, name=name)
                        if not np.array_equal(got, full[a:b][:, where], equal_nan=True):  # NaN: a sample not recorded
                            failures.append(f"thread {number}: {name}[{a}:{b}] ROIs {where} differ")
                        if rng.random() < 0.2 and not np.array_equal(extractor.get_roi_image_masks(), masks):
                            failures.append(f"thread {number}: masks differ")
                    except Exception as exc:  # report every failure
                        failures.append(f"thread {number}: {type(exc).__name__}: {exc}")

            failures = run_in_threads(self.thread_count, work)
        assert not failures, "\n".join(failures[:10])

