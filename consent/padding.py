"""Reading a client's records together with padding rows, in one statement (DESIGN §4 no
existence leak).

A statement built by ``padded`` returns the client's rows first, then as many padding rows as
bring their number up to the next multiple of a bucket (at least one bucket): the database
itself counts the client's rows and returns the padding, so a client the broker never saw
costs the same statement, the same number of rows fetched and decoded by the driver and the
column types, and the same conversion of each row, as a client with a few records. Every row
ends with a ``pad`` column: 0 for the client's, 1 or more for padding.

Padding comes in two forms:
- *stored*: rows of the same table that belong to the padding owner ``PADDING`` (network,
  client pseudonym and client id "-", which no real one is: pseudonyms and ids are hex or
  uuids, network slugs are letters). The database then reads and decodes as many stored rows,
  through the same index, for a client it never saw as for one with a few records; constant
  rows would cost it less (the measured gap, ``bench/existence_timing.py``). Written once by
  migration 0012; ``STORED`` says how many of each there are.
- *constant*: literal values, for a read whose padding must not be a stored row (the client's
  key: ``broker.services.dossier``).

The client's rows are a materialised common table expression, read once and counted from it:
counting them with a second read would cost a client with records more than one without.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, case, func, literal, literal_column, true, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.sql import ColumnElement, CompoundSelect, Select

PADDING = "-"
"""The network, client pseudonym and client id that own the stored padding rows."""

STORED = {"help_relation": 4, "consent_version": 4, "entry": 16}
"""How many padding rows of each table migration 0012 stores: the most a bucket may ask."""


def padded(real: Select[Any], *, padding: Select[Any] | Sequence[Any], bucket: int,
           order_by: Sequence[str] = ()) -> CompoundSelect[Any]:
    """``real`` (a select of columns of one table, filtered to one client) and padding rows:
    the first rows ``padding`` selects (stored padding: the same columns, filtered to
    ``PADDING``), or rows of the values ``padding`` (constant padding: one per column of
    ``real``, bound with that column's type). Ordered by ``pad`` and then by ``order_by``
    (names of ``real``'s columns)."""
    columns: list[ColumnElement[Any]] = list(real.selected_columns)
    rows = real.cte("client_rows").prefix_with("MATERIALIZED")
    # n rows of the client want (bucket - n % bucket) % bucket padding rows; none want bucket.
    n = func.count()
    b = literal_column(str(bucket), Integer)
    wanted = (sa_select(case((n == literal_column("0", Integer), b), else_=(b - n % b) % b)
                        .label("n")).select_from(rows).cte("wanted").prefix_with("MATERIALIZED"))
    missing = sa_select(wanted.c.n).scalar_subquery()
    pad_rows: Select[Any]
    if isinstance(padding, Select):
        if len(padding.selected_columns) != len(columns):
            raise ValueError("the padding selects the columns of the client's rows")
        stored = padding.limit(missing).cte("padding_rows").prefix_with("MATERIALIZED")
        pad_rows = sa_select(*stored.c, literal_column("1", Integer).label("pad"))
    else:
        if len(columns) != len(padding):
            raise ValueError("one padding value per column")
        slots = union_all(*(sa_select(literal_column(str(k), Integer).label("slot"))
                            for k in range(1, bucket + 1))).subquery("slots")
        pad_rows = (
            sa_select(*(literal(value, column.type).label(column.key)
                        for column, value in zip(columns, padding, strict=True)),
                      slots.c.slot.label("pad"))
            .select_from(slots.join(wanted, true()))
            .where(slots.c.slot <= wanted.c.n)
        )
    client_rows: Select[Any] = sa_select(*rows.c, literal_column("0", Integer).label("pad"))
    return union_all(client_rows, pad_rows).order_by("pad", *order_by)
