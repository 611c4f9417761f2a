"""INSZ and KBO validation: known answers."""

from __future__ import annotations

import pytest

from broker.security.registry import normalize_kbo
from consent.insz import is_valid_insz, looks_like_insz

INSZ_CASES = {
    # Public example from the national register's documentation: born 1993-05-18.
    "valid_pre_2000_public_example": ("93051822361", True),
    "valid_pre_2000": ("85073003328", True),
    # Born 2001: the check uses 2 prepended (2010203123 mod 97).
    "valid_post_2000": ("01020312345", True),
    "post_2000_number_checked_with_pre_2000_rule_only_is_bad": ("01020312346", False),
    "bad_checksum": ("85073003329", False),
    "too_short": ("8507300332", False),
    "too_long": ("850730033281", False),
    "non_digits": ("85O73003328", False),
    "formatted_with_dots": ("85.07.30-033.28", False),
    "empty": ("", False),
    "whitespace": (" 85073003328", False),
}


@pytest.mark.parametrize(("value", "valid"), INSZ_CASES.values(), ids=INSZ_CASES.keys())
def test_insz_validation(value: str, valid: bool) -> None:
    assert is_valid_insz(value) is valid


def test_insz_that_is_not_a_string_is_invalid() -> None:
    assert is_valid_insz(85073003328) is False  # type: ignore[arg-type]


def test_formatted_insz_is_recognised_as_one() -> None:
    assert looks_like_insz("85.07.30-033.28")
    assert not looks_like_insz("w-12")


KBO_CASES = {
    "dotted": ("0207.316.714", "0207316714"),
    "plain": ("0207316714", "0207316714"),
    "starting_with_1": ("1000.000.021", "1000000021"),
    "bad_checksum": ("0207.316.715", None),
    "wrong_first_digit": ("2207.316.714", None),
    "too_short": ("207.316.714", None),
}


@pytest.mark.parametrize(("value", "expected"), KBO_CASES.values(), ids=KBO_CASES.keys())
def test_kbo_validation(value: str, expected: str | None) -> None:
    assert normalize_kbo(value) == expected
