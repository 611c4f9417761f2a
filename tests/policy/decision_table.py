"""The decision table: hand-written cases with their expected decisions (DESIGN §4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.policy.factories import (
    CAW,
    EXPIRED,
    FUTURE,
    NETWORK,
    RECENT,
    RECENT_PERIOD,
    VALID,
    consultation,
    emergency,
    entry,
    make_consent,
    make_input,
    recipient,
    relation,
    requester,
)

# --- the decision table -----------------------------------------------------------------------

G = "granted"


@dataclass(frozen=True)
class Case:
    """`sections` maps each requested section to "granted" or its sorted deny reasons.

    `relied` maps a granted section to the consents it relied on (default ["c-1"], the
    factories' consent; none under break-glass). `obligations` defaults to notify_client iff a
    section is granted (broker/policies/access.rego).
    """

    id: str
    input: dict[str, Any]
    sections: dict[str, str | list[str]]
    release: list[str] = field(default_factory=list)
    obligations: list[str] | None = None
    break_glass: bool = False
    relied: dict[str, list[str]] = field(default_factory=dict)
    consultations: list[str] = field(default_factory=list)  # DESIGN §10: relied on

    def expected(self) -> dict[str, Any]:
        default = [] if self.break_glass or self.consultations else ["c-1"]
        grounds = ["legal_basis"] if self.consultations else []
        sections = {
            name: {"verdict": "granted", "reasons": grounds,
                   "consents": self.relied.get(name, default)}
            if want == G
            else {"verdict": "denied", "reasons": want, "consents": []}
            for name, want in self.sections.items()
        }
        obligations = self.obligations
        if obligations is None and self.consultations:
            obligations = ["no_onward_disclosure"]
        if obligations is None:
            obligations = ["notify_client"] if G in self.sections.values() else []
        return {
            "sections": sections,
            "release": self.release,
            "obligations": obligations,
            "break_glass": self.break_glass,
            "consultations": self.consultations,
        }


def _network_consent(**overrides: Any) -> dict[str, Any]:
    return make_consent(recipients=[recipient("network", NETWORK)], **overrides)


def _joint(**overrides: Any) -> dict[str, Any]:
    return make_consent(purposes=["gezamenlijke_begeleiding"], **overrides)


MIXED_ENTRIES = [
    entry("e-1", "inkomen"),
    entry("e-2", "inkomen", restricted=True),
    entry("e-3", "justitie", author=CAW, restricted=True),
    entry("e-4", "justitie"),
    entry("e-5", "werkaantekeningen", author=CAW, restricted=True),
    entry("e-6", "werkaantekeningen"),
    entry("e-7", "huisvesting", author="dmw-cm"),
]
NO_CONSENT = ["no_consent_for_section"]
NOT_NEEDED = ["section_not_needed_for_purpose"]
SHORT = ["break_glass_justification_too_short"]
NEEDS_PROOF = ["needs_client_proof"]
BG_OBLIGATIONS = ["notify_client", "notify_dpo"]
NO_CONSULTATION = ["no_open_consultation"]


def _consulting(**overrides: Any) -> dict[str, Any]:
    """DESIGN §10: caw-oost-vlaanderen, a participant of an open case consultation about the
    client, asks for sections of purpose casusoverleg with no consent at all."""
    fields: dict[str, Any] = {"purpose": "casusoverleg", "consents": [],
                              "sections": ["identiteit", "justitie"],
                              "consultations": [consultation()]}
    return make_input(**{**fields, **overrides})

TABLE: list[Case] = [
    # DESIGN §10: case consultation (casusoverleg)
    Case("consultation_participant_granted_without_consent",
         _consulting(entries=[entry("e-1", "justitie")]),
         {"identiteit": G, "justitie": G}, release=["e-1"], consultations=["cc-1"]),
    Case("consultation_wrong_partner_denied",
         _consulting(consultations=[consultation(participants=["ocmw-gent", "dmw-cm"])],
                     entries=[entry("e-1", "justitie")]),
         {"identiteit": NO_CONSULTATION, "justitie": NO_CONSULTATION}),
    Case("consultation_after_end_denied",
         _consulting(consultations=[consultation(until="2026-11-28T10:00:00Z")]),
         {"identiteit": NO_CONSULTATION, "justitie": NO_CONSULTATION}),
    Case("consultation_after_close_denied",
         _consulting(consultations=[consultation(closed_at="2026-11-28T09:00:00Z")]),
         {"identiteit": NO_CONSULTATION, "justitie": NO_CONSULTATION}),
    Case("consultation_other_purpose_needs_consent",
         _consulting(purpose="rechtenverkenning", sections=["identiteit"]),
         {"identiteit": NO_CONSENT}),
    Case("consultation_consent_for_casusoverleg_opens_nothing",
         _consulting(consultations=[],
                     consents=[make_consent(purposes=["casusoverleg"],
                                            sections=["identiteit", "justitie"])]),
         {"identiteit": NO_CONSULTATION, "justitie": NO_CONSULTATION}),
    Case("consultation_section_not_for_casusoverleg_denied",
         _consulting(sections=["inkomen", "identiteit"]),
         {"inkomen": NOT_NEEDED, "identiteit": G}, consultations=["cc-1"]),
    # granted, recipient by partner, type and network
    Case("granted_consent_by_partner", make_input(), {"inkomen": G}),
    Case(
        "granted_consent_by_partner_type",
        make_input(consents=[make_consent(recipients=[recipient("partner_type", "caw")])]),
        {"inkomen": G},
    ),
    Case("granted_consent_by_network", make_input(consents=[_network_consent()]), {"inkomen": G}),
    Case(
        "granted_ocmw_by_network_consent",
        make_input(
            requester=requester("ocmw-gent"),
            client={"ref": "p-1", "network": NETWORK, "help_relations": [relation("ocmw-gent")]},
            consents=[_network_consent()],
        ),
        {"inkomen": G},
    ),
    Case(
        "denied_dmw_under_consent_for_caw_type",
        make_input(
            requester=requester("dmw-cm"),
            client={"ref": "p-1", "network": NETWORK, "help_relations": [relation("dmw-cm")]},
            consents=[make_consent(recipients=[recipient("partner_type", "caw")])],
        ),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "denied_consent_for_other_partner",
        make_input(consents=[make_consent(recipients=[recipient("partner", "ocmw-gent")])]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "denied_consent_for_other_network",
        make_input(consents=[make_consent(recipients=[recipient("network", "gbo-brugge")])]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "granted_and_denied_mixed",
        make_input(sections=["identiteit", "inkomen", "gezinssituatie"]),
        {"identiteit": G, "inkomen": G, "gezinssituatie": NO_CONSENT},
    ),
    Case("granted_with_offset_now", make_input(now="2026-11-28T11:00:00+01:00"), {"inkomen": G}),
    # section rules
    Case(
        "unknown_section",
        make_input(sections=["paspoort"]),
        {
            "paspoort": [
                "no_consent_for_section",
                "section_not_needed_for_purpose",
                "unknown_section",
            ]
        },
    ),
    Case(
        "werkaantekeningen_with_explicit_consent",
        make_input(
            purpose="gezamenlijke_begeleiding",
            sections=["werkaantekeningen"],
            consents=[_joint(sections=["werkaantekeningen"])],
        ),
        {"werkaantekeningen": ["section_never_shared", "section_not_needed_for_purpose"]},
    ),
    Case(
        "werkaantekeningen_under_wildcard",
        make_input(
            purpose="gezamenlijke_begeleiding",
            sections=["werkaantekeningen"],
            consents=[_joint(sections=["*"])],
        ),
        {
            "werkaantekeningen": [
                "no_consent_for_section",
                "section_never_shared",
                "section_not_needed_for_purpose",
            ]
        },
    ),
    # requester rules
    Case(
        "requester_inactive",
        make_input(requester=requester(active=False)),
        {"inkomen": ["requester_inactive"]},
    ),
    Case(
        "requester_active_missing",
        make_input(requester={k: v for k, v in requester().items() if k != "active"}),
        {"inkomen": ["requester_inactive"]},
    ),
    Case(
        "requester_other_network",
        make_input(requester=requester(network="gbo-brugge")),
        {"inkomen": ["requester_not_in_network"]},
    ),
    Case(
        "client_network_missing",
        make_input(client={"ref": "p-1", "help_relations": [relation()]}),
        {"inkomen": ["requester_not_in_network"]},
    ),
    Case(
        "buurtwerk_not_bound_by_secrecy",
        make_input(
            requester=requester("buurtwerk-gent"),
            client={
                "ref": "p-1",
                "network": NETWORK,
                "help_relations": [relation("buurtwerk-gent")],
            },
            consents=[_network_consent()],
        ),
        {"inkomen": ["requester_not_bound_by_secrecy"]},
    ),
    Case(
        "secrecy_flag_missing",
        make_input(requester={k: v for k, v in requester().items() if k != "bound_by_secrecy"}),
        {"inkomen": ["requester_not_bound_by_secrecy"]},
    ),
    # help relation
    Case(
        "relation_expired",
        make_input(
            client={"ref": "p-1", "network": NETWORK, "help_relations": [relation(CAW, EXPIRED)]}
        ),
        {"inkomen": ["no_valid_help_relation"]},
    ),
    Case(
        "relation_not_started",
        make_input(
            client={"ref": "p-1", "network": NETWORK, "help_relations": [relation(CAW, FUTURE)]}
        ),
        {"inkomen": ["no_valid_help_relation"]},
    ),
    Case(
        "relation_of_other_partner_only",
        make_input(
            client={"ref": "p-1", "network": NETWORK, "help_relations": [relation("ocmw-gent")]}
        ),
        {"inkomen": ["no_valid_help_relation"]},
    ),
    Case(
        "no_relations",
        make_input(client={"ref": "p-1", "network": NETWORK, "help_relations": []}),
        {"inkomen": ["no_valid_help_relation"]},
    ),
    Case(
        "now_missing",
        {k: v for k, v in make_input().items() if k != "now"},
        {"inkomen": ["no_consent_for_section", "no_valid_help_relation"]},
    ),
    # purpose
    Case(
        "unknown_purpose",
        make_input(
            purpose="nieuwsgierigheid", consents=[make_consent(purposes=["nieuwsgierigheid"])]
        ),
        {"inkomen": ["unknown_purpose"]},
    ),
    Case(
        "purpose_missing",
        {k: v for k, v in make_input().items() if k != "purpose"},
        {"inkomen": ["no_consent_for_section", "unknown_purpose"]},
    ),
    Case(
        "section_not_needed_for_purpose",
        make_input(
            purpose="hulpvraagverheldering",
            consents=[make_consent(purposes=["hulpvraagverheldering"])],
        ),
        {"inkomen": NOT_NEEDED},
    ),
    # consent
    Case("no_consent", make_input(consents=[]), {"inkomen": NO_CONSENT}),
    Case(
        "consent_other_purpose",
        make_input(consents=[make_consent(purposes=["rechtenrealisatie"])]),
        {"inkomen": NO_CONSENT},
    ),
    Case("consent_other_section", make_input(sections=["werk"]), {"werk": NO_CONSENT}),
    Case(
        "consent_revoked",
        make_input(consents=[make_consent(revoked_at=EXPIRED[1])]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "consent_revoked_after_now",
        make_input(consents=[make_consent(revoked_at=FUTURE[0])]),
        {"inkomen": G},
    ),
    Case(
        "consent_revocation_fact_missing",
        make_input(consents=[{k: v for k, v in make_consent().items() if k != "revoked_at"}]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "consent_bound_to_requesters_relation",
        make_input(consents=[make_consent(help_relation=f"r-{CAW}")]),
        {"inkomen": G},
    ),
    Case(
        "consent_bound_to_ended_relation",
        make_input(
            client={"ref": "p-1", "network": NETWORK,
                    "help_relations": [relation(), relation("ocmw-gent", EXPIRED)]},
            consents=[make_consent(help_relation="r-ocmw-gent")],
        ),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "consent_bound_to_unknown_relation",
        make_input(consents=[make_consent(help_relation="r-onbekend")]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "several_consents_relied_on",
        make_input(consents=[
            make_consent(id="c-2", recipients=[recipient("network", NETWORK)]),
            make_consent(),
            make_consent(id="c-3", sections=["identiteit"]),
        ]),
        {"inkomen": G},
        relied={"inkomen": ["c-1", "c-2"]},
    ),
    Case(
        "consent_validity_over",
        make_input(consents=[make_consent(valid_from=EXPIRED[0], valid_until=EXPIRED[1])]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "consent_not_yet_valid",
        make_input(consents=[make_consent(valid_from=FUTURE[0], valid_until=FUTURE[1])]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "consent_revoked_but_other_active",
        make_input(
            consents=[make_consent(revoked_at=EXPIRED[1]),
                      make_consent(id="c-2", sections=["inkomen"])]
        ),
        {"inkomen": G},
        relied={"inkomen": ["c-2"]},
    ),
    Case(
        "wildcard_covers_vertrouwelijk",
        make_input(sections=["inkomen", "werk"], consents=[make_consent(sections=["*"])]),
        {"inkomen": G, "werk": G},
    ),
    Case(
        "bijzonder_under_broad_consent",
        make_input(
            purpose="gezamenlijke_begeleiding",
            sections=["gezondheid", "justitie"],
            consents=[_joint(sections=["*"])],
        ),
        {
            "gezondheid": ["bijzonder_needs_explicit_consent"],
            "justitie": ["bijzonder_needs_explicit_consent"],
        },
    ),
    Case(
        "bijzonder_named_explicitly",
        make_input(
            purpose="gezamenlijke_begeleiding",
            sections=["gezondheid", "verblijfsstatus"],
            consents=[_joint(sections=["*", "verblijfsstatus"])],
        ),
        {"gezondheid": ["bijzonder_needs_explicit_consent"], "verblijfsstatus": G},
    ),
    Case(
        "bijzonder_without_any_consent",
        make_input(purpose="gezamenlijke_begeleiding", sections=["justitie"], consents=[]),
        {"justitie": NO_CONSENT},
    ),
    Case(
        "all_failures_listed",
        make_input(
            requester=requester(active=False, bound_by_secrecy=False, network="elders"),
            client={"ref": "p-1", "network": NETWORK, "help_relations": []},
            purpose="hulpvraagverheldering",
            consents=[],
        ),
        {
            "inkomen": [
                "no_consent_for_section",
                "no_valid_help_relation",
                "requester_inactive",
                "requester_not_bound_by_secrecy",
                "requester_not_in_network",
                "section_not_needed_for_purpose",
            ]
        },
    ),
    Case("empty_input", {}, {}),
    # break-glass
    Case(
        "break_glass_granted",
        emergency(),
        {"identiteit": G, "contact": G, "gezondheid": G},
        obligations=BG_OBLIGATIONS,
        break_glass=True,
    ),
    Case(
        "break_glass_other_sections_denied",
        emergency(sections=["gezondheid", "inkomen", "justitie"]),
        {"gezondheid": G, "inkomen": NOT_NEEDED, "justitie": NOT_NEEDED},
        obligations=BG_OBLIGATIONS,
        break_glass=True,
    ),
    Case(
        "break_glass_short_justification",
        emergency(justification="dringend!"),
        {"identiteit": SHORT, "contact": SHORT, "gezondheid": SHORT},
    ),
    Case(
        "break_glass_padded_justification",
        emergency(justification=" " * 20 + "dringend" + " " * 20),
        {"identiteit": SHORT, "contact": SHORT, "gezondheid": SHORT},
    ),
    Case(
        "break_glass_no_justification",
        emergency(justification=None),
        {"identiteit": SHORT, "contact": SHORT, "gezondheid": SHORT},
    ),
    Case(
        "break_glass_not_bound_by_secrecy",
        emergency(
            requester=requester("buurtwerk-gent"),
            client={
                "ref": "p-1",
                "network": NETWORK,
                "help_relations": [relation("buurtwerk-gent")],
            },
        ),
        {
            "identiteit": ["requester_not_bound_by_secrecy"],
            "contact": ["requester_not_bound_by_secrecy"],
            "gezondheid": ["requester_not_bound_by_secrecy"],
        },
    ),
    Case(
        "break_glass_expired_relation",
        emergency(
            sections=["gezondheid"],
            client={"ref": "p-1", "network": NETWORK, "help_relations": [relation(CAW, EXPIRED)]},
        ),
        {"gezondheid": ["no_valid_help_relation"]},
    ),
    Case(
        "break_glass_releases_unrestricted_entries",
        emergency(
            sections=["gezondheid"],
            entries=[
                entry("e-1", "gezondheid", "dmw-cm"),
                entry("e-2", "gezondheid", "dmw-cm", restricted=True),
            ],
        ),
        {"gezondheid": G},
        release=["e-1"],
        obligations=BG_OBLIGATIONS,
        break_glass=True,
    ),
    # proof of the client's will (DESIGN §9)
    Case(
        "attested_consent_opens_basis_only",
        make_input(sections=["identiteit", "inkomen"],
                   consents=[make_consent(proof="attested", recorded_at=RECENT)]),
        {"identiteit": G, "inkomen": ["needs_client_proof"]},
    ),
    Case(
        "attested_consent_never_opens_bijzonder",
        make_input(purpose="gezamenlijke_begeleiding", sections=["gezondheid"],
                   consents=[_joint(proof="attested", recorded_at=RECENT,
                                    sections=["gezondheid"])]),
        {"gezondheid": ["needs_client_proof"]},
    ),
    Case(
        "attested_consent_after_30_days",
        make_input(sections=["identiteit"],
                   consents=[make_consent(proof="attested", recorded_at=VALID[0])]),
        {"identiteit": ["needs_client_proof"]},
    ),
    Case(
        "eid_consent_full_power",
        make_input(sections=["identiteit", "inkomen"],
                   consents=[make_consent(proof="eid", recorded_at=VALID[0])]),
        {"identiteit": G, "inkomen": G},
    ),
    Case(
        "unknown_proof_opens_nothing",
        make_input(consents=[make_consent(proof="gezworen")]),
        {"inkomen": NO_CONSENT},
    ),
    Case(
        "break_glass_on_attested_relation_basis_only",
        emergency(client={"ref": "p-1", "network": NETWORK, "exclusions": [],
                          "help_relations": [relation(CAW, RECENT_PERIOD, "attested")]}),
        {"identiteit": G, "contact": G, "gezondheid": ["needs_client_proof"]},
        obligations=BG_OBLIGATIONS,
        break_glass=True,
    ),
    Case(
        "break_glass_on_old_attested_relation",
        emergency(client={"ref": "p-1", "network": NETWORK, "exclusions": [],
                          "help_relations": [relation(CAW, VALID, "attested")]}),
        {"identiteit": NEEDS_PROOF, "contact": NEEDS_PROOF, "gezondheid": NEEDS_PROOF},
    ),
    # exclusions (DESIGN §9)
    Case(
        "excluded_partner_gets_nothing",
        make_input(client={"ref": "p-1", "network": NETWORK, "help_relations": [relation()],
                           "exclusions": [CAW]},
                   entries=[entry("e-1", "inkomen", author=CAW)]),
        {"inkomen": ["excluded_by_client"]},
    ),
    Case(
        "excluded_partner_no_break_glass",
        emergency(sections=["gezondheid"],
                  client={"ref": "p-1", "network": NETWORK, "help_relations": [relation()],
                          "exclusions": [CAW]}),
        {"gezondheid": ["excluded_by_client"]},
    ),
    Case(
        "exclusion_of_other_partner",
        make_input(client={"ref": "p-1", "network": NETWORK, "help_relations": [relation()],
                           "exclusions": ["ocmw-gent"]}),
        {"inkomen": G},
    ),
    # release
    Case(
        "release_mixed",
        make_input(sections=["inkomen", "justitie", "werkaantekeningen"], entries=MIXED_ENTRIES),
        {
            "inkomen": G,
            "justitie": NO_CONSENT + NOT_NEEDED,
            "werkaantekeningen": NO_CONSENT + ["section_never_shared"] + NOT_NEEDED,
        },
        release=["e-1", "e-3", "e-5"],
    ),
    Case(
        "release_own_entries_in_denied_section",
        make_input(
            consents=[],
            entries=[entry("e-1", "inkomen", author=CAW, restricted=True), entry("e-2", "inkomen")],
        ),
        {"inkomen": NO_CONSENT},
        release=["e-1"],
    ),
    Case(
        "release_restricted_flag_missing",
        make_input(entries=[{"id": "e-1", "section": "inkomen", "author": "ocmw-gent"}]),
        {"inkomen": G},
    ),
    Case(
        "release_not_for_unrequested_section",
        make_input(entries=[entry("e-1", "huisvesting"), entry("e-2", "huisvesting", CAW)]),
        {"inkomen": G},
    ),
    Case(
        "release_working_notes_only_to_their_worker",
        make_input(
            sections=["inkomen", "werkaantekeningen"],
            entries=[entry("e-1", "werkaantekeningen", author=CAW),
                     entry("e-2", "werkaantekeningen", author=CAW, worker="w-colleague"),
                     entry("e-3", "werkaantekeningen", author=CAW, worker=""),
                     entry("e-4", "inkomen", author=CAW, restricted=True,
                           worker="w-colleague")],
        ),
        {"inkomen": G,
         "werkaantekeningen": NO_CONSENT + ["section_never_shared"] + NOT_NEEDED},
        release=["e-1", "e-4"],
    ),
    Case(
        "release_nothing_for_inactive_requester",
        make_input(
            requester=requester(active=False), entries=[entry("e-1", "inkomen", author=CAW)]
        ),
        {"inkomen": ["requester_inactive"]},
    ),
]
