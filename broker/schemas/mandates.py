"""Bodies of mandates (DESIGN §9): ``/v1/me/mandates`` (a client names a trusted person) and
``POST /v1/mandates`` (a legal representative recorded at the desk with their own eID)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictStr

from broker.bounds import AwareMoment
from broker.schemas.common import RequestBody
from broker.schemas.presence import PresenceIn
from consent.controls import Mandate, MandateRole
from consent.insz import Insz
from consent.models import Name, Proof

Label = StrictStr


class MandateCreate(RequestBody):
    """The client names a trusted person by their INSZ. ``trusted_person_name`` is how the
    client's portal shows them, ``my_name`` how theirs shows the client (both optional, stored
    encrypted)."""

    insz: Insz
    valid_until: AwareMoment
    network: Name | None = None
    trusted_person_name: Label | None = Field(default=None, min_length=1, max_length=100)
    my_name: Label | None = Field(default=None, min_length=1, max_length=100)

    def __repr__(self) -> str:
        return "MandateCreate(...)"

    __str__ = __repr__


class RepresentativeCreate(RequestBody):
    """A partner records a legal representative of its client at the desk: ``presence`` is
    the representative's own eID card over a challenge issued for ``representative_insz``."""

    insz: Insz
    representative_insz: Insz
    valid_until: AwareMoment
    presence: PresenceIn
    representative_name: Label | None = Field(default=None, min_length=1, max_length=100)
    client_name: Label | None = Field(default=None, min_length=1, max_length=100)

    def __repr__(self) -> str:
        return "RepresentativeCreate(...)"

    __str__ = __repr__


class MandatePublic(BaseModel):
    """A mandate: ``role`` ``trusted_person`` (named by the client) or ``legal_representative``
    (recorded at the desk with eID); ``valid`` now or not; the names as given, if any."""

    id: str
    network: str
    role: MandateRole
    proof: Proof
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None
    valid: bool
    trusted_person_name: str | None = None
    client_name: str | None = None

    @classmethod
    def of(cls, m: Mandate, *, now: datetime, names: dict[str, str | None]) -> MandatePublic:
        return cls(id=m.id, network=m.network, role=m.role, proof=m.proof,
                   valid_from=m.valid_from, valid_until=m.valid_until, revoked_at=m.revoked_at,
                   valid=m.valid(now), trusted_person_name=names.get("mandatary"),
                   client_name=names.get("client"))


class MandatesPublic(BaseModel):
    """``given``: the mandates the client gave; ``held``: those that let this person act for
    someone else (pass a held mandate's id as ``X-On-Behalf-Of``)."""

    given: list[MandatePublic]
    held: list[MandatePublic]
