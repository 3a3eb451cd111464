"""A source cut short after it was opened is an ophysio error naming it: never zeros, never SIGBUS.

Formats that used to memory-map their values (``.npy``, raw binary, MAT v5) crashed the process with
SIGBUS; those reads run in a subprocess here so that a crash shows as a return code. HDF5 and MAT v7.3
used to give zeros for the missing part; a chunk whose filter mask was flipped used to come back as
compressed bytes (and can crash libhdf5), so it runs in a subprocess too.
"""

import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio.errors import CorruptFileError
from ophysio.extractors.hdf5 import Hdf5ImagingExtractor
from ophysio.extractors.mat import MatImagingExtractor
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import write_mat_v73

MOVIE = (np.arange(60 * 24 * 20, dtype=np.uint16).reshape(60, 24, 20) % 1000) + 1  # no zero anywhere


def cut(path, fraction=0.5) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(int(os.path.getsize(path) * fraction))


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (with this tree's ophysio first on the path)."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=120)


# ---------------------------------------------------------------------- HDF5 and MAT v7.3: zeros before
def test_real_hdf5_cut_after_open_is_an_error(tmp_path):
    path = tmp_path / "fly.hdf5"
    shutil.copy(sample_file("hdf5/fly.hdf5"), path)
    ex = Hdf5ImagingExtractor(path, sampling_frequency=12.5)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(ex.get_series(0, 2), f["Full Stack/Channel 1"][:2])
    cut(path)
    with pytest.raises(CorruptFileError, match="fly.hdf5"):
        ex.get_series()
    ex.close()


@pytest.mark.parametrize("chunks", [None, (1, 24, 20), (7, 12, 20)], ids=["contiguous", "frame-chunks", "blocks"])
def test_uncompressed_hdf5_cut_after_open_is_an_error_not_zeros(tmp_path, chunks):
    path = tmp_path / "movie.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", data=MOVIE, chunks=chunks)
    ex = Hdf5ImagingExtractor(path, sampling_frequency=10.0)
    np.testing.assert_array_equal(ex.get_series(0, 3), MOVIE[:3])
    cut(path)
    with pytest.raises(CorruptFileError, match="movie.h5"):
        ex.get_series()
    with pytest.raises(CorruptFileError, match="movie.h5"):
        ex.get_samples([len(MOVIE) - 1])
    ex.close()
    with pytest.raises(CorruptFileError, match="movie.h5"):  # reopened (after close) it is still an error
        ex.get_series(0, 1)


def test_hdf5_never_written_chunks_are_not_data(tmp_path):
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("mov", shape=MOVIE.shape, dtype=MOVIE.dtype, chunks=(10, 24, 20))
        dset[:30] = MOVIE[:30]  # the writer stopped after 30 of 60 samples
    with h5py.File(path, "r") as f:
        assert not f["mov"][30:].any()  # what h5py hands out: fill values as if they were pixels
    ex = Hdf5ImagingExtractor(path, sampling_frequency=10.0)
    np.testing.assert_array_equal(ex.get_series(0, 30), MOVIE[:30])  # what was written reads fine
    with pytest.raises(CorruptFileError, match=r"partial.h5.*3 of its 6 chunks.*samples 30:40"):
        ex.get_series()
    ex.close()


def test_mat_v73_cut_after_open_is_an_error(tmp_path):
    path = write_mat_v73(tmp_path / "movie.mat", variables={"mov": MOVIE.T, "fr": np.array([[5.0]])})
    ex = MatImagingExtractor(path)
    np.testing.assert_array_equal(ex.get_series(0, 2), MOVIE[:2].transpose(0, 2, 1))
    cut(path)
    with pytest.raises(CorruptFileError, match="movie.mat"):
        ex.get_series()
    ex.close()


# ---------------------------------------------------------------------- memory-mapped formats: SIGBUS before
SHRINK_AND_READ = """
import os, sys
from ophysio.errors import OphysioError
{setup}
first = ex.get_series(0, 1)
with open(PATH, "r+b") as fh:
    fh.truncate(os.path.getsize(PATH) // 2)
for read in (lambda: ex.get_series(), lambda: ex.get_samples([ex.get_num_samples() - 1])):
    try:
        data = read()
    except OphysioError as exc:
        print("ERROR", type(exc).__name__, exc)
    else:
        print("DATA", int((data.reshape(len(data), -1) == 0).all(axis=1).sum()), "all-zero samples")
"""

