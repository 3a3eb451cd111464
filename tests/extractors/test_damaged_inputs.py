"""Damaged files give an ophysio error, never another exception: regressions found by mutating the real
sample files and synthetic files of the other layouts, and a seeded run of such mutations over them."""

import os
import random
import shutil
import signal
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio.errors import CorruptFileError, FormatError, MetadataError, OphysioError
from ophysio.extractors import open_imaging
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_tiff_movie


def _ifd_entries(data: bytes, ifd: int, bigtiff: bool):
    """(tag, entry offset) of each entry of the IFD at byte ``ifd`` of a little-endian TIFF."""
    count_fmt, entry_size = ("<Q", 20) if bigtiff else ("<H", 12)
    (count,) = struct.unpack_from(count_fmt, data, ifd)
    start = ifd + struct.calcsize(count_fmt)
    return [(struct.unpack_from("<H", data, start + j * entry_size)[0], start + j * entry_size) for j in range(count)]


def test_tiff_tag_without_a_value_is_a_corrupt_file(tmp_path):
    path = write_tiff_movie(tmp_path / "m.tif", num_samples=3)
    data = bytearray(path.read_bytes())
    (first,) = struct.unpack_from("<I", data, 4)
    entry = dict(_ifd_entries(data, first, bigtiff=False))[278]  # RowsPerStrip
    struct.pack_into("<I", data, entry + 4, 0)  # its count: no value at all
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="TIFF tag 278 has no value"):
        open_imaging(path, sampling_frequency=1.0).get_series()


def test_irregular_ifds_with_an_impossible_count_do_not_overflow(tmp_path):
    import tifffile

    from ophysio.extractors._tiff import walk as _tiff

    path = tmp_path / "irregular.tif"
    with tifffile.TiffWriter(path, bigtiff=True) as writer:  # the second page has one more tag
        writer.write(np.zeros((8, 8), np.uint16), contiguous=False)
        writer.write(np.ones((8, 8), np.uint16), contiguous=False, extratags=[(65000, "s", 0, "hello", True)])
    data = bytearray(path.read_bytes())
    (first,) = struct.unpack_from("<Q", data, 8)
    (count,) = struct.unpack_from("<Q", data, first)
    (second,) = struct.unpack_from("<Q", data, first + 8 + count * 20)
    entry = dict(_ifd_entries(data, second, bigtiff=True))[65000]
    struct.pack_into("<Q", data, entry + 4, 2**64 - 1)
    path.write_bytes(bytes(data))
    fd = os.open(path, os.O_RDONLY)
    try:
        table = _tiff.walk_ifds(fd, str(path))  # raised OverflowError before
    finally:
        os.close(fd)
    assert len(table.ifd_offset) == 2


def _gzip_movie(path: Path) -> np.ndarray:
    frames = np.random.default_rng(0).integers(0, 4000, (20, 32, 32), dtype=np.uint16)
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", data=frames, chunks=(5, 32, 32), compression="gzip")
    return frames


def test_hdf5_damaged_chunk_is_a_corrupt_file_naming_the_samples(tmp_path):
    path = tmp_path / "m.h5"
    frames = _gzip_movie(path)
    with h5py.File(path, "r") as f:
        info = f["mov"].id.get_chunk_info(2)  # samples 10-14
    data = bytearray(path.read_bytes())
    data[info.byte_offset + 10 : info.byte_offset + 60] = bytes(50)
    path.write_bytes(bytes(data))
    ex = open_imaging(path, sampling_frequency=5.0)
    np.testing.assert_array_equal(ex.get_series(0, 10), frames[:10])  # the chunks before are fine
    with pytest.raises(CorruptFileError, match=r"m\.h5: samples 8:12 of dataset mov cannot be read"):
        ex.get_series(8, 12)


def test_hdf5_damaged_group_index_is_a_format_error(tmp_path):
    path = tmp_path / "m.h5"
    _gzip_movie(path)
    data = path.read_bytes()
    at = data.find(b"TREE")  # the root group's B-tree node signature
    assert at > 0
    path.write_bytes(data[:at] + b"XXXX" + data[at + 4 :])
    with pytest.raises(FormatError, match=r"m\.h5"):
        open_imaging(path, sampling_frequency=5.0)


def test_scanimage_header_counts_that_are_not_numbers():
    from ophysio.extractors.scanimage.layout import stack_facts

    header = {"SI.hStackManager.enable": True, "SI.hStackManager.numSlices": 3,
              "SI.hStackManager.framesPerSlice": "1\nSI.hStackManager.name = 'x'"}
    with pytest.raises(MetadataError, match=r"a\.tif: SI\.hStackManager\.framesPerSlice = .* not a whole number"):
        stack_facts(header, "a.tif")
    assert stack_facts({**header, "SI.hStackManager.framesPerSlice": 2}, "a.tif") == (True, 3, 2, 0)


def _ome_xml(**changes: str) -> str:
    pixels = {"SizeX": "4", "SizeY": "3", "SizeZ": "1", "SizeC": "1", "SizeT": "2", "TimeIncrement": "0.5",
              **changes}
    attrs = " ".join(f'{k}="{v}"' for k, v in pixels.items())
    return (f'<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0">'
            f'<Pixels ID="Pixels:0" DimensionOrder="XYZCT" Type="uint16" {attrs}>'
            f'<Channel ID="Channel:0:0" SamplesPerPixel="1"/><TiffData IFD="0" PlaneCount="2"/></Pixels></Image></OME>')


