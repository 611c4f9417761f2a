"""Reading the engine's answer (DESIGN §4 output), strictly: anything unexpected denies.

STYLE "Errors": an undefined, malformed or late result is a deny plus a logged, audited internal
error — never an allow. Beyond the shape, the answer must respect DESIGN §4's release rule
(an entry is released only if the requester wrote it, or its section is granted and it is not
restricted); an engine answer that breaks it is treated as malformed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

POLICY_ERROR = "policy_error"
KNOWN_OBLIGATIONS = frozenset({"notify_client", "notify_dpo"})


class MalformedDecision(ValueError):
    """The engine's answer is not a decision the broker can obey."""


@dataclass(frozen=True)
class SectionVerdict:
    verdict: Literal["granted", "denied"]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class EntryMeta:
    """What the policy may know of an entry: never its content (DESIGN §4)."""

    id: str
    section: str
    author: str
    restricted: bool


@dataclass(frozen=True)
class Decision:
    sections: Mapping[str, SectionVerdict]
    release: tuple[str, ...]
    obligations: tuple[str, ...]
    break_glass: bool
    policy_error: bool = False

    @property
    def granted(self) -> tuple[str, ...]:
        return tuple(s for s, v in self.sections.items() if v.verdict == "granted")


def deny_all(requested: Sequence[str]) -> Decision:
    """Fail closed: every requested section denied with ``policy_error``, nothing released."""
    verdict = SectionVerdict("denied", (POLICY_ERROR,))
    return Decision({s: verdict for s in requested}, (), (), False, policy_error=True)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedDecision(f"{what} is not a list of strings")
    return tuple(value)


def parse_decision(raw: Any, *, requested: Sequence[str], requester: str,
                   entries: Sequence[EntryMeta]) -> Decision:
    """Raises ``MalformedDecision`` unless ``raw`` is a complete, rule-abiding decision."""
    if not isinstance(raw, dict) or set(raw) != {"sections", "release", "obligations",
                                                 "break_glass"}:
        raise MalformedDecision("not a decision object")
    sections_raw = raw["sections"]
    if not isinstance(sections_raw, dict) or set(sections_raw) != set(requested):
        raise MalformedDecision("the sections answered are not the sections asked")
    sections: dict[str, SectionVerdict] = {}
    for name in requested:
        item = sections_raw[name]
        if not isinstance(item, dict) or item.get("verdict") not in ("granted", "denied"):
            raise MalformedDecision("a section has no valid verdict")
        reasons = _strings(item.get("reasons"), "reasons")
        if (item["verdict"] == "granted") == bool(reasons):
            raise MalformedDecision("granted sections carry no reasons; denied ones do")
        sections[name] = SectionVerdict(item["verdict"], reasons)
    release = _strings(raw["release"], "release")
    obligations = _strings(raw["obligations"], "obligations")
    if not set(obligations) <= KNOWN_OBLIGATIONS:
        raise MalformedDecision("unknown obligation")
    if not isinstance(raw["break_glass"], bool):
        raise MalformedDecision("break_glass is not a boolean")
    by_id = {e.id: e for e in entries}
    for entry_id in release:
        entry = by_id.get(entry_id)
        if entry is None:
            raise MalformedDecision("release names an entry that was not asked about")
        own = entry.author == requester
        granted = sections.get(entry.section) == SectionVerdict("granted", ())
        shared = granted and not entry.restricted
        if not (own or shared):
            raise MalformedDecision("release breaks DESIGN §4's release rule")
    return Decision(sections, tuple(sorted(set(release))), tuple(sorted(set(obligations))),
                    raw["break_glass"])
