"""HDF5 movies: the real PySight file, CaImAn-style files and layouts that exercise dims and discovery."""

import pickle
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from ophysio.errors import FormatError, MetadataError, RateUnknownError, SelectionError
from ophysio.extractors import open_imaging
from ophysio.extractors.hdf5 import Hdf5ImagingExtractor
from ophysio.testing.conformance import ExtractorTests, copy_source
from ophysio.testing.data import sample_file
from ophysio.testing.synthetic import movie, write_caiman_hdf5

from ...conversion._writer_cases import channel_movies, irregular_times, make_source

FOLDER = Path(tempfile.mkdtemp(prefix="ophysio-test-hdf5-"))
FLY = "hdf5/fly.hdf5"


def _written_by_ophysio() -> Path:
    """ophysio's own HDF5 writer: 2 volumetric channels ch0/ch1 with irregular timestamps."""
    path = FOLDER / "written.h5"
    if not path.exists():
        from ophysio.conversion.writers import write_imaging

        write_imaging(make_source("multichannel", timestamps=True), path, compression="gzip")
    return path


def _write(name: str, datasets: dict, attrs: dict | None = None, labels: dict | None = None, **create) -> Path:
    path = FOLDER / name
    if not path.exists():
        with h5py.File(path, "w") as f:
            f.attrs.update(attrs or {})
            for key, value in datasets.items():
                dset = f.create_dataset(key, data=value, **create)
                for axis, label in enumerate((labels or {}).get(key, ())):
                    dset.dims[axis].label = label
    return path


# stored arrays of the synthetic cases
YXT = movie(9, 6, 5, dtype="uint16").transpose(1, 2, 0)                       # (Y, X, T)
TZYXC = np.stack([movie(6, 4, 5, planes=3, dtype="int16", channel=c) for c in range(2)], -1).transpose(0, 3, 1, 2, 4)
XYT_LABELLED = movie(7, 5, 4, dtype="float32").transpose(2, 1, 0)             # (X, Y, T)
CH = {c: movie(8, 6, 7, dtype="uint8", channel=c) for c in range(2)}


def _cases():
    return {
        "fly": (lambda: sample_file(FLY), {"sampling_frequency": 12.5}),
        "caiman-gzip": (lambda: write_caiman_hdf5(FOLDER / "caiman.h5", 25, 12, 10, chunks=(4, 12, 10),
                                                  compression="gzip") if not (FOLDER / "caiman.h5").exists()
                        else FOLDER / "caiman.h5", {}),
        "yxt": (lambda: _write("yxt.h5", {"stack": YXT}, attrs={"fs": 4.0}), {"dims": "YXT"}),
        "tzyxc-ch1": (lambda: _write("tzyxc.h5", {"data": TZYXC}), {"dims": "TZYXC", "channel_index": 1,
                                                                     "sampling_frequency": 3.0}),
        "tzyxc-plane2": (lambda: _write("tzyxc.h5", {"data": TZYXC}), {"dims": "TZYXC", "plane_index": 2,
                                                                        "sampling_frequency": 3.0}),
        "labels-xyt": (lambda: _write("labels.h5", {"a/b/movie": XYT_LABELLED}, attrs={"sampling_frequency": 2.0},
                                      labels={"a/b/movie": ("x", "y", "time")}), {}),
        "per-channel-ch2": (lambda: _write("channels.h5", {"acq/ch1": CH[0], "acq/ch2": CH[1], "acq/ref": CH[0][:3]},
                                           attrs={"rate": b"15.0"}, chunks=(1, 6, 7)), {"channel_name": "ch2"}),
        "big-endian": (lambda: _write("be.h5", {"imaging": movie(5, 3, 4, dtype="uint16").astype(">u2")},
                                      attrs={"fr": 9.0}), {}),
        "ophysio-writer-ch1": (_written_by_ophysio, {"channel_name": "ch1"}),
    }