SETUPS = {
    "npy": """
        import numpy as np
        from ophysio.extractors import NumpyImagingExtractor
        PATH = {path!r}
        np.save(PATH, (np.arange(400 * 64 * 64, dtype=np.uint16).reshape(400, 64, 64) % 999) + 1)
        ex = NumpyImagingExtractor(PATH, sampling_frequency=10.0)
    """,
    "npy-fortran": """
        import numpy as np
        from ophysio.extractors import NumpyImagingExtractor
        PATH = {path!r}
        np.save(PATH, np.asfortranarray((np.arange(400 * 64 * 64, dtype=np.uint16).reshape(400, 64, 64) % 999) + 1))
        ex = NumpyImagingExtractor(PATH, sampling_frequency=10.0)
    """,
    "binary-channels": """
        import numpy as np
        from ophysio.extractors.binary import NumpyMemmapImagingExtractor, VideoStructure
        PATH = {path!r}
        ((np.arange(300 * 64 * 64 * 2, dtype=np.uint16) % 999) + 1).tofile(PATH)
        ex = NumpyMemmapImagingExtractor(PATH, VideoStructure(num_rows=64, num_columns=64, num_channels=2),
                                         sampling_frequency=10.0, dtype="uint16", channel_index=1)
    """,
    "binary-frames-last": """
        import numpy as np
        from ophysio.extractors.binary import NumpyMemmapImagingExtractor, VideoStructure
        PATH = {path!r}
        ((np.arange(300 * 64 * 64, dtype=np.uint16) % 999) + 1).tofile(PATH)
        ex = NumpyMemmapImagingExtractor(PATH, VideoStructure(num_rows=64, num_columns=64, rows_axis=0,
                                         columns_axis=1, channels_axis=2, frame_axis=3),
                                         sampling_frequency=10.0, dtype="uint16")
    """,
    "mat-v5": """
        import numpy as np, scipy.io
        from ophysio.extractors.mat import MatImagingExtractor
        PATH = {path!r}
        scipy.io.savemat(PATH, {{"mov": (np.arange(64 * 64 * 300, dtype=np.uint16).reshape(64, 64, 300) % 999) + 1,
                                 "fs": 10.0}})
        ex = MatImagingExtractor(PATH)
        assert ex.get_metadata()["storage"] == "memory-mapped"
    """,
    "suite2p": """
        import numpy as np
        from ophysio.testing.synthetic import write_suite2p
        from ophysio.extractors.suite2p import Suite2pImagingExtractor
        root = write_suite2p({path!r}, num_frames=200, rows=64, columns=64, sampling_frequency=7.5)
        PATH = os.path.join({path!r}, "suite2p", "plane0", "data.bin")
        ex = Suite2pImagingExtractor(os.path.join({path!r}, "suite2p"), plane_name="plane0")
    """,
}


@pytest.mark.parametrize("kind", list(SETUPS))
def test_memory_mapped_formats_cut_after_open_are_an_error_not_sigbus(tmp_path, kind):
    name = {"suite2p": "run", "mat-v5": "movie.mat"}.get(kind, "movie.npy" if kind.startswith("npy") else "movie.bin")
    target = tmp_path / name
    setup = textwrap.dedent(SETUPS[kind]).format(path=str(target))
    done = run_isolated(SHRINK_AND_READ.replace("{setup}", setup))
    assert done.returncode == 0, f"crashed with return code {done.returncode}: {done.stderr[-2000:]}"
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("ERROR CorruptFileError") for line in lines), done.stdout
    file_name = "data.bin" if kind == "suite2p" else name
    assert all(file_name in line for line in lines), done.stdout


# ---------------------------------------------------------------------- a flipped filter-mask bit
def _chunk_records(path, dataset):
    with h5py.File(path, "r") as f:
        dset = f[dataset]
        return [dset.id.get_chunk_info(i) for i in range(dset.id.get_num_chunks())]


def _flip_filter_mask(path, dataset, index) -> None:
    """Set bit 0 of chunk ``index``'s filter mask in the v1 chunk B-tree: its key is the chunk's byte count
    (uint32), filter mask (uint32) and offsets (uint64 per axis, plus 0 for the datatype)."""
    info = _chunk_records(path, dataset)[index]
    key = struct.pack(f"<II{len(info.chunk_offset) + 1}Q", info.size, 0, *info.chunk_offset, 0)
    raw = bytearray(Path(path).read_bytes())
    at = raw.find(key)
    assert at > 0 and raw.find(key, at + 1) < 0, "the chunk's B-tree key is not found exactly once"
    raw[at + 4] |= 1
    Path(path).write_bytes(bytes(raw))
    assert _chunk_records(path, dataset)[index].filter_mask == 1


