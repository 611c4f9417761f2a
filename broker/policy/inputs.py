"""Building the policy input (DESIGN §4): pure, ``now`` passed in, never any entry content.

Field names are the contract with ``broker/policies/access.rego`` (its header lists them).
Beyond DESIGN §4's example the policy needs ``client.network`` (the requester must be in the
client's network), each relation's id, partner ``type``, ``network`` and ``proof``, the client's
``exclusions``, and each consent's revocation, bound relation, ``proof`` and ``recorded_at``
(DESIGN §9). ``requester.worker`` and each entry's ``worker`` are keyed worker pseudonyms
(``Keyring.worker_ref``): the policy returns a working note only to the worker who wrote it
(DESIGN §1). ``consultations`` are the client's case consultations in the network (DESIGN §10,
``broker/policies/consultation.rego``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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


def entry_input(e: EntryMeta) -> dict[str, Any]:
    """An entry's metadata as the policy reads it: never its content (DESIGN §4)."""
    return {"id": e.id, "section": e.section, "author": e.author, "worker": e.worker,
            "restricted": e.restricted}


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


# DESIGN §4 no existence leak: each list of facts about the client is padded up to a multiple of
# its bucket, so that the policy's input, and the work of evaluating it, is the same for a client
# the broker never saw as for one with a few relations, consents and entries. A padding item has
# the shape of a real one that does not concern the requester, so the rules take the same path
# through it as through a real record of other partners, and still no rule can match it:
# - everything a padding item names (its id, partner, author, recipient, worker) is "-": no
#   partner id (a registry slug), type or network is "-", nor any id the broker makes;
# - a relation's period is over before it began, so it is never valid;
# - a consent is in force (as most real ones are) and names one recipient, the partner "-": it
#   covers no requester, so it is never usable;
# - an entry has a requested section, nobody wrote it and it is restricted (never released
#   with a granted section either);
# - a case consultation (DESIGN §10) is open and about nobody, with nobody taking part.
# Padding changes no decision: tests/policy checks that on the whole decision corpus, on both
# engines.
PAD_BUCKETS = {"help_relations": 4, "consents": 4, "entries": 16, "consultations": 2}
NOBODY = "-"  # what a padding item names: no partner's id (``registry.SLUG``), nor any other
# Times in the form of every real one (``format_time``: fixed width, microseconds), which the
# policy takes as long to parse; a shorter form parses measurably faster.
_EPOCH = format_time(datetime(1970, 1, 1, tzinfo=UTC))
PAD_FROM = format_time(datetime(2000, 1, 1, tzinfo=UTC))
# Within the policy's nanosecond instants (before 2262).
PAD_UNTIL = format_time(datetime(2200, 1, 1, tzinfo=UTC))
PAD_RELATION: dict[str, Any] = {"id": NOBODY, "partner": NOBODY, "type": None, "network": None,
                                "start": _EPOCH, "end": _EPOCH, "proof": "attested"}
PAD_CONSENT: dict[str, Any] = {"id": NOBODY, "valid_from": PAD_FROM, "valid_until": PAD_UNTIL,
                               "revoked_at": None, "help_relation": None, "proof": "attested",
                               "recorded_at": PAD_FROM,
                               "recipients": [{"kind": "partner", "id": NOBODY}],
                               "purposes": [], "sections": []}
PAD_CONSULTATION: dict[str, Any] = {"id": NOBODY, "client": NOBODY, "participants": [NOBODY],
                                    "start": PAD_FROM, "until": PAD_UNTIL, "closed_at": None}


@dataclass(frozen=True)
class ConsultationFacts:
    """What the policy may know of a case consultation (DESIGN §10): never its goal or legal
    reference."""

    id: str
    client_ref: str
    participants: tuple[str, ...]
    start: datetime
    until: datetime
    closed_at: datetime | None


def consultation_input(c: ConsultationFacts) -> dict[str, Any]:
    return {"id": c.id, "client": c.client_ref, "participants": list(c.participants),
            "start": format_time(c.start), "until": format_time(c.until),
            "closed_at": None if c.closed_at is None else format_time(c.closed_at)}


def pad_entry(section: str) -> dict[str, Any]:
    """A padding entry in ``section``: nobody's, restricted."""
    return {"id": NOBODY, "section": section, "author": NOBODY, "worker": NOBODY,
            "restricted": True}


def pad_sections(sections: object, count: int) -> list[str]:
    """The sections of ``count`` padding entries: the requested ones (strings only) in turn, as
    the real entries the broker gathers are all of requested sections; "" when none is asked."""
    named = [s for s in sections if isinstance(s, str)] if isinstance(sections, list) else []
    return [named[i % len(named)] if named else "" for i in range(count)]


def pad_count(have: int, bucket: int) -> int:
    """How many padding items bring ``have`` items to the next multiple of ``bucket`` (at
    least one bucket)."""
    return max(bucket, -(-have // bucket) * bucket) - have


def pad_input(input_doc: dict[str, Any]) -> dict[str, Any]:
    """``input_doc`` (as ``build_input`` makes it) with its client's facts padded."""
    client = dict(input_doc["client"])
    relations = list(client["help_relations"])
    client["help_relations"] = relations + [
        dict(PAD_RELATION) for _ in range(pad_count(len(relations), PAD_BUCKETS["help_relations"]))]
    consents = list(input_doc["consents"])
    consents += [dict(PAD_CONSENT, recipients=[dict(r) for r in PAD_CONSENT["recipients"]])
                 for _ in range(pad_count(len(consents), PAD_BUCKETS["consents"]))]
    entries = list(input_doc["entries"])
    entries += [pad_entry(s) for s in pad_sections(
        input_doc.get("sections"), pad_count(len(entries), PAD_BUCKETS["entries"]))]
    consultations = list(input_doc.get("consultations", []))
    consultations += [dict(PAD_CONSULTATION, participants=[NOBODY]) for _ in range(
        pad_count(len(consultations), PAD_BUCKETS["consultations"]))]
    return {**input_doc, "client": client, "consents": consents, "entries": entries,
            "consultations": consultations}


def build_input(
    *, requester: Partner, worker: str, client_ref: str, relations: Sequence[HelpRelation],
    consents: Sequence[ConsentVersion], purpose: str, justification: str | None,
    sections: Sequence[str], entries: Sequence[EntryMeta], registry: Registry, now: datetime,
    exclusions: Sequence[str] = (), consultations: Sequence[ConsultationFacts] = (),
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
        "entries": [entry_input(e) for e in entries],
        "consents": [consent_input(c) for c in consents],
        "consultations": [consultation_input(c) for c in consultations],
        "now": format_time(now),
    })