def _expected(case: str) -> np.ndarray:
    """The movie as (T, Y, X[, Z]) read with h5py in each file's documented axis order."""
    path = _cases()[case][0]()
    with h5py.File(path, "r") as f:
        if case == "fly":
            # PySight stores (frames, lines, columns): axis 0 is time (see test_fly_time_axis)
            return f["Full Stack/Channel 1"][()]
        if case == "caiman-gzip":
            return f["mov"][()]
        if case == "yxt":
            return np.ascontiguousarray(f["stack"][()].transpose(2, 0, 1))
        if case == "tzyxc-ch1":
            return np.ascontiguousarray(f["data"][()][..., 1].transpose(0, 2, 3, 1))
        if case == "tzyxc-plane2":
            return np.ascontiguousarray(f["data"][()][:, 2, :, :, 0])
        if case == "labels-xyt":
            return np.ascontiguousarray(f["a/b/movie"][()].transpose(2, 1, 0))
        if case == "per-channel-ch2":
            return f["acq/ch2"][()]
        if case == "ophysio-writer-ch1":
            return f["mov"][()][..., 1]  # our writer's (T, Y, X, Z, C), labelled in DIMENSION_LABELS
        return f["imaging"][()]


class TestHdf5(ExtractorTests):
    cases = list(_cases())

    def make_extractor(self, case):
        maker, kwargs = _cases()[case]
        return Hdf5ImagingExtractor(maker(), **kwargs)

    def make_shrinkable(self, case, tmp_path):
        maker, kwargs = _cases()[case]
        extractor = Hdf5ImagingExtractor(copy_source(maker(), tmp_path), **kwargs)
        return extractor, extractor.get_file_paths()

    def expected_series(self, case):
        return _expected(case)

    def expected_sampling_frequency(self, case):
        if case == "ophysio-writer-ch1":
            return make_source("multichannel", timestamps=True)["ch1"].get_sampling_frequency()
        return {"fly": 12.5, "caiman-gzip": 30.0, "yxt": 4.0, "labels-xyt": 2.0, "per-channel-ch2": 15.0,
                "big-endian": 9.0}.get(case, 3.0)

    def expected_timestamps(self, case):
        return irregular_times(6) if case == "ophysio-writer-ch1" else None


def test_fly_time_axis():
    """fly.hdf5: 'Summed Stack/Channel 1' (64, 512) is the sum of the full stack over axis 0, and the
    chunks hold one (64, 512) image each: axis 0 is time (161 frames of 64 x 512)."""
    with h5py.File(sample_file(FLY), "r") as f:
        full, summed = f["Full Stack/Channel 1"], f["Summed Stack/Channel 1"][()]
        assert full.chunks == (1, 64, 512)
        np.testing.assert_array_equal(full[()].sum(axis=0, dtype=np.uint16), summed)
    ex = Hdf5ImagingExtractor(sample_file(FLY), sampling_frequency=1.0)
    assert ex.dataset_path == "Full Stack/Channel 1" and ex.get_num_samples() == 161
    assert ex.get_image_shape() == (64, 512) and ex.get_channel_names() == ["Channel 1"]
    assert ex.get_metadata()["attrs"]["mirror_phase"] == "10.0"


def test_fly_opens_without_a_rate_and_says_so_when_one_is_needed():
    ex = Hdf5ImagingExtractor(sample_file(FLY))  # PySight states no rate: pixels need none
    assert ex.get_sampling_frequency() is None
    with h5py.File(sample_file(FLY), "r") as f:
        np.testing.assert_array_equal(ex.get_series(0, 3), f["Full Stack/Channel 1"][0:3])
    with pytest.raises(RateUnknownError, match=r"fly.hdf5.*\(looked for attributes.*pass sampling_frequency="):
        ex.get_timestamps()
    assert Hdf5ImagingExtractor(sample_file(FLY), sampling_frequency=5.0).get_timestamps()[2] == 0.4


def test_values_are_the_synthetic_pattern_and_dtype_kept():
    ex = Hdf5ImagingExtractor(_cases()["tzyxc-ch1"][0](), dims="TZYXC", channel_index=1, sampling_frequency=1.0)
    np.testing.assert_array_equal(ex.get_series(), movie(6, 4, 5, planes=3, dtype="int16", channel=1))
    be = Hdf5ImagingExtractor(_cases()["big-endian"][0]())
    assert be.get_dtype() == np.dtype(">u2")
    np.testing.assert_array_equal(be.get_series(), movie(5, 3, 4, dtype="uint16"))


