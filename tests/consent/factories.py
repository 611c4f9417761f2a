"""Factories for consent tests: one valid default, overridden per test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from consent.catalogue import Catalogue
from consent.models import (
    ConsentTerms,
    ConsentVersion,
    Evidence,
    Grantor,
    HelpRelation,
    PartnerRef,
    Recipient,
)

# The shipped bundle's catalogue (package data of broker/, read here without importing it).
CATALOGUE_PATH = Path(__file__).resolve().parents[2] / "broker" / "policies" / "catalogue.json"
CATALOGUE = Catalogue.from_dict(json.loads(CATALOGUE_PATH.read_text(encoding="utf-8")))

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NETWORK = "gbo-gent"
CLIENT_REF = "p-3f9c2a"
# A valid INSZ (mod-97 check 28) used as a secrecy canary: it must never leave the request.
INSZ = "85073003328"

PARTNERS: dict[str, PartnerRef] = {
    "ocmw-gent": PartnerRef(type="ocmw", network=NETWORK),
    "caw-oost-vlaanderen": PartnerRef(type="caw", network=NETWORK),
    "dmw-cm-gent": PartnerRef(type="dmw", network=NETWORK),
    "ocmw-antwerpen": PartnerRef(type="ocmw", network="gbo-antwerpen"),
}


def recipient(kind: str = "partner", id: str = "ocmw-gent") -> Recipient:
    return Recipient.model_validate({"kind": kind, "id": id})


def make_consent(**overrides: Any) -> ConsentVersion:
    """An active consent at ``NOW``: ocmw-gent may see inkomen and rechten for rechtenverkenning."""
    fields: dict[str, Any] = {
        "id": "c-1",
        "version": 1,
        "previous_version_id": None,
        "client_ref": CLIENT_REF,
        "network": NETWORK,
        "recipients": (recipient(),),
        "purposes": ("rechtenverkenning",),
        "sections": ("inkomen", "rechten"),
        "valid_from": NOW - 30 * DAY,
        "valid_until": NOW + 300 * DAY,
        "evidence": Evidence(method="verbal_at_desk", recorded_by="w-7f3a"),
        "grantor": None,
        "help_relation_id": None,
        "revoked_at": None,
        "created_at": NOW - 30 * DAY,
        "proof": "client",
        "recorded_at": NOW - 30 * DAY,
    }
    fields.update(overrides)
    return ConsentVersion(**fields)


def make_relation(**overrides: Any) -> HelpRelation:
    """A help relation of ocmw-gent with the client, valid at ``NOW``."""
    fields: dict[str, Any] = {
        "id": "r-1",
        "partner": "ocmw-gent",
        "client_ref": CLIENT_REF,
        "start": NOW - 60 * DAY,
        "end": NOW + 300 * DAY,
        "ended_at": None,
    }
    fields.update(overrides)
    return HelpRelation(**fields)


def terms_body(**overrides: Any) -> dict[str, Any]:
    """The terms and desk evidence of a new consent as JSON data, valid at ``NOW``."""
    body: dict[str, Any] = {
        "recipients": [{"kind": "partner", "id": "ocmw-gent"}],
        "purposes": ["rechtenverkenning"],
        "sections": ["inkomen", "rechten"],
        "valid_until": (NOW + 365 * DAY).isoformat(),
        "evidence": {"method": "verbal_at_desk", "recorded_by": "w-7f3a"},
    }
    body.update(overrides)
    return body


def make_terms(**overrides: Any) -> tuple[ConsentTerms, Evidence]:
    """``terms_body(**overrides)`` as the library's types. Raises pydantic's ValidationError
    for a malformed recipient, grantor or evidence, as the broker's request bodies would."""
    body = terms_body(**overrides)

    def instant(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    until = instant(body["valid_until"])
    assert until is not None
    terms = ConsentTerms(
        recipients=tuple(Recipient.model_validate(r) for r in body["recipients"]),
        purposes=tuple(body["purposes"]),
        sections=tuple(body["sections"]),
        valid_from=instant(body.get("valid_from")),
        valid_until=until,
        grantor=None if body.get("grantor") is None else Grantor.model_validate(body["grantor"]),
        help_relation_id=body.get("help_relation_id"),
    )
    return terms, Evidence.model_validate(body["evidence"])