@pytest.mark.parametrize("changes", [{"TimeIncrement": "0.x2"}, {"SizeX": "1O"}])
def test_ome_xml_attribute_values_that_are_not_numbers(changes):
    from ophysio.extractors.ome_tiff.xml import parse_ome_xml

    _, (pixels,) = parse_ome_xml(_ome_xml(), "good.ome.tif")
    assert (pixels.size_x, pixels.size_t) == (4, 2)
    with pytest.raises(MetadataError, match="bad.ome.tif"):
        parse_ome_xml(_ome_xml(**changes), "bad.ome.tif")


def test_sidecar_that_is_not_utf8(tmp_path):
    from ophysio.extractors.ome_tiff import read_frame_metadata

    path = tmp_path / "x.ome.tiff_frame_metadata.json"
    path.write_bytes(b'{"p0": [{"runner_time_ms": 1\xff}]}')
    with pytest.raises(MetadataError, match="not valid UTF-8 JSON"):
        read_frame_metadata(path)


# ---------------------------------------------------------------------- mutations of the real files
REAL = {
    "scanimage-v57": ("scanimage/ScanImageBigTIFFv57.tif", {"channel_name": "Channel 1"}),
    "scanimage-multi-file": ("scanimage/vol_one_ch_multi_files/vol_one_ch_multi_files_00001_00001.tif", {}),
    "scanimage-legacy": ("scanimage_legacy/sample_scanimage_version_3_8.tiff", {}),
    "ome-tc": ("ome_tiff/pmmp_demo_tc.ome.tiff", {"channel_name": "FITC"}),
    "ome-seq": ("ome_tiff/pmmp_demo_seq.ome.tiff", {}),
    "ome-seq-sidecar": ("ome_tiff/pmmp_demo_seq.ome.tiff", {}),
    "hdf5-pysight": ("hdf5/fly.hdf5", {"sampling_frequency": 10.0}),
    "mat-v5-compressed": ("mat/denoise.mat", {"dims": "YXCT", "sampling_frequency": 4.0}),
}


_JUNK_NUMBERS = [b"NaN", b"Inf", b"-Inf", b"1e308", b"1e999", b"-1", b"0", b"1e20", b"'abc'", b"[]", b"{[]}",
                 b"[1e999]", b"4294967295", b"-9223372036854775808", b"[NaN NaN]", b'"x"', b"null"]
_JUNK_INTEGERS = [0, 2**63 - 1, 2**64 - 1, 2**32 - 1, 2**31, 0xFFFF, 7]


def _mutate(data: bytes, rng: random.Random, text: bool) -> bytes:
    """A seeded mutation: byte flips, truncation, zeroed runs, a number in a text header or JSON replaced
    by junk (NaN, Inf, huge, negative, text, nested; same length, so offsets stay valid), a run of deep
    JSON/MATLAB nesting, or a binary field set to an extreme (huge offsets and sizes, zero, negative)."""
    import re

    data = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "zero", "field", "field", "nest", "extreme"])
    head = min(len(data), 70000)
    if kind == "field":
        numbers = list(re.finditer(rb"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", bytes(data[:head])))
        if numbers:
            match = rng.choice(numbers)
            junk = rng.choice(_JUNK_NUMBERS)
            end = max(match.end(), min(match.start() + len(junk), head))
            data[match.start():end] = junk[: end - match.start()].ljust(end - match.start())
            return bytes(data)
        kind = "flip"
    if kind == "nest":
        start = rng.randrange(head)
        depth = rng.choice([200, 5000])
        blob = rng.choice([b"[", b"{", b'{"a":']) * depth
        data[start:start + len(blob)] = blob[: len(data) - start]
        return bytes(data)
    if kind == "extreme":
        size = rng.choice([2, 4, 8])
        pos = rng.randrange(max(1, head - size)) // size * size
        data[pos:pos + size] = (rng.choice(_JUNK_INTEGERS) & (256**size - 1)).to_bytes(size, "little")
        return bytes(data)
    if kind == "flip":  # mostly where headers and IFDs live
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(min(len(data), 70000)) if rng.random() < 0.8 else rng.randrange(len(data))
            data[pos] = rng.choice(b'0123456789-.e,:{}[]"\xff') if text else rng.randrange(256)
    elif kind == "truncate":
        del data[rng.randrange(len(data)) :]
    else:
        pos = rng.randrange(len(data))
        data[pos : pos + 64] = bytes(len(data[pos : pos + 64]))
    return bytes(data)


class _Hang(Exception):
    pass


def _synthetic(kind: str, folder: Path) -> Path:
    from ophysio._synth.binary import matlab_movie
    from ophysio.testing.synthetic import (
        write_caiman_hdf5,
        write_imagej_hyperstack,
        write_mat_v73,
        write_scanimage,
        write_scanimage_legacy,
    )

    rois = [{"name": "a", "rows": 16, "columns": 24}, {"name": "b", "rows": 16, "columns": 24}]
    writers = {
        "scanimage-mroi": lambda: write_scanimage(folder, "m", num_samples=6, rois=rois, flyto_lines=4)[0],
        "scanimage-legacy-5.1": lambda: write_scanimage_legacy(folder / "l.tif", version="5.1", num_samples=6,
                                                                channels=(1, 2), slices=3, flyback=1),
        "tiff-zlib-predictor": lambda: write_tiff_movie(folder / "z.tif", num_samples=6, rows=40, columns=30,
                                                        compression="zlib", predictor=True, rowsperstrip=8),
        "tiff-lzw": lambda: write_tiff_movie(folder / "lzw.tif", num_samples=6, rows=40, columns=30,
                                             compression="lzw"),
        "tiff-tiled": lambda: write_tiff_movie(folder / "t.tif", num_samples=4, rows=64, columns=64, tile=(16, 16)),
        "imagej-hyperstack": lambda: write_imagej_hyperstack(folder / "ij.tif"),
        "mat-v7.3": lambda: write_mat_v73(folder / "v.mat", variables={"movie": matlab_movie(8, 6, 5),
                                                                      "fr": np.array([[15.0]])}),
        "hdf5-caiman": lambda: write_caiman_hdf5(folder / "c.h5"),
    }
    return Path(writers[kind]())