READ_FLIPPED = """
import h5py
from ophysio.errors import OphysioError
from ophysio.extractors.hdf5 import Hdf5ImagingExtractor
try:
    ex = Hdf5ImagingExtractor({path!r}, sampling_frequency=1.0)
    ex.get_series()
except OphysioError as exc:
    print("ERROR", type(exc).__name__, exc)
else:
    print("DATA")
"""


def test_real_hdf5_chunk_with_a_flipped_filter_mask_is_corrupt(tmp_path):
    path = tmp_path / "fly.hdf5"
    shutil.copy(sample_file("hdf5/fly.hdf5"), path)
    _flip_filter_mask(path, "Full Stack/Channel 1", 5)
    done = run_isolated(READ_FLIPPED.format(path=str(path)))
    assert done.returncode == 0, f"crashed with return code {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.startswith("ERROR CorruptFileError"), done.stdout
    assert "fly.hdf5" in done.stdout and "(5, 0, 0)" in done.stdout and "deflate" in done.stdout


@pytest.mark.parametrize("filters", ["gzip", "shuffle-gzip"])
def test_direct_chunk_marked_unfiltered_is_corrupt(tmp_path, filters):
    """A deflate stream stored with filter_mask marking deflate as skipped (what h5py writes when asked)."""
    import zlib

    path = tmp_path / "masked.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("mov", shape=MOVIE.shape, dtype=MOVIE.dtype, chunks=(10, 24, 20),
                                compression="gzip", shuffle=filters == "shuffle-gzip")
        for t in range(0, 60, 10):
            block = MOVIE[t : t + 10]
            if filters == "shuffle-gzip":
                block = block.view(np.uint8).reshape(-1, 2).T.copy()  # HDF5's shuffle: a byte transpose
            deflated = zlib.compress(block.tobytes())
            dset.id.write_direct_chunk((t, 0, 0), deflated, filter_mask=0b10 if t == 20 and filters == "shuffle-gzip"
                                       else int(t == 20))
    done = run_isolated(READ_FLIPPED.format(path=str(path)))
    assert done.returncode == 0, f"crashed with return code {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.startswith("ERROR CorruptFileError") and "masked.h5" in done.stdout, done.stdout
    assert "(20, 0, 0)" in done.stdout


def test_chunks_legitimately_stored_unfiltered_are_read(tmp_path):
    """HDF5 may store a chunk without an optional filter (mask bit set, the chunk's raw bytes): that is data."""
    path = tmp_path / "optional.h5"
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("mov", shape=MOVIE.shape, dtype=MOVIE.dtype, chunks=(10, 24, 20), compression="gzip")
        import zlib

        for t in range(0, 60, 10):
            block = MOVIE[t : t + 10].tobytes()
            dset.id.write_direct_chunk((t, 0, 0), block if t == 30 else zlib.compress(block), filter_mask=int(t == 30))
    ex = Hdf5ImagingExtractor(path, sampling_frequency=1.0)
    np.testing.assert_array_equal(ex.get_series(), MOVIE)
    ex.close()


def test_mat_v73_chunk_with_a_flipped_filter_mask_is_corrupt(tmp_path):
    path = tmp_path / "movie.mat"
    with h5py.File(path, "w", userblock_size=512) as f:
        dset = f.create_dataset("mov", data=MOVIE.transpose(0, 2, 1), chunks=(10, 20, 24), compression="gzip")
        dset.attrs["MATLAB_class"] = np.bytes_("uint16")
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8) + b"\x00\x02IM")
    _flip_filter_mask(path, "mov", 2)
    code = READ_FLIPPED.replace("from ophysio.extractors.hdf5 import Hdf5ImagingExtractor",
                                "from ophysio.extractors.mat import MatImagingExtractor as Hdf5ImagingExtractor")
    done = run_isolated(code.format(path=str(path)))
    assert done.returncode == 0, f"crashed with return code {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.startswith("ERROR CorruptFileError") and "movie.mat" in done.stdout, done.stdout

