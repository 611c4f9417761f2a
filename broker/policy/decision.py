"""Reading the engine's answer (DESIGN §4 output), strictly: anything unexpected denies.

STYLE "Errors": an undefined, malformed or late result is a deny plus a logged, audited internal
error — never an allow. Beyond the shape, the answer must respect DESIGN §4's release rule
(an entry is released only if the requester wrote it, or its section is granted and it is not
restricted) and may name as relied-on consents (and case consultations, DESIGN §10) only those it
was asked about; an engine answer that breaks either is treated as malformed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from broker.errors import MalformedDecision

POLICY_ERROR = "policy_error"
KNOWN_OBLIGATIONS = frozenset({"notify_client", "notify_dpo", "no_onward_disclosure"})
# DESIGN §10: the one reason a granted section may carry, the ground of a grant without consent.
GRANT_GROUNDS = frozenset({"legal_basis"})


@dataclass(frozen=True)
class SectionVerdict:
    verdict: Literal["granted", "denied"]
    reasons: tuple[str, ...]
    consents: tuple[str, ...] = ()  # DESIGN §3: the consents a grant relied on


@dataclass(frozen=True)
class EntryMeta:
    """What the policy may know of an entry: never its content (DESIGN §4)."""

    id: str
    section: str
    author: str
    restricted: bool
    worker: str = ""  # the author's worker as its keyed pseudonym (DESIGN §1, §9); "" unknown


@dataclass(frozen=True)
class Decision:
    sections: Mapping[str, SectionVerdict]
    release: tuple[str, ...]
    obligations: tuple[str, ...]
    break_glass: bool
    consultations: tuple[str, ...] = ()  # DESIGN §10: the case consultations a grant relied on

    @property
    def granted(self) -> tuple[str, ...]:
        return tuple(s for s, v in self.sections.items() if v.verdict == "granted")

    @property
    def relied_on(self) -> tuple[str, ...]:
        """Every consent any granted section relied on, sorted (DESIGN §3)."""
        return tuple(sorted({c for v in self.sections.values() for c in v.consents}))


def deny_all(requested: Sequence[str]) -> Decision:
    """Fail closed: every requested section denied with ``policy_error``, nothing released."""
    verdict = SectionVerdict("denied", (POLICY_ERROR,))
    return Decision({s: verdict for s in requested}, (), (), False)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedDecision(f"{what} is not a list of strings")
    return tuple(value)


def _section(item: Any, consent_ids: Collection[str]) -> SectionVerdict:
    if not isinstance(item, dict) or set(item) != {"verdict", "reasons", "consents"} \
            or item["verdict"] not in ("granted", "denied"):
        raise MalformedDecision("a section has no valid verdict")
    reasons = _strings(item["reasons"], "reasons")
    consents = _strings(item["consents"], "consents")
    granted = item["verdict"] == "granted"
    if granted and not set(reasons) <= GRANT_GROUNDS:
        raise MalformedDecision("a granted section carries a reason that is no grant ground")
    if not granted and (not reasons or set(reasons) & GRANT_GROUNDS):
        raise MalformedDecision("a denied section carries no reason, or a grant ground")
    if consents and not granted:
        raise MalformedDecision("a denied section relied on consents")
    if not set(consents) <= set(consent_ids):
        raise MalformedDecision("a section relied on a consent that was not asked about")
    return SectionVerdict(item["verdict"], reasons, consents)


def parse_decision(raw: Any, *, requested: Sequence[str], requester: str,
                   entries: Sequence[EntryMeta], consent_ids: Collection[str],
                   consultation_ids: Collection[str] = ()) -> Decision:
    """Raises ``MalformedDecision`` unless ``raw`` is a complete, rule-abiding decision.
    ``consent_ids``, ``consultation_ids``: the ids of the consents and case consultations in
    the input."""
    if not isinstance(raw, dict) or set(raw) != {"sections", "release", "obligations",
                                                 "break_glass", "consultations"}:
        raise MalformedDecision("not a decision object")
    sections_raw = raw["sections"]
    if not isinstance(sections_raw, dict) or set(sections_raw) != set(requested):
        raise MalformedDecision("the sections answered are not the sections asked")
    sections = {name: _section(sections_raw[name], consent_ids) for name in requested}
    release = _strings(raw["release"], "release")
    obligations = _strings(raw["obligations"], "obligations")
    if not set(obligations) <= KNOWN_OBLIGATIONS:
        raise MalformedDecision("unknown obligation")
    if not isinstance(raw["break_glass"], bool):
        raise MalformedDecision("break_glass is not a boolean")
    consultations = _strings(raw["consultations"], "consultations")
    if not set(consultations) <= set(consultation_ids):
        raise MalformedDecision("a grant relied on a consultation that was not asked about")
    if consultations and not any(v.verdict == "granted" for v in sections.values()):
        raise MalformedDecision("a decision that grants nothing relied on a consultation")
    by_id = {e.id: e for e in entries}
    for entry_id in release:
        entry = by_id.get(entry_id)
        if entry is None:
            raise MalformedDecision("release names an entry that was not asked about")
        own = entry.author == requester
        shared = sections[entry.section].verdict == "granted" if entry.section in sections \
            else False
        if not (own or (shared and not entry.restricted)):
            raise MalformedDecision("release breaks DESIGN §4's release rule")
    return Decision(sections, tuple(sorted(set(release))), tuple(sorted(set(obligations))),
                    raw["break_glass"], tuple(sorted(set(consultations))))