SYNTHETIC = {
    "scanimage-mroi": {"roi_index": 1},
    "scanimage-legacy-5.1": {"channel_name": "Channel 2"},
    "tiff-zlib-predictor": {"sampling_frequency": 2.0},
    "tiff-lzw": {"sampling_frequency": 2.0},
    "tiff-tiled": {"sampling_frequency": 2.0},
    "imagej-hyperstack": {"sampling_frequency": 2.0, "channel_name": "1"},
    "mat-v7.3": {},
    "hdf5-caiman": {"sampling_frequency": 3.0},
}


@pytest.mark.parametrize("case", list(REAL) + list(SYNTHETIC))
def test_mutated_files_read_or_raise_an_ophysio_error(case, tmp_path):
    if case in REAL:
        relative, kwargs = REAL[case]
        source = sample_file(relative)
        for sibling in source.parent.iterdir():  # the file, its sidecar, the other files of its series
            if sibling.name.startswith(source.name) or sibling.parent.name == "vol_one_ch_multi_files":
                shutil.copy(sibling, tmp_path / sibling.name)
    else:
        kwargs = SYNTHETIC[case]
        source = _synthetic(case, tmp_path)
        open_imaging(source, **kwargs).get_series()  # the unmutated file reads
    victim = tmp_path / (source.name + "_frame_metadata.json" if case.endswith("sidecar") else source.name)
    original = victim.read_bytes()
    rng = random.Random(case)
    outcomes = {"read": 0, "refused": 0}

    def hang(*_):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, hang)
    try:
        for trial in range(int(os.environ.get("OPHYSIO_MUTATIONS", "60"))):
            victim.write_bytes(_mutate(original, rng, text=victim.suffix == ".json"))
            signal.alarm(30)
            try:
                with open_imaging(tmp_path / source.name, **kwargs) as ex:
                    ex.get_series()
                    ex.get_timestamps()
                outcomes["read"] += 1
            except OphysioError:
                outcomes["refused"] += 1
            except _Hang:
                pytest.fail(f"{case}, mutation {trial}: no answer within 30 s")
            except Exception as exc:  # noqa: BLE001 - any other exception is the failure this test looks for
                pytest.fail(f"{case}, mutation {trial}: {type(exc).__name__}: {exc}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert outcomes["refused"] > 0, outcomes  # the mutations do reach what the readers check


@pytest.mark.parametrize("kind", ["hdf5", "mat-v7.3"])
def test_datasets_with_names_that_are_not_utf8_are_skipped(tmp_path, kind):
    from ophysio._synth.binary import matlab_movie
    from ophysio.testing.synthetic import write_mat_v73

    if kind == "hdf5":  # no conventional name: the largest 3-D dataset is the movie
        path = tmp_path / "m.h5"
        expected, kwargs = np.arange(10 * 6 * 5, dtype=np.uint16).reshape(10, 6, 5), {"sampling_frequency": 5.0}
        with h5py.File(path, "w") as f:
            f.create_dataset("stack", data=expected)
    else:
        movie = matlab_movie(8, 6, 5)  # MATLAB Y x X x T
        path = write_mat_v73(tmp_path / "m.mat", variables={"movie": movie, "fr": np.array([[15.0]])})
        expected, kwargs = movie.transpose(2, 0, 1), {}
    with h5py.File(path, "a") as f:  # a bigger 3-D dataset, so that it would be chosen if it were seen
        f.create_dataset(b"bad\xff", data=np.zeros((30, 40, 40), np.uint16))
    with open_imaging(path, **kwargs) as ex:
        np.testing.assert_array_equal(ex.get_series(), expected)


def test_options_the_detected_reader_does_not_take(tmp_path):
    from ophysio.conversion.interfaces import interface_from_paths
    from ophysio.errors import OptionError

    path = write_tiff_movie(tmp_path / "plain.tif", num_samples=3)  # not ScanImage: no roi_index
    with pytest.raises(OptionError, match=r"plain\.tif was detected as tiff .*no option roi_index; pass format="):
        open_imaging(path, roi_index=1, sampling_frequency=2.0)
    with pytest.raises(TypeError, match="roi_index"):  # still the built-in a caller may catch
        interface_from_paths(path, roi_index=1, sampling_frequency=2.0)


@pytest.mark.parametrize("head", [b"II*\x00\x08\x00", b"II+\x00\x08\x00\x00\x00\x10"])
def test_tiff_cut_inside_its_header(tmp_path, head):
    path = tmp_path / "cut.tif"
    path.write_bytes(head)
    with pytest.raises(CorruptFileError, match=r"cut\.tif: the TIFF header is cut short"):
        open_imaging(path, sampling_frequency=1.0)


def test_scanimage_description_outside_the_file(tmp_path):
    import tifffile

    from ophysio.testing.synthetic import write_scanimage

    path = write_scanimage(tmp_path, "d", num_samples=4)[0]
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        assert tif.is_bigtiff
        entry = tif.pages[0].tags[270].offset
    struct.pack_into("<Q", data, entry + 4, 2**64 - 5)  # the first page's description: -5 bytes as int64
    path.write_bytes(bytes(data))
    ex = open_imaging(path)  # the header itself is found by ScanImage's own offsets
    for read in (ex.get_metadata, ex.get_timestamps):  # os.pread raised OSError(EINVAL) before
        with pytest.raises(CorruptFileError, match=r"d_00001\.tif: the ImageDescription of IFD 0 \(-5 bytes"):
            read()


def test_damaged_lengths_are_refused_before_anything_is_allocated(tmp_path):
    import tifffile

    from ophysio.extractors._tiff.header import pread_exact

    from ..memory_helpers import traced_peak

    path = tmp_path / "m.tif"
    tifffile.imwrite(path, np.zeros((5, 8, 8), np.uint16), description="a movie " * 20, metadata=None,
                     photometric="minisblack")
    data = bytearray(path.read_bytes())
    (first,) = struct.unpack_from("<I", data, 4)
    entry = dict(_ifd_entries(data, first, bigtiff=False))[270]
    struct.pack_into("<I", data, entry + 4, 0x7FFFFFF0)  # a 2 GB description
    path.write_bytes(bytes(data))

    def open_it():
        with pytest.raises(CorruptFileError, match=r"m\.tif, IFD 0 .*ImageDescription \(2147483632 bytes"):
            open_imaging(path, sampling_frequency=1.0).get_series()

    _, peak = traced_peak(open_it)
    assert peak < 10 * 1024**2
    fd = os.open(path, os.O_RDONLY)
    try:
        _, peak = traced_peak(lambda: pytest.raises(CorruptFileError, pread_exact, fd, 2**31, 8, str(path), "x"))
    finally:
        os.close(fd)
    assert peak < 10 * 1024**2


def _zlib_zeros(size: int) -> bytes:
    """``size`` zero bytes as one zlib stream (about 1/1000 of the size)."""
    import zlib

    compressor = zlib.compressobj(9)
    block = bytes(16 * 1024**2)
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


def test_a_deflate_strip_inflates_no_further_than_its_page(tmp_path):
    import tifffile

    from ..memory_helpers import traced_peak

    path = tmp_path / "bomb.tif"
    frames = np.arange(2 * 16 * 16, dtype=np.uint16).reshape(2, 16, 16)
    tifffile.imwrite(path, frames, compression="zlib", photometric="minisblack", metadata=None)
    bomb = _zlib_zeros(256 * 1024**2)  # 256 MB of zeros in ~250 kB
    data = bytearray(path.read_bytes())
    (first,) = struct.unpack_from("<I", data, 4)
    tags = dict(_ifd_entries(data, first, bigtiff=False))
    struct.pack_into("<I", data, tags[273] + 8, len(data))  # the first page's only strip: the bomb
    struct.pack_into("<I", data, tags[279] + 8, len(bomb))
    path.write_bytes(bytes(data) + bomb)
    ex = open_imaging(path, sampling_frequency=1.0)
    page, peak = traced_peak(lambda: ex.get_series(0, 1))
    assert peak < 8 * 1024**2, f"{peak / 1e6:.0f} MB to read one 512-byte page"
    np.testing.assert_array_equal(page, 0)  # the first 512 bytes of the zeros
    np.testing.assert_array_equal(ex.get_series(1, 2), frames[1:2])


def write_hdf5_libhdf5_loops_on(path: Path) -> Path:
    """A 12 x 6 x 5 uint16 ``mov`` (values 0..359, ``fr`` 4.0) whose vlen string attribute's global heap
    is zeroed: reading that attribute never returns (HDFGroup/hdf5#1707)."""
    frames = np.arange(12 * 6 * 5, dtype=np.uint16).reshape(12, 6, 5)
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("mov", data=frames)
        dset.attrs["file_name"] = np.array(["synthetic.tif"], dtype=h5py.string_dtype())
        dset.attrs["fr"] = 4.0
    data = bytearray(path.read_bytes())
    heap = data.find(b"GCOL")
    assert heap > 0
    data[heap + 16 : heap + 80] = bytes(64)  # the heap's first object: its header and the string
    path.write_bytes(bytes(data))
    return path


def test_pixels_read_when_a_damaged_attribute_heap_would_hang_libhdf5(tmp_path):
    """libhdf5 loops forever reading a vlen string attribute whose global heap is zeroed
    (HDFGroup/hdf5#1707); pixels and times do not depend on attributes, so they still read. Run in a
    subprocess: a hang inside libhdf5 cannot be interrupted from Python."""
    import subprocess
    import sys

    path = write_hdf5_libhdf5_loops_on(tmp_path / "m.h5")
    code = (f"import numpy as np; from ophysio.extractors import open_imaging; "
            f"ex = open_imaging({str(path)!r}); "
            f"assert (ex.get_series() == np.arange(360, dtype=np.uint16).reshape(12, 6, 5)).all(); "
            f"assert ex.get_sampling_frequency() == 4.0; print('read')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "read", done.stderr[-2000:]


@pytest.mark.parametrize("damage", ["images=6\x01\x02", "channels=0", "slices=two"])
def test_imagej_counts_that_are_not_positive_whole_numbers(tmp_path, damage):
    import tifffile

    key = damage.split("=")[0]
    lines = {"images": "images=6", "channels": "channels=1", "slices": "slices=1"}
    lines[key] = damage
    description = "ImageJ=1.11a\n" + "\n".join(lines.values()) + "\nframes=6\nhyperstack=true\n"
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, np.zeros((6, 8, 8), np.uint16), description=description, metadata=None,
                     photometric="minisblack")
    with pytest.raises(MetadataError, match=rf"ij\.tif: the ImageJ description says {key}="):
        open_imaging(path, sampling_frequency=1.0)


# ---------------------------------------------------------------------- junk options given by a user
@pytest.mark.parametrize("kind", ["numpy", "binary", "tiff", "hdf5", "mat-v7.3", "suite2p"])
def test_sampling_frequency_that_is_not_a_positive_number(tmp_path, kind):
    from ophysio._synth.binary import matlab_movie, write_suite2p
    from ophysio.testing.synthetic import write_mat_v73, write_npy

    extra = {}
    if kind == "numpy":
        path = write_npy(tmp_path / "m.npy", num_samples=4)
    elif kind == "binary":
        path = tmp_path / "m.bin"
        path.write_bytes(bytes(4 * 6 * 5 * 2))
        extra = {"video_structure": {"num_rows": 6, "num_columns": 5}, "dtype": "uint16", "format": "binary"}
    elif kind == "tiff":
        path = write_tiff_movie(tmp_path / "m.tif", num_samples=4)
    elif kind == "hdf5":
        path = tmp_path / "m.h5"
        with h5py.File(path, "w") as f:
            f["mov"] = np.zeros((4, 6, 5), np.uint16)
    elif kind == "mat-v7.3":
        path = write_mat_v73(tmp_path / "m.mat", variables={"movie": matlab_movie(8, 6, 5)})
    else:
        path = write_suite2p(tmp_path / "s2p")
    for rate in ["abc", "30", [1, 2], float("nan"), float("inf"), 0, -1, True, 1 + 2j, np.array([1.0, 2.0])]:
        with pytest.raises(MetadataError, match=r"sampling_frequency must be a positive"):  # was TypeError...
            open_imaging(path, **extra, sampling_frequency=rate)
    assert open_imaging(path, **extra, sampling_frequency=np.float32(2.5)).get_sampling_frequency() == 2.5


@pytest.mark.parametrize("dtype", ["xyz", "i3", object, "U4", "V0", [("a", "u1")], 5.5])
def test_binary_dtype_that_is_not_a_numeric_type(tmp_path, dtype):
    path = tmp_path / "m.bin"
    path.write_bytes(bytes(4 * 6 * 5 * 2))
    with pytest.raises(MetadataError, match=r"dtype="):
        open_imaging(path, format="binary", video_structure={"num_rows": 6, "num_columns": 5}, dtype=dtype,
                     sampling_frequency=2.0)


# ---------------------------------------------------------------------- mutated header fields
def _scanimage_edited(folder: Path, monkeypatch, frame_data=None, roi_json=None, description=None, **kwargs) -> Path:
    """A synthetic ScanImage file whose SI text, ROI JSON or first page description went through an edit."""
    from ophysio._synth import scanimage as synth

    text, roi = synth.scanimage_frame_data_text, synth._roi_json
    with monkeypatch.context() as patch:
        if frame_data:
            patch.setattr(synth, "scanimage_frame_data_text", lambda values: frame_data(text(values)))
        if roi_json:
            patch.setattr(synth, "_roi_json", lambda *args: roi_json(roi(*args)))
        path = synth.write_scanimage(folder, "s", num_samples=4, **kwargs)[0]
    if description:
        old, new = description
        data = path.read_bytes()
        assert old in data
        path.write_bytes(data.replace(old, new.ljust(len(old)), 1))
    return path


def _si_line(key: str, value: str):
    import re

    return lambda text: re.sub(rf"^{re.escape(key)} = .*$", f"{key} = {value}", text, count=1, flags=re.M)


def _pixel_resolution(value: str):
    import re

    return lambda text: re.sub(r'"pixelResolutionXY": \[[^\]]*\]', f'"pixelResolutionXY": {value}', text, count=1)


_TWO_ROIS = [{"name": "a", "rows": 16, "columns": 24}, {"name": "b", "rows": 16, "columns": 24}]
_EPOCH = b"epoch = [2024  3 14  9 26 53.500]"
SCANIMAGE_EDITS = {  # name: (write_scanimage keywords, expected: None = reads, else the message)
    "roi-json-100k-deep": ({"roi_json": lambda _: '{"RoiGroups": ' + "[" * 100_000 + "]" * 100_000 + "}"},
                           r"ROI data at offset \d+ nests lists and objects deeper"),
    "roi-json-100-deep": ({"roi_json": lambda _: '{"RoiGroups": ' + '{"a":' * 100 + "1" + "}" * 101},
                          r"ROI data at offset \d+ nests lists and objects more than 64 levels"),
    "si-value-100k-deep": ({"frame_data": _si_line("SI.hStackManager.zs", "[" * 100_000 + "]" * 100_000)}, None),
    "epoch-nan": ({"description": (_EPOCH, b"epoch = [NaN 3 14 9 26 53.5]")}, None),
    "epoch-1e20": ({"description": (_EPOCH, b"epoch = [1e20 3 14 9 26 53.5]")}, None),
    "epoch-seconds-1e20": ({"description": (_EPOCH, b"epoch = [2024 3 14 9 26 1e20]")}, None),
    "pixel-resolution-nan": ({"rois": _TWO_ROIS, "roi_json": _pixel_resolution("[NaN, 16]")},
                             r"ROI 0 \('a'\) has no valid scanfield pixelResolutionXY \(\[nan, 16\]"),
    "pixel-resolution-str": ({"rois": _TWO_ROIS, "roi_json": _pixel_resolution('["a", 16]')},
                             r"ROI 0 \('a'\) has no valid scanfield pixelResolutionXY"),
    "pixel-resolution-negative": ({"rois": _TWO_ROIS, "roi_json": _pixel_resolution("[-24, 16]")},
                                  r"ROI 0 \('a'\) has no valid scanfield pixelResolutionXY"),
    "scanfields-not-a-dict": ({"rois": _TWO_ROIS, "roi_json": lambda j: j.replace('"scanfields": {', '"scanfields": '
                                                                                  '"x", "_": {', 1)},
                              r"ROI 0 \('a'\) has no valid scanfield pixelResolutionXY \(None"),
    "channel-save-1e999": ({"frame_data": _si_line("SI.hChannels.channelSave", "[1e999]")},
                           r"SI\.hChannels\.channelSave = inf is not a list of channel numbers"),
    "channel-save-empty-cell": ({"frame_data": _si_line("SI.hChannels.channelSave", "{[]}")},
                                r"SI\.hChannels\.channelSave = \[\[\]\] is not a list of channel numbers"),
    "flyback-1e308": ({"num_slices": 3, "frame_data": _si_line("SI.hStackManager.numFramesPerVolumeWithFlyback",
                                                               "1e308")},
                      r"numFramesPerVolumeWithFlyback = .* is not a whole number from 0 to 1000000"),
    "slices-1e308": ({"num_slices": 3, "frame_data": _si_line("SI.hStackManager.numSlices", "1e308")},
                     r"SI\.hStackManager\.numSlices = .* is not a whole number"),
    "frame-rate-inf": ({"frame_data": _si_line("SI.hRoiManager.scanFrameRate", "Inf")},
                       r"scanFrameRate in the ScanImage header must be a positive finite number"),
    "flyto-time-inf": ({"rois": [*_TWO_ROIS, {"name": "c", "rows": 16, "columns": 24}], "flyto_lines": 2,
                        "page_rows": 53, "frame_data": _si_line("SI.hScan2D.flytoTimePerScanfield", "Inf")},
                       r"do not fit the pages"),
}


@pytest.mark.parametrize("case", list(SCANIMAGE_EDITS))
def test_scanimage_header_fields_that_are_damaged(tmp_path, monkeypatch, case):
    """NaN, infinite, huge, text or deeply nested values in the SI text, ROI JSON or a page description
    are a MetadataError naming the file and field, or read (when nothing depends on them) through to
    the defaults of an NWB conversion."""
    from ophysio.conversion.interfaces import interface_for_extractor
    from ophysio.conversion.nwb.source_header import header_json

    edits, expected = SCANIMAGE_EDITS[case]
    path = _scanimage_edited(tmp_path, monkeypatch, **edits)
    kwargs = {"roi_index": 1} if "rois" in edits else {}
    if expected is not None:
        with pytest.raises(MetadataError, match=rf"s_00001\.tif: .*{expected}"):
            open_imaging(path, **kwargs)
        return
    with open_imaging(path, **kwargs) as ex:
        assert ex.get_series().shape == (4, 32, 32)
        header_json(ex.get_metadata())
        facts = interface_for_extractor(ex).get_metadata()
    assert "NWBFile" in facts


def test_sidecar_nested_too_deep(tmp_path):
    from ophysio.extractors.ome_tiff import read_frame_metadata

    path = tmp_path / "x.ome.tiff_frame_metadata.json"
    for depth, message in [(100_000, "deeper than Python can parse"), (500, "more than 64 levels deep")]:
        path.write_text('{"p0": [' + "[" * depth + "]" * depth + "]}")
        with pytest.raises(MetadataError, match=rf"frame_metadata\.json nests lists and objects {message}"):
            read_frame_metadata(path)


@pytest.mark.parametrize("header", [
    "{'descr': '<u2', 'fortran_order': False, 'shape': (-3, 4, 5), }",  # negative
    "{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4, 5), ",    # unterminated (TokenError)
    "{'descr': '<u2', 'fortran_order': False, 'shape': (3, 4, 5",       # unterminated tuple
    "{'descr': 'xyz', 'fortran_order': False, 'shape': (3, 4, 5), }",   # not a dtype
    "{'descr': '<u2', 'fortran_order': False, 'shape': (99999999999, 4, 5), }",  # more than the file
])
def test_npy_header_that_is_damaged(tmp_path, header):
    path = tmp_path / "m.npy"
    text = header.encode().ljust(117) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + bytes(3 * 4 * 5 * 2))
    with pytest.raises(FormatError, match=r"m\.npy is not a readable \.npy file"):
        open_imaging(path, sampling_frequency=1.0)


