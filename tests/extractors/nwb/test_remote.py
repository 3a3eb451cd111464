"""NWB streamed over HTTP from a real server (127.0.0.1, Range requests, counted; ophysio.testing.http_server
in a child process): the conformance suite on URLs with the local files' h5py reads as the expected values,
request and byte counts, retries and clear errors, pickling into a worker, the disk cache, s3:// and DANDI
URLs (the DANDI REST API mocked at its HTTP boundary: requests.Session), fsspec URLs."""

from __future__ import annotations

import atexit
import json
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest

import ophysio
from ophysio.errors import FileSetError, OphysioError, RemoteSourceError, UnknownFormatError
from ophysio.extractors import NwbImagingExtractor
from ophysio.testing.conformance import ExtractorTests
from ophysio.testing.http_server import ProcessRangeServer

from ._cases import FOLDER, case_file, converted, expected_series, expected_times

_server: ProcessRangeServer | None = None


def server() -> ProcessRangeServer:
    """One server for the module, serving the cases' folder (started on first use)."""
    global _server
    if _server is None:
        _server = ProcessRangeServer(FOLDER).start()
        atexit.register(_server.stop)
    return _server


REMOTE_CASES = ["example:scanimage", "example:imagej_hyperstack", "pynwb:2p-planar-timestamps-contiguous",
                "pynwb:2p-volume-rate-start", "pynwb:1p-planar-processing", "pynwb:1p-volume-timestamps"]


def remote(case: str) -> tuple[str, str, Path]:
    path, name = case_file(case)
    return server().url(path), name, path


class TestRemoteNwb(ExtractorTests):
    cases = REMOTE_CASES

    def make_extractor(self, case):
        url, name, _ = remote(case)
        return NwbImagingExtractor(url, name)

    def make_shrinkable(self, case, tmp_path):
        _, name, path = remote(case)
        folder = FOLDER / "shrinking" / tmp_path.name
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / path.name
        shutil.copy(path, copy)
        return NwbImagingExtractor(server().url(copy), name), [copy]

    def expected_series(self, case):
        return expected_series(*case_file(case))

    def expected_sampling_frequency(self, case):
        return expected_times(*case_file(case))[0]

    def expected_timestamps(self, case):
        return expected_times(*case_file(case))[1]


def test_open_and_first_frame_take_a_few_requests():
    """An ophysio-written file: one request opens it (the first block holds its structure), the first frame
    needs the chunk index and the chunk."""
    path, names, _ = converted("scanimage")
    srv = server()
    srv.reset()
    with NwbImagingExtractor(srv.url(path) + "?fresh=1", names[0]) as ex:
        opened = srv.stats()
        frame = ex.get_series(0, 1)
        first = srv.stats()
    np.testing.assert_array_equal(frame, expected_series(path, names[0])[:1])
    assert opened[0] <= 2, srv.log
    assert first[0] <= opened[0] + 3, srv.log
    size = path.stat().st_size
    assert first[1] < size  # not downloaded whole


def test_reads_are_aligned_to_chunks_and_cached():
    """A read fetches the chunks it touches, whole, once: frames of a chunk already read cost no request, the
    next chunk's frame costs about its compressed bytes."""
    from ._cases import NwbSeriesSpec, write_nwb_series

    data = np.random.default_rng(0).integers(0, 4000, (400, 64, 48), dtype="uint16")
    path = FOLDER / "noise.nwb"
    if not path.exists():
        write_nwb_series(path, [NwbSeriesSpec("TwoPhotonSeries", data, chunks=(4, 48, 64))])
    srv = server()
    with NwbImagingExtractor(srv.url(path)) as ex:
        np.testing.assert_array_equal(ex.get_series(200, 201), data[200:201])
        before = srv.stats()
        np.testing.assert_array_equal(ex.get_series(201, 204), data[201:204])
        assert srv.stats()[0] == before[0]
        np.testing.assert_array_equal(ex.get_series(204, 205), data[204:205])
        after = srv.stats()
        assert after[0] >= before[0] + 1
        chunk = 4 * 64 * 48 * 2
        assert after[1] - before[1] < chunk + 65536  # one compressed chunk (and at most a block of its index)
        np.testing.assert_array_equal(ex.get_samples([399, 0, 20]), data[[399, 0, 20]])


