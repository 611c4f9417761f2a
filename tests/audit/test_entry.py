"""Leaf encoding: RFC 8785 canonical JSON, and clear errors for anything that is not JSON."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
from types import MappingProxyType

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.entry import MAX_DEPTH, decode_leaf, encode_leaf, index_columns, leaf_columns
from audit.errors import EntryEncodingError
from audit.merkle import leaf_hash


def test_encoding_matches_rfc8785_section_3_2_2_example() -> None:
    # RFC 8785 3.2.2: whitespace removed, numbers in ECMAScript form, minimal string escapes.
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    want = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    ).encode()
    assert encode_leaf(json.loads(source)) == want


def test_keys_sort_by_utf16_code_units_per_rfc8785_section_3_2_3() -> None:
    entry = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [k for k in json.loads(encode_leaf(entry))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_same_entry_in_any_key_order_gives_the_same_leaf_hash() -> None:
    a = {"kind": "access", "verdict": {"gezondheid": "deny", "inkomen": "allow"}, "n": 1}
    b = {"n": 1, "verdict": {"inkomen": "allow", "gezondheid": "deny"}, "kind": "access"}
    assert leaf_hash(encode_leaf(a)) == leaf_hash(encode_leaf(b))


def test_mappings_tuples_and_str_or_int_enums_encode_as_plain_json() -> None:
    class Verdict(enum.StrEnum):
        ALLOW = "allow"

    class Level(enum.IntEnum):
        TWO = 2

    entry = MappingProxyType({"v": Verdict.ALLOW, "l": Level.TWO, "t": (1, 2.5, None)})
    assert encode_leaf(entry) == b'{"l":2,"t":[1,2.5,null],"v":"allow"}'


@pytest.mark.parametrize(
    ("entry", "path"),
    [
        ({"at": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)}, "$.at"),
        ({"b": b"bytes"}, "$.b"),
        ({"s": {1, 2}}, "$.s"),
        ({"d": decimal.Decimal("1.5")}, "$.d"),
        ({"x": [0, float("nan")]}, "$.x[1]"),
        ({"x": {"y": float("inf")}}, "$.x.y"),
        ({"n": 2**53}, "$.n"),
        ({"n": -(2**53)}, "$.n"),
        ({"k": {1: "int key"}}, "$.k"),
        ({"s": "lone \ud800 surrogate"}, "$.s"),
    ],
    ids=[
        "datetime",
        "bytes",
        "set",
        "decimal",
        "nan",
        "infinity",
        "int-2-pow-53",
        "int-minus-2-pow-53",
        "int-key",
        "lone-surrogate",
    ],
)
def test_entry_rejected_when_value_is_not_json(entry: dict[str, object], path: str) -> None:
    with pytest.raises(EntryEncodingError) as info:
        encode_leaf(entry)
    assert str(info.value).startswith(path + ":")
    assert info.value.code == "audit_entry_invalid"


def test_entry_rejected_when_not_an_object() -> None:
    with pytest.raises(EntryEncodingError, match="object"):
        encode_leaf([1, 2])  # type: ignore[arg-type]


def test_entry_rejected_when_nested_too_deep() -> None:
    entry: dict[str, object] = {}
    node = entry
    for _ in range(MAX_DEPTH + 1):
        child: dict[str, object] = {}
        node["a"] = child
        node = child
    with pytest.raises(EntryEncodingError, match="deeper"):
        encode_leaf(entry)


def test_largest_safe_integers_are_accepted() -> None:
    assert encode_leaf({"n": 2**53 - 1, "m": -(2**53 - 1)}) == (
        b'{"m":-9007199254740991,"n":9007199254740991}'
    )


def test_decode_leaf_returns_the_entry() -> None:
    entry = {"kind": "access", "sections": ["gezondheid"], "score": 0.5, "ok": True}
    assert decode_leaf(encode_leaf(entry)) == entry


@pytest.mark.parametrize(
    "leaf",
    [
        b'{"a":1, "b":2}',
        b'{"b":1,"a":2}',
        b'{"a":1.0}',
        b'{"a":"\\u0041"}',
        b'{"a":1,"a":1}',
        b"[1]",
        b'{"a":NaN}',
        b'{"a":"\xff"}',
        b"",
        b'{"a":' + b"1" * 5000 + b"}",
    ],
    ids=[
        "whitespace",
        "unsorted",
        "float-form",
        "needless-escape",
        "duplicate-key",
        "array",
        "nan",
        "invalid-utf8",
        "empty",
        "5000-digit-int",
    ],
)
def test_decode_leaf_rejected_when_not_canonical_json_object(leaf: bytes) -> None:
    with pytest.raises(EntryEncodingError):
        decode_leaf(leaf)


# --- query columns from a leaf's bytes (DESIGN §9): read exactly as json.loads reads them -------


def _columns_by_json_loads(leaf: bytes) -> object:
    """The rule ``leaf_columns`` implements, spelled the slow way."""
    try:
        entry = json.loads(leaf)
    except ValueError:
        return None
    return index_columns(entry) if isinstance(entry, dict) else None


ENTRY = {"kind": "access.decision", "time": "2026-12-01T10:00:00.000000Z", "network": "gbo-gent",
         "partner": "dmw-cm", "client": "c-1", "break_glass": True, "detail": {"kind": "x"}}
LEAF = encode_leaf(ENTRY)


@pytest.mark.parametrize("leaf", [
    LEAF,
    b" " + LEAF,  # whitespace before
    LEAF + b"\n",  # and after
    LEAF + b"{}",  # extra data: not JSON
    LEAF[:-1],  # cut short
    LEAF.decode().encode("utf-16-le"),  # json.loads detects UTF-16 and reads it
    LEAF.decode().encode("utf-16"),
    b'{"kind":"a","kind":"b"}',  # duplicate key: the last one wins
    b'{"ki\\u006ed":"a","break_glass":1}',  # an escaped key; a flag that is not a bool
    b'{"kind":"\\ud800"}',  # a lone surrogate escape
    b'{"kind":"\xed\xa0\x80"}',  # an encoded surrogate: read with surrogatepass
    b'{"kind":"\xff"}',  # not UTF-8
    b'{"kind":"a\tb"}',  # a raw control character: not JSON
    b'{"break_glass":NaN}',
    b'{}',
    b'[{"kind":"a"}]',
    b'{"kind":"a"} ',
    b'',
    b'{',
], ids=lambda leaf: repr(leaf[:24]))
def test_leaf_columns_read_any_bytes_as_json_loads_does(leaf: bytes) -> None:
    assert leaf_columns(leaf) == _columns_by_json_loads(leaf)


@given(st.integers(min_value=0, max_value=len(LEAF) - 1), st.integers(min_value=0, max_value=255))
def test_leaf_columns_of_a_leaf_changed_by_one_byte_are_those_json_loads_reads(
    position: int, byte: int
) -> None:
    leaf = LEAF[:position] + bytes([byte]) + LEAF[position + 1:]
    assert leaf_columns(leaf) == _columns_by_json_loads(leaf)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["kind", "time", "network", "partner", "client",
                                        "break_glass", "detail"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text()
                       | st.lists(st.integers(), max_size=2), max_size=8))
def test_leaf_columns_of_any_json_object_are_those_json_loads_reads(
    entry: dict[str, object],
) -> None:
    leaf = json.dumps(entry, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert leaf_columns(leaf) == _columns_by_json_loads(leaf)


# Strings with what JSON escapes (quote, backslash, every control character), what it must not
# (DEL, U+2028, non-ASCII), characters beyond the BMP (UTF-16 surrogate pairs: they sort keys
# differently from code points) and lone surrogates (not Unicode: refused).
_CHARS = st.sampled_from(['"', "\\", "/", "\x7f", "\u2028", "\u00e9", "\u20ac", "\ufb33",
                          "\U0001f600", "\ud800", "a", "Z", "0", " "]) | st.characters(
    max_codepoint=0x1F) | st.characters()
_TEXT = st.text(_CHARS, max_size=6)
_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**54), max_value=2**54)
            | st.floats() | _TEXT)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.lists(inner, max_size=3).map(tuple)
                     | st.dictionaries(_TEXT, inner, max_size=4), max_leaves=20)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_TEXT, _JSON, max_size=6))
def test_encoding_is_the_rfc8785_reference_encoding_of_any_json_object(
    entry: dict[str, object],
) -> None:
    # The reference: the rfc8785 package over the same value (the general path of encode_leaf).
    try:
        want: bytes | None = rfc8785.dumps(entry)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):  # a lone surrogate in a key
        want = None
    if want is None:
        with pytest.raises(EntryEncodingError):
            encode_leaf(entry)
    else:
        assert encode_leaf(entry) == want
