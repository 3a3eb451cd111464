"""Conversion: NWB (metadata models, interfaces, converter, streaming writer) and other output formats.

Nothing here is imported by ``import ophysio``; pynwb and hdmf load when a conversion starts.
"""