def test_caiman_metadata_is_kept_and_never_unpickled():
    ex = Hdf5ImagingExtractor(_cases()["caiman-gzip"][0]())
    meta = ex.get_metadata()
    assert meta["dataset"] == "mov" and meta["attrs"]["fr"] == 30.0
    assert isinstance(meta["attrs"]["meta_data"], bytes)
    assert ex.get_channel_names() == ["channel_0"]


def test_per_channel_groups_under_any_group(tmp_path):
    ex = Hdf5ImagingExtractor(_cases()["per-channel-ch2"][0]())
    assert ex.get_channel_names() == ["ch1", "ch2"] and ex.channel_name == "ch1"  # first by default
    np.testing.assert_array_equal(ex.get_series(), CH[0])
    path = tmp_path / "groups.h5"
    with h5py.File(path, "w") as f:
        for c in (1, 2):
            f.create_dataset(f"session/Channel {c}/frames", data=movie(4, 3, 5, dtype="uint8", channel=c))
        f.create_dataset("session/other", data=np.zeros((40, 30, 5), dtype="uint8"))  # larger, not conventional
    ex = Hdf5ImagingExtractor(path, sampling_frequency=1.0, channel_name="Channel 2")
    assert ex.dataset_path == "session/Channel 2/frames"
    np.testing.assert_array_equal(ex.get_series(), movie(4, 3, 5, dtype="uint8", channel=2))


def test_largest_dataset_then_ambiguity_lists_candidates(tmp_path):
    path = tmp_path / "two.h5"
    with h5py.File(path, "w") as f:
        f["small"] = np.zeros((3, 4, 5), dtype="u2")
        f["big"] = np.ones((6, 4, 5), dtype="u2")
        f["image"] = np.zeros((4, 5), dtype="u2")
    assert Hdf5ImagingExtractor(path, sampling_frequency=1.0).dataset_path == "big"
    with h5py.File(path, "a") as f:
        f["big2"] = np.ones((6, 4, 5), dtype="u2")
    with pytest.raises(FormatError, match=r"(?s)none is clearly it.*big 6x4x5.*big2 6x4x5.*dataset="):
        Hdf5ImagingExtractor(path, sampling_frequency=1.0)
    assert Hdf5ImagingExtractor(path, dataset="big2", sampling_frequency=1.0).dataset_path == "big2"
    with pytest.raises(SelectionError, match="no dataset 'nope'.*big, big2, small"):
        Hdf5ImagingExtractor(path, dataset="nope", sampling_frequency=1.0)


def test_dims_errors(tmp_path):
    path = _cases()["tzyxc-ch1"][0]()
    with pytest.raises(MetadataError, match="axis order .* unknown: pass dims="):
        Hdf5ImagingExtractor(path, sampling_frequency=1.0)
    with pytest.raises(MetadataError, match="one distinct letter per stored axis"):
        Hdf5ImagingExtractor(path, dims="TYX", sampling_frequency=1.0)
    with pytest.raises(SelectionError, match="channel_index 2 is out of range"):
        Hdf5ImagingExtractor(path, dims="TZYXC", channel_index=2, sampling_frequency=1.0)


def test_not_hdf5_is_a_clear_error(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(FormatError, match="could not be read as HDF5"):
        Hdf5ImagingExtractor(path, sampling_frequency=1.0)


def test_open_imaging_picks_hdf5_by_content(tmp_path):
    ex = open_imaging(sample_file(FLY), sampling_frequency=5.0)
    assert isinstance(ex, Hdf5ImagingExtractor)
    renamed = tmp_path / "movie.dat"
    renamed.write_bytes(Path(_cases()["caiman-gzip"][0]()).read_bytes())
    ex = open_imaging(renamed)
    assert isinstance(ex, Hdf5ImagingExtractor) and ex.get_sampling_frequency() == 30.0


def test_chunk_cache_holds_a_time_row_of_chunks(tmp_path):
    path = tmp_path / "wide.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", shape=(64, 512, 1024), dtype="u2", chunks=(64, 128, 128),
                         compression="gzip", data=np.full((64, 512, 1024), 3, "u2"))  # written: fill is not data
    ex = Hdf5ImagingExtractor(path, sampling_frequency=1.0)
    assert ex._file.opener.keywords["rdcc_nbytes"] >= 64 * 512 * 1024 * 2
    assert int(ex.get_series(10, 12).sum()) == 2 * 512 * 1024 * 3
    clone = pickle.loads(pickle.dumps(ex))  # the opener with its cache size pickles by reference
    assert clone._file.opener.keywords == ex._file.opener.keywords
    assert int(clone.get_series(0, 1).sum()) == 512 * 1024 * 3
    clone.close()
    ex.close()


