"""The section and purpose catalogue, data (``broker/policies/catalogue.json``), never hard-coded.

Only the tier names are vocabulary of the code (DESIGN §3): ``basis`` and ``vertrouwelijk`` are
ordinary, ``bijzonder`` needs explicit consent (DESIGN §4), ``geheim`` is never shared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast, get_args

from consent.errors import InvalidCatalogue

Tier = Literal["basis", "vertrouwelijk", "bijzonder", "geheim"]
TIERS: frozenset[str] = frozenset(get_args(Tier))


@dataclass(frozen=True, slots=True)
class SectionInfo:
    """A section (DESIGN §3): its tier, and its Dutch label and one-line explanation (``uitleg``)
    as the client portal shows them."""

    name: str
    tier: Tier
    label: str
    uitleg: str

    @property
    def is_shareable(self) -> bool:
        # DESIGN §4: a geheim section (werkaantekeningen) is never shared, with any consent.
        return self.tier != "geheim"

    @property
    def is_special_category(self) -> bool:
        # DESIGN §3: bijzonder = GDPR art. 9/10 data; must be named in a consent explicitly.
        return self.tier == "bijzonder"


@dataclass(frozen=True, slots=True)
class PurposeInfo:
    """A purpose (DESIGN §3): the sections it needs, its Dutch label and explanation, whether it
    is the break-glass purpose, whether it rests on a legal basis (DESIGN §10: casusoverleg, only
    inside a case consultation) and whether it may disclose other partners' involvement."""

    name: str
    label: str
    uitleg: str
    sections: frozenset[str]
    break_glass: bool
    discloses_involvement: bool
    legal_basis: bool = False

    @property
    def by_consent(self) -> bool:
        """Whether a consent may name this purpose: not break-glass, not a legal basis."""
        return not (self.break_glass or self.legal_basis)


@dataclass(frozen=True, slots=True)
class LegalBasisInfo:
    """A legal basis of a case consultation (DESIGN §10): its Dutch label and explanation, and
    whether its reference (e.g. the prosecutor's authorisation) is required."""

    code: str
    label: str
    uitleg: str
    reference_required: bool


@dataclass(frozen=True, slots=True)
class ConsultationInfo:
    """The case consultation's data (DESIGN §10): its purpose, its longest period in months,
    the obligation its releases carry and its legal bases."""

    purpose: str
    max_months: int
    obligation: str
    legal_bases: Mapping[str, LegalBasisInfo]


@dataclass(frozen=True, slots=True)
class Catalogue:
    sections: Mapping[str, SectionInfo]
    purposes: Mapping[str, PurposeInfo]
    # Closed code lists (code -> Dutch label) that callers pick from, e.g. a referral's reason
    # and a declined referral's reason (DESIGN §10); optional in the JSON (``codes``).
    codes: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: MappingProxyType({}))
    consultation: ConsultationInfo | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        """Build a catalogue from its JSON form.

        Raises:
            InvalidCatalogue: a missing or mistyped field, an unknown tier, or a purpose that needs
                an unknown section. Fails closed: a half-read catalogue is never returned.
        """
        try:
            raw_sections = cast(Mapping[str, Mapping[str, Any]], data["sections"])
            raw_purposes = cast(Mapping[str, Mapping[str, Any]], data["purposes"])
            sections = {
                name: SectionInfo(name=name, tier=_tier(raw["tier"]), label=_text(raw["label"]),
                                  uitleg=_text(raw["uitleg"]))
                for name, raw in raw_sections.items()
            }
            purposes = {
                name: PurposeInfo(
                    name=name,
                    label=_text(raw["label"]),
                    uitleg=_text(raw["uitleg"]),
                    sections=frozenset(_text(s) for s in raw["sections"]),
                    break_glass=raw.get("break_glass", False) is True,
                    discloses_involvement=raw.get("discloses_involvement", False) is True,
                    legal_basis=raw.get("legal_basis", False) is True,
                )
                for name, raw in raw_purposes.items()
            }
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidCatalogue from exc
        if not sections or not purposes:
            raise InvalidCatalogue
        for purpose in purposes.values():
            if not purpose.sections <= sections.keys():
                raise InvalidCatalogue
        codes = _codes(data.get("codes", {}))
        consultation = _consultation(data.get("consultation"), purposes)
        return cls(sections=MappingProxyType(sections), purposes=MappingProxyType(purposes),
                   codes=codes, consultation=consultation)

    def code_list(self, name: str) -> Mapping[str, str]:
        """The closed list ``name`` (code -> label); empty when the catalogue has none."""
        return self.codes.get(name, MappingProxyType({}))

    def tier(self, section: str) -> Tier | None:
        info = self.sections.get(section)
        return None if info is None else info.tier


_CODE = re.compile(r"[a-z][a-z_]{0,47}")  # DESIGN §9: a code may be logged in clear


def _codes(raw: object) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(raw, Mapping):
        raise InvalidCatalogue
    out: dict[str, Mapping[str, str]] = {}
    for name, items in raw.items():
        if not isinstance(items, Mapping) or not items:
            raise InvalidCatalogue
        for code in items:
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise InvalidCatalogue
        out[_text(name)] = MappingProxyType({code: _text(label) for code, label in items.items()})
    return MappingProxyType(out)


def _tier(value: object) -> Tier:
    if not isinstance(value, str) or value not in TIERS:
        raise InvalidCatalogue
    return cast(Tier, value)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidCatalogue
    return value


def _consultation(raw: object, purposes: Mapping[str, PurposeInfo]) -> ConsultationInfo | None:
    """The optional ``consultation`` block; its purpose must be a legal-basis purpose."""
    if raw is None:
        return None
    try:
        spec = cast(Mapping[str, Any], raw)
        bases = cast(Mapping[str, Mapping[str, Any]], spec["legal_bases"])
        info = ConsultationInfo(
            purpose=_text(spec["purpose"]),
            max_months=int(spec["max_months"]),
            obligation=_text(spec["obligation"]),
            legal_bases=MappingProxyType({
                code: LegalBasisInfo(code=code, label=_text(b["label"]),
                                     uitleg=_text(b["uitleg"]),
                                     reference_required=b["reference_required"] is True)
                for code, b in bases.items()}),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidCatalogue from exc
    purpose = purposes.get(info.purpose)
    if purpose is None or not purpose.legal_basis or not info.legal_bases \
            or not 1 <= info.max_months <= 12:
        raise InvalidCatalogue
    return info
