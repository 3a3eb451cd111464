"""A toy segmentation format, complete: "TSG1" files hold a 24-byte header, dense masks, then traces.

Header (little-endian): the magic ``b"TSG1"``, then ROIs, rows, columns, samples (uint32 each) and the
sampling rate in Hz (float32). Then the masks, float32 ``(ROIs, rows, columns)``, then the fluorescence
traces, float32 ``(samples, ROIs)``. In ophysio this file would be the folder ``extractors/toyseg/``: the
SEGMENTATION_SPEC in ``__init__.py``, ``sniff_toyseg`` in ``sniff.py`` and the reader in ``segmentation.py``.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ophysio.errors import FormatError
from ophysio.extractors._filearray import FileArray
from ophysio.extractors._handles import CachedFile
from ophysio.extractors.segmentation import SegmentationExtractor
from ophysio.extractors.spec import FormatSpec

HEADER = struct.Struct("<4sIIIIf")  # magic, ROIs, rows, columns, samples, rate


# ---- sniff.py: a cheap look at the first bytes
def sniff_toyseg(path: Path, head: bytes) -> bool | str:
    """A TSG1 file; otherwise the reason it is not one."""
    return True if head[:4] == b"TSG1" else "no TSG1 magic"


# ---- segmentation.py: a few facts and reads; the base class does the rest
class ToySegmentationExtractor(SegmentationExtractor):
    """Reads a TSG1 file lazily: facts from the header, masks and traces only when asked."""

    format_id = "toyseg"
    extractor_name = "ToySegmentationExtractor"
    native_mask_type = "image"  # the file stores dense masks: the base derives the sparse ones

    def __init__(self, file_path: str | os.PathLike):
        super().__init__()
        self.file_path = Path(file_path)
        with open(self.file_path, "rb") as fh:
            head = fh.read(HEADER.size)
        if len(head) < HEADER.size or head[:4] != b"TSG1":
            raise FormatError(f"{self.file_path.name} is not a TSG1 file (magic {head[:4]!r}, expected b'TSG1')")
        _, rois, rows, columns, samples, self._rate = HEADER.unpack(head)
        file = CachedFile(self.file_path)  # opened on demand through the process-wide handle cache
        self._masks = FileArray(file, HEADER.size, "<f4", (rois, rows, columns), "the masks")
        self._traces = FileArray(file, HEADER.size + self._masks.nbytes, "<f4", (samples, rois), "the traces")
        self._shape = (rows, columns)
        # what the source says about each ROI: the base gives accepted/rejected lists from is_accepted
        self.set_property("is_accepted", np.arange(rois) % 2 == 0, description="even ROIs are cells in a toy")

    # the facts
    def get_image_shape(self) -> tuple[int, int]:
        return self._shape

    def get_num_samples(self) -> int:
        return self._traces.shape[0]

    def get_sampling_frequency(self) -> float:
        return float(self._rate)

    def get_roi_ids(self) -> list:
        return list(range(self._masks.shape[0]))

    def get_trace_names(self) -> list[str]:
        return ["raw"]

    def get_file_paths(self) -> list[str]:
        return [str(self.file_path)]

    # the reads: ROI positions in, arrays out (a file cut short is an error naming it: FileArray sees to it)
    def _read_image_masks(self, positions: np.ndarray, background: bool = False) -> np.ndarray:
        if background:
            return np.zeros((*self._shape, 0), dtype=np.float32)
        return np.stack([self._masks[int(p)] for p in positions], axis=-1) if len(positions) else \
            np.zeros((*self._shape, 0), dtype=np.float32)

    def _read_traces(self, name: str, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        return self._traces[start:stop][:, positions]  # whole samples read, the ROIs picked

    def _read_images(self) -> dict[str, np.ndarray]:
        return {"max": self._masks[:].max(axis=0)}


# ---- __init__.py: the format, declared once
SEGMENTATION_SPEC = FormatSpec(
    "toyseg",
    (".tsg",),
    sniff_toyseg,
    "toy_segmentation:ToySegmentationExtractor",  # "ophysio.extractors.toyseg.segmentation:..." in the package
    "TSG1 file: a 24-byte header, dense masks, then traces",
    kind="segmentation",
)


# ---- for tests and examples: a writer of faithful files
def write_toyseg(path: str | os.PathLike, masks: np.ndarray, traces: np.ndarray, rate: float) -> Path:
    """Write ``masks`` (ROIs, rows, columns) and ``traces`` (samples, ROIs) as a TSG1 file."""
    masks, traces = np.asarray(masks, dtype="<f4"), np.asarray(traces, dtype="<f4")
    path = Path(path)
    with open(path, "wb") as fh:
        fh.write(HEADER.pack(b"TSG1", masks.shape[0], masks.shape[1], masks.shape[2], traces.shape[0], rate))
        fh.write(masks.tobytes())
        fh.write(traces.tobytes())
    return path
