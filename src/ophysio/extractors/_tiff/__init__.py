"""The one TIFF engine: header and IFD walk (ifd), constant-stride chains (uniform), page tables and reads (pages)."""
