"""PageTemplate: the first page of files written alike, read with one checked positional read."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tifffile

from ophysio.errors import CorruptFileError, FormatError
from ophysio.extractors._tiff.template import PageTemplate


def template_of(path) -> PageTemplate:
    fd = os.open(path, os.O_RDONLY)
    try:
        return PageTemplate.from_file(fd, str(path))
    finally:
        os.close(fd)


def read(template: PageTemplate, path, out=None) -> np.ndarray:
    out = np.empty(template.shape, template.dtype) if out is None else out
    fd = os.open(path, os.O_RDONLY)
    try:
        template.read(fd, str(path), out)
    finally:
        os.close(fd)
    return out


def frames(n, shape=(12, 10), dtype="uint16"):
    return [(np.arange(np.prod(shape)).reshape(shape) * 7 + k).astype(dtype) for k in range(n)]


@pytest.mark.parametrize("options", [
    dict(),                                    # tifffile: IFD before the pixels
    dict(byteorder=">"),                       # big-endian
    dict(bigtiff=True),                        # 64-bit offsets
    dict(rowsperstrip=3),                      # several strips: the strip tables are checked
], ids=["little", "big-endian", "bigtiff", "strips"])
def test_files_written_alike_are_read_with_the_checked_read(tmp_path, options, monkeypatch):
    paths = []
    for k, frame in enumerate(frames(5)):
        paths.append(tmp_path / f"f{k}.tif")
        tifffile.imwrite(paths[-1], frame, metadata=None, description=f"frame {k:04d}", **options)
    template = template_of(paths[0])
    assert template.fast
    walked = []
    monkeypatch.setattr(PageTemplate, "read_walked", lambda self, *a: walked.append(a))
    for path, frame in zip(paths, frames(5)):
        np.testing.assert_array_equal(read(template, path), frame)
    assert walked == []  # the descriptions differ, nothing that places the pixels does


def test_other_layouts_are_walked_and_read_right(tmp_path):
    first = tmp_path / "first.tif"
    tifffile.imwrite(first, frames(1)[0], metadata=None)
    template = template_of(first)
    compressed = tmp_path / "zlib.tif"
    tifffile.imwrite(compressed, frames(2)[1], metadata=None, compression="zlib")
    np.testing.assert_array_equal(read(template, compressed), frames(2)[1])
    moved = tmp_path / "moved.tif"  # the pixels elsewhere: tifffile puts a longer description before them
    tifffile.imwrite(moved, frames(3)[2], metadata=None, description="x" * 5000)
    np.testing.assert_array_equal(read(template, moved), frames(3)[2])
    strided = np.zeros((12, 20), np.uint16)[:, ::2]  # not contiguous: read through a buffer
    read(template, moved, strided)
    np.testing.assert_array_equal(strided, frames(3)[2])


def test_pages_of_another_size_or_type_and_damaged_files_are_errors(tmp_path):
    first = tmp_path / "first.tif"
    tifffile.imwrite(first, frames(1)[0], metadata=None)
    template = template_of(first)
    wide = tmp_path / "wide.tif"
    tifffile.imwrite(wide, frames(1, (12, 11))[0], metadata=None)
    with pytest.raises(CorruptFileError, match=r"wide.tif: the page is 12x11 uint16, but the series' pages are 12x10"):
        read(template, wide)
    signed = tmp_path / "signed.tif"
    tifffile.imwrite(signed, frames(1, dtype="int16")[0], metadata=None)
    with pytest.raises(CorruptFileError, match="signed.tif: the page is 12x10 int16"):
        read(template, signed)
    cut = tmp_path / "cut.tif"
    cut.write_bytes(first.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="cut.tif"):
        read(template, cut)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff file at all" * 20)
    with pytest.raises(FormatError, match="junk.tif"):
        read(template, junk)
