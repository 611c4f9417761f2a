"""Building the policy input (DESIGN §4): pure, ``now`` passed in, never any entry content.

Field names are the contract with ``policies/access.rego``. Beyond DESIGN §4's example the policy
needs ``client.network`` (the requester must be in the client's network) and each relation's
partner ``type`` and ``network`` (for involvement by partner type or network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from broker.policy.decision import EntryMeta
from broker.registry import Partner, Registry
from consent.models import ConsentVersion, HelpRelation
from consent.rules import consent_status


def rfc3339(moment: datetime) -> str:
    """UTC with microseconds and ``Z``: the one form the policy's time checks accept."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def relation_input(rel: HelpRelation, registry: Registry) -> dict[str, Any]:
    partner = registry.partner(rel.partner)
    # An ended relation is valid only until it was ended (issue 4: not ended).
    end = min(rel.end, rel.ended_at) if rel.ended_at is not None else rel.end
    return {"partner": rel.partner, "type": partner.type if partner else None,
            "network": partner.network if partner else None,
            "start": rfc3339(rel.start), "end": rfc3339(end)}


def consent_input(c: ConsentVersion, *, now: datetime,
                  relations: Mapping[str, HelpRelation]) -> dict[str, Any]:
    return {
        "id": c.id,
        "status": consent_status(c, now, relations),
        "valid_from": rfc3339(c.valid_from),
        "valid_until": rfc3339(c.valid_until),
        "recipients": [{"kind": r.kind, "id": r.id} for r in c.recipients],
        "purposes": list(c.purposes),
        "sections": list(c.sections),
    }


def build_input(
    *, requester: Partner, worker: str, client_ref: str, relations: Sequence[HelpRelation],
    consents: Sequence[ConsentVersion], purpose: str, justification: str | None,
    sections: Sequence[str], entries: Sequence[EntryMeta], registry: Registry, now: datetime,
) -> dict[str, Any]:
    by_id = {rel.id: rel for rel in relations}
    return {
        "requester": {"partner": requester.id, "type": requester.type,
                      "network": requester.network, "bound_by_secrecy": requester.bound_by_secrecy,
                      "worker": worker, "active": requester.active},
        "client": {"ref": client_ref, "network": requester.network,
                   "help_relations": [relation_input(r, registry) for r in relations]},
        "purpose": purpose,
        "justification": justification,
        "sections": list(sections),
        "entries": [{"id": e.id, "section": e.section, "author": e.author,
                     "restricted": e.restricted} for e in entries],
        "consents": [consent_input(c, now=now, relations=by_id) for c in consents],
        "now": rfc3339(now),
    }
