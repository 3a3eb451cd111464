"""Detecting and opening a ScanImage file reads it at most twice before the first pixel, and parses its
header text and its first IFD's text once each."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from ophysio import open_imaging
from ophysio.testing.synthetic import write_scanimage

_watched: dict[str, list[str]] = {}


def _audit(event: str, args: tuple) -> None:  # an audit hook cannot be removed: it counts only while watched
    if event == "open" and _watched and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if path in _watched:
            _watched[path].append(event)


sys.addaudithook(_audit)


def _count_opens(path: Path, action):
    key = os.path.realpath(path)
    _watched[key] = []
    try:
        result = action()
    finally:
        opens = len(_watched.pop(key))
    return result, opens


def _files():
    files = []
    data = os.environ.get("OPHYSIO_TEST_DATA")
    if data:
        real = Path(data) / "scanimage" / "vol_no_flyback_00001_00001.tif"
        if real.exists():
            files.append(real)
    return files


@pytest.fixture(params=["synthetic", "real"])
def scanimage_file(request, tmp_path):
    if request.param == "synthetic":
        return write_scanimage(tmp_path, num_samples=5, rows=8, columns=6)[0]
    files = _files()
    if not files:
        pytest.skip("OPHYSIO_TEST_DATA has no ScanImage sample")
    return files[0]


def test_open_imaging_opens_a_scanimage_file_at_most_twice(scanimage_file, monkeypatch):
    from ophysio.extractors._tiff import head
    from ophysio.extractors.scanimage import header

    parses = {"first_ifd": 0, "header": 0}
    first_ifd, key_values = head._first_page_text, header.parse_key_values

    def count_first_ifd(*args):
        parses["first_ifd"] += 1
        return first_ifd(*args)

    def count_header(*args):
        parses["header"] += 1
        return key_values(*args)

    monkeypatch.setattr(head, "_first_page_text", count_first_ifd)
    monkeypatch.setattr(header, "parse_key_values", count_header)
    extractor, opens = _count_opens(scanimage_file, lambda: open_imaging(scanimage_file))
    with extractor:
        assert extractor.format_id == "scanimage"
        assert opens <= 2, f"{scanimage_file.name} was opened {opens} times before the first pixel"
        assert parses == {"first_ifd": 1, "header": 1}
        first, more = _count_opens(scanimage_file, lambda: extractor.get_series(0, 1))
        assert more == 0  # the first read uses the file the extractor already opened
        assert first.shape[0] == 1 and np.isfinite(first.astype(float)).all()


def test_detection_reads_the_first_ifd_text_once_for_every_tiff_sniff(tmp_path, monkeypatch):
    import tifffile

    from ophysio.extractors._tiff import head
    from ophysio.extractors.registry import detect_format

    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint16), photometric="minisblack")
    calls = []
    original = head._first_page_text
    monkeypatch.setattr(head, "_first_page_text", lambda *args: calls.append(1) or original(*args))
    spec, opens = _count_opens(path, lambda: detect_format(path))
    assert spec.id == "tiff" and opens == 1 and len(calls) == 1