def test_four_dimensional_mov_follows_roiextractors(tmp_path):
    """roiextractors reads a 4-D ``mov`` as (channel, time, rows, columns); so do we without dims."""
    path = tmp_path / "demo.hdf5"
    data = np.stack([movie(6, 5, 4, dtype="uint16", channel=c) for c in range(2)])  # (C, T, Y, X)
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", data=data).attrs["fr"] = 10.0
    ex = Hdf5ImagingExtractor(path, channel_name="channel_1")
    assert ex.get_metadata()["dims"] == "CTYX" and "roiextractors" in ex.get_metadata()["dims_source"]
    np.testing.assert_array_equal(ex.get_series(), data[1])


def test_non_numeric_dataset_is_refused(tmp_path):
    path = tmp_path / "text.h5"
    with h5py.File(path, "w") as f:
        f["names"] = np.array([[[b"a"]]])
    with pytest.raises(FormatError, match="not numbers"):
        Hdf5ImagingExtractor(path, dataset="names", sampling_frequency=1.0)


def test_our_writers_extras_are_read():
    """The ``timestamps`` attribute names the times dataset; ``channel_names`` names the C axis."""
    ex = Hdf5ImagingExtractor(_written_by_ophysio(), channel_name="ch1")
    assert ex.get_channel_names() == ["ch0", "ch1"] and ex.get_metadata()["dims"] == "TYXZC"
    assert ex.get_metadata()["timestamps_source"] == "dataset timestamps"
    with h5py.File(_written_by_ophysio(), "r") as f:
        np.testing.assert_array_equal(ex.get_native_timestamps(), f["timestamps"][()])
    np.testing.assert_array_equal(ex.get_series(), channel_movies("multichannel")[1])
    with pytest.raises(SelectionError, match=r"'channel_1' is not one of \['ch0', 'ch1'\]"):
        Hdf5ImagingExtractor(_written_by_ophysio(), channel_name="channel_1")


def test_channel_names_name_every_channel_as_in_roiextractors(tmp_path):
    # roiextractors' Hdf5ImagingExtractor (behind neuroconv's Hdf5ImagingInterface) reads a 4-D `mov` as
    # (channel, time, rows, columns) and takes channel_names as one name per channel, reading the first
    movies = [movie(6, 5, 4, dtype="uint16", channel=c) for c in range(3)]
    path = tmp_path / "mov.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("mov", data=np.stack(movies)).attrs["fr"] = 7.5
    names = ["green", "red", "ir"]
    ex = Hdf5ImagingExtractor(file_path=path, mov_field="mov", channel_names=names)
    assert ex.get_channel_names() == names and ex.channel_name == "green"
    np.testing.assert_array_equal(ex.get_series(), movies[0])
    red = Hdf5ImagingExtractor(path, mov_field="mov", channel_names=names, channel_name="red")
    np.testing.assert_array_equal(red.get_series(), movies[1])
    clone = pickle.loads(pickle.dumps(red))
    assert clone.get_channel_names() == names and clone.channel_name == "red"
    np.testing.assert_array_equal(clone.get_series(), movies[1])
    ir = Hdf5ImagingExtractor(path, mov_field="mov", channel_names=names, channel_index=2)
    assert ir.channel_name == "ir"
    np.testing.assert_array_equal(ir.get_series(), movies[2])
    # a one-element list still names only the channel read
    one = Hdf5ImagingExtractor(path, mov_field="mov", channel_names=["GCaMP"], channel_index=1)
    assert one.get_channel_names() == ["channel_0", "GCaMP", "channel_2"]
    np.testing.assert_array_equal(one.get_series(), movies[1])
    with pytest.raises(SelectionError, match=r"'channel_1' is not one of \['green', 'red', 'ir'\]"):
        Hdf5ImagingExtractor(path, mov_field="mov", channel_names=names, channel_name="channel_1")
    with pytest.raises(MetadataError, match=r"2 names for the 3 channels .*one name per channel"):
        Hdf5ImagingExtractor(path, mov_field="mov", channel_names=["a", "b"])
    with pytest.raises(MetadataError, match="name each channel once"):
        Hdf5ImagingExtractor(path, mov_field="mov", channel_names=["a", "a", "b"])
    # per-channel datasets are named the same way, in the source's order
    per = tmp_path / "per.h5"
    with h5py.File(per, "w") as f:
        f["acq/ch1"], f["acq/ch2"] = movies[0], movies[1]
    second = Hdf5ImagingExtractor(per, sampling_frequency=2.0, channel_names=["GCaMP", "tdTomato"],
                                  channel_name="tdTomato")
    assert second.get_channel_names() == ["GCaMP", "tdTomato"]
    np.testing.assert_array_equal(second.get_series(), movies[1])


