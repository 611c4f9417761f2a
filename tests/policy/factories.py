"""Factories for policy inputs, and the seeded generator of random inputs.

Partners are the demo network gbo-gent (DESIGN §3); the same corpus runs on Regorus and real OPA.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from broker.policy.inputs import justification_facts
from broker.settings import DEFAULT_POLICY_DIR

NOW = "2026-11-28T10:00:00Z"
NETWORK = "gbo-gent"
CATALOGUE: dict[str, Any] = json.loads(
    (DEFAULT_POLICY_DIR / "catalogue.json").read_text("utf-8")
)

REASON_CODES = frozenset(
    {
        "unknown_section",
        "section_never_shared",
        "requester_inactive",
        "requester_not_in_network",
        "requester_not_bound_by_secrecy",
        "no_valid_help_relation",
        "unknown_purpose",
        "section_not_needed_for_purpose",
        "no_consent_for_section",
        "bijzonder_needs_explicit_consent",
        "break_glass_justification_too_short",
        "needs_client_proof",
        "excluded_by_client",
        "no_open_consultation",
    }
)

PARTNERS: dict[str, dict[str, Any]] = {
    "ocmw-gent": {"type": "ocmw", "bound_by_secrecy": True},
    "caw-oost-vlaanderen": {"type": "caw", "bound_by_secrecy": True},
    "dmw-cm": {"type": "dmw", "bound_by_secrecy": True},
    "dmw-solidaris": {"type": "dmw", "bound_by_secrecy": True},
    "buurtwerk-gent": {"type": "other", "bound_by_secrecy": False},
}
CAW = "caw-oost-vlaanderen"
JUSTIFICATION = "Client dreigt zichzelf iets aan te doen, arts nodig."

VALID = ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
EXPIRED = ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z")
FUTURE = ("2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z")
RECENT = "2026-11-20T00:00:00Z"  # eight days before NOW: inside the 30 days of DESIGN §9
RECENT_PERIOD = (RECENT, "2027-11-20T00:00:00Z")


def requester(partner: str = CAW, **overrides: Any) -> dict[str, Any]:
    return {
        "partner": partner,
        "type": PARTNERS[partner]["type"],
        "network": NETWORK,
        "bound_by_secrecy": PARTNERS[partner]["bound_by_secrecy"],
        "worker": "w-7f3a",
        "active": True,
        **overrides,
    }


def relation(partner: str = CAW, period: tuple[str, str] = VALID,
             proof: str = "eid") -> dict[str, Any]:
    return {
        "id": f"r-{partner}",
        "proof": proof,
        "partner": partner,
        "type": PARTNERS[partner]["type"],
        "network": NETWORK,
        "start": period[0],
        "end": period[1],
    }


def recipient(kind: str, id_: str) -> dict[str, str]:
    return {"kind": kind, "id": id_}


def make_consent(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "c-1",
        "revoked_at": None,
        "help_relation": None,
        "proof": "client",
        "recorded_at": VALID[0],
        "valid_from": VALID[0],
        "valid_until": VALID[1],
        "recipients": [recipient("partner", CAW)],
        "purposes": ["rechtenverkenning"],
        "sections": ["identiteit", "contact", "inkomen", "huisvesting"],
        **overrides,
    }


def entry(
    id_: str, section: str, author: str = "ocmw-gent", restricted: bool = False,
    worker: str = "w-7f3a",
) -> dict[str, Any]:
    """An entry's metadata; ``worker``: the pseudonym of the worker who wrote it (by default the
    requester's own worker, as far as ``author`` is the requester)."""
    return {"id": id_, "section": section, "author": author, "restricted": restricted,
            "worker": worker}


def make_input(**overrides: Any) -> dict[str, Any]:
    """A request by caw-oost-vlaanderen for rechtenverkenning that is granted `inkomen`."""
    base: dict[str, Any] = {
        "requester": requester(),
        "client": {"ref": "p-1", "network": NETWORK, "help_relations": [relation()],
                   "exclusions": []},
        "purpose": "rechtenverkenning",
        "justification": None,
        "sections": ["inkomen"],
        "entries": [],
        "consents": [make_consent()],
        "now": NOW,
    }
    base.update(overrides)
    if "justification_facts" not in overrides:  # as the broker measures it
        base["justification_facts"] = justification_facts(base.get("justification"))
    return base


def emergency(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "purpose": "noodsituatie",
        "justification": JUSTIFICATION,
        "consents": [],
        "sections": ["identiteit", "contact", "gezondheid"],
    }
    return make_input(**{**fields, **overrides})


# --- random inputs ----------------------------------------------------------------------------

SECTIONS = sorted(CATALOGUE["sections"])
PURPOSES = sorted(CATALOGUE["purposes"])
PERIODS = (VALID, VALID, EXPIRED, FUTURE)


