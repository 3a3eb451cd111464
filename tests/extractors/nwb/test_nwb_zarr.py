"""NWB-Zarr read by NwbImagingExtractor: stores written by ophysio (write_nwb(backend="zarr")) and by pynwb with
hdmf-zarr's NWBZarrIO directly, local and over HTTP, against hdmf-zarr's own read.

hdmf-zarr 0.13 needs zarr<3 while the test extra has zarr 3, so these tests skip in the main test
environment; ``.ci/run`` runs this module (with tests/conversion/test_nwb_zarr.py) in a second environment
with ``ophysio[nwb-zarr]``, where ``OPHYSIO_REQUIRE_NWB_ZARR=1`` turns a missing hdmf-zarr into an error. The
reader itself needs neither zarr nor hdmf-zarr (it decodes Zarr v2 with numcodecs).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import numpy as np
import pytest

from ophysio.extractors import NwbImagingExtractor, detect_format, open_imaging
from ophysio.extractors.numpy import NumpyImagingExtractor
from ophysio.testing.http_server import RangeServer
from ophysio.testing.synthetic import movie


@pytest.fixture
def nwbzarrio():
    if os.environ.get("OPHYSIO_REQUIRE_NWB_ZARR"):
        import hdmf_zarr  # CI's nwb-zarr environment: a missing hdmf-zarr is a failure
    else:
        hdmf_zarr = pytest.importorskip("hdmf_zarr")
    return hdmf_zarr.NWBZarrIO


METADATA = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "Ophys": {"ImagingPlane": [{"name": "ImagingPlane", "excitation_lambda": 920.0, "indicator": "GCaMP6f",
                                "location": "VISp",
                                "optical_channel": [{"name": "Channel0", "emission_lambda": 510.0}]}]},
}


def _hdmf_read(io_class, path, name):
    """(pixels as (samples, rows, columns[, planes]) from NWB's (time, x, y[, z]), timestamps) by hdmf-zarr."""
    with io_class(str(path), mode="r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition.get(name) or nwbfile.processing["ophys"][name]
        return np.swapaxes(series.data[:], 1, 2), np.asarray(series.get_timestamps())


@pytest.mark.parametrize("planes, irregular, compression", [(None, True, "gzip"), (3, False, "blosc"),
                                                           (None, False, "none")])
def test_ophysio_written_nwb_zarr_reads_back(tmp_path, nwbzarrio, planes, irregular, compression):
    import ophysio

    data = movie(21, 10, 14, planes, "uint16")
    times = 0.5 + np.cumsum(np.full(21, 0.05)) + np.linspace(0, 0.01, 21) ** 2 if irregular else None
    source = NumpyImagingExtractor(data, sampling_frequency=20.0, timestamps=times, channel_name="Channel0")
    path = ophysio.write_nwb(source, tmp_path / "s.nwb.zarr", METADATA, backend="zarr", compression=compression,
                             chunk_bytes=4 * data[0].nbytes)
    assert detect_format(path).id == "nwb"
    with open_imaging(path) as ex:
        assert type(ex) is NwbImagingExtractor
        np.testing.assert_array_equal(ex.get_series(), data)
        pixels, read_times = _hdmf_read(nwbzarrio, path, "TwoPhotonSeries")
        np.testing.assert_array_equal(ex.get_series(), pixels)
        np.testing.assert_array_equal(ex.get_timestamps(), read_times)
        assert ex.get_sampling_frequency() == pytest.approx(20.0, rel=0.05)
        facts = ex.get_acquisition_facts()
        assert (facts.indicator, facts.excitation_wavelength_nm, facts.emission_wavelength_nm) == ("GCaMP6f", 920.0,
                                                                                                  510.0)
        assert facts.session_start_time == datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
        header = ex.get_metadata()
        assert header["source"]["format"] == "numpy"
        np.testing.assert_array_equal(ex.get_samples([20, 3]), data[[20, 3]])


def test_pynwb_written_nwb_zarr_with_links_reads_back(tmp_path, nwbzarrio):
    """pynwb's own layout through hdmf-zarr: (time, x, y), the imaging plane and device as zarr_link entries,
    a series in a processing module whose timestamps link to another series'."""
    from pynwb import NWBFile
    from pynwb.ophys import OnePhotonSeries, OpticalChannel, TwoPhotonSeries

    nwbfile = NWBFile(session_description="s", identifier="i", session_start_time=datetime(2024, 1, 2,
                                                                                            tzinfo=timezone.utc))
    device = nwbfile.create_device(name="Miniscope", description="a miniscope")
    plane = nwbfile.create_imaging_plane(
        name="Plane", optical_channel=[OpticalChannel(name="Green", description="g", emission_lambda=520.0)],
        description="p", device=device, excitation_lambda=470.0, imaging_rate=15.0, indicator="GCaMP8m",
        location="CA1", grid_spacing=[2e-6, 3e-6], origin_coords=[1e-6, 2e-6, -1e-4])
    raw = movie(12, 9, 7, dtype="uint16", seed=1)
    times = np.arange(12) / 15.0 + 0.001 * np.arange(12) ** 2
    first = TwoPhotonSeries(name="TwoPhotonSeries", data=raw.swapaxes(1, 2), imaging_plane=plane, unit="n.a.",
                            timestamps=times)
    nwbfile.add_acquisition(first)
    processed = movie(12, 9, 7, dtype="float32", seed=2)
    module = nwbfile.create_processing_module(name="ophys", description="processed")
    module.add(OnePhotonSeries(name="Corrected", data=processed.swapaxes(1, 2), imaging_plane=plane, unit="n.a.",
                               timestamps=first))
    path = tmp_path / "pynwb.nwb.zarr"
    with nwbzarrio(str(path), mode="w") as io:
        io.write(nwbfile)
    assert NwbImagingExtractor.get_available_series(path) == ["/acquisition/TwoPhotonSeries",
                                                              "/processing/ophys/Corrected"]
    with NwbImagingExtractor(path, "TwoPhotonSeries") as ex:
        np.testing.assert_array_equal(ex.get_series(), raw)
        np.testing.assert_array_equal(ex.get_timestamps(), times)
        facts = ex.get_acquisition_facts()
        assert (facts.device_name, facts.device_description) == ("Miniscope", "a miniscope")
        assert facts.pixel_size_um == pytest.approx((3.0, 2.0)) and facts.origin_um == pytest.approx((2.0, 1.0, -100))
    with NwbImagingExtractor(path, "Corrected") as ex:
        assert ex.photon_series_type == "OnePhotonSeries"
        np.testing.assert_array_equal(ex.get_series(), processed)
        np.testing.assert_array_equal(ex.get_timestamps(), times)  # through the link to the first series' times
        np.testing.assert_array_equal(ex.get_series(), _hdmf_read(nwbzarrio, path, "Corrected")[0])


def test_nwb_zarr_streams_over_http(tmp_path, nwbzarrio):
    import ophysio

    data = movie(30, 16, 12, None, "int16")
    source = NumpyImagingExtractor(data, sampling_frequency=10.0, channel_name="Channel0")
    path = ophysio.write_nwb(source, tmp_path / "remote.nwb.zarr", METADATA, backend="zarr",
                             chunk_bytes=5 * data[0].nbytes)
    with RangeServer(tmp_path) as server:
        with open_imaging(server.url(path)) as ex:
            opened = list(server.log)
            np.testing.assert_array_equal(ex.get_series(0, 1), data[:1])
            assert type(ex) is NwbImagingExtractor
            np.testing.assert_array_equal(ex.get_series(), data)
            np.testing.assert_array_equal(ex.get_timestamps(), np.arange(30) / 10.0)
        # the nodes' metadata come from the consolidated .zmetadata (read once per open), not a request per node;
        # each small value (start time, wavelengths...) is an object of its own, fetched together
        assert not [e for e in opened if e.path.endswith((".zattrs", ".zarray", ".zgroup"))], opened
        assert sum(e.path.endswith(".zmetadata") for e in opened) <= 2, opened


# ---------------------------------------------------------------------- segmentations
SEGMENTATION_METADATA = {
    "NWBFile": {"session_start_time": "2024-05-01T10:00:00+02:00", "session_description": "a session"},
    "Subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "Ophys": {"ImagingPlane": [{"excitation_lambda": 920.0, "indicator": "GCaMP6f", "location": "VISp",
                                "optical_channel": [{"emission_lambda": 510.0}]}]},
}


