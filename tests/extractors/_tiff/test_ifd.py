"""The shared TIFF machinery (``ophysio.extractors._tiff``) against tifffile on files tifffile writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from ophysio.errors import CorruptFileError, FormatError
from ophysio.extractors._tiff.header import TAG_IMAGE_DESCRIPTION, read_header
from ophysio.extractors._tiff.read import read_pages_into
from ophysio.extractors._tiff.walk import walk_ifds


def _open(path):
    return os.open(path, os.O_RDONLY)


@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("rowsperstrip", [None, 3])
def test_walk_and_read_match_tifffile(tmp_path, bigtiff, byteorder, rowsperstrip):
    data = (np.arange(7 * 10 * 6, dtype=np.uint16).reshape(7, 10, 6) * 37).astype(np.uint16)
    path = tmp_path / "t.tif"
    with tifffile.TiffWriter(path, bigtiff=bigtiff, byteorder=byteorder) as tif:
        for i, frame in enumerate(data):
            tif.write(frame, description=f"frame {i}", photometric="minisblack", rowsperstrip=rowsperstrip,
                      contiguous=False, metadata=None)
    fd = _open(path)
    try:
        header = read_header(fd, str(path))
        assert header.bigtiff == bigtiff and header.byteorder == byteorder
        pages = walk_ifds(fd, str(path), header)
        with tifffile.TiffFile(path) as tif:
            assert list(pages.ifd_offset) == [p.offset for p in tif.pages]
            assert list(pages.data_offset) == [p.dataoffsets[0] for p in tif.pages]
        assert pages.is_uniform() and pages.dtype(0) == np.dtype(byteorder + "u2")
        assert (pages.height == 10).all() and (pages.width == 6).all()
        out = np.empty(data.shape, pages.dtype(0))
        read_pages_into(fd, str(path), pages.data_offset, out)
        np.testing.assert_array_equal(out, data)
        assert pages.text_of(fd, TAG_IMAGE_DESCRIPTION, 3) == b"frame 3"
        first = walk_ifds(fd, str(path), max_ifds=1)
        assert len(first) == 1
    finally:
        os.close(fd)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "x.tif"
    path.write_bytes(b"GIF89a" + bytes(100))
    fd = _open(path)
    try:
        with pytest.raises(FormatError, match=r"x\.tif is not a TIFF"):
            read_header(fd, str(path))
    finally:
        os.close(fd)
    tifffile.imwrite(path, np.zeros((4, 8, 8), np.uint8), photometric="minisblack")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])
    fd = _open(path)
    try:
        with pytest.raises(CorruptFileError, match=r"x\.tif.*IFD 3.*truncated"):
            walk_ifds(fd, str(path))
    finally:
        os.close(fd)


@pytest.mark.parametrize("odd_page", [None, 17])
def test_ifds_of_two_kinds_decode_as_tifffile_reads_them(tmp_path, odd_page):
    """A first IFD with more tags (tifffile's description) then many alike, and one odd IFD among them: the
    pages decoded a kind at a time are those decoded one by one."""
    data = (np.arange(40 * 6 * 5, dtype=np.uint16).reshape(40, 6, 5) * 11).astype(np.uint16)
    path = tmp_path / "kinds.tif"
    with tifffile.TiffWriter(path) as tif:
        for i, frame in enumerate(data):
            extra = [(65000, "s", 0, "odd", True)] if i == odd_page else []
            tif.write(frame, description="first page only" if i == 0 else None, contiguous=False, metadata=None,
                      extratags=extra)
    fd = _open(path)
    try:
        pages = walk_ifds(fd, str(path))
    finally:
        os.close(fd)
    with tifffile.TiffFile(path) as tif:
        assert list(pages.ifd_offset) == [p.offset for p in tif.pages]
        assert list(pages.data_offset) == [p.dataoffsets[0] for p in tif.pages]
        assert list(pages.data_nbytes) == [p.databytecounts[0] for p in tif.pages]
    assert (pages.height == 6).all() and (pages.width == 5).all() and (pages.compression == 1).all()
    offsets, counts = pages.text_span(TAG_IMAGE_DESCRIPTION)
    assert offsets[0] > 0 and (offsets[1:] == -1).all()


def test_ifds_with_differing_tag_lists_match_tifffile(tmp_path):
    """IFDs of several sizes, and IFDs of one size whose tag lists differ, decode as tifffile reads them
    (the irregular decode works on groups of IFDs at once)."""
    path = tmp_path / "mixed.tif"
    data = (np.arange(9 * 5 * 4, dtype=np.uint16).reshape(9, 5, 4) * 11).astype(np.uint16)
    with tifffile.TiffWriter(path) as tif:
        for i, frame in enumerate(data):
            extratags = []
            if i % 3 == 1:  # one more tag, of one of two numbers: same IFD size, different tag lists
                extratags = [(65000 + i % 2, "s", 0, f"extra {i}", True)]
            tif.write(frame, description=f"frame {i}" if i % 4 else None, photometric="minisblack",
                      contiguous=False, metadata=None, extratags=extratags)
    fd = _open(path)
    try:
        pages = walk_ifds(fd, str(path))
        with tifffile.TiffFile(path) as tif:
            assert list(pages.ifd_offset) == [p.offset for p in tif.pages]
            assert list(pages.data_offset) == [p.dataoffsets[0] for p in tif.pages]
            for i, page in enumerate(tif.pages):
                assert pages.text_of(fd, TAG_IMAGE_DESCRIPTION, i).decode() == (page.description or "")
        out = np.empty(data.shape, pages.dtype(0))
        read_pages_into(fd, str(path), pages.data_offset, out)
        np.testing.assert_array_equal(out, data)
    finally:
        os.close(fd)


def test_pages_an_ifd_apart_read_in_one_call_and_a_cut_names_its_page(tmp_path, monkeypatch):
    """read_pages_into gathers pages that follow each other with bytes between them (ScanImage: an IFD and its
    description) into one preadv, the gaps into scratch; the values are each page's bytes at its offset (read
    here with plain file reads), whatever the order asked, and a file cut inside a group still names the page
    whose data is cut off."""
    import ophysio.extractors._tiff.read as engine
    from ophysio.errors import CorruptFileError

    rng = np.random.default_rng(5)
    size, count = 96, 12
    gaps = rng.integers(0, 40, count)  # between pages: 0 (back to back) to 39 bytes
    gaps[7] = 5000  # wider than a page: that page starts a new group
    blob, offsets = bytearray(b"H" * 64), []
    for k in range(count):
        offsets.append(len(blob))
        blob += rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        blob += b"\xee" * int(gaps[k])
    path = tmp_path / "pages.bin"
    path.write_bytes(bytes(blob))
    calls = []
    monkeypatch.setattr(engine, "_PREADV", lambda fd, buffers, offset: calls.append(len(buffers))
                        or os.preadv(fd, buffers, offset))
    order = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 3, 2])  # in file order, then two back again
    wanted = np.asarray(offsets, dtype=np.int64)[order]
    out = np.zeros((len(order), size), dtype=np.uint8)
    fd = os.open(path, os.O_RDONLY)
    try:
        engine.read_pages_into(fd, str(path), wanted, out, order)
        for row, k in zip(out, order):
            with open(path, "rb") as fh:
                fh.seek(offsets[k])
                assert row.tobytes() == fh.read(size)
        assert len(calls) <= 5  # pages 0-7, 8-11 and the two out of order: not one call a page
    finally:
        os.close(fd)
    os.truncate(path, offsets[5] + size // 2)  # cut inside page 5, in the first group
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(CorruptFileError, match="IFD 5 .*cut off after 48 bytes"):
            engine.read_pages_into(fd, str(path), np.asarray(offsets, dtype=np.int64), np.zeros((count, size),
                                   dtype=np.uint8), np.arange(count))
    finally:
        os.close(fd)