def _random_consent(
    rng: random.Random, n: int, req: dict[str, Any], purpose: str, wanted: list[str]
) -> dict[str, Any]:
    """Half the consents aim at this request (requester, purpose, some wanted sections)."""
    aimed = rng.random() < 0.6
    recipients = []
    for _ in range(rng.randint(1, 2)):
        kind = rng.choice(("partner", "partner_type", "network"))
        if aimed:
            own = {"partner": req["partner"], "partner_type": req["type"], "network": NETWORK}
            recipients.append(recipient(kind, own[kind]))
        elif kind == "partner":
            recipients.append(recipient(kind, rng.choice(sorted(PARTNERS))))
        elif kind == "partner_type":
            recipients.append(recipient(kind, rng.choice(("ocmw", "caw", "dmw", "other"))))
        else:
            recipients.append(recipient(kind, rng.choice((NETWORK, "gbo-brugge"))))
    purposes = rng.sample(PURPOSES, rng.randint(1, 2))
    sections = rng.sample(SECTIONS, rng.randint(1, 4))
    if aimed:
        purposes.append(purpose)
        sections += rng.sample(wanted, rng.randint(1, len(wanted)))
    if rng.random() < 0.3:
        sections.append("*")
    period = rng.choice((VALID, VALID, VALID, EXPIRED, FUTURE))
    return {
        "id": f"c-{n}",
        "revoked_at": rng.choice((None, None, None, EXPIRED[1], FUTURE[0])),
        "help_relation": rng.choice((None, None, None, f"r-{req['partner']}",
                                     f"r-{rng.choice(sorted(PARTNERS))}")),
        "proof": rng.choice(("client", "eid", "attested", "attested", "gezworen")),
        "recorded_at": rng.choice((RECENT, VALID[0])),
        "valid_from": period[0],
        "valid_until": period[1],
        "recipients": recipients,
        "purposes": purposes,
        "sections": sections,
    }


def random_input(rng: random.Random) -> dict[str, Any]:
    partner = rng.choice(sorted(PARTNERS))
    req = requester(partner, active=rng.random() > 0.05)
    if rng.random() < 0.1:
        req["network"] = "gbo-brugge"
    proofs = ("eid", "client", "referral", "attested", "attested")
    relations = [relation(p, rng.choice(PERIODS), rng.choice(proofs))
                 for p in sorted(PARTNERS) if rng.random() < 0.5]
    if rng.random() < 0.7:
        relations.append(relation(partner, rng.choice((VALID, VALID, EXPIRED, RECENT_PERIOD)),
                                  rng.choice(proofs)))
    purpose = rng.choice([*PURPOSES, "noodsituatie", "onbekend"])
    needed = CATALOGUE["purposes"].get(purpose, {}).get("sections", SECTIONS)
    sections = sorted(
        set(
            rng.sample(needed, min(len(needed), rng.randint(1, 4)))
            + rng.sample(SECTIONS, rng.randint(0, 2))
        )
    )
    if rng.random() < 0.05:
        sections.append("paspoort")
    justification = rng.choice((None, "kort", JUSTIFICATION)) if purpose == "noodsituatie" else None
    entries = []
    for n in range(rng.randint(0, 6)):
        e = entry(
            f"e-{n}",
            rng.choice(sections + SECTIONS[:2]),
            rng.choice(sorted(PARTNERS)),
            rng.random() < 0.3,
        )
        if rng.random() < 0.05:
            del e["restricted"]
        if rng.random() < 0.3:  # a colleague's entry, or one that names no worker
            e["worker"] = rng.choice(("w-colleague", ""))
        entries.append(e)
    consultations = [_random_consultation(rng, n, partner)
                     for n in range(rng.choice((0, 0, 1, 1, 2)))]
    if purpose == "casusoverleg" and rng.random() < 0.7:
        consultations.append(_random_consultation(rng, 9, partner, aimed=True))
    return {
        "consultations": consultations,
        "requester": req,
        "client": {"ref": "p-1", "network": NETWORK, "help_relations": relations,
                   "exclusions": [p for p in sorted(PARTNERS) if rng.random() < 0.08]},
        "purpose": purpose,
        "justification": justification,
        "justification_facts": justification_facts(justification),
        "sections": sections,
        "entries": entries,
        "consents": [
            _random_consent(rng, n, req, purpose, sections) for n in range(rng.randint(0, 3))
        ],
        "now": rng.choice((NOW, NOW, "2026-11-28T11:00:00+01:00")),
    }


def consultation(**overrides: Any) -> dict[str, Any]:
    """An open case consultation about client p-1 with caw-oost-vlaanderen and ocmw-gent."""
    return {"id": "cc-1", "client": "p-1", "participants": [CAW, "ocmw-gent"],
            "start": "2026-11-01T00:00:00Z", "until": "2027-02-01T00:00:00Z", "closed_at": None,
            **overrides}


def _random_consultation(rng: random.Random, n: int, partner: str,
                         aimed: bool = False) -> dict[str, Any]:
    """A case consultation (DESIGN §10): open or not, with or without the requester."""
    others = rng.sample(sorted(PARTNERS), 2)
    participants = sorted(set(others + ([partner] if aimed or rng.random() < 0.5 else [])))
    period = rng.choice((VALID, VALID, EXPIRED, FUTURE)) if not aimed else VALID
    return {"id": f"cc-{n}", "client": rng.choice(("p-1", "p-1", "p-1", "p-2")),
            "participants": participants, "start": period[0], "until": period[1],
            "closed_at": rng.choice((None, None, None, EXPIRED[1], FUTURE[0]))}


def random_inputs(count: int, seed: int = 20261128) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [random_input(rng) for _ in range(count)]


def without_entries(inp: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(inp)
    out["entries"] = []
    return out