def test_dropped_connections_are_retried_then_a_clear_error(tmp_path):
    path, names, _ = converted("scanimage")
    srv = server()
    expected = expected_series(path, names[1])
    with NwbImagingExtractor(srv.url(path) + "?drop=1", names[1]) as ex:
        srv.drop_next(2)  # cut twice, then served whole: the read retries and gives the right pixels
        np.testing.assert_array_equal(ex.get_series(0, 10), expected[:10])
    with NwbImagingExtractor(srv.url(path) + "?drop=2", names[1]) as ex:
        srv.drop_all = True
        try:
            with pytest.raises(RemoteSourceError, match=r"127\.0\.0\.1:\d+/scanimage\.nwb.*4 attempts failed"):
                ex.get_series(50, 60)
        finally:
            srv.drop_all = False
        np.testing.assert_array_equal(ex.get_series(50, 60), expected[50:60])  # the server is back


def test_missing_url_and_unstreamable_formats_are_clear_errors(tmp_path):
    srv = server()
    with pytest.raises(FileSetError, match="does not exist"):
        NwbImagingExtractor(srv.url("no_such_file.nwb"))
    (FOLDER / "notes.txt").write_text("hello, not imaging data")
    with pytest.raises(UnknownFormatError, match="neither an HDF5"):
        ophysio.open_imaging(srv.url("notes.txt"))
    with pytest.raises(UnknownFormatError, match="read from local files only"):
        ophysio.open_imaging(srv.url("notes.txt"), format="tiff")


def _read_in_worker(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    extractor = pickle.loads(blob)
    try:
        return extractor.get_series(2, 6), extractor.get_timestamps(2, 6)
    finally:
        extractor.close()


def test_a_pickled_remote_extractor_reopens_its_url_in_a_worker():
    url, name, path = remote("pynwb:1p-volume-timestamps")
    with NwbImagingExtractor(url, name) as ex:
        ex.get_series(0, 1)
        blob = pickle.dumps(ex)
    assert len(blob) < 100_000  # the URL and facts, not the cached chunks
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        pixels, times = pool.submit(_read_in_worker, blob).result(timeout=120)
    np.testing.assert_array_equal(pixels, expected_series(path, name)[2:6])
    np.testing.assert_array_equal(times, expected_times(path, name)[1][2:6])


def test_cache_dir_keeps_fetched_bytes_on_disk(tmp_path):
    path, names, _ = converted("imagej_hyperstack")
    srv = server()
    url = srv.url(path) + "?cache=1"
    with ophysio.open_imaging(url, optical_series_name=names[-1], cache_dir=tmp_path / "cache") as ex:
        first = ex.get_series()
    assert any((tmp_path / "cache").rglob("*"))
    from ophysio.extractors._remote import _recent

    _recent.clear()  # a new session: nothing in memory
    before = srv.stats()
    with ophysio.open_imaging(url, optical_series_name=names[-1], cache_dir=tmp_path / "cache") as ex:
        again = ex.get_series()
    after = srv.stats()
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(again, expected_series(path, names[-1]))
    assert after[0] - before[0] <= 1  # the first block, to learn the file's size and validator
    assert after[1] - before[1] <= 65536


def test_s3_urls_read_the_bucket_over_https(monkeypatch):
    """s3://bucket/key reads the bucket's HTTPS endpoint ($AWS_ENDPOINT_URL here: the local server)."""
    path, name = case_file("pynwb:2p-planar-timestamps-contiguous")
    bucket = FOLDER / "bucket"
    bucket.mkdir(exist_ok=True)
    shutil.copy(path, bucket / "session.nwb")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server().base_url)
    with ophysio.open_imaging("s3://bucket/session.nwb") as ex:
        assert type(ex) is NwbImagingExtractor
        np.testing.assert_array_equal(ex.get_series(), expected_series(path, name))
    from ophysio.extractors._remote.urls import s3_to_https

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert s3_to_https("s3://dandiarchive/blobs/a/b") == "https://dandiarchive.s3.amazonaws.com/blobs/a/b"
    assert s3_to_https("s3://my.bucket/k") == "https://s3.amazonaws.com/my.bucket/k"


ASSET_ID = "0c5f0a9e-1111-2222-3333-444455556666"