# ---------------------------------------------------------------------- TIFF sizes and offsets
def _tiff_for(kind: str, folder: Path) -> tuple[Path, dict]:
    from ophysio.testing.synthetic import write_ome_tiff, write_scanimage

    folder.mkdir()
    if kind == "scanimage":  # BigTIFF, read by the IFD-table engine
        return write_scanimage(folder, "s", num_samples=3)[0], {}
    if kind == "ome-bigtiff":  # read by the page-index engine
        import tifffile

        path = folder / "o.ome.tif"
        tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint16), bigtiff=True, ome=True, photometric="minisblack",
                         metadata={"axes": "TYX"})
        return path, {"sampling_frequency": 1.0}
    if kind == "ome":
        return write_ome_tiff(folder / "o.ome.tif", size_t=3), {"sampling_frequency": 1.0}
    if kind == "lzw":
        return write_tiff_movie(folder / "l.tif", num_samples=3, rows=40, columns=30, compression="lzw"), \
            {"sampling_frequency": 1.0}
    return write_tiff_movie(folder / "t.tif", num_samples=3), {"sampling_frequency": 1.0}


def _set_tag(path: Path, tag: int, field: str, value: int, page: int = 0) -> None:
    data = bytearray(path.read_bytes())
    big = data[2] == 43
    offset = struct.unpack_from("<Q" if big else "<I", data, 8 if big else 4)[0]
    for _ in range(page):
        (count,) = struct.unpack_from("<Q" if big else "<H", data, offset)
        next_at = offset + (8 + count * 20 if big else 2 + count * 12)
        offset = struct.unpack_from("<Q" if big else "<I", data, next_at)[0]
    entry = dict(_ifd_entries(data, offset, big))[tag]
    at = entry + (4 if field == "count" else 12 if big else 8)
    typ = struct.unpack_from("<H", data, entry + 2)[0]
    if field == "type":
        struct.pack_into("<H", data, entry + 2, value)
    elif field == "value" and typ == 3:
        struct.pack_into("<H", data, at, value)
    else:
        struct.pack_into("<Q" if big else "<I", data, at, value)
    path.write_bytes(bytes(data))


