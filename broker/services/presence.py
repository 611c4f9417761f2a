"""eID presence challenges (DESIGN §9): issued to a partner for one client, spent once.

A challenge is 32 random bytes (base64url), valid ``LIFETIME`` (5 minutes); only its SHA-256 is
stored, with the partner that asked and the client's pseudonym. A record that carries a
``presence`` proof spends the challenge first, in a transaction of its own (committed before the
record's audit entry is appended: the log's writer needs the database's write lock on SQLite),
then checks the card (``broker.security.eid``). A replayed, foreign (another partner's or another
client's) or expired challenge fails, as does a failed check of the card; the failure is one
opaque 403, and a challenge is spent by its first use whatever the outcome.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from broker.errors import PresenceNotProven
from broker.schemas.presence import PresenceIn
from broker.security.eid import TrustAnchors, parse_presence, verify_presence
from broker.store.keyring import Keyring
from broker.store.models import PresenceChallenge

LIFETIME = timedelta(minutes=5)



@dataclass(frozen=True)
class IssuedChallenge:
    challenge: str
    expires_at: datetime


def _hash(challenge: str) -> str:
    return hashlib.sha256(challenge.encode("ascii")).hexdigest()


def issue_challenge(*, session: Session, keyring: Keyring, partner: str, network: str,
                    insz: str, now: datetime) -> IssuedChallenge:
    """A fresh challenge for ``partner`` about the client ``insz``; committed here."""
    challenge = secrets.token_urlsafe(32)
    expires_at = now + LIFETIME
    session.add(PresenceChallenge(
        challenge_hash=_hash(challenge), partner=partner, network=network,
        client_ref=keyring.client_ref(network, insz), created_at=now, expires_at=expires_at,
    ))
    session.commit()
    return IssuedChallenge(challenge=challenge, expires_at=expires_at)


def prove_presence(*, session: Session, keyring: Keyring, anchors: TrustAnchors,
                   presence: PresenceIn, partner: str, network: str, insz: str,
                   now: datetime) -> None:
    """Spend the challenge (committed at once) and check the card. Raises
    ``PresenceNotProven``."""
    spent = session.exec(
        update(PresenceChallenge)
        .where(col(PresenceChallenge.challenge_hash) == _hash(presence.challenge),
               col(PresenceChallenge.partner) == partner,
               col(PresenceChallenge.network) == network,
               col(PresenceChallenge.client_ref) == keyring.client_ref(network, insz),
               col(PresenceChallenge.used_at).is_(None),
               col(PresenceChallenge.expires_at) > now)
        .values(used_at=now)
    )
    session.commit()
    if spent.rowcount != 1:
        raise PresenceNotProven("unknown, foreign, spent or expired challenge")
    parsed = parse_presence(presence.challenge, presence.signature, presence.certificate_chain)
    verify_presence(parsed, anchors=anchors, insz=insz, now=now)