@pytest.fixture
def dandi_api(monkeypatch):
    """The DANDI REST API answered here: requests.Session.request (the dandi client's HTTP boundary) is replaced
    by a router of the endpoints the client calls; the asset's content URL is the local server's redirect to
    the file (DANDI's download URLs redirect to S3 the same way). Returns the list of calls."""
    import requests

    pytest.importorskip("dandi")
    from ophysio.extractors._remote import _recent
    from ophysio.extractors._remote.urls import _dandi_content_url

    _dandi_content_url.cache_clear()
    _recent.clear()
    path, _ = case_file("pynwb:1p-planar-processing")
    blobs = FOLDER / "blobs"
    blobs.mkdir(exist_ok=True)
    shutil.copy(path, blobs / "asset.nwb")
    content = server().base_url + "/redirect/blobs/asset.nwb"
    version = {"version": "draft", "name": "t", "asset_count": 1, "size": 1, "status": "Valid",
               "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}
    asset = {"asset_id": ASSET_ID, "blob": "b", "zarr": None, "path": "sub-x/sub-x_ses-y.nwb", "size": 1,
             "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}
    metadata = {"contentUrl": [content], "encodingFormat": "application/x-nwb", "path": asset["path"],
                "identifier": ASSET_ID}
    calls = []

    def route(url: str):
        from urllib.parse import urlsplit

        where = urlsplit(url)
        if where.hostname not in ("api.dandiarchive.org",):
            return None
        p = where.path
        if p.endswith("/dandisets/000123/"):
            return {"identifier": "000123", "created": version["created"], "modified": version["modified"],
                    "contact_person": "x", "embargo_status": "OPEN", "draft_version": version,
                    "most_recent_published_version": None}
        if p.endswith("/versions/draft/assets/"):
            return {"count": 1, "next": None, "results": [asset]}
        if p.endswith(f"/assets/{ASSET_ID}/info/"):
            return {**asset, "metadata": metadata, "dandiset_id": "000123", "version_id": "draft"}
        if p.endswith(f"/assets/{ASSET_ID}/"):
            return metadata
        return None

    def fake(self, method, url, params=None, **kwargs):
        calls.append((method.upper(), url, params))
        body = route(url)
        response = requests.Response()
        response.status_code = 200 if body is not None else 404
        response._content = json.dumps(body if body is not None else {"detail": "Not found."}).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        response.request = requests.Request(method, url).prepare()
        return response

    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.setattr(requests.Session, "request", fake)
    return calls


@pytest.mark.parametrize("url", ["dandi://DANDI/000123/sub-x/sub-x_ses-y.nwb",
                                 "dandi://DANDI/000123@draft/sub-x/sub-x_ses-y.nwb",
                                 f"https://api.dandiarchive.org/api/assets/{ASSET_ID}/download/"])
def test_dandi_urls_resolve_through_the_dandi_client(dandi_api, url):
    path, name = case_file("pynwb:1p-planar-processing")
    with ophysio.open_imaging(url) as ex:
        assert type(ex) is NwbImagingExtractor
        np.testing.assert_array_equal(ex.get_series(), expected_series(path, name))
        assert ex.get_file_paths() == [url]
    assert any("api.dandiarchive.org" in call[1] for call in dandi_api)


def test_dandi_asset_not_found_is_a_clear_error(dandi_api):
    with pytest.raises(FileSetError, match="DANDI"):
        ophysio.open_imaging("dandi://DANDI/000999/sub-y/none.nwb")


def test_fsspec_urls_read_through_fsspec():
    fsspec = pytest.importorskip("fsspec")
    path, name = case_file("pynwb:2p-volume-rate-start")
    fs = fsspec.filesystem("memory")
    fs.pipe("/ophysio-test/session.nwb", path.read_bytes())
    try:
        with NwbImagingExtractor("memory://ophysio-test/session.nwb") as ex:
            np.testing.assert_array_equal(ex.get_series(), expected_series(path, name))
            np.testing.assert_allclose(ex.get_timestamps(), expected_times(path, name)[1])
        with pytest.raises(OphysioError):
            NwbImagingExtractor("memory://ophysio-test/missing.nwb")
    finally:
        fs.rm("/ophysio-test", recursive=True)


def test_info_on_a_url(capsys):
    from ophysio.cli import main

    path, names, _ = converted("scanimage")
    assert main(["info", server().url(path), "-O", f"optical_series_name={names[0]}", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "nwb" and info["num_samples"] == 150
