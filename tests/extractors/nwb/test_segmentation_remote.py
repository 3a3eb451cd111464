"""NwbSegmentationExtractor streaming NWB files over HTTP from a real server (127.0.0.1, Range requests,
counted; ophysio.testing.http_server in a child process): SegmentationTests on URLs against h5py reads of
the local files, traces and masks equal to the local read bit for bit, a slice of a few ROIs fetching a
few chunks, not the dataset."""

from __future__ import annotations

import atexit
import shutil

import numpy as np
import pytest

from ophysio.extractors import NwbSegmentationExtractor
from ophysio.testing.http_server import ProcessRangeServer
from ophysio.testing.segmentation import SegmentationTests

from ._cases import FOLDER
from ._segmentation_cases import case, expected

_server: ProcessRangeServer | None = None


def server() -> ProcessRangeServer:
    global _server
    if _server is None:
        _server = ProcessRangeServer(FOLDER).start()
        atexit.register(_server.stop)
    return _server


REMOTE_CASES = ["pynwb:pixel-timestamps", "pynwb:voxel-rate", "ophysio:caiman", "ophysio:suite2p-plane1"]


def remote(name: str) -> NwbSegmentationExtractor:
    c = case(name)
    return NwbSegmentationExtractor(server().url(c.path), c.table)


class TestRemoteNwbSegmentation(SegmentationTests):
    cases = REMOTE_CASES
    case_ids = REMOTE_CASES
    thread_reads = 10

    def make_extractor(self, name):
        return remote(name)

    def make_shrinkable(self, name, tmp_path):
        c = case(name)
        folder = FOLDER / "shrinking" / tmp_path.name
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / c.path.name
        shutil.copy(c.path, copy)
        return NwbSegmentationExtractor(server().url(copy), c.table), [copy]

    def expected_roi_ids(self, name):
        return expected(case(name))["ids"]

    def expected_pixel_masks(self, name):
        return expected(case(name))["masks"]

    def expected_traces(self, name):
        return expected(case(name))["traces"]

    def expected_images(self, name):
        return expected(case(name))["images"]

    def expected_accepted(self, name):
        return expected(case(name)).get("accepted")

    def expected_rejected(self, name):
        return expected(case(name)).get("rejected")

    def expected_sampling_frequency(self, name):
        return expected(case(name))["rate"]

    def expected_timestamps(self, name):
        return expected(case(name))["timestamps"]


@pytest.mark.parametrize("name", REMOTE_CASES)
def test_streamed_equals_the_local_read(name):
    c = case(name)
    with NwbSegmentationExtractor(c.path, c.table) as local, remote(name) as streamed:
        assert streamed.get_roi_ids() == local.get_roi_ids()
        assert streamed.get_background_ids() == local.get_background_ids()
        for a, b in zip(streamed.get_roi_pixel_masks(), local.get_roi_pixel_masks()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(streamed.get_roi_image_masks(), local.get_roi_image_masks())
        np.testing.assert_array_equal(streamed.get_background_image_masks(), local.get_background_image_masks())
        assert streamed.get_trace_names() == local.get_trace_names()
        for trace in local.get_trace_names():
            ids = local.get_background_ids() if trace == "background" else None
            a, b = streamed.get_traces(ids, name=trace), local.get_traces(ids, name=trace)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), trace
        for key, image in local.get_images_dict().items():
            assert streamed.get_image(key).tobytes() == image.tobytes()
        assert streamed.get_timestamps().tobytes() == local.get_timestamps().tobytes()
        assert streamed.get_sampling_frequency() == local.get_sampling_frequency()
        assert streamed.get_accepted_list() == local.get_accepted_list()
        assert streamed.get_metadata()["traces"] == local.get_metadata()["traces"]


def test_a_slice_of_a_few_rois_fetches_a_few_chunks(tmp_path):
    """Traces of 2,000 ROIs x 3,000 samples in tiles: 100 samples of 2 ROIs fetch their tile, not the dataset."""
    from ophysio._synth.nwb import NwbSegmentationSpec, write_nwb_segmentation

    path = FOLDER / "seg_wide.nwb"
    rng = np.random.default_rng(7)
    n, samples = 2000, 3000
    raw = rng.normal(0, 1, (samples, n)).astype(np.float32)
    if not path.exists():
        masks = np.zeros((40, 50, n), dtype=np.float32)
        masks[rng.integers(0, 40, n), rng.integers(0, 50, n), np.arange(n)] = 1.0
        write_nwb_segmentation(path, NwbSegmentationSpec(masks, "pixel", traces={
            "RoiResponseSeries": ("Fluorescence", raw)}, chunks=(500, 100), images={"mean": np.ones((40, 50))}))
    srv = server()
    with NwbSegmentationExtractor(srv.url(path) + "?wide=1") as ex:
        srv.reset()
        got = ex.get_traces([1500, 1501], 1000, 1100, name="raw")
        requests, sent = srv.stats()
    np.testing.assert_array_equal(got, raw[1000:1100, [1500, 1501]])
    assert sent < raw.nbytes / 20, srv.log  # one tile (500 x 100 floats, compressed) and a few index blocks
    assert requests <= 6, srv.log


def test_open_segmentation_streams_a_url_and_refuses_a_zarr_movie(tmp_path):
    """``open_segmentation(url)`` streams an NWB segmentation as ``open_imaging(url)`` streams a movie; a URL of
    something that is not NWB is refused with the URL named."""
    from ophysio import open_segmentation
    from ophysio.errors import UnknownFormatError

    c = case("ophysio:caiman")
    want = expected(c)
    with open_segmentation(server().url(c.path), plane_segmentation_name=c.table) as ex:
        assert type(ex).__name__ == "NwbSegmentationExtractor"
        assert list(ex.get_roi_ids()) == list(want["ids"])
        np.testing.assert_array_equal(ex.get_traces(name="raw"), want["traces"]["raw"])
    other = FOLDER / "not_nwb.bin"
    other.write_bytes(b"not an HDF5 file" * 64)
    with pytest.raises(UnknownFormatError, match="not_nwb.bin"):
        open_segmentation(server().url(other))


@pytest.mark.parametrize("extractor", ["NwbImagingExtractor", "NwbSegmentationExtractor"])
def test_a_url_neither_hdf5_nor_zarr_is_refused_the_same_way(extractor):
    """Both NWB extractors open a URL through the same source (nwb/source.py): bytes that do not start as HDF5
    are tried as a Zarr store, and a URL that is neither is a FormatError that says so."""
    import ophysio.extractors as extractors
    from ophysio.errors import FormatError

    other = FOLDER / f"neither_hdf5_nor_zarr_{extractor}.nwb"  # one file each: rewriting one changes its validator
    other.write_bytes(b"not an HDF5 file" * 64)
    with pytest.raises(FormatError, match="is neither an NWB HDF5 file .* nor a Zarr store"):
        getattr(extractors, extractor)(server().url(other))
