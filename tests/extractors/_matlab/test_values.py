"""The one MATLAB value parser, as every ScanImage reader (2016+ and 3.x-5.1) uses it."""

from __future__ import annotations

import pytest

from ophysio.extractors._matlab import values
from ophysio.extractors.scanimage import header


def test_one_parser_and_one_magic():
    from ophysio.extractors.scanimage import sniff

    assert header.parse_matlab_value is values.parse_matlab_value
    assert header.parse_key_values is values.parse_key_values
    assert header.SCANIMAGE_MAGIC is sniff.SCANIMAGE_MAGIC == 0x07030301


@pytest.mark.parametrize(
    "text, value",
    [
        # a 1x1 MATLAB matrix is a scalar: isequal([5], 5); ScanImage writes either form
        ("[5]", 5), ("5", 5), ("[ 2.5 ]", 2.5), ("[true]", True),
        # a cell array is never collapsed
        ("{5}", [5]), ("{'a'}", ["a"]),
        ("[1 2]", [1, 2]), ("[1;2]", [1, 2]), ("[1,2;3,4]", [[1, 2], [3, 4]]), ("[[1 2] 3]", [[1, 2], 3]),
        ("", ""), ("   ", ""), ("'it''s'", "it's"), ("{'a' 'b'}", ["a", "b"]), ("ones(2,0)", []),
        ("@(x)x+1", "@(x)x+1"),
    ],
)
def test_values_as_matlab_holds_them(text, value):
    assert values.parse_matlab_value(text) == value


def test_legacy_lines_use_the_same_values():
    text = ("state.acq.numberOfZSlices=[5]\rstate.acq.frameRate=3.9\r\nstate.acq.name=\n"
            "scanimage.SI4.channelsSave = [1;2]")
    assert values.parse_header_lines(text) == {
        "state.acq.numberOfZSlices": 5, "state.acq.frameRate": 3.9, "state.acq.name": "",
        "scanimage.SI4.channelsSave": [1, 2],
    }


def test_key_value_lines_continue_a_value():
    assert values.parse_key_values("SI.a = [1 2;\n3 4]\nSI.b = 'x'") == {"SI.a": [[1, 2], [3, 4]], "SI.b": "x"}
