"""What an active consent covers (DESIGN §4): recipient, purpose, section, time, tiers."""

from __future__ import annotations

from typing import Any

import pytest

from consent.rules import covers
from tests.consent.factories import (
    CATALOGUE,
    DAY,
    NOW,
    make_consent,
    make_relation,
    make_requester,
    recipient,
)

ALL_VERTROUWELIJK = tuple(s for s, i in CATALOGUE.sections.items() if i.tier == "vertrouwelijk")


def _covers(consent: dict[str, Any], requester: dict[str, str] | None = None,
            purpose: str = "rechtenverkenning", section: str = "inkomen") -> bool:
    return covers(
        make_consent(**consent), make_requester(**(requester or {})), purpose, section,
        CATALOGUE, NOW,
    )


@pytest.mark.parametrize(
    ("recipients", "requester", "expected"),
    [
        ((recipient("partner", "ocmw-gent"),), {}, True),
        ((recipient("partner", "caw-oost-vlaanderen"),), {}, False),
        ((recipient("partner_type", "ocmw"),), {}, True),
        ((recipient("partner_type", "caw"),), {}, False),
        ((recipient("partner_type", "caw"),),
         {"partner": "caw-oost-vlaanderen", "type": "caw"}, True),
        ((recipient("network", "gbo-gent"),), {"partner": "dmw-cm-gent", "type": "dmw"}, True),
        ((recipient("network", "gbo-gent"),),
         {"partner": "ocmw-antwerpen", "network": "gbo-antwerpen"}, False),
        ((recipient("partner_type", "ocmw"),),
         {"partner": "ocmw-antwerpen", "network": "gbo-antwerpen"}, False),
        ((recipient("network", "gbo-antwerpen"),),
         {"partner": "ocmw-antwerpen", "network": "gbo-antwerpen"}, False),
        ((recipient("partner", "caw-oost-vlaanderen"), recipient("partner_type", "ocmw")), {},
         True),
    ],
    ids=[
        "partner_matches_by_id",
        "other_partner_not_covered",
        "partner_type_matches",
        "other_partner_type_not_covered",
        "caw_covered_by_caw_type",
        "network_covers_every_partner_in_it",
        "network_grant_not_across_networks",
        "partner_type_grant_not_across_networks",
        "other_networks_consent_never_leaks_in",
        "any_of_several_recipients_matches",
    ],
)
def test_recipient_matching(
    recipients: tuple[Any, ...], requester: dict[str, str], expected: bool
) -> None:
    assert _covers({"recipients": recipients}, requester) is expected


@pytest.mark.parametrize(
    ("consent", "purpose", "section", "expected"),
    [
        ({}, "rechtenverkenning", "inkomen", True),
        ({}, "rechtenrealisatie", "inkomen", False),
        ({}, "onbekend_doel", "inkomen", False),
        ({}, "rechtenverkenning", "werk", False),
        ({}, "rechtenverkenning", "onbekende_sectie", False),
        ({"revoked_at": NOW - DAY}, "rechtenverkenning", "inkomen", False),
        ({"valid_until": NOW}, "rechtenverkenning", "inkomen", False),
        ({"valid_from": NOW + DAY}, "rechtenverkenning", "inkomen", False),
    ],
    ids=[
        "listed_purpose_and_section_covered",
        "unlisted_purpose_not_covered",
        "unknown_purpose_not_covered",
        "unlisted_section_not_covered",
        "unknown_section_not_covered",
        "revoked_consent_covers_nothing",
        "expired_consent_covers_nothing",
        "not_yet_valid_consent_covers_nothing",
    ],
)
def test_purpose_section_and_time(
    consent: dict[str, Any], purpose: str, section: str, expected: bool
) -> None:
    assert _covers(consent, purpose=purpose, section=section) is expected


@pytest.mark.parametrize(
    ("sections", "section", "expected"),
    [
        (ALL_VERTROUWELIJK, "gezondheid", False),
        (ALL_VERTROUWELIJK, "justitie", False),
        (ALL_VERTROUWELIJK + ("gezondheid",), "gezondheid", True),
        (ALL_VERTROUWELIJK + ("gezondheid",), "justitie", False),
        (("*",), "gezondheid", False),
        (("*",), "inkomen", True),
        (("*",), "identiteit", True),
        (("*",), "werkaantekeningen", False),
    ],
    ids=[
        "gezondheid_not_covered_by_purpose_that_needs_it",
        "justitie_not_covered_by_purpose_that_needs_it",
        "gezondheid_covered_when_named",
        "naming_one_bijzonder_section_does_not_cover_another",
        "wildcard_never_covers_bijzonder",
        "wildcard_covers_vertrouwelijk",
        "wildcard_covers_basis",
        "wildcard_never_covers_working_notes",
    ],
)
def test_bijzonder_sections_need_explicit_naming(
    sections: tuple[str, ...], section: str, expected: bool
) -> None:
    consent = {"purposes": ("gezamenlijke_begeleiding",), "sections": sections}
    assert _covers(consent, purpose="gezamenlijke_begeleiding", section=section) is expected


def test_werkaantekeningen_never_covered_even_when_listed() -> None:
    consent = {"purposes": ("gezamenlijke_begeleiding",), "sections": ("werkaantekeningen",),
               "recipients": (recipient("network", "gbo-gent"),)}
    assert not _covers(consent, purpose="gezamenlijke_begeleiding", section="werkaantekeningen")


@pytest.mark.parametrize(
    ("relation", "expected"),
    [({}, True), ({"ended_at": NOW - DAY}, False)],
    ids=["covered_while_relation_valid", "not_covered_after_relation_ended"],
)
def test_consent_bound_to_relation_covers_only_while_relation_valid(
    relation: dict[str, Any], expected: bool
) -> None:
    c = make_consent(help_relation_id="r-1")
    relations = {"r-1": make_relation(**relation)}
    result = covers(c, make_requester(), "rechtenverkenning", "inkomen", CATALOGUE, NOW, relations)
    assert result is expected
