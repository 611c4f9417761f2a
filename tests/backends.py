"""Tables whose rows the database cannot tell apart run on one backend.

Every storage test runs on SQLite and on PostgreSQL (the ``db_url`` fixture). Some tables have
rows that differ only in what is decided before or apart from the database: the policy's verdict
on the same facts, input validation, a token's checks, response headers. On PostgreSQL each such
row would run the same SQL as its neighbours. ``on_backends`` runs those rows on SQLite and keeps
on both backends the rows named in ``both``: the ones whose way through the database differs (a
lookup, a time or state filter, a rollback, what is logged).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pytest

BACKENDS = ("sqlite", "postgresql")
ONE_BACKEND = "sqlite"


def on_backends(argnames: str | Sequence[str], rows: Mapping[str, Any], *,
                both: Collection[str]) -> pytest.MarkDecorator:
    """``pytest.mark.parametrize`` over ``rows`` (id -> value, a tuple for several argnames) and
    the backend: every row on SQLite, the rows named in ``both`` on PostgreSQL too.

    Raises ``ValueError`` when ``both`` names a row the table does not have.
    """
    names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(
        argnames)
    unknown = set(both) - set(rows)
    if unknown:
        raise ValueError(f"no such rows: {sorted(unknown)}")
    params = [
        pytest.param(backend, *(value if len(names) > 1 else (value,)), id=f"{backend}-{row}")
        for row, value in rows.items()
        for backend in (BACKENDS if row in both else (ONE_BACKEND,))
    ]
    return pytest.mark.parametrize(["db_url", *names], params, indirect=["db_url"])
