"""Logged-in portal sessions on the server (DESIGN §2, §6): the sealed cookie carries a random
session id; this table says whether that id still holds. The database is the store, so every
worker process sees a logout at once.

Bounded: a login deletes the sessions that have expired (everyone's), and a subject keeps at most
``MAX_PER_SUBJECT`` sessions (the oldest go first). Only the SHA-256 of a session id is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broker.store.models import PortalSessionRecord

# A person may be logged in on a phone, a laptop and a desk computer at once; more than this is
# not a person at work but a script or a forgotten trail of logins: the oldest is ended.
MAX_PER_SUBJECT = 5


def _row_id(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def open_session(*, engine: Engine, portal: str, subject: str, now: datetime,
                 lifetime: timedelta, replaces: str | None = None) -> str:
    """Record a new session of ``subject`` (a keyed hash, never an INSZ) and return its id.
    ``replaces``: the session id the browser held before this login, ended now (a new login in
    a browser never leaves the earlier session usable from a saved cookie)."""
    sid = secrets.token_urlsafe(32)
    with Session(engine) as db:
        if replaces is not None:
            db.exec(delete(PortalSessionRecord)
                    .where(col(PortalSessionRecord.id) == _row_id(replaces)))
        db.exec(delete(PortalSessionRecord).where(col(PortalSessionRecord.expires_at) <= now))
        db.add(PortalSessionRecord(id=_row_id(sid), portal=portal, subject=subject,
                                   created_at=now, expires_at=now + lifetime))
        db.flush()
        kept = db.exec(
            select(PortalSessionRecord.id).where(col(PortalSessionRecord.subject) == subject)
            .order_by(col(PortalSessionRecord.created_at).desc(), col(PortalSessionRecord.id))
        ).all()
        evicted = [row for row in kept[MAX_PER_SUBJECT:] if row != _row_id(sid)]
        if evicted:
            db.exec(delete(PortalSessionRecord).where(col(PortalSessionRecord.id).in_(evicted)))
        db.commit()
    return sid


def is_live(*, engine: Engine, portal: str, sid: str, now: datetime) -> bool:
    """Whether session ``sid`` of ``portal`` was opened, is not ended and has not expired."""
    with Session(engine) as db:
        row = db.get(PortalSessionRecord, _row_id(sid))
    return row is not None and row.portal == portal and row.expires_at > now


def close_session(*, engine: Engine, sid: str) -> None:
    """End session ``sid`` (logout): every copy of its cookie is refused from now on."""
    with Session(engine) as db:
        db.exec(delete(PortalSessionRecord).where(col(PortalSessionRecord.id) == _row_id(sid)))
        db.commit()


def count_live(*, engine: Engine, subject: str, now: datetime) -> int:
    with Session(engine) as db:
        return len(db.exec(select(PortalSessionRecord.id).where(
            col(PortalSessionRecord.subject) == subject,
            col(PortalSessionRecord.expires_at) > now)).all())
