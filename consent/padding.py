"""Reading a client's records together with padding rows, in one statement (DESIGN §4 no
existence leak).

A statement built by ``padded`` returns the client's rows first, then as many padding rows as
bring their number up to the next multiple of a bucket (at least one bucket): the database
itself counts the client's rows and returns the padding, so a client the broker never saw
costs the same statement, the same number of rows fetched and decoded by the driver and the
column types, and the same conversion of each row, as a client with a few records. Every row
ends with a ``pad`` column: 0 for the client's, the padding slot (1, 2, ...) for padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, case, func, literal, literal_column, true, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.sql import ColumnElement, CompoundSelect, Select


def padded(real: Select[Any], *, padding: Sequence[Any], bucket: int,
           order_by: Sequence[str] = ()) -> CompoundSelect[Any]:
    """``real`` (a select of columns of one table, filtered to one client) and padding rows of
    the values ``padding`` (one per column of ``real``, bound with that column's type), ordered
    by ``pad`` and then by ``order_by`` (names of ``real``'s columns)."""
    columns: list[ColumnElement[Any]] = list(real.selected_columns)
    if len(columns) != len(padding):
        raise ValueError("one padding value per column")
    counted = sa_select(func.count().label("n")).select_from(real.subquery()).subquery("counted")
    slots = union_all(*(sa_select(literal_column(str(k), Integer).label("slot"))
                        for k in range(1, bucket + 1))).subquery("slots")
    # n rows of the client want (bucket - n % bucket) % bucket padding rows; none want bucket.
    b = literal_column(str(bucket), Integer)
    missing = case((counted.c.n == literal_column("0", Integer), b),
                   else_=(b - counted.c.n % b) % b)
    pad_rows = (
        sa_select(*(literal(value, column.type).label(column.key)
                    for column, value in zip(columns, padding, strict=True)),
                  slots.c.slot.label("pad"))
        .select_from(slots.join(counted, true()))
        .where(slots.c.slot <= missing)
    )
    return union_all(real.add_columns(literal_column("0", Integer).label("pad")),
                     pad_rows).order_by("pad", *order_by)
