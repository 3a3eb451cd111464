"""Property tests: indexing, get_series, get_samples and views against numpy on random shapes and keys."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ophysio.extractors import NumpyImagingExtractor

shapes = st.one_of(
    hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=6),
    hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=4),
)


@st.composite
def movies(draw):
    shape = draw(shapes)
    dtype = draw(st.sampled_from(["int16", "uint8", "float32", ">u2"]))
    data = np.arange(np.prod(shape), dtype=np.int64).reshape(shape) % 251
    return data.astype(dtype)


bound = st.one_of(st.none(), st.integers(-10, 10))


@settings(max_examples=150, deadline=None)
@given(movies(), bound, bound)
def test_get_series_is_a_slice(data, start, end):
    ex = NumpyImagingExtractor(data, sampling_frequency=1.0)
    got = ex.get_series(start, end)
    np.testing.assert_array_equal(got, data[start:end])
    assert got.dtype == data.dtype


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_indexing_matches_numpy(draw):
    data = draw.draw(movies())
    ex = NumpyImagingExtractor(data, sampling_frequency=1.0)
    key = draw.draw(hnp.basic_indices(shape=data.shape, allow_newaxis=False, allow_ellipsis=True))
    np.testing.assert_array_equal(ex[key], data[key])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_integer_array_indexing_matches_numpy(draw):
    data = draw.draw(movies())
    n = data.shape[0]
    idx = draw.draw(hnp.arrays(np.int64, st.integers(0, 3), elements=st.integers(-n, n - 1)))
    ex = NumpyImagingExtractor(data, sampling_frequency=1.0)
    np.testing.assert_array_equal(ex[idx], data[idx])
    np.testing.assert_array_equal(ex.get_samples(idx), data[idx])
    if data.ndim >= 3 and idx.size:
        np.testing.assert_array_equal(ex[idx, 0], data[idx, 0])


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_views_match_numpy(draw):
    data = draw.draw(movies())
    n, rows, columns = data.shape[:3]
    ex = NumpyImagingExtractor(data, sampling_frequency=1.0)
    a, b = sorted(draw.draw(st.lists(st.integers(0, n), min_size=2, max_size=2)))
    r0 = draw.draw(st.integers(0, rows - 1))
    c0 = draw.draw(st.integers(0, columns - 1))
    view = ex.slice_samples(a, b).slice_field_of_view(r0, None, c0, None)
    np.testing.assert_array_equal(view.get_series(), data[a:b, r0:, c0:])
    k = draw.draw(st.integers(1, 4))
    m = n // k
    binned = ex.bin_samples(k).get_series()
    expected = data[: m * k].reshape(m, k, *data.shape[1:]).astype(np.float64).mean(axis=1)
    if data.dtype.kind == "f":
        np.testing.assert_allclose(binned, expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(binned, np.rint(expected).astype(data.dtype))
    if data.ndim == 4:
        z = draw.draw(st.integers(0, data.shape[3] - 1))
        np.testing.assert_array_equal(ex.select_plane(z)[a:b], data[a:b, ..., z])
