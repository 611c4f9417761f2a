"""Re-wrapping the clients' data keys under the current KEK, while the broker serves (DESIGN §6).

After ``gbo-broker keys rotate kek`` the data keys are still wrapped by the retired KEK, which
keeps unwrapping them. This walks the clients in batches of ``batch`` (one short transaction
each, in id order) and re-wraps each data key under the current KEK. Each row is updated only if
it still holds what was read (compare-and-set on ``kek_id`` and the wrapped key): a client
erased meanwhile (its wrapped key destroyed) stays erased, a client re-wrapped by another run is
left alone. A crypto-shredded client has no data key to re-wrap and keeps its old ``kek_id``.
Passes repeat until one re-wraps nothing: a broker that had not yet seen the rotation may still
have wrapped a new client's key under the old KEK.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from broker.store.keyring import KekSet
from broker.store.models import Client

_CLIENT = Client.__table__  # type: ignore[attr-defined]
MAX_PASSES = 10


@dataclass(frozen=True)
class Rewrapped:
    rewrapped: int
    # data keys still wrapped by a retired KEK (their KEK is in no key file: left alone)
    remaining: int


def _under_retired(current: str) -> ColumnElement[bool]:
    return and_(_CLIENT.c.kek_id != current, _CLIENT.c.data_key_wrapped.is_not(None))


def rewrap_data_keys(*, engine: Engine, keks: KekSet, batch: int = 500,
                     progress: Callable[[int], None] | None = None) -> Rewrapped:
    """Re-wrap every client's data key that a retired KEK wraps under ``keks.current``.
    Raises ``DecryptionError`` for a wrapped key its KEK does not open (a corrupt row or a
    wrong key file): nothing of that batch is written."""
    current = keks.current
    total = 0
    for _ in range(MAX_PASSES):
        done, after = 0, ""
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    select(_CLIENT.c.id, _CLIENT.c.kek_id, _CLIENT.c.data_key_wrapped)
                    .where(_under_retired(current.kid), _CLIENT.c.id > after)
                    .order_by(_CLIENT.c.id).limit(batch)).all()
                for client_id, kek_id, wrapped in rows:
                    old = keks.get(kek_id)
                    if old is None:
                        continue  # no key file holds its KEK: counted as remaining
                    data_key = old.unwrap(wrapped, client_id)
                    changed = conn.execute(
                        update(_CLIENT)
                        .where(_CLIENT.c.id == client_id, _CLIENT.c.kek_id == kek_id,
                               _CLIENT.c.data_key_wrapped == wrapped)
                        .values(kek_id=current.kid,
                                data_key_wrapped=current.wrap(data_key, client_id))).rowcount
                    done += changed
            if progress is not None and rows:
                progress(len(rows))
            if len(rows) < batch:
                break
            after = rows[-1][0]
        total += done
        if done == 0:
            break
    with engine.connect() as conn:
        remaining = conn.execute(select(func.count()).select_from(_CLIENT)
                                 .where(_under_retired(current.kid))).scalar_one()
    return Rewrapped(rewrapped=total, remaining=int(remaining))
