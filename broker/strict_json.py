"""The one JSON reader of request bodies (DESIGN §5, §8): what it accepts can always be stored,
serialised again and read back, on both databases.

Python's ``json`` module accepts more than RFC 8259 interoperably allows and more than the rest
of the broker can carry. This reader refuses, each with its own stable code:

- ``invalid_request``: not a JSON text (RFC 8259 §2; the code and status FastAPI gave before);
- ``invalid_encoding``: not UTF-8 (RFC 8259 §8.1), a byte order mark included;
- ``json_duplicate_key``: an object names a member twice (RFC 8259 §4: names SHOULD be unique;
  ``json`` silently keeps the last one);
- ``json_non_finite_number``: ``NaN``, ``Infinity``, ``-Infinity`` (not JSON at all) or a number
  too large for a double (``1e400``, which ``json`` turns into infinity);
- ``json_integer_out_of_range``: an integer outside the 64-bit signed range (RFC 8259 §6: beyond
  interoperable; neither database column nor ``BIGINT`` holds it);
- ``json_lone_surrogate``: a string with an unpaired UTF-16 surrogate escape (``"\\ud800"``,
  RFC 8259 §8.2): it cannot be encoded as UTF-8, so it could never be stored;
- ``json_too_deep``: containers nested deeper than ``MAX_DEPTH`` (the response serialiser gives
  up near 250 levels; a stored entry must stay readable);
- ``json_string_too_long``: a string or member name longer than ``MAX_STRING`` characters;
- ``json_too_many_values``: more than ``MAX_VALUES`` values in the whole document.

The body size itself is capped before this reader runs (``BrokerMiddleware``: 413). Errors
never quote the input: a member name or a value may be an INSZ or dossier content. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # nested arrays/objects, the body itself counting as one
MAX_STRING = 100_000  # characters per string or member name
MAX_VALUES = 20_000  # values in one document (members and items, containers included)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Python decodes a valid surrogate pair escape into one code point: any surrogate left in a
# decoded string was unpaired. (Raw UTF-8 cannot encode one: ``bytes.decode`` refuses it.)
_SURROGATE = re.compile("[\ud800-\udfff]")


# Every code this reader answers with besides ``invalid_request`` (all 422), for the OpenAPI
# document (DESIGN §5).
BODY_CODES = ("invalid_encoding", "json_duplicate_key", "json_non_finite_number",
              "json_integer_out_of_range", "json_lone_surrogate", "json_too_deep",
              "json_string_too_long", "json_too_many_values")


class JSONBodyError(ValueError):
    """A body this reader refuses. ``code`` is stable API; ``status`` its HTTP status;
    ``message`` a fixed text that never quotes the input."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _refuse_constant(name: str) -> Any:
    raise JSONBodyError("json_non_finite_number",
                        "NaN and Infinity are not JSON numbers; send a finite number or null.")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise JSONBodyError("json_duplicate_key", "An object names the same member twice.")
        out[name] = value
    return out


# Numbers are checked in the walk, not by parse_int/parse_float hooks: those would cost a Python
# call per number.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_refuse_constant)
_INFINITIES = (float("inf"), float("-inf"))


def _check_string(value: str) -> None:
    if len(value) > MAX_STRING:
        raise JSONBodyError("json_string_too_long",
                            f"A string holds at most {MAX_STRING} characters.")
    if _SURROGATE.search(value):
        raise JSONBodyError("json_lone_surrogate",
                            "A string holds an unpaired UTF-16 surrogate escape.")


def _check_shape(document: Any) -> None:
    """Depth, string lengths and value count, walked without recursion."""
    count = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise JSONBodyError("json_too_many_values",
                                f"A body holds at most {MAX_VALUES} values.")
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise JSONBodyError("json_integer_out_of_range",
                                    "An integer is outside the 64-bit signed range.")
        elif isinstance(value, float):
            if value in _INFINITIES:  # 1e400: too large for a double (NaN was refused above)
                raise JSONBodyError("json_non_finite_number",
                                    "A number is too large to be represented; send a smaller one.")
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise JSONBodyError("json_too_deep",
                                    f"Arrays and objects nest at most {MAX_DEPTH} levels deep.")
            if isinstance(value, dict):
                for name, member in value.items():
                    _check_string(name)
                    stack.append((member, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def read_json(body: bytes) -> Any:
    """The JSON document in ``body`` (UTF-8, RFC 8259). Raises ``JSONBodyError``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONBodyError("invalid_encoding", "The body is not UTF-8.") from None
    if text.startswith("\ufeff"):  # RFC 8259 §8.1: no byte order mark
        raise JSONBodyError("invalid_encoding", "The body starts with a byte order mark.")
    try:
        document = _DECODER.decode(text)  # RFC 8259 §2: whitespace around one value, no more
    except JSONBodyError:  # from a hook: a duplicate key, NaN or Infinity
        raise
    except RecursionError:
        raise JSONBodyError("json_too_deep",
                            f"Arrays and objects nest at most {MAX_DEPTH} levels deep.") from None
    except json.JSONDecodeError:
        raise JSONBodyError("invalid_request", "The body is not a JSON text.") from None
    except ValueError:  # int(): more digits than Python converts (sys.get_int_max_str_digits)
        raise JSONBodyError("json_integer_out_of_range",
                            "An integer is outside the 64-bit signed range.") from None
    _check_shape(document)
    return document
