"""Help relations: validity at ``now``, default and maximum end, ending (DESIGN §3, DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consent.errors import RelationEndInPast, RelationEndTooFar, RelationNotValid
from consent.rules import add_months, relation_end, relation_is_valid
from consent.versions import end_relation
from tests.consent.factories import DAY, NOW, make_relation

START = NOW - 60 * DAY
END = NOW + 300 * DAY


@pytest.mark.parametrize(
    ("now", "ended_at", "valid"),
    [
        (START, None, True),
        (START - DAY, None, False),
        (END - DAY, None, True),
        (END, None, False),
        (NOW, NOW + DAY, True),
        (NOW, NOW, False),
        (NOW, NOW - DAY, False),
    ],
    ids=[
        "valid_at_start",
        "invalid_before_start",
        "valid_just_before_end",
        "invalid_at_end",
        "valid_when_end_is_scheduled_later",
        "invalid_when_ended_at_now",
        "invalid_when_ended_earlier",
    ],
)
def test_relation_validity_at_now(now: datetime, ended_at: datetime | None, valid: bool) -> None:
    rel = make_relation(start=START, end=END, ended_at=ended_at)
    assert relation_is_valid(rel, now) is valid


def test_relation_end_defaults_to_twelve_months_after_start() -> None:
    assert relation_end(NOW, None, NOW) == datetime(2027, 11, 28, 10, 0, tzinfo=UTC)


def test_relation_end_accepts_exactly_twenty_four_months() -> None:
    end = datetime(2028, 11, 28, 10, 0, tzinfo=UTC)
    assert relation_end(NOW, end, NOW) == end


@pytest.mark.parametrize(
    ("requested_end", "error"),
    [
        (NOW, RelationEndInPast),
        (NOW - DAY, RelationEndInPast),
        (datetime(2028, 11, 28, 10, 0, 1, tzinfo=UTC), RelationEndTooFar),
    ],
    ids=["end_equal_to_start", "end_in_past", "end_one_second_past_24_months"],
)
def test_relation_end_rejected(requested_end: datetime, error: type[Exception]) -> None:
    with pytest.raises(error):
        relation_end(NOW, requested_end, NOW)


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2027, 2, 28, tzinfo=UTC), 12, datetime(2028, 2, 28, tzinfo=UTC)),
        (datetime(2028, 2, 29, tzinfo=UTC), 12, datetime(2029, 2, 28, tzinfo=UTC)),
        (datetime(2026, 11, 30, tzinfo=UTC), 3, datetime(2027, 2, 28, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 24, datetime(2028, 12, 15, tzinfo=UTC)),
    ],
    ids=["31_jan_plus_one", "year_into_leap_year", "from_leap_day", "across_year_end", "two_years"],
)
def test_add_months_clamps_to_month_end(moment: datetime, months: int, expected: datetime) -> None:
    assert add_months(moment, months) == expected


def test_ending_a_valid_relation_stamps_ended_at() -> None:
    ended = end_relation(make_relation(), now=NOW)
    assert ended.ended_at == NOW
    assert not relation_is_valid(ended, NOW)


def test_ending_an_ended_relation_is_rejected() -> None:
    with pytest.raises(RelationNotValid):
        end_relation(make_relation(ended_at=NOW - DAY), now=NOW)
