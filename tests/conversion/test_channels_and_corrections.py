"""Several single-channel files as one acquisition (open_channels), and corrected views on their way to NWB.

Single-channel files are written here with tifffile and h5py from numpy arrays; what is written back is
read with pynwb/h5py/tifffile/zarr/numpy by each format's documented layout and compared with those arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from pynwb import NWBHDF5IO

import ophysio
from ophysio.errors import MetadataError
from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.synthetic import write_scanimage

from ._writer_cases import read_tiff_pages
from .test_metadata import COMPLETE

RATE = 20.0


def two_channel_files(folder, samples=40, rows=12, columns=10):
    rng = np.random.default_rng(5)
    green = rng.integers(0, 4000, (samples, rows, columns), dtype=np.uint16)
    red = rng.integers(0, 4000, (samples, rows, columns), dtype=np.uint16)
    folder.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(folder / "green.tif", green)
    tifffile.imwrite(folder / "red.tif", red)
    return green, red


def metadata_for(names):
    meta = {**COMPLETE, "Ophys": {"ImagingPlane": [
        {"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
         "optical_channel": [{"name": n.capitalize(), "emission_lambda": 510.0 if n == "green" else 600.0}]}
        for n in names]}}
    return meta


def test_open_channels_reads_files_as_the_channels_of_one_acquisition(tmp_path):
    green, red = two_channel_files(tmp_path)
    channels = ophysio.open_channels({"green": tmp_path / "green.tif", "red": tmp_path / "red.tif"},
                                     sampling_frequency=RATE)
    assert channels.names == ["green", "red"] and len(channels) == 2
    assert channels["red"].channel_name == "red" and channels["red"].get_channel_names() == ["green", "red"]
    np.testing.assert_array_equal(channels["green"].get_series(), green)
    np.testing.assert_array_equal(channels.get_series(5, 9), np.stack([green[5:9], red[5:9]], axis=-1))
    facts = channels["red"].get_acquisition_facts()
    assert facts.channel_name == "red" and facts.channel_names == ("green", "red")
    # a list: names from the files
    listed = ophysio.open_channels([tmp_path / "green.tif", tmp_path / "red.tif"], sampling_frequency=RATE)
    assert listed.names == ["green", "red"]


def test_open_channels_names_the_mismatch(tmp_path):
    green, red = two_channel_files(tmp_path)
    tifffile.imwrite(tmp_path / "short.tif", red[:-1])
    tifffile.imwrite(tmp_path / "narrow.tif", red[:, :, :-1])
    with pytest.raises(MetadataError, match=r"channel 'red' \(short.tif\) has number of samples 39; channel "
                                            r"'green' \(green.tif\) has 40"):
        ophysio.open_channels({"green": tmp_path / "green.tif", "red": tmp_path / "short.tif"},
                              sampling_frequency=RATE)
    with pytest.raises(MetadataError, match=r"sample shape \(12, 9\).*\(12, 10\)"):
        ophysio.open_channels({"green": tmp_path / "green.tif", "red": tmp_path / "narrow.tif"},
                              sampling_frequency=RATE)
    slow = NumpyImagingExtractor(red, RATE / 2)
    with pytest.raises(MetadataError, match="rate of 10.0 Hz.*20.0 Hz"):
        ophysio.open_channels({"green": NumpyImagingExtractor(green, RATE), "red": slow})
    late = NumpyImagingExtractor(red, RATE)
    times = np.arange(40) / RATE
    times[17:] += 0.02
    late.set_times(times)
    with pytest.raises(MetadataError, match="sample 17 at 0.870000 s.*0.850000 s"):
        ophysio.open_channels({"green": NumpyImagingExtractor(green, RATE), "red": late})
    ok = ophysio.open_channels({"green": NumpyImagingExtractor(green, RATE), "red": late}, time_tolerance_s=0.05)
    assert ok.names == ["green", "red"]


def test_channels_convert_to_one_series_per_channel(tmp_path):
    green, red = two_channel_files(tmp_path / "src")
    channels = ophysio.open_channels({"green": tmp_path / "src" / "green.tif", "red": tmp_path / "src" / "red.tif"},
                                     sampling_frequency=RATE)
    path = ophysio.write_nwb(channels, tmp_path / "c.nwb", metadata_for(["green", "red"]))
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert sorted(nwbfile.acquisition) == ["TwoPhotonSeriesGreen", "TwoPhotonSeriesRed"]
        for name, movie in (("Green", green), ("Red", red)):
            series = nwbfile.acquisition[f"TwoPhotonSeries{name}"]
            np.testing.assert_array_equal(series.data[:], movie.swapaxes(1, 2))
            assert series.rate == RATE
            assert series.imaging_plane.optical_channel[0].name == name


@pytest.mark.parametrize("target", ["movie.tif", "movie.ome.tif", "movie.h5", "movie.mat", "suite2p", "movie.zarr"])
def test_channels_are_written_by_every_multichannel_writer(tmp_path, target):
    green, red = two_channel_files(tmp_path / "src", samples=6)
    channels = ophysio.open_channels({"green": tmp_path / "src" / "green.tif", "red": tmp_path / "src" / "red.tif"},
                                     sampling_frequency=RATE)
    out = tmp_path / target
    ophysio.write_imaging(channels, out)
    if target.endswith(".tif"):
        got = read_tiff_pages(out, 1, 2)
    elif target.endswith(".h5"):
        import h5py

        with h5py.File(out) as f:
            got = [f["mov"][..., c] for c in range(2)]
    elif target.endswith(".mat"):
        import h5py

        with h5py.File(out) as f:  # MATLAB's Y X C T, HDF5 stores the axes reversed
            stored = f["mov"][:].transpose()
        got = [np.moveaxis(stored[..., c, :], -1, 0) for c in range(2)]
    elif target == "suite2p":
        got = [np.fromfile(out / "plane0" / name, dtype="<i2").reshape(-1, 12, 10).astype(np.uint16)
               for name in ("data.bin", "data_chan2.bin")]
    else:
        import zarr

        stored = zarr.open_group(out, mode="r")["0"][:]  # t c y x
        got = [stored[:, c] for c in range(2)]
    np.testing.assert_array_equal(got[0], green)
    np.testing.assert_array_equal(got[1], red)


def test_corrections_are_recorded_in_the_nwb_series(tmp_path):
    rois = [dict(rows=20, columns=16, center_xy=[-8, 0], size_xy=[16, 20], name="left"),
            dict(rows=20, columns=16, center_xy=[8, 0], size_xy=[16, 20], name="right")]
    paths = write_scanimage(tmp_path / "src", "m", num_samples=40, rois=rois, flyto_lines=4, pattern="cells",
                            num_slices=2)
    stitched = ophysio.open_imaging(paths[0], roi_mode="stitch")
    corrected = stitched.correct_scan_phase(1).register_planes([(0, 0), (1, -1)], fill_value=0)
    meta = {**COMPLETE, "Ophys": {"ImagingPlane": [{**COMPLETE["Ophys"]["ImagingPlane"][0]}]}}
    path = ophysio.write_nwb(corrected, tmp_path / "corrected.nwb", meta)
    raw_path = ophysio.write_nwb(stitched, tmp_path / "raw.nwb", meta)
    with NWBHDF5IO(str(path), "r") as io:
        series = io.read().acquisition["TwoPhotonSeries"]
        np.testing.assert_array_equal(series.data[:], corrected.get_series().swapaxes(1, 2))
        description, comments = series.description, series.comments
        assert series.imaging_plane.grid_spacing[:2] == pytest.approx([15e-6, 15e-6])
    assert "2 ScanImage ROIs placed by their scanfield centres" in description
    assert "odd scan lines shifted by +1 pixels" in description
    assert "planes registered by ophysio to plane 1" in description and "plane 1: (+1, -1)" in description
    assert comments.startswith("Processed, not raw") and "scan_phase, plane_registration" in comments
    with NWBHDF5IO(str(raw_path), "r") as io:
        series = io.read().acquisition["TwoPhotonSeries"]
        assert "placed by their scanfield" in series.description and "not raw" not in series.comments
    records = ophysio.conversion.nwb.read_source_metadata(path)["TwoPhotonSeries"]["metadata"]["ophysio_processing"]
    assert [r["name"] for r in records] == ["roi_stitch", "scan_phase", "plane_registration"]


def test_corrected_conversion_passes_nwbinspector(tmp_path):
    from nwbinspector import Importance, inspect_nwbfile, load_config

    rois = [dict(rows=24, columns=16, center_xy=[-8, 0], size_xy=[16, 24]),
            dict(rows=24, columns=16, center_xy=[8, 0], size_xy=[16, 24])]
    paths = write_scanimage(tmp_path / "src", "m", num_samples=60, rois=rois, flyto_lines=4, pattern="cells")
    source = ophysio.open_imaging(paths[0], roi_mode="stitch").correct_scan_phase()
    meta = {**COMPLETE, "Ophys": {"ImagingPlane": [{**COMPLETE["Ophys"]["ImagingPlane"][0]}]}}
    path = ophysio.write_nwb(source, tmp_path / "c.nwb", meta)
    messages = list(inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")))
    bad = [m for m in messages
           if m.importance in (Importance.ERROR, Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert bad == [], [(m.check_function_name, m.message) for m in bad]
