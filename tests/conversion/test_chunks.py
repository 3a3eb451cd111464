"""The chunk shuffler: NWB layout plus HDF5's byte shuffle, compared with a plain numpy reference."""

import numpy as np
import pytest

from ophysio.conversion.chunks import _Shuffler
from ophysio.testing.synthetic import movie


def reference(chunk: np.ndarray, shuffle: bool) -> bytes:
    nwb = np.ascontiguousarray(chunk.swapaxes(1, 2))
    if not shuffle or nwb.dtype.itemsize == 1:
        return nwb.tobytes()
    as_bytes = nwb.view(np.uint8).reshape((*nwb.shape, nwb.dtype.itemsize))
    return np.ascontiguousarray(np.moveaxis(as_bytes, -1, 0)).tobytes()


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float16", "int32", "float32", "float64", "complex64"])
@pytest.mark.parametrize("shape", [(4, 20, 20), (3, 130, 77), (2, 200, 300), (2, 70, 90, 3), (1, 33, 1000)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_shuffler_matches_numpy(dtype, shape, shuffle):
    planes = shape[3] if len(shape) == 4 else None
    chunk = movie(shape[0], shape[1], shape[2], planes=planes, dtype="float64" if "complex" in dtype else dtype)
    chunk = chunk.astype(dtype) if "complex" in dtype else chunk
    if "complex" in dtype:
        chunk = chunk + 1j * chunk[::-1]
    chunk = np.ascontiguousarray(chunk)
    nwb_shape = (shape[0], shape[2], shape[1], *shape[3:])
    shuffler = _Shuffler(nwb_shape, chunk.dtype)
    for _ in range(2):  # the per-thread buffers are reused
        assert bytes(shuffler(chunk, shuffle)) == reference(chunk, shuffle)
