"""Decision-table rows of casework (DESIGN §10): the access decision for purpose
``doorverwijzing`` on a relation with proof ``referral`` (the handover), the referral's consent
cover and the coordinator rule. Run on the embedded engine and, with their expected values, on
the real OPA engine (test_casework_rules.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.policy.decision_table import Case
from tests.policy.factories import (
    CAW,
    EXPIRED,
    NETWORK,
    RECENT,
    entry,
    make_consent,
    make_input,
    recipient,
    relation,
    requester,
)

G = "granted"
REFERRAL = "doorverwijzing"
JOINT = "gezamenlijke_begeleiding"
HANDED = ["contact", "hulpvraag", "identiteit"]


def _referral_consent(**overrides: Any) -> dict[str, Any]:
    return make_consent(**{"purposes": [REFERRAL], "sections": HANDED, **overrides})


def _handover(**overrides: Any) -> dict[str, Any]:
    """caw accepted a referral: its relation rests on the referral (proof ``referral``)."""
    fields: dict[str, Any] = {
        "purpose": REFERRAL, "sections": HANDED, "consents": [_referral_consent()],
        "client": {"ref": "p-1", "network": NETWORK,
                   "help_relations": [relation(proof="referral")], "exclusions": []},
    }
    fields.update(overrides)
    return make_input(**fields)


HANDOVER_CASES: list[Case] = [
    Case("referral_relation_hands_over_consented_sections", _handover(),
         {s: G for s in HANDED}),
    Case("referral_handover_releases_unrestricted_entries_of_granted_sections",
         _handover(entries=[entry("e-1", "hulpvraag"), entry("e-2", "hulpvraag", restricted=True),
                            entry("e-3", "rechten"), entry("e-4", "inkomen")],
                   sections=["hulpvraag", "rechten", "inkomen"]),
         {"hulpvraag": G, "rechten": ["no_consent_for_section"],
          "inkomen": ["no_consent_for_section", "section_not_needed_for_purpose"]},
         release=["e-1"]),
    Case("referral_handover_never_shares_working_notes",
         _handover(sections=["werkaantekeningen"],
                   consents=[_referral_consent(sections=["werkaantekeningen"])]),
         {"werkaantekeningen": ["section_never_shared", "section_not_needed_for_purpose"]}),
    Case("referral_relation_ended_hands_over_nothing",
         _handover(client={"ref": "p-1", "network": NETWORK,
                           "help_relations": [relation(period=EXPIRED, proof="referral")],
                           "exclusions": []}, sections=["identiteit"]),
         {"identiteit": ["no_valid_help_relation"]}),
    Case("referral_relation_opens_vertrouwelijk_unlike_an_attested_one",
         _handover(sections=["hulpvraag"],
                   consents=[_referral_consent(proof="attested", recorded_at=RECENT)]),
         {"hulpvraag": ["needs_client_proof"]}),
    Case("referral_handover_to_an_excluded_partner_is_denied",
         _handover(sections=["identiteit"],
                   client={"ref": "p-1", "network": NETWORK,
                           "help_relations": [relation(proof="referral")], "exclusions": [CAW]}),
         {"identiteit": ["excluded_by_client"]}),
]


@dataclass(frozen=True)
class RuleCase:
    id: str
    input: dict[str, Any]
    expected: Any


def _proposal(**overrides: Any) -> dict[str, Any]:
    """caw is the receiver of a referral not yet accepted: no relation of its own."""
    fields: dict[str, Any] = {
        "purpose": REFERRAL, "sections": [*HANDED, "rechten"],
        "consents": [_referral_consent()],
        "client": {"ref": "p-1", "network": NETWORK, "help_relations": [relation("ocmw-gent")],
                   "exclusions": []},
    }
    fields.update(overrides)
    return make_input(**fields)


COVER_CASES: list[RuleCase] = [
    RuleCase("cover_splits_covered_and_missing", _proposal(),
             {"covered": HANDED, "missing": ["rechten"]}),
    RuleCase("cover_by_partner_type", _proposal(
        consents=[_referral_consent(recipients=[recipient("partner_type", "caw")])]),
        {"covered": HANDED, "missing": ["rechten"]}),
    RuleCase("cover_needs_the_referral_purpose", _proposal(
        consents=[make_consent(purposes=["rechtenverkenning"], sections=HANDED)]),
        {"covered": [], "missing": [*HANDED, "rechten"]}),
    RuleCase("cover_not_by_a_revoked_consent", _proposal(
        consents=[_referral_consent(revoked_at="2026-11-01T00:00:00Z")]),
        {"covered": [], "missing": [*HANDED, "rechten"]}),
    RuleCase("cover_attested_consent_opens_only_basis", _proposal(
        consents=[_referral_consent(proof="attested", recorded_at=RECENT)]),
        {"covered": ["contact", "identiteit"], "missing": ["hulpvraag", "rechten"]}),
    RuleCase("cover_undefined_for_another_purpose", _proposal(purpose="rechtenverkenning"),
             None),
]


def _coordination(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "requester": requester("ocmw-gent"), "purpose": JOINT, "sections": [],
        "consents": [make_consent(purposes=[JOINT],
                                  recipients=[recipient("network", NETWORK)])],
        "client": {"ref": "p-1", "network": NETWORK, "help_relations": [relation("ocmw-gent")],
                   "exclusions": []},
    }
    fields.update(overrides)
    return make_input(**fields)


ALLOWED = {"allowed": True, "reasons": []}


def _refused(*reasons: str) -> dict[str, Any]:
    return {"allowed": False, "reasons": sorted(reasons)}


COORDINATION_CASES: list[RuleCase] = [
    RuleCase("coordination_allowed_with_joint_consent", _coordination(), ALLOWED),
    RuleCase("coordination_refused_without_consent", _coordination(consents=[]),
             _refused("no_consent_for_purpose")),
    RuleCase("coordination_refused_with_a_referral_consent", _coordination(
        consents=[make_consent(purposes=[REFERRAL], recipients=[recipient("network", NETWORK)])]),
        _refused("no_consent_for_purpose")),
    RuleCase("coordination_refused_without_relation", _coordination(
        client={"ref": "p-1", "network": NETWORK, "help_relations": [], "exclusions": []}),
        _refused("no_valid_help_relation")),
    RuleCase("coordination_refused_when_excluded", _coordination(
        client={"ref": "p-1", "network": NETWORK, "help_relations": [relation("ocmw-gent")],
                "exclusions": ["ocmw-gent"]}),
        _refused("excluded_by_client")),
    RuleCase("coordination_refused_for_another_purpose", _coordination(purpose=REFERRAL),
             _refused("unknown_purpose", "no_consent_for_purpose")),
    RuleCase("coordination_refused_for_partner_not_bound_by_secrecy", _coordination(
        requester=requester("ocmw-gent", bound_by_secrecy=False)),
        _refused("requester_not_bound_by_secrecy")),
    RuleCase("coordination_refused_on_empty_input", {},
             _refused("no_consent_for_purpose", "no_valid_help_relation",
                      "requester_inactive", "requester_not_bound_by_secrecy",
                      "requester_not_in_network")),
]
