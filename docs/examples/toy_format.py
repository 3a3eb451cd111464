"""A toy format, complete: "TOY1" files hold a 20-byte header and then uint16 pixels, sample after sample.

Header (little-endian): the magic ``b"TOY1"``, then samples, rows, columns (uint32 each) and the
sampling rate in Hz (float32). In ophysio this file would be the folder ``extractors/toy/``: the
SPEC in ``__init__.py``, ``sniff_toy`` in ``sniff.py`` and ``ToyImagingExtractor`` in ``reader.py``.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ophysio.errors import CorruptFileError, FormatError
from ophysio.extractors.imaging import ImagingExtractor
from ophysio.extractors.spec import FormatSpec

HEADER = struct.Struct("<4sIIIf")  # magic, samples, rows, columns, rate


# ---- sniff.py: a cheap look at the first bytes (the registry reads them once for every format)
def sniff_toy(path: Path, head: bytes) -> bool | str:
    """A TOY1 file; otherwise the reason it is not one (``ophysio info`` shows it)."""
    return True if head[:4] == b"TOY1" else "no TOY1 magic"


# ---- reader.py: the facts and the one raw read
class ToyImagingExtractor(ImagingExtractor):
    """Reads a TOY1 file lazily: facts from the header, pixels only when asked."""

    format_id = "toy"
    extractor_name = "ToyImagingExtractor"

    def __init__(self, file_path: str | os.PathLike):
        super().__init__()
        self.file_path = Path(file_path)
        with open(self.file_path, "rb") as fh:  # no handle is kept open: the extractor pickles as it is
            head = fh.read(HEADER.size)
        if len(head) < HEADER.size or head[:4] != b"TOY1":
            raise FormatError(f"{self.file_path.name} is not a TOY1 file (magic {head[:4]!r}, expected b'TOY1')")
        _, self._samples, self._rows, self._columns, self._rate = HEADER.unpack(head)
        self._channel_name = "channel_0"

    def get_num_samples(self) -> int:
        return self._samples

    def get_image_shape(self) -> tuple[int, int]:
        return (self._rows, self._columns)

    def get_dtype(self) -> np.dtype:
        return np.dtype("<u2")

    def get_sampling_frequency(self) -> float:
        return float(self._rate)

    def get_file_paths(self) -> list[str]:
        return [str(self.file_path)]

    def _read_series(self, start: int, stop: int, out: np.ndarray) -> None:
        sample_bytes = self._rows * self._columns * 2
        with open(self.file_path, "rb") as fh:
            fh.seek(HEADER.size + start * sample_bytes)
            got = fh.readinto(memoryview(out).cast("B"))
        if got != out.nbytes:  # a file cut short (or still being written) is an error, never zeros
            raise CorruptFileError(f"{self.file_path.name} ends inside sample {start + got // sample_bytes}: "
                                   f"{self._samples} samples expected from its header")


# ---- __init__.py: the format, declared once
SPEC = FormatSpec(
    "toy",
    (".toy",),
    sniff_toy,
    "toy_format:ToyImagingExtractor",  # "ophysio.extractors.toy.reader:ToyImagingExtractor" in the package
    "TOY1 file: a 20-byte header, then uint16 samples",
)


# ---- for tests and examples: a writer of faithful files
def write_toy(path: str | os.PathLike, data: np.ndarray, rate: float) -> Path:
    """Write ``data`` (samples, rows, columns) as a TOY1 file."""
    data = np.asarray(data, dtype="<u2")
    path = Path(path)
    with open(path, "wb") as fh:
        fh.write(HEADER.pack(b"TOY1", *data.shape, rate))
        fh.write(data.tobytes())
    return path