TIFF_DAMAGE = {  # (kinds, tag, field, value, message)
    "strip-offset-2**63-1": (("scanimage", "ome-bigtiff"), 273, "value", 2**63 - 1, r"outside the file|past the end"),
    "strip-offset-2**64-1": (("scanimage", "ome-bigtiff"), 273, "value", 2**64 - 1, r"outside the file|past the end"),
    "strip-bytes-2**63-1": (("scanimage", "ome-bigtiff"), 279, "value", 2**63 - 1, r"outside the file|past the end"),
    "description-offset-2**63-1": (("ome-bigtiff", "scanimage"), 270, "value", 2**63 - 1,
                                   r"ImageDescription .* (past the end|outside the file)"),
    "width-0": (("scanimage", "ome", "plain", "lzw"), 256, "value", 0, r"holds no pixels|differs from IFD 0"),
    "length-0": (("scanimage", "ome", "plain", "lzw"), 257, "value", 0, r"holds no pixels|differs from IFD 0"),
    "length-count-7": (("lzw", "plain"), 257, "count", 7, r"ImageWidth/ImageLength hold|7 ImageLength values"),
    "width-2**32-1": (("scanimage", "plain", "lzw"), 256, "value", 2**32 - 1, r"more than the file .* can hold"),
}


@pytest.mark.parametrize("case,kind", [(case, kind) for case, spec in TIFF_DAMAGE.items() for kind in spec[0]])
def test_tiff_sizes_and_offsets_that_are_damaged(tmp_path, case, kind):
    """Offsets of 2**63 and more (os.pread's EINVAL), zero or multi-valued dimensions (TypeError,
    ZeroDivisionError) and pages larger than the file (a MemoryError, or 56 GiB allocated for one frame)
    are a CorruptFileError naming file and IFD, on every page of the file."""
    from ..memory_helpers import traced_peak

    _, tag, field, value, message = TIFF_DAMAGE[case]
    for page in (0,) if tag == 270 else (0, 1):
        path, kwargs = _tiff_for(kind, tmp_path / f"{case}-{page}")
        if tag in (256, 257) and field == "value" and value > 65535:
            _set_tag(path, tag, "type", 4, page)  # LONG, so that 2**32-1 fits
        _set_tag(path, tag, field, value, page)

        def read(path=path, kwargs=kwargs):  # a later page may be refused first for not matching the first one
            with pytest.raises(FormatError, match=f"{message}|a movie needs pages of one size|differs from IFD 0"):
                with open_imaging(path, **kwargs) as ex:
                    ex.get_series(0, 1)
                    ex.get_series()
                    ex.get_timestamps()
                    ex.get_metadata()

        if value > 2**16:  # refused before anything of the declared size is allocated
            _, peak = traced_peak(read)
            assert peak < 64 * 1024**2
        else:
            read()


