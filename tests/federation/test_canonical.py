"""RFC 8785 canonical JSON: the RFC's own examples, its number table, and strict parsing.

Signatures cover canonical bytes, so any difference from the RFC here would make records signed
by another implementation fail to verify (or, worse, two texts verify as one revision).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from federation.canonical import CanonicalJSONError, canonical_bytes, canonical_text, parse_strict

# RFC 8785 section 3.2.2 (the "numbers/string/literals" example), input text as printed there.
RFC_VALUES_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_VALUES_OUTPUT = (
    '{"literals":[null,true,false],'
    '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)
# The same output as the RFC gives it in hex (section 3.2.4), so the expectation above does not
# rest on Python escaping alone.
RFC_VALUES_HEX = (
    "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 75 65 2c 66 61 6c 73 65 5d 2c"
    " 22 6e 75 6d 62 65 72 73 22 3a 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c"
    " 31 65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 5d 2c 22 73 74 72 69 6e"
    " 67 22 3a 22 e2 82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d"
)

# RFC 8785 section 3.2.3: property sorting by UTF-16 code units, not code points or UTF-8.
RFC_SORTING_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_SORTING_ORDER = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]

# cyberphone/json-canonicalization testdata (the RFC author's reference test files).
CYBERPHONE_CASES = [
    pytest.param(
        r"""{
  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],
  "escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}""",
        '{"escaping":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
        '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}',
        id="values",
    ),
    pytest.param(
        r"""{
  "\u20ac": "Euro Sign",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}""",
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😂":"Smiley",'
        '"\ufb33":"Hebrew Letter Dalet With Dagesh"}',
        id="weird",
    ),
]

# RFC 8785 appendix B: IEEE 754 doubles (as hex) and their canonical text.
RFC_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(hex_bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(hex_bits))[0]
    return value


def test_rfc_values_example_canonicalises_to_the_rfc_text_and_bytes() -> None:
    value = parse_strict(RFC_VALUES_INPUT)

    assert canonical_text(value) == RFC_VALUES_OUTPUT
    assert canonical_bytes(value) == bytes.fromhex(RFC_VALUES_HEX.replace(" ", ""))


def test_rfc_sorting_example_orders_keys_by_utf16_code_units() -> None:
    value = parse_strict(RFC_SORTING_INPUT)

    text = canonical_text(value)

    assert list(json.loads(text)) == RFC_SORTING_ORDER
    # Only control characters are escaped: U+0080 and the rest go out as UTF-8.
    assert text.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control",')
    assert text.endswith(
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )


@pytest.mark.parametrize(("source", "expected"), CYBERPHONE_CASES)
def test_reference_implementation_test_files(source: str, expected: str) -> None:
    assert canonical_text(parse_strict(source)) == expected


@pytest.mark.parametrize(("bits", "expected"), RFC_NUMBERS)
def test_rfc_number_serialisation_table(bits: str, expected: str) -> None:
    assert canonical_text(_double(bits)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (-0.0, "0"),
        (333333333.33333329, "333333333.3333333"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (1e-7, "1e-7"),
    ],
)
def test_floats_take_the_ecmascript_shortest_form(value: float, expected: str) -> None:
    assert canonical_text(value) == expected
    assert canonical_text([value]) == f"[{expected}]"


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinities_have_no_canonical_form(bits: str) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_text({"x": _double(bits)})


def test_integers_outside_the_double_safe_range_have_no_canonical_form() -> None:
    # Two different integers would otherwise canonicalise to the same double text.
    assert canonical_text(2**53 - 1) == "9007199254740991"
    with pytest.raises(CanonicalJSONError):
        canonical_text(2**53 + 1)


@pytest.mark.parametrize(
    "value",
    [
        {1: "integer key"},
        "\ud800",  # a lone surrogate is not Unicode text
        {"x": object()},
    ],
)
def test_values_that_are_not_json_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_text(value)


def test_canonical_text_is_idempotent_on_its_own_output() -> None:
    once = canonical_text(parse_strict(RFC_SORTING_INPUT))

    assert canonical_text(parse_strict(once)) == once


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 1}',
        '{"a": 1, "b": {"c": 2, "c": 3}}',
        '[{"id": "x", "id": "y"}]',
        '{"\\u0061": 1, "a": 2}',  # the same key, once escaped
    ],
)
def test_parse_strict_refuses_duplicate_keys(text: str) -> None:
    with pytest.raises(CanonicalJSONError, match="duplicate key"):
        parse_strict(text)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"risk": NaN}', "[1, Infinity]"])
def test_parse_strict_refuses_nan_and_infinity(text: str) -> None:
    with pytest.raises(CanonicalJSONError):
        parse_strict(text)


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", '{"a": 1,}', "[1 2]", b"\xff\xfe{}"])
def test_parse_strict_refuses_text_that_is_not_json(text: str | bytes) -> None:
    with pytest.raises(CanonicalJSONError):
        parse_strict(text)


def test_an_overflowing_number_parses_but_never_canonicalises() -> None:
    # 1e400 is valid JSON grammar yet no double: a payload holding it can never verify.
    with pytest.raises(CanonicalJSONError):
        canonical_text(parse_strict('{"n": 1e400}'))


def test_parse_strict_accepts_what_it_should() -> None:
    assert parse_strict(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


@pytest.mark.parametrize("raw", [b'{"a": "\xff"}', b"\xc3\x28", b'"\xed\xa0\x80"'])
def test_parse_strict_refuses_bytes_that_are_not_utf8(raw: bytes) -> None:
    # Peers' answers and descriptors are parsed from bytes: a bad byte must be a refusal the
    # callers handle (CanonicalJSONError), not a UnicodeDecodeError that escapes them.
    with pytest.raises(CanonicalJSONError):
        parse_strict(raw)
