"""Bad input for a new consent: each failure has its own stable error code (DESIGN §3)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from consent import errors
from consent.models import Recipient
from consent.rules import check_evidence, check_recipient, validate_consent_create
from tests.consent.factories import (
    CATALOGUE,
    DAY,
    INSZ,
    NETWORK,
    NOW,
    PARTNERS,
    make_terms,
)

TWO_YEARS_AHEAD = NOW.replace(year=NOW.year + 2)


def _validate(*, at_desk: bool = True, **overrides: Any) -> None:
    """Validate a new consent as recorded at the desk (or given in the portal)."""
    terms, evidence = make_terms(**overrides)
    validate_consent_create(terms, catalogue=CATALOGUE, partners=PARTNERS, network=NETWORK,
                            now=NOW)
    check_evidence(evidence, at_desk=at_desk)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"recipients": [{"kind": "partner_type", "id": "caw"}]},
        {"recipients": [{"kind": "network", "id": NETWORK}]},
        {"sections": ["gezondheid"], "purposes": ["gezamenlijke_begeleiding"]},
        {"valid_until": TWO_YEARS_AHEAD.isoformat()},
        {"valid_from": (NOW + DAY).isoformat()},
        {"evidence": {"method": "signed_paper", "reference": "form-2026-113",
                      "recorded_by": "w-7f3a"}},
    ],
    ids=[
        "default_body",
        "partner_type_recipient",
        "network_recipient",
        "bijzonder_section_named_explicitly",
        "valid_until_exactly_24_months_ahead",
        "valid_from_in_future",
        "signed_paper_with_reference",
    ],
)
def test_valid_consent_accepted(overrides: dict[str, Any]) -> None:
    _validate(**overrides)


@pytest.mark.parametrize(
    ("overrides", "error", "pointer"),
    [
        ({"purposes": ["rechtenverkenning", "onbekend"]}, errors.UnknownPurpose, "/purposes/1"),
        ({"sections": ["inkomen", "hobby"]}, errors.UnknownSection, "/sections/1"),
        ({"sections": ["werkaantekeningen"]}, errors.SectionNotShareable, "/sections/0"),
        ({"recipients": []}, errors.EmptyRecipients, "/recipients"),
        ({"purposes": []}, errors.EmptyPurposes, "/purposes"),
        ({"sections": []}, errors.EmptySections, "/sections"),
        ({"recipients": [{"kind": "partner", "id": "ocmw-nergens"}]},
         errors.UnknownPartner, "/recipients/0"),
        ({"recipients": [{"kind": "partner", "id": "ocmw-antwerpen"}]},
         errors.UnknownPartner, "/recipients/0"),
        ({"recipients": [{"kind": "partner_type", "id": "ziekenhuis"}]},
         errors.UnknownPartnerType, "/recipients/0"),
        ({"recipients": [{"kind": "network", "id": "gbo-antwerpen"}]},
         errors.UnknownNetwork, "/recipients/0"),
        ({"valid_until": (NOW - DAY).isoformat()}, errors.ValidUntilInPast, "/valid_until"),
        ({"valid_until": NOW.isoformat()}, errors.ValidUntilInPast, "/valid_until"),
        ({"valid_until": (TWO_YEARS_AHEAD + DAY).isoformat()},
         errors.ValidUntilTooFar, "/valid_until"),
        ({"valid_from": (NOW - DAY).isoformat()}, errors.ValidFromInPast, "/valid_from"),
        ({"valid_from": (NOW + 400 * DAY).isoformat()},
         errors.ValidFromAfterValidUntil, "/valid_from"),
        ({"evidence": {"method": "portal"}}, errors.InvalidEvidence, "/evidence/method"),
        ({"evidence": {"method": "verbal_at_desk"}}, errors.InvalidEvidence,
         "/evidence/recorded_by"),
        ({"evidence": {"method": "signed_paper", "recorded_by": "w-7f3a"}},
         errors.InvalidEvidence, "/evidence/reference"),
    ],
    ids=[
        "unknown_purpose",
        "unknown_section",
        "werkaantekeningen_requested",
        "empty_recipient_list",
        "empty_purpose_list",
        "empty_section_list",
        "unknown_partner",
        "partner_of_other_network_is_unknown",
        "unknown_partner_type",
        "other_network",
        "valid_until_in_past",
        "valid_until_now",
        "valid_until_over_24_months",
        "valid_from_in_past",
        "valid_from_after_valid_until",
        "desk_recording_claims_portal",
        "verbal_consent_without_recording_worker",
        "signed_paper_without_reference",
    ],
)
def test_invalid_consent_rejected(
    overrides: dict[str, Any], error: type[errors.ConsentError], pointer: str
) -> None:
    with pytest.raises(error) as caught:
        _validate(**overrides)
    assert caught.value.pointer == pointer
    assert isinstance(caught.value, errors.ConsentValidationError)


def test_client_portal_consent_needs_no_desk_evidence() -> None:
    _validate(at_desk=False, evidence={"method": "portal"})


@pytest.mark.parametrize(
    "kind", ["person", "PARTNER", ""], ids=["unknown_kind", "wrong_case", "empty_kind"]
)
def test_wrong_recipient_kind_rejected_by_the_value_model(kind: str) -> None:
    with pytest.raises(ValidationError):
        make_terms(recipients=[{"kind": kind, "id": "ocmw-gent"}])


def test_wrong_recipient_kind_rejected_by_rules_when_model_bypassed() -> None:
    smuggled = Recipient.model_construct(kind="person", id="ocmw-gent")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidRecipientKind):
        check_recipient(smuggled, partners=PARTNERS, network=NETWORK, pointer="/recipients/0")


def test_error_message_never_echoes_the_rejected_value() -> None:
    with pytest.raises(errors.UnknownSection) as caught:
        _validate(sections=[INSZ])
    assert INSZ not in str(caught.value)
    assert INSZ not in repr(caught.value)


def test_error_codes_are_unique_snake_case() -> None:
    classes = [
        c for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.ConsentError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
