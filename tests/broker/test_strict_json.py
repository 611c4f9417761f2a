"""The strict JSON reader of request bodies (DESIGN §5, §8): what it accepts can be stored,
serialised and read back; everything else is refused with a stable code, never another error."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.schemas.dossier import DossierPublic, EntryPublic
from broker.strict_json import (
    INT64_MAX,
    INT64_MIN,
    MAX_DEPTH,
    MAX_STRING,
    MAX_VALUES,
    JSONBodyError,
    read_json,
)


def nested(depth: int) -> Any:
    """A document of ``depth`` nested containers (the outermost counts as one)."""
    value: Any = {"x": 1}
    for i in range(depth - 1):
        value = {"a": value} if i % 2 else [value]
    return value


def code_of(body: bytes) -> str:
    with pytest.raises(JSONBodyError) as caught:
        read_json(body)
    return caught.value.code


@pytest.mark.parametrize(("body", "code"), [
    (b'{"a": 1, "a": 2}', "json_duplicate_key"),
    (b'{"x": {"a": 1, "b": {"c": 1, "c": 1}}}', "json_duplicate_key"),
    (b'{"a": NaN}', "json_non_finite_number"),
    (b'{"a": Infinity}', "json_non_finite_number"),
    (b'[-Infinity]', "json_non_finite_number"),
    (b'{"a": 1e400}', "json_non_finite_number"),
    (b'{"a": -1.5e999}', "json_non_finite_number"),
    (b'{"a": 9223372036854775808}', "json_integer_out_of_range"),
    (b'{"a": -9223372036854775809}', "json_integer_out_of_range"),
    (b'{"a": ' + b"9" * 5000 + b"}", "json_integer_out_of_range"),
    (b'{"a": "\\ud800"}', "json_lone_surrogate"),
    (b'{"a": "\\udc00\\ud800"}', "json_lone_surrogate"),
    (b'{"\\udfff": 1}', "json_lone_surrogate"),
    (b'["x\\ud83d"]', "json_lone_surrogate"),
    (b'{"a": "\xed\xa0\x80"}', "invalid_encoding"),  # a surrogate encoded as UTF-8 is not UTF-8
    (b'{"a": "\xff"}', "invalid_encoding"),
    (b"\xef\xbb\xbf{}", "invalid_encoding"),  # RFC 8259 §8.1: no byte order mark
    (b'{"a": 1} {"b": 2}', "invalid_request"),
    (b"{'a': 1}", "invalid_request"),
    (b"", "invalid_request"),
    (b"[" * 100_000, "json_too_deep"),
    (json.dumps(nested(MAX_DEPTH + 1)).encode(), "json_too_deep"),
    (json.dumps({"a": "x" * (MAX_STRING + 1)}).encode(), "json_string_too_long"),
    (json.dumps({"k" * (MAX_STRING + 1): 1}).encode(), "json_string_too_long"),
    (json.dumps([0] * MAX_VALUES).encode(), "json_too_many_values"),
], ids=["duplicate", "duplicate-nested", "nan", "infinity", "minus-infinity", "float-overflow",
        "float-overflow-negative", "int64-max+1", "int64-min-1", "5000-digits",
        "lone-high", "low-then-high", "lone-in-name", "high-at-end", "utf8-surrogate",
        "not-utf8", "bom", "two-values", "single-quotes", "empty", "100k-deep",
        "max-depth+1", "long-string", "long-name", "too-many-values"])
def test_refused_with_its_code(body: bytes, code: str) -> None:
    assert code_of(body) == code


def test_errors_never_quote_the_input() -> None:
    marker = "canary-7d1e"
    for body in (f'{{"{marker}": 1, "{marker}": 2}}', f'{{"a": "{marker}\\ud800"}}',
                 f'{{"{marker}": NaN}}', f'{{"{marker}": 1e999}}'):
        with pytest.raises(JSONBodyError) as caught:
            read_json(body.encode())
        assert marker not in str(caught.value) and marker not in caught.value.message


@pytest.mark.parametrize("body", [
    b'{"a": 9223372036854775807, "b": -9223372036854775808}',
    b'{"a": 1.7976931348623157e308, "b": -0.0, "c": 5e-324}',
    b'{"emoji": "\\ud83d\\ude00", "raw": "\xf0\x9f\x98\x80", "nul": "\\u0000"}',
    b' \t\r\n[] \n',
    json.dumps(nested(MAX_DEPTH)).encode(),
    json.dumps({"a": "x" * MAX_STRING}).encode(),
    json.dumps([0] * (MAX_VALUES - 1)).encode(),
], ids=["int64-bounds", "float-bounds", "unicode", "whitespace", "max-depth", "max-string",
        "max-values"])
def test_accepted_at_the_bounds(body: bytes) -> None:
    assert read_json(body) == json.loads(body)


# --- properties ---------------------------------------------------------------------------------

_scalars = (st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
_documents = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_documents, st.booleans())
def test_a_document_within_bounds_reads_back_unchanged(document: Any, ascii_only: bool) -> None:
    """Whatever JSON a client library makes of a bounded value (escaped or raw UTF-8) is read
    back exactly, unless it holds a lone surrogate, which is refused."""
    body = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        got = read_json(body)
    except JSONBodyError as exc:
        if ascii_only:
            assert exc.code == "json_lone_surrogate"
            assert any("\ud800" <= c <= "\udfff" for c in json.dumps(document,
                                                                      ensure_ascii=False))
        else:  # raw surrogates encoded with surrogatepass are not UTF-8
            assert exc.code in ("json_lone_surrogate", "invalid_encoding")
        return
    assert got == document
    assert _depth(got) <= MAX_DEPTH


@settings(max_examples=200, deadline=None)
@given(_documents)
def test_an_accepted_document_can_be_stored_and_served(document: Any) -> None:
    """DESIGN §8: what the reader accepts encodes as UTF-8 (the stored plaintext) and serialises
    in a response, even at the deepest nesting the reader allows."""
    body = json.dumps({"content": {"deep": nested(MAX_DEPTH - 2), "value": document}},
                      ensure_ascii=True).encode()
    try:
        content = read_json(body)["content"]
    except JSONBodyError as exc:
        assert exc.code in ("json_lone_surrogate", "json_too_deep")
        return
    stored = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    served = DossierPublic(entries=[EntryPublic(
        id="e-1", section="hulpvraag", author="ocmw-gent", restricted=False,
        created_at=datetime(2026, 12, 1, tzinfo=UTC), content=json.loads(stored))])
    assert json.loads(served.model_dump_json())["entries"][0]["content"] == content


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(
    lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_are_read_or_refused_with_a_code(body: bytes) -> None:
    try:
        read_json(body)
    except JSONBodyError as exc:
        assert exc.code in {"invalid_request", "invalid_encoding", "json_duplicate_key",
                            "json_non_finite_number",
                            "json_integer_out_of_range", "json_lone_surrogate", "json_too_deep",
                            "json_string_too_long", "json_too_many_values"}
        assert exc.status == 422


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=INT64_MAX + 1) | st.integers(max_value=INT64_MIN - 1))
def test_integers_beyond_64_bits_are_refused(number: int) -> None:
    assert code_of(json.dumps({"n": number}).encode()) == "json_integer_out_of_range"


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_finite_floats_read_back_exactly(number: float) -> None:
    got = read_json(json.dumps([number]).encode())[0]
    assert got == number and math.copysign(1, got) == math.copysign(1, number)
