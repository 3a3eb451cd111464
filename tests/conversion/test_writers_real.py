"""Real sample files written to every format and read back: pixels, dtype, shape, rate and times kept."""

from __future__ import annotations

import numpy as np
import pytest

import ophysio
from ophysio.conversion.writers import write_imaging
from ophysio.errors import MetadataError
from ophysio.testing.data import sample_file


def _scanimage_channels():
    path = sample_file("scanimage/ScanImageBigTIFFv57.tif")
    return {name: ophysio.open_imaging(path, channel_name=name) for name in ("Channel 1", "Channel 2")}


def _read_back(fmt, out, channel, count, volumetric):
    from ophysio.extractors.hdf5 import Hdf5ImagingExtractor
    from ophysio.extractors.mat import MatImagingExtractor
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor
    from ophysio.extractors.suite2p import Suite2pImagingExtractor
    from ophysio.extractors.tiff import TiffImagingExtractor

    many = count > 1
    if fmt == "tiff":
        return TiffImagingExtractor(out, channel_name=str(channel) if many else None)
    if fmt == "ome-tiff":
        return OMETiffImagingExtractor(out, channel_name=str(channel) if many else None)
    if fmt == "hdf5":
        return Hdf5ImagingExtractor(out, channel_index=channel if many else None)
    if fmt == "mat":
        dims = "YX" + ("Z" if volumetric else "") + ("C" if many else "") + "T"
        return MatImagingExtractor(out, dims=dims, channel_index=channel if many else None)
    return Suite2pImagingExtractor(out, channel_name=f"chan{channel + 1}")


@pytest.mark.parametrize("fmt, name", [("tiff", "m.tif"), ("ome-tiff", "m.ome.tif"), ("hdf5", "m.h5"),
                                       ("mat", "m.mat"), ("suite2p", "suite2p")])
def test_scanimage_two_channels_round_trip(tmp_path, fmt, name):
    channels = _scanimage_channels()
    out = write_imaging(channels, tmp_path / name, format=fmt)
    for c, (label, source) in enumerate(channels.items()):
        back = _read_back(fmt, out, label if fmt == "ome-tiff" else c, 2, False)
        expected = source.get_series()
        assert back.dtype == expected.dtype and back.get_sample_shape() == expected.shape[1:]
        np.testing.assert_array_equal(back.get_series(), expected)
        if fmt == "ome-tiff":
            import tifffile

            np.testing.assert_allclose(back.get_timestamps(), source.get_timestamps(), rtol=1e-14, atol=1e-15)
            with tifffile.TiffFile(out) as tif:  # the nominal rate is kept as TimeIncrement...
                assert f'TimeIncrement="{1 / source.get_sampling_frequency()!r}"' in tif.ome_metadata
            # ...but ophysio's OME reader takes the rate from the recorded times when there are some
            assert back.get_sampling_frequency() == pytest.approx(1 / np.median(np.diff(source.get_timestamps())))
        else:
            assert back.get_sampling_frequency() == pytest.approx(source.get_sampling_frequency(), rel=1e-12)


@pytest.mark.parametrize("fmt, name", [("ome-tiff", "v.ome.tif"), ("hdf5", "v.h5"), ("mat", "v.mat"),
                                       ("zarr", "v.zarr")])
def test_scanimage_volume_round_trip_keeps_times(tmp_path, fmt, name):
    import h5py

    source = ophysio.open_imaging(sample_file("scanimage/vol_no_flyback_00001_00001.tif"))
    out = write_imaging(source, tmp_path / name)
    expected, times = source.get_series(), source.get_timestamps()
    if fmt == "zarr":
        zarr = pytest.importorskip("zarr")
        group = zarr.open_group(out, mode="r")
        np.testing.assert_array_equal(group["0"][:], expected.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(group["timestamps"][:], times)
        return
    back = _read_back(fmt, out, 0, 1, True)
    np.testing.assert_array_equal(back.get_series(), expected)
    assert back.dtype == expected.dtype
    if fmt == "ome-tiff":
        np.testing.assert_allclose(back.get_timestamps(), times, rtol=1e-14)
    else:  # kept beside the movie: the timestamps dataset / variable
        with h5py.File(out) as f:
            stored = f["timestamps"][:].ravel()
        np.testing.assert_array_equal(stored, times)


def test_channels_with_their_own_times(tmp_path):
    """pymmcore-plus channels are acquired one after the other: each keeps its own times."""
    from ophysio.extractors.ome_tiff import OMETiffImagingExtractor

    path = sample_file("ome_tiff/pmmp_demo_tc.ome.tiff")
    channels = {name: ophysio.open_imaging(path, channel_name=name) for name in ("DAPI", "FITC")}
    assert not np.array_equal(channels["DAPI"].get_timestamps(), channels["FITC"].get_timestamps())
    with pytest.raises(MetadataError, match="split='channels'"):  # one time per sample: refused, not dropped
        write_imaging(channels, tmp_path / "tc.h5")
    assert list(tmp_path.iterdir()) == []
    one = write_imaging(channels, tmp_path / "tc.ome.tif")  # OME keeps a DeltaT per plane, so per channel
    parts = write_imaging(channels, tmp_path / "parts.ome.tif", split="channels")
    for name, part in zip(channels, parts):
        source = channels[name]
        for back in (OMETiffImagingExtractor(one, channel_name=name), OMETiffImagingExtractor(part),
                     OMETiffImagingExtractor(one, channel_name=name, frame_metadata_path=False)):
            np.testing.assert_array_equal(back.get_series(), source.get_series())
            np.testing.assert_allclose(back.get_timestamps(), source.get_timestamps(), rtol=1e-14)
            assert back.get_sampling_frequency() == pytest.approx(source.get_sampling_frequency(), rel=1e-12)
