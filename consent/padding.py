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

from sqlalchemy import Integer, func, literal, literal_column, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.sql import ColumnElement, CompoundSelect, Select


def padded(real: Select[Any], *, padding: Sequence[Any], bucket: int,
           order_by: Sequence[str] = ()) -> CompoundSelect[Any]:
    """``real`` (a select of columns of one table, filtered to one client) and padding rows of
    the values ``padding`` (one per column of ``real``, bound with that column's type), ordered
    by ``pad`` and then by ``order_by`` (names of ``real``'s columns).

    With ``n`` rows of the client, the padding has ``bucket - 1 - (n - 1) % bucket`` rows
    (SQL's ``%`` keeps the dividend's sign: ``n = 0`` gives ``bucket``)."""
    columns: list[ColumnElement[Any]] = list(real.selected_columns)
    if len(columns) != len(padding):
        raise ValueError("one padding value per column")
    count = sa_select(func.count()).select_from(real.subquery()).scalar_subquery()
    slots = union_all(*(sa_select(literal_column(str(k), Integer).label("slot"))
                        for k in range(1, bucket + 1))).subquery("slots")
    pad_rows = (
        sa_select(*(literal(value, column.type).label(column.key)
                    for column, value in zip(columns, padding, strict=True)),
                  slots.c.slot.label("pad"))
        .where(slots.c.slot + (count - 1) % bucket < bucket)
    )
    return union_all(real.add_columns(literal_column("0", Integer).label("pad")),
                     pad_rows).order_by("pad", *order_by)
