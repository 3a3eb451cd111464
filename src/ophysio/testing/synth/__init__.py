"""One module of synthetic-file writers per format family; :mod:`ophysio.testing.synthetic` gathers them.

Each module defines its ``write_*`` functions (listed in its ``__all__``) and may define ``EXAMPLES``,
a dict of built-in examples ``name -> writer(folder) -> (path, open keywords)``.
"""

#: The modules of this package that :mod:`ophysio.testing.synthetic` gathers, in order.
FORMAT_MODULES = ("scanimage", "tiff", "binary")