# ---------------------------------------------------------------------- attributes and arrays at conversion
def test_hdf5_attributes_of_any_numpy_type_convert_to_nwb(tmp_path):
    """A long double ``fr`` (item() gives itself back: the header's JSON encoder recursed without end),
    complex, bytes and nested arrays of them reach the NWB file's source header as JSON values."""
    from ophysio.conversion.nwb import read_source_metadata, write_nwb

    from ..conversion.test_metadata import COMPLETE

    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("mov", data=np.arange(4 * 6 * 5, dtype=np.uint16).reshape(4, 6, 5))
        dset.attrs["fr"] = np.longdouble(4.0)
        dset.attrs["gain"] = np.clongdouble(1 + 2j)
        dset.attrs["table"] = np.array([[1.5, 2.5]], dtype=np.longdouble)
        dset.attrs["opaque"] = np.void(b"\x00\xff")
        dset.attrs["fs"] = b"\xff\xfe"  # h5py gives text with lone surrogates, which HDF5 cannot store
    ex = open_imaging(path)
    assert ex.get_sampling_frequency() == 4.0
    out = write_nwb(ex, tmp_path / "m.nwb", COMPLETE, dandi=False, max_workers=1)
    (stored,) = read_source_metadata(out).values()
    attributes = stored["metadata"]["attributes"] if "attributes" in stored["metadata"] else stored["metadata"]
    assert "4.0" in str(attributes) and "[[1.5, 2.5]]" in str(attributes)


