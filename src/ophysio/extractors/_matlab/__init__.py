"""MATLAB files: the MAT v5 walker (v5) and the MATLAB value parser (values)."""
