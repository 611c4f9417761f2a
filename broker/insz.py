"""Belgian national numbers (INSZ/NISS) and enterprise numbers (KBO): pure validation.

An INSZ is 11 digits: 6 for the birth date (YYMMDD; bis numbers shift the month), 3 for the serial
number, 2 check digits. The check is ``97 - (N mod 97)`` over the first nine digits, where for
people born in or after 2000 the number ``2`` is prefixed to those nine digits (``2000000000 + N``).
Source: Rijksregister / Kruispuntbank "Structuur van het rijksregisternummer".
"""

from __future__ import annotations

import re

_INSZ = re.compile(r"\d{11}")
_KBO_FORMATTED = re.compile(r"[01]\d{3}\.?\d{3}\.?\d{3}")


def _mod97_check(number: int) -> int:
    return 97 - number % 97


def is_valid_insz(value: str) -> bool:
    """True if ``value`` is 11 digits whose check digits hold under either century rule."""
    if not isinstance(value, str) or not _INSZ.fullmatch(value):
        return False
    body, check = int(value[:9]), int(value[9:])
    # Born before 2000: 97 - (N mod 97); born 2000 or later: 97 - ((2000000000 + N) mod 97).
    return check in (_mod97_check(body), _mod97_check(2_000_000_000 + body))


def normalize_kbo(value: str) -> str | None:
    """Return the 10-digit KBO number if ``value`` is a valid one (dots allowed), else ``None``.

    KBO: 10 digits starting with 0 or 1; the last two are ``97 - (first eight mod 97)``.
    """
    if not isinstance(value, str) or not _KBO_FORMATTED.fullmatch(value):
        return None
    digits = value.replace(".", "")
    if int(digits[8:]) != _mod97_check(int(digits[:8])):
        return None
    return digits


def looks_like_insz(value: str) -> bool:
    """True if a free identifier could be a national number (used to refuse it as a pseudonym)."""
    digits = re.sub(r"[\s.\-]", "", value)
    return is_valid_insz(digits)
