"""Leaf encoding: an audit entry is logged as its RFC 8785 (JCS) canonical JSON bytes.

The same entry always yields the same bytes, so the leaf hash ``SHA-256(0x00 || leaf)`` is a
function of the entry's content alone (DESIGN section 7).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

import msgspec
import rfc8785

from audit.errors import EntryEncodingError

__all__ = [
    "INDEXED_FIELDS",
    "MAX_DEPTH",
    "decode_leaf",
    "encode_leaf",
    "format_time",
    "index_columns",
    "leaf_columns",
    "stored_flag",
]

MAX_DEPTH = 32
"""Deepest nesting of objects and arrays accepted in an entry."""

# RFC 8785 3.2.2.3 / I-JSON (RFC 7493 2.2): integers must be exact IEEE 754 doubles.
_MAX_SAFE_INT = 2**53 - 1

def format_time(moment: datetime) -> str:
    """The log's fixed-width RFC 3339 UTC form, ``2026-11-28T10:00:00.000000Z``: lexical order
    is time order, so stored times sort and compare as strings (a naive datetime is taken as
    UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_JSON: TypeAlias = None | bool | int | float | str | list["_JSON"] | dict[str, "_JSON"]


def _normalize(value: object, path: str, depth: int) -> _JSON:
    """Copy ``value`` into plain JSON builtins, naming the first non-JSON part by its path."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise EntryEncodingError(f"{path}: integer {value} is outside +-(2**53 - 1)")
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EntryEncodingError(f"{path}: {value} is not a JSON number")
        return float(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # RFC 8785 3.2.2.2 / I-JSON: strings must be valid Unicode (no lone surrogates).
            raise EntryEncodingError(f"{path}: string is not valid Unicode") from None
        return str.__str__(value)
    if depth >= MAX_DEPTH:
        raise EntryEncodingError(f"{path}: nested deeper than {MAX_DEPTH}")
    if isinstance(value, Mapping):
        out: dict[str, _JSON] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryEncodingError(f"{path}: object key {key!r} is not a string")
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                raise EntryEncodingError(f"{path}: object key is not valid Unicode") from None
            out[str.__str__(key)] = _normalize(item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_normalize(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise EntryEncodingError(f"{path}: {type(value).__name__} is not a JSON type")


def _plain(value: object, depth: int) -> bool:
    """True when the standard library's JSON encoder writes ``value`` exactly as RFC 8785 does:
    only dicts with string keys of the Basic Multilingual Plane (then code point order is
    RFC 8785 3.2.3's UTF-16 order), lists, tuples, strings, safe integers, booleans and None, of
    exactly these types (no subclass, whose JSON the encoder may spell differently), nested at
    most ``MAX_DEPTH`` deep. Floats are not: ECMAScript number formatting (RFC 8785 3.2.2.3)
    differs from Python's. The strings escape alike (RFC 8785 3.2.2.2: only the quote, the
    backslash and control characters, with the short forms and lowercase ``\\u00xx``)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT  # type: ignore[operator]
    if depth >= MAX_DEPTH:
        return False
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff") \
                    or not _plain(item, depth + 1):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item, depth + 1) for item in value)  # type: ignore[attr-defined]
    return False


def encode_leaf(entry: Mapping[str, object]) -> bytes:
    """The RFC 8785 canonical JSON of ``entry``: the bytes that become the log leaf.

    Accepts mappings with string keys, lists/tuples, str, int, float, bool and None.
    Raises ``EntryEncodingError`` (naming the offending path, e.g. ``$.detail[2]``) for any
    other type, non-finite floats, integers beyond 2**53 - 1, or lone surrogates.
    """
    if not isinstance(entry, Mapping):
        raise EntryEncodingError("$: an entry must be a JSON object")
    # The broker's entries are plain: the check and the standard library's C encoder take about
    # a fifth of the general path's time (240 -> 50 us for an access decision's leaf), byte for
    # byte the same (tests/audit/test_entry.py).
    if _plain(entry, 0):
        try:
            return json.dumps(entry, ensure_ascii=False, separators=(",", ":"),
                              sort_keys=True).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: the general path names where
    normalized = _normalize(entry, "$", 0)
    try:
        return rfc8785.dumps(normalized)
    except rfc8785.CanonicalizationError as exc:
        raise EntryEncodingError(f"$: {exc}") from exc


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise EntryEncodingError("duplicate object key")
    return out


def _no_constants(name: str) -> object:
    raise EntryEncodingError(f"{name} is not JSON")


def decode_leaf(leaf: bytes) -> dict[str, object]:
    """Parse a leaf back into its entry, insisting it is exactly ``encode_leaf(entry)``.

    Raises ``EntryEncodingError`` if the bytes are not UTF-8 JSON, not an object, have duplicate
    keys, or are not in RFC 8785 canonical form.
    """
    try:
        value = json.loads(
            leaf.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
        )
    except (ValueError, RecursionError) as exc:  # incl. UnicodeDecodeError, JSONDecodeError
        raise EntryEncodingError(f"leaf is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EntryEncodingError("leaf is not a JSON object")
    if encode_leaf(value) != leaf:
        raise EntryEncodingError("leaf is not RFC 8785 canonical JSON")
    return value


INDEXED_FIELDS = ("kind", "time", "network", "partner", "client", "break_glass")
"""The entry fields a store copies into columns for indexed search (``audit.schema``)."""

Columns: TypeAlias = tuple[object, ...]
"""A leaf's query columns, in :data:`INDEXED_FIELDS` order."""


def index_columns(entry: Mapping[str, object]) -> Columns:
    """The query columns of ``entry``: the one rule by which a store fills them and a verifier
    recomputes them (DESIGN §9, "Verification covers everything stored"). A missing
    ``break_glass`` is False."""
    get = entry.get  # INDEXED_FIELDS, spelled out: whole-log verification runs this per leaf
    return (get("kind"), get("time"), get("network"), get("partner"), get("client"),
            bool(get("break_glass")))


class _Indexed(msgspec.Struct):
    """The query fields of a leaf, when each is a plain string (the flag a bool) or null: what
    the log writes. Any other value fails the typed decode and the leaf is read by json.loads."""

    kind: str | None = None
    time: str | None = None
    network: str | None = None
    partner: str | None = None
    client: str | None = None
    break_glass: bool | None = None


# Decodes the six fields and skips the rest of the leaf without building it: a fifth of the
# time of a whole parse (bench/audit_verify.py), which whole-log verification pays per leaf.
_decode_indexed = msgspec.json.Decoder(_Indexed).decode


def leaf_columns(leaf: bytes) -> Columns | None:
    """:func:`index_columns` of a stored leaf's bytes, None if they are not a JSON object
    (as ``json.loads`` reads them)."""
    if leaf[:1] == b"{" and leaf[1:2] != b"\x00":  # UTF-8 by json.detect_encoding's rule
        try:
            # json.loads refuses what is not UTF-8 (surrogates aside) also in a field the typed
            # decode skips without looking; a refused leaf has no columns either way.
            if not leaf.isascii():
                leaf.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
        try:
            found = _decode_indexed(leaf)
        except (msgspec.DecodeError, RecursionError):
            pass  # not JSON, or a value of another type: json.loads decides below
        else:
            # json.loads agrees whenever this decode succeeds (duplicate keys: the last wins
            # in both): tests/audit/test_entry.py compares them on edge cases and mutations.
            return (found.kind, found.time, found.network, found.partner, found.client,
                    bool(found.break_glass))
    entry: object
    try:
        entry = json.loads(leaf)
    except ValueError:
        return None
    return index_columns(entry) if isinstance(entry, dict) else None


def stored_flag(value: object) -> object:
    """A stored boolean column as a bool when it is one (0/1, false/true), else as it is (SQLite
    keeps an integer: a forged 2 must not read as True)."""
    return bool(value) if value in (0, 1) and not isinstance(value, float) else value


@dataclass(frozen=True)
class StoredLeaf:
    """A leaf as stored: its position in the log and the exact bytes that were hashed, and the
    query columns stored beside them when the reader fetched them (None otherwise)."""

    index: int
    leaf: bytes
    columns: Columns | None = None
