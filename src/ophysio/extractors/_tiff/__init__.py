"""The one TIFF engine, shared by ScanImage, legacy ScanImage, TIFF, OME-TIFF and Bruker (and the TIFF-based
formats to come), organised by concern:

- :mod:`.header`: the TIFF header, tag numbers, checked positional reads, page-size checks;
- :mod:`.walk`: the IFD walk, with the constant-stride prediction most writers allow;
- :mod:`.pages`: the page table (:class:`~.pages.PageTable`), decoded from raw IFDs at once with numpy;
- :mod:`.index`: the movie view of a page table (one size and type, which pages read directly);
- :mod:`.read`: bulk reads (``os.preadv`` straight into the output), volume blocks, the page source;
- :mod:`.decode`: compressed pages (zlib without tifffile, tifffile for other codecs) in a thread pool;
- :mod:`.head`: the first IFD's text for the formats' sniffs, parsed once per detection;
- :mod:`.template`: the first page of many files written alike (one file per frame), read with one
  positional read checked against a template file's layout instead of a walk per file.
"""