def test_neuroconv_interface_arguments_start_time_metadata_channel_names(tmp_path):
    # neuroconv's Hdf5ImagingInterface always passes start_time, metadata and channel_names (None or not)
    data = movie(8, 5, 4, dtype="uint16")
    path = tmp_path / "mov.h5"
    with h5py.File(path, "w") as f:
        f["mov"] = data
    plain = Hdf5ImagingExtractor(file_path=path, mov_field="mov", sampling_frequency=4.0, start_time=None,
                                 metadata=None, channel_names=None)
    np.testing.assert_allclose(plain.get_timestamps(), np.arange(8) / 4.0)
    assert plain.get_channel_names() == ["channel_0"] and "metadata" not in plain.get_metadata()
    ex = Hdf5ImagingExtractor(file_path=path, mov_field="mov", sampling_frequency=4.0, start_time=12.5,
                              metadata={"session": "a", "depth_um": 120}, channel_names=["GCaMP"])
    np.testing.assert_array_equal(ex.get_series(), data)
    np.testing.assert_allclose(ex.get_timestamps(), 12.5 + np.arange(8) / 4.0)
    np.testing.assert_allclose(ex.slice_samples(2, 4).get_timestamps(), [13.0, 13.25])
    assert not ex.has_time_vector() and ex.get_sampling_frequency() == 4.0
    assert ex.get_metadata()["metadata"] == {"session": "a", "depth_um": 120}
    assert ex.channel_name == "GCaMP" and ex.get_channel_names() == ["GCaMP"]
    clone = pickle.loads(pickle.dumps(ex))
    np.testing.assert_allclose(clone.get_timestamps(), 12.5 + np.arange(8) / 4.0)
    # recorded times (named by the dataset's 'timestamps' attribute) move by start_time too
    recorded = np.cumsum(np.linspace(0.2, 0.3, 8))
    timed = tmp_path / "timed.h5"
    with h5py.File(timed, "w") as f:
        f["mov"] = data
        f["times"] = recorded
        f["mov"].attrs["timestamps"] = "times"
    np.testing.assert_allclose(Hdf5ImagingExtractor(timed, dataset="mov", sampling_frequency=4.0).get_timestamps(),
                               recorded)
    shifted = Hdf5ImagingExtractor(timed, dataset="mov", sampling_frequency=4.0, start_time=-1.0)
    np.testing.assert_allclose(shifted.get_timestamps(), recorded - 1.0)
    with pytest.raises(MetadataError, match=r"2 names for the 1 channel of .*one name per channel"):
        Hdf5ImagingExtractor(path, dataset="mov", sampling_frequency=4.0, channel_names=["a", "b"])
    with pytest.raises(MetadataError, match="start_time"):
        Hdf5ImagingExtractor(path, dataset="mov", sampling_frequency=4.0, start_time=float("nan"))
