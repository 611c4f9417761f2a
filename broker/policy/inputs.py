"""Building the policy input (DESIGN §4): pure, ``now`` passed in, never any entry content.

Field names are the contract with ``broker/policies/access.rego`` (its header lists them).
Beyond DESIGN §4's example the policy needs ``client.network`` (the requester must be in the
client's network), each relation's id, partner ``type``, ``network`` and ``proof``, the client's
``exclusions``, and each consent's revocation, bound relation, ``proof`` and ``recorded_at``
(DESIGN §9). ``requester.worker`` and each entry's ``worker`` are keyed worker pseudonyms
(``Keyring.worker_ref``): the policy returns a working note only to the worker who wrote it
(DESIGN §1).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from audit.entry import format_time
from broker.policy.decision import EntryMeta
from broker.security.registry import Partner, Registry
from consent.models import ConsentVersion, HelpRelation

# Characters that print nothing though Unicode files them as letters or symbols: the Hangul
# fillers and the blank Braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(char: str) -> bool:
    """Printed ink: not white space, not a control, format (zero-width, BOM), private-use or
    unassigned character, not a combining mark, not a blank letter."""
    return (not char.isspace() and char not in _BLANK_LETTERS
            and unicodedata.category(char)[0] not in "CZM")


def justification_facts(text: object) -> dict[str, int]:
    """What a break-glass justification holds after NFKC normalisation (DESIGN §4): visible
    characters, letters among them, and distinct visible characters (all zero for anything but
    a string). The thresholds are the policy's (``catalogue.break_glass``)."""
    normalised = unicodedata.normalize("NFKC", text) if isinstance(text, str) else ""
    visible = [c for c in normalised if _visible(c)]
    return {"visible": len(visible),
            "letters": sum(unicodedata.category(c).startswith("L") for c in visible),
            "distinct": len(set(visible))}


def relation_input(rel: HelpRelation, registry: Registry) -> dict[str, Any]:
    partner = registry.partner(rel.partner)
    # An ended relation is valid only until it was ended (DESIGN §3: not ended).
    end = min(rel.end, rel.ended_at) if rel.ended_at is not None else rel.end
    return {"id": rel.id, "partner": rel.partner, "type": partner.type if partner else None,
            "network": partner.network if partner else None,
            "start": format_time(rel.start), "end": format_time(end), "proof": rel.proof}


def consent_input(c: ConsentVersion) -> dict[str, Any]:
    """The facts the policy derives a consent's status from (DESIGN §4): no ``status`` field."""
    return {
        "id": c.id,
        "valid_from": format_time(c.valid_from),
        "valid_until": format_time(c.valid_until),
        "revoked_at": None if c.revoked_at is None else format_time(c.revoked_at),
        "help_relation": c.help_relation_id,
        "proof": c.proof,
        "recorded_at": format_time(c.recorded_at),
        "recipients": [{"kind": r.kind, "id": r.id} for r in c.recipients],
        "purposes": list(c.purposes),
        "sections": list(c.sections),
    }


# DESIGN §4 no existence leak: each list of facts about the client is padded with inert items
# up to a multiple of its bucket, so that the policy's input, and the work of evaluating it,
# is the same for a client the broker never saw as for one with a few relations, consents and
# entries. An inert item has its fields null (an entry is restricted, a consent's period empty):
# no rule can match it (the policy compares strings, and a consent counts only in its period), so
# padding changes no decision; tests/policy checks that on the whole decision corpus.
PAD_BUCKETS = {"help_relations": 4, "consents": 4, "entries": 16}
INERT_RELATION: dict[str, Any] = {"id": None, "partner": None, "type": None, "network": None,
                                  "start": None, "end": None, "proof": None}
# An inert consent's period is over before it began, as the policy reads it (so it costs a real
# one's time parsing): never in force.
_EPOCH = "1970-01-01T00:00:00Z"
INERT_CONSENT: dict[str, Any] = {"id": None, "valid_from": _EPOCH, "valid_until": _EPOCH,
                                 "revoked_at": None, "help_relation": None, "proof": None,
                                 "recorded_at": _EPOCH, "recipients": [], "purposes": [],
                                 "sections": []}
INERT_ENTRY: dict[str, Any] = {"id": None, "section": None, "author": None, "worker": None,
                               "restricted": True}


def padded(items: list[dict[str, Any]], bucket: int,
           inert: dict[str, Any]) -> list[dict[str, Any]]:
    """``items`` and inert copies up to the next multiple of ``bucket`` (at least one bucket)."""
    size = max(bucket, -(-len(items) // bucket) * bucket)
    return items + [dict(inert) for _ in range(size - len(items))]


def pad_input(input_doc: dict[str, Any]) -> dict[str, Any]:
    """``input_doc`` (as ``build_input`` makes it) with its client's facts padded."""
    client = dict(input_doc["client"])
    client["help_relations"] = padded(list(client["help_relations"]),
                                      PAD_BUCKETS["help_relations"], INERT_RELATION)
    return {**input_doc, "client": client,
            "consents": padded(list(input_doc["consents"]), PAD_BUCKETS["consents"],
                               INERT_CONSENT),
            "entries": padded(list(input_doc["entries"]), PAD_BUCKETS["entries"], INERT_ENTRY)}


def build_input(
    *, requester: Partner, worker: str, client_ref: str, relations: Sequence[HelpRelation],
    consents: Sequence[ConsentVersion], purpose: str, justification: str | None,
    sections: Sequence[str], entries: Sequence[EntryMeta], registry: Registry, now: datetime,
    exclusions: Sequence[str] = (),
) -> dict[str, Any]:
    return pad_input({
        "requester": {"partner": requester.id, "type": requester.type,
                      "network": requester.network, "bound_by_secrecy": requester.bound_by_secrecy,
                      "worker": worker, "active": requester.active},
        "client": {"ref": client_ref, "network": requester.network,
                   "help_relations": [relation_input(r, registry) for r in relations],
                   "exclusions": sorted(set(exclusions))},
        "purpose": purpose,
        "justification": justification,
        "justification_facts": justification_facts(justification),
        "sections": list(sections),
        "entries": [{"id": e.id, "section": e.section, "author": e.author,
                     "worker": e.worker, "restricted": e.restricted} for e in entries],
        "consents": [consent_input(c) for c in consents],
        "now": format_time(now),
    })