def _segmentation_source():
    from ophysio.extractors import NumpySegmentationExtractor

    rng = np.random.default_rng(5)
    n, samples = 7, 40
    masks = np.zeros((18, 22, n), dtype=np.float32)
    for k in range(n):
        r, c = int(rng.integers(0, 16)), int(rng.integers(0, 20))
        masks[r : r + 3, c : c + 2, k] = rng.random((3, 2)).astype(np.float32) + 0.1
    raw = rng.normal(10, 1, (samples, n)).astype(np.float32)
    times = 1.0 + np.cumsum(rng.uniform(0.09, 0.11, samples))
    return NumpySegmentationExtractor(image_masks=masks, raw=raw, dff=(raw / 10 - 1).astype(np.float64),
                                      images={"mean": rng.random((18, 22)).astype(np.float32)},
                                      roi_ids=[5, 6, 7, 8, 9, 10, 11], rejected_list=[6, 9], timestamps=times)


@pytest.mark.parametrize("mask_type", ["image", "pixel"])
def test_ophysio_written_nwb_zarr_segmentation_reads_back(tmp_path, nwbzarrio, mask_type):
    """A segmentation written to NWB-Zarr by ophysio reads back with NwbSegmentationExtractor equal to the
    source and to hdmf-zarr's read of the same store, locally and over HTTP."""
    from ophysio.conversion.segmentation_interface import SegmentationInterface
    from ophysio.extractors import NwbSegmentationExtractor, open_segmentation
    from ophysio.testing.segmentation import sorted_mask

    source = _segmentation_source()
    path = SegmentationInterface(source, mask_type=mask_type).run_conversion(
        tmp_path / "seg.nwb.zarr", SEGMENTATION_METADATA, backend="zarr")
    assert detect_format(path, "segmentation").id == "nwb"
    with nwbzarrio(str(path), mode="r") as io:
        nwbfile = io.read()
        ophys = nwbfile.processing["ophys"]
        table = ophys["ImageSegmentation"].plane_segmentations["PlaneSegmentation"]
        ids = list(table.id[:])
        rejected = [i for i, flag in zip(ids, table["Rejected"].data[:]) if flag]
        if mask_type == "image":
            masks = [np.column_stack([*np.nonzero(m.T), m.T[np.nonzero(m.T)]]) for m in table["image_mask"].data[:]]
        else:
            masks = [np.array([(p[1], p[0], p[2]) for p in table["pixel_mask"][k]], dtype=np.float64)
                     for k in range(len(ids))]
        series = ophys["Fluorescence"].roi_response_series["RoiResponseSeries"]
        raw, times = series.data[:], np.asarray(series.timestamps[:])
        dff = ophys["DfOverF"].roi_response_series["DfOverF"].data[:]
        mean = np.asarray(ophys["SegmentationImages"].images["mean_image"].data[:]).T
    with source, open_segmentation(path) as ex:
        assert type(ex) is NwbSegmentationExtractor
        assert ex.get_roi_ids() == ids == source.get_roi_ids()
        assert ex.get_rejected_list() == rejected == source.get_rejected_list()
        for got, expected, original in zip(ex.get_roi_pixel_masks(), masks, source.get_roi_pixel_masks()):
            np.testing.assert_array_equal(sorted_mask(got), sorted_mask(expected))
            np.testing.assert_allclose(sorted_mask(got), sorted_mask(original), rtol=1e-6)
        np.testing.assert_array_equal(ex.get_traces(name="raw"), raw)
        np.testing.assert_array_equal(ex.get_traces(name="raw"), source.get_traces(name="raw"))
        np.testing.assert_array_equal(ex.get_traces([10, 5], 3, 9, name="dff"), dff[3:9][:, [5, 0]])
        np.testing.assert_array_equal(ex.get_timestamps(), times)
        np.testing.assert_array_equal(ex.get_image("mean"), mean)
        with RangeServer(tmp_path) as server, NwbSegmentationExtractor(server.url(path)) as streamed:
            np.testing.assert_array_equal(streamed.get_traces(name="dff"), ex.get_traces(name="dff"))
            np.testing.assert_array_equal(streamed.get_roi_image_masks(), ex.get_roi_image_masks())
            np.testing.assert_array_equal(streamed.get_timestamps(), times)
