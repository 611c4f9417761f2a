"""Bounds on every value a caller can send that is not a JSON body (the strict JSON reader,
``broker.strict_json``, bounds those): moments in time and integer parameters (DESIGN §5, §8).

Moments lie in ``[1900-01-01, 2200-01-01)`` UTC: a moment to be stored outside it is refused
(422, error type ``moment_out_of_range``); a search bound outside it is moved to its edge.
Everything the broker records (consent and relation periods, audit times) is in this
century; the window leaves room for far ends, and keeps every conversion (to UTC, to a local
day, a day added) and every stored RFC 3339 form (four-digit years, so lexical order stays time
order) away from Python's year 1..9999 limits. Integers in paths and queries (leaf indices,
cursors, sizes) are in the 64-bit signed range the databases' ``BIGINT`` holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, WithJsonSchema
from pydantic_core import PydanticCustomError

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)  # exclusive
EARLIEST_DAY, LATEST_DAY = EARLIEST.date(), date(2199, 12, 31)  # inclusive
INT64_MAX = 2**63 - 1
EARLIEST_EPOCH, LATEST_EPOCH = int(EARLIEST.timestamp()), int(LATEST.timestamp())


def is_within_window(moment: datetime) -> bool:
    """Whether ``moment`` (naive: UTC) lies in the window. Comparing never overflows."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return EARLIEST <= aware < LATEST


def is_day_within_window(day: date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY


def _check_moment(moment: datetime) -> datetime:
    if not is_within_window(moment):
        raise PydanticCustomError("moment_out_of_range",
                                  "The moment must lie between 1900-01-01 and 2200-01-01 (UTC)")
    return moment


def clamp_moment(moment: datetime) -> datetime:
    """A search bound moved into the window (naive: UTC): nothing is stored outside it, so a
    filter from the year 1 or up to the year 9999 means the window's edge."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return min(max(aware, EARLIEST), LATEST)


def clamp_day(day: date) -> date:
    return min(max(day, EARLIEST_DAY), LATEST_DAY)


# A moment to store (a body's): with an offset, refused outside the window.
AwareMoment = Annotated[AwareDatetime, AfterValidator(_check_moment),
                        WithJsonSchema({"type": "string", "format": "date-time",
                                        "description": "With an offset; between 1900-01-01 and "
                                                       "2200-01-01 (UTC)."})]
# A search bound (a query's): naive means UTC, clamped into the window.
FilterMoment = Annotated[datetime, AfterValidator(clamp_moment)]
