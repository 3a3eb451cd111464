"""Every writer's output read back by the matching ophysio extractor equals the source."""

from __future__ import annotations

import numpy as np
import pytest

import ophysio
from ophysio.conversion.writers import write_imaging
from ophysio.extractors import NumpyImagingExtractor

from ._writer_cases import CASES, RATE, channel_movies, irregular_times, make_source


def _check(ext, expected, rate=RATE, times=None):
    assert ext.get_num_samples() == expected.shape[0]
    assert ext.get_sample_shape() == expected.shape[1:]
    assert ext.dtype == expected.dtype
    np.testing.assert_array_equal(ext.get_series(), expected)
    assert ext.get_sampling_frequency() == pytest.approx(rate, rel=1e-12)
    if times is not None:
        np.testing.assert_allclose(ext.get_timestamps(), times, rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", list(CASES))
def test_tiff_read_back_by_ophysio(tmp_path, case):
    from ophysio.extractors.tiff import TiffImagingExtractor

    movies = channel_movies(case)
    out = write_imaging(make_source(case), tmp_path / "m.tif", compression="zlib")
    if len(movies) == 1:
        _check(ophysio.open_imaging(out), movies[0])
    for c, expected in enumerate(movies):
        _check(TiffImagingExtractor(out, channel_name=str(c)), expected)


@pytest.mark.parametrize("case", list(CASES))
def test_ome_tiff_read_back_by_ophysio_with_timestamps(tmp_path, case):
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor

    movies = channel_movies(case)
    times = irregular_times(movies[0].shape[0])
    rate = 1 / np.median(np.diff(times))
    out = write_imaging(make_source(case, timestamps=True), tmp_path / "m.ome.tif")
    if len(movies) == 1:
        ext = ophysio.open_imaging(out)
        assert type(ext).__name__ == "OMETiffImagingExtractor"
    for c, expected in enumerate(movies):
        ext = OMETiffImagingExtractor(out, channel_name=f"ch{c}")
        _check(ext, expected, rate, times)
        # the same times from the OME-XML DeltaT alone, without the sidecar
        no_sidecar = OMETiffImagingExtractor(out, channel_name=f"ch{c}", frame_metadata_path=False)
        np.testing.assert_array_equal(no_sidecar.get_timestamps(), times)


@pytest.mark.parametrize("case", list(CASES))
def test_hdf5_read_back_by_ophysio(tmp_path, case):
    from ophysio.extractors.hdf5 import Hdf5ImagingExtractor

    movies = channel_movies(case)
    out = write_imaging(make_source(case), tmp_path / "m.h5", compression="gzip")
    if len(movies) == 1:
        _check(ophysio.open_imaging(out), movies[0])
    for c, expected in enumerate(movies):
        _check(Hdf5ImagingExtractor(out, channel_index=c if len(movies) > 1 else None), expected)


@pytest.mark.parametrize("version", ["7.3", "5"])
@pytest.mark.parametrize("case", list(CASES))
def test_mat_read_back_by_ophysio(tmp_path, case, version):
    from ophysio.extractors.mat import MatImagingExtractor

    movies = channel_movies(case)
    out = write_imaging(make_source(case), tmp_path / "m.mat", version=version)
    dims = "YX" + ("Z" if movies[0].ndim == 4 else "") + ("C" if len(movies) > 1 else "") + "T"
    if dims == "YXT":
        _check(ophysio.open_imaging(out), movies[0])
    for c, expected in enumerate(movies):
        _check(MatImagingExtractor(out, dims=dims, channel_index=c if len(movies) > 1 else None), expected)


@pytest.mark.parametrize("case", list(CASES))
def test_suite2p_read_back_by_ophysio(tmp_path, case):
    movies = [m.astype(np.int16) if m.dtype == np.uint16 else m for m in channel_movies(case)]
    out = write_imaging([NumpyImagingExtractor(m, RATE) for m in movies], tmp_path / "suite2p")
    ext = ophysio.open_imaging(out)
    assert type(ext).__name__ == "Suite2pImagingExtractor"
    _check(ext, movies[0])
