"""Single-use partner-token ids (DESIGN §6), shared by every worker process through the database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from broker.store.models import UsedToken

PURGE_EVERY = 1000  # inserts between purges of expired ids


class DatabaseReplayGuard:
    """Remembers each (issuer, jti) until its token expires; a second use is a replay.

    The primary key makes the check atomic across threads and processes: the insert either
    succeeds (first use) or violates the key (replay).
    """

    def __init__(self, engine: Engine, *, skew: timedelta = timedelta(seconds=30)) -> None:
        self._engine = engine
        self._skew = skew
        self._inserts = 0
        self._lock = threading.Lock()

    def check_and_store(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        with Session(self._engine) as session:
            session.add(UsedToken(issuer=issuer, jti=jti, expires_at=expires_at + self._skew))
            try:
                session.commit()
            except IntegrityError:
                return False
        with self._lock:
            self._inserts += 1
            due = self._inserts % PURGE_EVERY == 0
        if due:
            self.purge(datetime.now(UTC))
        return True

    def purge(self, now: datetime) -> int:
        """Forget ids whose tokens can no longer be accepted anyway; returns how many."""
        with Session(self._engine) as session:
            result = session.exec(delete(UsedToken).where(UsedToken.expires_at < now))  # type: ignore[call-overload]
            session.commit()
            return int(result.rowcount or 0)