@pytest.mark.parametrize("compressed", [False, True])
def test_mat_variable_with_a_zero_size_axis(tmp_path, compressed):
    """An 8x0x6 movie opened (and later handed to hdmf, which failed with a bare Exception at conversion)."""
    from ophysio._synth.binary import write_mat_v5, write_mat_v73

    v5 = write_mat_v5(tmp_path / "v5.mat", variables={"movie": np.zeros((8, 0, 6), np.uint16), "fr": 2.0},
                      compressed=compressed)
    v73 = write_mat_v73(tmp_path / "v73.mat", variables={"movie": np.zeros((8, 0, 6), np.uint16),
                                                        "fr": np.array([[2.0]])})
    for path in (v5, v73):
        with pytest.raises(FormatError, match=rf"variable movie \(8x0x6\) in .*{path.name} has a zero-size axis \(X"):
            open_imaging(path)


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("damage", ["dimension", "values-type"])
def test_mat_v5_dimensions_larger_than_the_values_stored(tmp_path, compressed, damage):
    """A damaged dimension (8x6x2147483647) is refused at open: a one-frame read allocated 256 GiB, and
    scipy read the whole variable into that shape (MemoryError, or a crash). Values stored under an
    element type that is not numeric crashed scipy with a bus error."""
    import zlib

    from ophysio._synth.binary import matlab_movie, write_mat_v5

    path = write_mat_v5(tmp_path / "m.mat", variables={"movie": matlab_movie(5, 8, 6)}, compressed=compressed)
    data = bytearray(path.read_bytes())
    element = bytes(zlib.decompress(data[136:])) if compressed else bytes(data[128:])
    dims_at = element.find(struct.pack("<3i", 8, 6, 5))
    if damage == "dimension":
        element = element[:dims_at + 8] + struct.pack("<i", 2**31 - 1) + element[dims_at + 12:]
        message = r"a 8x6x2147483647 uint16 array needs "
    else:  # the values' tag, after the dims (padded to 8) and the name "movie" (tag + 8 bytes)
        values_at = dims_at + 16 + 16
        element = element[:values_at] + struct.pack("<I", 0xFF04) + element[values_at + 4:]
        message = r"the values of a 8x6x5 uint16 array are stored as element type 65284"
    if compressed:
        packed = zlib.compress(element)
        data[128:] = struct.pack("<II", 15, len(packed)) + packed
    else:
        data[128:] = element
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=rf"m\.mat at byte 128: {message}"):
        open_imaging(path, sampling_frequency=1.0)


