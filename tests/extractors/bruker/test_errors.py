"""Bruker datasets that are damaged, incomplete, hostile or large: clear errors naming the file, bounded handles."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ophysio._synth.bruker import bruker_expected, write_bruker
from ophysio.errors import ContainmentError, CorruptFileError, FileSetError, FormatError, MetadataError
from ophysio.extractors import BrukerTiffImagingExtractor


def tiffs(dataset: Path) -> list[Path]:
    return sorted(dataset.glob("*.ome.tif"))


def rewrite_xml(dataset: Path, edit) -> Path:
    xml = dataset / f"{dataset.name}.xml"
    xml.write_bytes(edit(xml.read_bytes()))
    return xml


def test_construction_opens_only_the_first_file(tmp_path):
    """The other files are not opened until read: their content can be anything until then."""
    dataset = write_bruker(tmp_path, "s", num_samples=12)
    files = tiffs(dataset)
    for path in files[1:]:
        path.write_bytes(b"not a tiff at all")
    ex = BrukerTiffImagingExtractor(dataset)
    assert ex.get_num_samples() == 12 and ex.get_image_shape() == (16, 12)
    np.testing.assert_array_equal(ex[0], bruker_expected(12, 16, 12)[0])
    with pytest.raises(FormatError, match=files[5].name):
        ex[5]


def test_missing_file_in_the_middle_is_named_at_construction(tmp_path):
    dataset = write_bruker(tmp_path, "s", num_samples=20)
    files = tiffs(dataset)
    files[7].unlink()
    files[12].unlink()
    with pytest.raises(FileSetError, match=rf"{files[7].name} is missing.*2 of the channel's 20 files"):
        BrukerTiffImagingExtractor(dataset)


def test_file_removed_after_construction_is_named_at_read(tmp_path):
    dataset = write_bruker(tmp_path, "s", num_samples=6)
    ex = BrukerTiffImagingExtractor(dataset)
    tiffs(dataset)[4].unlink()
    np.testing.assert_array_equal(ex[:4], bruker_expected(6, 16, 12)[:4])
    with pytest.raises(FileSetError, match=tiffs(dataset)[3].name.replace("000004", "000005")):
        ex[4]


def test_truncated_file_is_an_error_naming_it(tmp_path):
    dataset = write_bruker(tmp_path, "s", num_samples=6)
    victim = tiffs(dataset)[3]
    victim.write_bytes(victim.read_bytes()[:200])
    ex = BrukerTiffImagingExtractor(dataset)
    with pytest.raises(CorruptFileError, match=victim.name):
        ex.get_series()


def test_page_of_another_size_or_type_is_an_error_naming_the_file(tmp_path):
    dataset = write_bruker(tmp_path, "s", num_samples=6)
    other = write_bruker(tmp_path / "other", "s", num_samples=6, rows=16, columns=14)
    victim = tiffs(dataset)[2]
    victim.write_bytes(tiffs(other)[2].read_bytes())
    signed = write_bruker(tmp_path / "signed", "s", num_samples=6, dtype="int16")
    second = tiffs(dataset)[4]
    second.write_bytes(tiffs(signed)[4].read_bytes())
    ex = BrukerTiffImagingExtractor(dataset)
    with pytest.raises(CorruptFileError, match=rf"{victim.name}: the page is 16x14 uint16, but the series' pages are "
                                               r"16x12 uint16"):
        ex[2]
    with pytest.raises(CorruptFileError, match=rf"{second.name}: the page is 16x12 int16"):
        ex[4]
    np.testing.assert_array_equal(ex[[0, 1, 3, 5]], bruker_expected(6, 16, 12)[[0, 1, 3, 5]])


def test_file_written_by_another_tool_with_the_same_pixels_reads(tmp_path):
    """A file whose layout differs from the template (here rewritten by tifffile) is walked and read right."""
    import tifffile

    dataset = write_bruker(tmp_path, "s", num_samples=5)
    victim = tiffs(dataset)[3]
    with tifffile.TiffFile(victim, is_ome=False) as tif:
        pixels = tif.pages[0].asarray()
    tifffile.imwrite(victim, pixels, compression="zlib", metadata=None)
    ex = BrukerTiffImagingExtractor(dataset)
    np.testing.assert_array_equal(ex[:], bruker_expected(5, 16, 12))


def test_multipage_file_cut_short_is_an_error_naming_it(tmp_path):
    dataset = write_bruker(tmp_path, "m", num_samples=8, multipage=True)
    (victim,) = tiffs(dataset)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    ex = BrukerTiffImagingExtractor(dataset)  # the first file is also the template: its first page is intact
    with pytest.raises(CorruptFileError, match=victim.name):
        ex.get_series()


@pytest.mark.parametrize("damage, error, message", [
    (lambda x: x[: len(x) // 2], FormatError, "not well-formed at line"),
    (lambda x: x.replace(b'relativeTime="0.048474237"', b'relativeTime="soon"', 1), MetadataError,
     "frame 2 of sequence 1 .cycle 1.: relativeTime='soon' is not a finite number"),
    (lambda x: x.replace(b'relativeTime="0.048474237"', b'relativeTime="inf"', 1), MetadataError, "not a finite"),
    (lambda x: x.replace(b'<?xml version="1.0" encoding="utf-8"?>',
                         b'<?xml version="1.0" encoding="utf-8"?><!DOCTYPE PVScan [<!ENTITY a "aaaa">]>'),
     FormatError, "refused for safety"),
    (lambda x: x.replace(b'page=', b'pages='), None, None),  # an unknown attribute is harmless
    (lambda x: x.replace(b'channel="2" channelName="Ch2" filename', b'channel="two" channelName="Ch2" filename', 1),
     MetadataError, "channel='two', not a number"),
    (lambda x: x.replace(b"<Frame ", b"<Frame-not ").replace(b"</Frame>", b"</Frame-not>"), MetadataError,
     "lists no <Frame>"),
])
def test_damaged_xml_is_a_clear_error_naming_it(tmp_path, damage, error, message):
    dataset = write_bruker(tmp_path, "s", num_samples=4)
    xml = rewrite_xml(dataset, damage)
    if error is None:
        assert BrukerTiffImagingExtractor(dataset).get_num_samples() == 4
        return
    with pytest.raises(error, match=message) as info:
        BrukerTiffImagingExtractor(xml)
    assert xml.name in str(info.value)


def test_volume_of_another_size_in_the_middle_is_an_error(tmp_path):
    dataset = write_bruker(tmp_path, "v", num_samples=4, planes=3)
    xml = dataset / "v.xml"
    text = xml.read_text(encoding="utf-8-sig")
    start = text.index('<Sequence type="TSeries ZSeries Element" cycle="2"')
    frame = text.index("<Frame ", start)
    end = text.index("</Frame>", frame) + len("</Frame>")
    xml.write_text(text[:frame] + text[end:], encoding="utf-8")
    with pytest.raises(MetadataError, match=r"sequence 2 \(cycle 2\) holds 2 frames, but the first holds 3"):
        BrukerTiffImagingExtractor(dataset)


def test_not_a_bruker_folder(tmp_path):
    (tmp_path / "notes.xml").write_text("<Experiment/>")
    with pytest.raises(FileSetError, match="holds no Prairie View PVScan XML"):
        BrukerTiffImagingExtractor(tmp_path)
    with pytest.raises(FileSetError, match="not a Prairie View PVScan XML"):
        BrukerTiffImagingExtractor(tmp_path / "notes.xml")


def test_xml_file_names_are_followed_only_inside_the_folder(tmp_path):
    outside = write_bruker(tmp_path / "elsewhere", "o", num_samples=3)
    dataset = write_bruker(tmp_path / "here", "s", num_samples=3)
    first = tiffs(dataset)[0].name
    rewrite_xml(dataset, lambda x: x.replace(first.encode(), b"../../elsewhere/o/" + tiffs(outside)[0].name.encode()))
    with pytest.raises(ContainmentError, match="outside the dataset's folder"):
        BrukerTiffImagingExtractor(dataset)
    assert BrukerTiffImagingExtractor(dataset, allow_outside=True).get_num_samples() == 3


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path):
    outside = write_bruker(tmp_path / "elsewhere", "o", num_samples=3)
    dataset = write_bruker(tmp_path / "here", "s", num_samples=3)
    victim = tiffs(dataset)[1]
    victim.unlink()
    victim.symlink_to(tiffs(outside)[1])
    with pytest.raises(ContainmentError, match="symbolic link"):
        BrukerTiffImagingExtractor(dataset)
    assert BrukerTiffImagingExtractor(dataset, allow_outside=[tmp_path / "elsewhere"]).get_num_samples() == 3


LOW_LIMIT = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    import numpy as np
    from ophysio.extractors import BrukerTiffImagingExtractor
    from ophysio._synth.bruker import bruker_expected
    ex = BrukerTiffImagingExtractor(sys.argv[1])
    data = ex.get_series()
    assert ex.get_num_samples() == int(sys.argv[2]), ex.get_num_samples()
    np.testing.assert_array_equal(data, bruker_expected(int(sys.argv[2]), 8, 8))
    np.testing.assert_array_equal(ex.get_samples([5, 399, 17]), data[[5, 399, 17]])
    import os
    print("open fds", len(os.listdir("/proc/self/fd")))
    """
)


def test_hundreds_of_files_read_under_a_limit_of_64_open_files(tmp_path):
    dataset = write_bruker(tmp_path, "many", num_samples=400, rows=8, columns=8)
    assert len(tiffs(dataset)) == 400
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, "-c", LOW_LIMIT, str(dataset), "400"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) < 64
