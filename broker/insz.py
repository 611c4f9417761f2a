"""Enterprise numbers (KBO) and spotting national numbers where none belong: pure validation.

INSZ validation itself (11 digits, mod-97 with both century rules) is ``consent.insz``.
"""

from __future__ import annotations

import re

from consent.insz import is_valid_insz

__all__ = ["is_valid_insz", "looks_like_insz", "normalize_kbo"]

_KBO_FORMATTED = re.compile(r"[01]\d{3}\.?\d{3}\.?\d{3}")


def _mod97_check(number: int) -> int:
    return 97 - number % 97


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
