"""Consent status at ``now``: active, expired, revoked, not yet valid; bound to a relation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from consent.models import ConsentStatus
from consent.rules import consent_status
from tests.consent.factories import DAY, NOW, make_consent, make_relation

FROM = NOW - 30 * DAY
UNTIL = NOW + 300 * DAY


@pytest.mark.parametrize(
    ("overrides", "now", "expected"),
    [
        ({}, NOW, "active"),
        ({}, FROM, "active"),
        ({}, FROM - DAY, "not_yet_valid"),
        ({}, UNTIL - DAY, "active"),
        ({}, UNTIL, "expired"),
        ({"revoked_at": NOW - DAY}, NOW, "revoked"),
        ({"revoked_at": NOW}, NOW, "revoked"),
        ({"revoked_at": NOW + DAY}, NOW, "active"),
        ({"revoked_at": NOW - DAY}, UNTIL + DAY, "revoked"),
    ],
    ids=[
        "active_inside_period",
        "active_at_valid_from",
        "not_yet_valid_before_valid_from",
        "active_just_before_valid_until",
        "expired_at_valid_until",
        "revoked_after_revocation",
        "revoked_at_revocation_instant",
        "active_before_a_later_revocation",
        "revoked_wins_over_expired",
    ],
)
def test_consent_status(overrides: dict[str, Any], now: datetime, expected: ConsentStatus) -> None:
    c = make_consent(valid_from=FROM, valid_until=UNTIL, **overrides)
    assert consent_status(c, now) == expected


@pytest.mark.parametrize(
    ("relation_overrides", "expected"),
    [
        ({}, "active"),
        ({"ended_at": NOW - DAY}, "expired"),
        ({"ended_at": NOW}, "expired"),
        ({"end": NOW}, "expired"),
        ({"start": NOW + DAY}, "not_yet_valid"),
        (None, "expired"),
    ],
    ids=[
        "active_while_relation_valid",
        "expired_when_relation_ended",
        "expired_when_relation_ended_now",
        "expired_when_relation_reached_its_end",
        "not_yet_valid_before_relation_starts",
        "expired_when_relation_unknown",
    ],
)
def test_consent_bound_to_relation_ends_with_the_relation(
    relation_overrides: dict[str, Any] | None, expected: ConsentStatus
) -> None:
    c = make_consent(help_relation_id="r-1")
    relations = {} if relation_overrides is None else {"r-1": make_relation(**relation_overrides)}
    assert consent_status(c, NOW, relations) == expected


def test_unbound_consent_ignores_relations() -> None:
    relations = {"r-1": make_relation(ended_at=NOW - DAY)}
    assert consent_status(make_consent(), NOW, relations) == "active"