def test_hdf5_dataset_larger_than_its_file(tmp_path):
    """Contiguous storage past the end of the file is refused at open; a chunked dataset may be larger
    than its file, but a read that needs more memory than the machine has is refused before it allocates."""
    from ophysio.errors import ReadTooLargeError

    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", data=np.ones((3, 10, 10), np.uint16))
    data = bytearray(path.read_bytes())
    for _ in range(2):  # the dataspace message's dimensions, then its maximum dimensions
        struct.pack_into("<3Q", data, data.find(struct.pack("<3Q", 3, 10, 10)), 3, 100_000, 100_000)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"c\.h5: .*(run past the end|likely file corruption)"):
        open_imaging(path, sampling_frequency=1.0)

    chunked = tmp_path / "k.h5"
    with h5py.File(chunked, "w") as f:
        f.create_dataset("mov", shape=(2, 2**20, 2**20), dtype=np.uint32, chunks=(1, 64, 64), compression="gzip")
    ex = open_imaging(chunked, sampling_frequency=1.0)  # unwritten chunks are fill values: legitimate
    with pytest.raises(ReadTooLargeError, match=r"k\.h5: reading 1x1048576x1048576 uint32 needs 4096\.0 GiB"):
        ex.get_series(0, 1)


def test_ome_plane_counts_and_times_that_are_damaged(tmp_path):
    from ophysio.errors import MetadataError
    from ophysio.extractors.ome_tiff.xml import parse_ome_xml
    from ophysio.testing.synthetic import write_frame_metadata_sidecar, write_ome_tiff

    with pytest.raises(MetadataError, match=r"SizeC=21474836481, but the Pixels list 1 Channel elements"):
        parse_ome_xml(_ome_xml(SizeC="21474836481"), "bad.ome.tif")  # made 2**34 channel names: a hang
    for bad in ('PlaneCount="-1"', 'PlaneCount="x"'):
        with pytest.raises(MetadataError, match=r"bad\.ome\.tif, Image 0: OME-XML PlaneCount=.* (negative|not an)"):
            parse_ome_xml(_ome_xml().replace('PlaneCount="2"', bad), "bad.ome.tif")
    path = write_ome_tiff(tmp_path / "o.ome.tif", size_t=4)
    sidecar = write_frame_metadata_sidecar(path, 4)
    text = sidecar.read_text()
    assert '"ElapsedTime-ms": "66.00"' in text
    sidecar.write_text(text.replace('"ElapsedTime-ms": "66.00"', '"ElapsedTime-ms": "Inf"'))
    with pytest.raises(MetadataError, match=r"o\.ome\.tif: the recorded time of sample 2 is inf"):
        open_imaging(path).get_timestamps()


def test_tifffile_open_of_a_damaged_first_ifd(tmp_path):
    """Found by the campaign: RowsPerStrip of type UNDEFINED made tifffile.TiffFile() raise a TypeError
    where pages go through tifffile (compressed OME-TIFF pages)."""
    from ophysio.extractors._tiff.decode import open_tifffile

    path = write_tiff_movie(tmp_path / "t.tif", num_samples=3)
    _set_tag(path, 278, "type", 7)
    with pytest.raises(CorruptFileError, match=r"t\.tif: tifffile could not open the file \(TypeError"):
        open_tifffile(str(path))


def test_channel_axis_of_billions(tmp_path):
    """A chunked dataset (which may exceed its file) with a damaged C axis of 2**31: a name was made for
    every channel (minutes, then MemoryError) before anything was checked."""
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", shape=(2, 4, 4, 2**31), dtype=np.uint8, chunks=(1, 4, 4, 1024), compression="gzip")
    with pytest.raises(MetadataError, match=r"c\.h5: its C axis \(dims TYXC\) holds 2147483648 channels"):
        open_imaging(path, dims="TYXC", sampling_frequency=1.0)
