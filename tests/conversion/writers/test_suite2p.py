"""The suite2p writer through WriterTests: data.bin of each plane read with numpy, ops.npy, read back by ophysio."""

import numpy as np

from ophysio.extractors import NumpyImagingExtractor
from ophysio.testing.writers import RATE, WriterTests, channel_movies


def _int16(movies):
    return [m.astype(np.int16) if m.dtype == np.uint16 else m for m in movies]  # values fit: exact policy


class TestSuite2pWriter(WriterTests):
    format = "suite2p"
    output_name = "suite2p"

    def expected_movies(self, case):
        return _int16(channel_movies(case))

    def make_source(self, case):
        return [NumpyImagingExtractor(m, RATE) for m in self.expected_movies(case)]

    def read_back(self, path, case, options):
        movies = self.expected_movies(case)
        planes = movies[0].shape[3] if movies[0].ndim == 4 else 1
        rows, columns = movies[0].shape[1:3]
        out = []
        for name in ["data.bin", "data_chan2.bin"][: len(movies)]:
            per_plane = [np.fromfile(path / f"plane{z}" / name, dtype="<i2").reshape(-1, rows, columns)
                         for z in range(planes)]
            out.append(np.stack(per_plane, axis=-1) if planes > 1 else per_plane[0])
        return out

    def check_written(self, path, case, options):
        from ophysio.extractors.suite2p import Suite2pImagingExtractor

        movies = self.expected_movies(case)
        planes = movies[0].shape[3] if movies[0].ndim == 4 else 1
        # and the marker that lets overwrite=True recognise the folder as ophysio's
        assert sorted(p.name for p in path.iterdir()) == [".ophysio-output", *(f"plane{z}" for z in range(planes))]
        for z in range(planes):
            ops = np.load(path / f"plane{z}" / "ops.npy", allow_pickle=True).item()
            assert (ops["Ly"], ops["Lx"], ops["nframes"], ops["fs"]) == (*movies[0].shape[1:3], movies[0].shape[0],
                                                                          RATE)
            assert (ops["nplanes"], ops["nchannels"]) == (planes, len(movies))
            for c, name in enumerate(["data.bin", "data_chan2.bin"][: len(movies)]):
                raw = np.fromfile(path / f"plane{z}" / name, dtype="<i2").reshape(-1, ops["Ly"], ops["Lx"])
                plane = movies[c][..., z] if planes > 1 else movies[c]
                np.testing.assert_array_equal(raw, plane)
            np.testing.assert_allclose(ops["meanImg"], (movies[0][..., z] if planes > 1 else movies[0]).mean(0),
                                       rtol=1e-6)
        for c, name in enumerate(["chan1", "chan2"][: len(movies)]):
            ext = Suite2pImagingExtractor(path, channel_name=name)
            np.testing.assert_array_equal(ext.get_series(), movies[c])
            assert ext.get_sampling_frequency() == RATE
