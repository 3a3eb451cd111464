"""Reading Zarr (v2 and v3) with nothing but the stores' bytes, numpy and numcodecs' decoders.

Shared by the ``zarr`` format (OME-Zarr, ophysio's Zarr output) and the ``nwb`` format (NWB-Zarr files,
which hdmf-zarr writes as Zarr v2): a store (:mod:`.store`: a local folder, an HTTP(S) URL, an fsspec
URL), the metadata of its groups and arrays (:mod:`.nodes`: consolidated or per node), and an array's
chunks decoded one at a time (:mod:`.array`, :mod:`.codecs`), so that a read fetches exactly the chunks
it needs, locally or remotely, whichever zarr-python is installed (hdmf-zarr needs zarr 2, ophysio's Zarr
writer zarr 3) or none.
"""
