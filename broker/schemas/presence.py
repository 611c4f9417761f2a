"""Bodies of the eID proof of presence (DESIGN §9): ``POST /v1/presence/challenges`` and the
``presence`` member a desk record carries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from broker.schemas.common import RequestBody
from consent.insz import Insz


class ChallengeIn(RequestBody):
    insz: Insz


class ChallengeOut(BaseModel):
    """Sign ``challenge`` (its ASCII bytes) with the card's authentication key before
    ``expires_at``; it is spent by its first use."""

    challenge: str
    expires_at: datetime


class PresenceIn(RequestBody):
    """The challenge, the card's signature over it (base64: RSA PKCS#1 v1.5 / SHA-256, or ECDSA
    P-384 / SHA-384 as DER or raw ``r || s``) and the card's certificate chain, leaf first
    (PEM)."""

    challenge: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    signature: str = Field(min_length=16, max_length=2048)
    certificate_chain: list[str] = Field(min_length=1, max_length=4)
