"""One module of synthetic-file writers per format family; :mod:`ophysio.examples` gathers them.

They are production code because the built-in examples (``ophysio convert --example NAME``) write their
files with them; :mod:`ophysio.testing.synthetic` hands them on to tests and benchmarks.

Each module defines its ``write_*`` functions (listed in its ``__all__``) and may define ``EXAMPLES``,
a dict of built-in examples ``name -> writer(folder) -> (path, open keywords)``.
"""

#: The modules of this package that :mod:`ophysio.examples` gathers, in order.
FORMAT_MODULES = ("scanimage", "tiff", "binary", "femtonics", "scanbox", "thor", "micromanager", "inscopix",
                  "hcimage", "segmentation", "mat_segmentation", "bruker", "nwb", "zarr", "video", "miniscope")
