"""The INSZ (Belgian national number) as a request field: checked, never shown.

DESIGN §3: 11 digits, the last two a mod-97 check over the first nine, or over ``2`` followed by
the first nine for people born in or after 2000. The value never appears in a ``repr`` and the
validation message never repeats it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field


def is_valid_insz(value: str) -> bool:
    """True when ``value`` is 11 ASCII digits with a valid mod-97 check (either century)."""
    if not isinstance(value, str) or len(value) != 11 or not value.isascii() or not value.isdigit():
        return False
    base, check = int(value[:9]), int(value[9:])
    # DESIGN §3: check = 97 - (base mod 97); for births from 2000 on, base is prefixed with "2".
    return check in (97 - base % 97, 97 - (2_000_000_000 + base) % 97)


def looks_like_insz(value: str) -> bool:
    """True if a free identifier could be a national number once spaces, dots and dashes are
    dropped (used to refuse it as a pseudonym: DESIGN §3, no INSZ in any log or audit entry)."""
    return is_valid_insz(re.sub(r"[\s.\-]", "", value))


def _check_insz(value: str) -> str:
    if not is_valid_insz(value):
        raise ValueError("not a valid INSZ")
    return value


# DESIGN §3 in the request schema: exactly 11 digits, no dots, dashes or spaces (what
# ``is_valid_insz`` accepts); ``format: insz`` names the mod-97 check no JSON Schema can express.
INSZ_PATTERN = r"^[0-9]{11}$"
Insz = Annotated[str, Field(repr=False, pattern=INSZ_PATTERN, json_schema_extra={
    "format": "insz",
    "description": "An INSZ (Belgian national number): 11 digits without separators, the last "
    "two a mod-97 check over the first nine (or over 2 and the first nine, for births from "
    "2000 on).",
}), AfterValidator(_check_insz)]
"""A request field holding an INSZ. Keep it out of logs: it is excluded from ``repr``."""
