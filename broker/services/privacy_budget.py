"""The privacy budget of a network per calendar year (DESIGN §11: a release that would exceed
it is refused).

One row per network and year holds the ε spent. Spending is one conditional ``UPDATE`` that
adds only while the sum stays within the budget, so two releases at once on PostgreSQL cannot
both slip under it: the second waits for the first's row lock, then sees its spending. The
first spending of a year inserts the row; a concurrent insert loses on the primary key and
retries as an update. The caller commits (with the release it pays for) or rolls back.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from broker.errors import PrivacyBudgetExhausted
from broker.store.signal_tables import PrivacySpend

SLACK = 1e-9  # float sums: 0.25 * 4 must fit a budget of 1.0


def spent(*, session: Session, network: str, year: int) -> float:
    row = session.get(PrivacySpend, (network, year))
    return 0.0 if row is None else row.spent


def spend(*, session: Session, network: str, year: int, epsilon: float, budget: float) -> None:
    """Add ``epsilon`` to the network's spending in ``year``. Raises
    ``PrivacyBudgetExhausted`` (nothing spent) when it would go over ``budget``."""
    if epsilon < 0:
        raise ValueError("epsilon must not be negative")
    if epsilon > budget + SLACK:
        raise PrivacyBudgetExhausted()
    table = PrivacySpend.__table__  # type: ignore[attr-defined]
    for _ in range(2):
        result = session.connection().execute(
            update(table)
            .where(table.c.network == network, table.c.year == year,
                   table.c.spent + epsilon <= budget + SLACK)
            .values(spent=table.c.spent + epsilon))
        if result.rowcount == 1:
            return
        if session.get(PrivacySpend, (network, year), populate_existing=True) is not None:
            raise PrivacyBudgetExhausted()
        try:
            with session.begin_nested():
                session.add(PrivacySpend(network=network, year=year, spent=epsilon))
            return
        except IntegrityError:
            continue  # another release inserted the row first: spend through the update
    raise PrivacyBudgetExhausted()


