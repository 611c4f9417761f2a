"""HL7 FHIR R5 Consent export: validates with fhir.resources (R5) and round-trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fhir.resources
import pytest
from fhir.resources.consent import Consent

from consent import errors
from consent.fhir import R5_STATUSES, from_fhir, parse_fhir_json, to_fhir
from consent.models import ConsentStatus, ConsentVersion, Evidence, Grantor
from tests.consent.factories import (
    CATALOGUE,
    CLIENT_REF,
    NETWORK,
    make_consent,
    recipient,
)

BRUSSELS_WINTER = timezone(timedelta(hours=1))


def _json(c: ConsentVersion, status: ConsentStatus = "active") -> dict[str, Any]:
    return dict(json.loads(to_fhir(c, status, catalogue=CATALOGUE).model_dump_json()))


def test_fhir_resources_models_r5() -> None:
    assert fhir.resources.__fhir_version__ == "5.0.0"


def test_export_is_a_valid_r5_consent_that_reparses_equal() -> None:
    resource = to_fhir(make_consent(), "active", catalogue=CATALOGUE)
    assert isinstance(resource, Consent)
    assert Consent.model_validate_json(resource.model_dump_json()) == resource


@pytest.mark.parametrize(
    ("status", "fhir_status"),
    [("active", "active"), ("not_yet_valid", "active"), ("expired", "inactive"),
     ("revoked", "inactive")],
    ids=["active", "not_yet_valid", "expired", "revoked"],
)
def test_status_maps_into_r5_value_set(status: ConsentStatus, fhir_status: str) -> None:
    assert to_fhir(make_consent(), status).status == fhir_status
    assert fhir_status in R5_STATUSES


def test_export_shape() -> None:
    data = _json(make_consent(sections=("inkomen", "gezondheid")))
    assert data["decision"] == "permit"
    assert data["subject"]["identifier"]["value"] == CLIENT_REF
    assert data["grantor"] == [data["subject"]]
    (provision,) = data["provision"]
    assert [c["code"] for c in provision["documentType"]] == ["inkomen", "gezondheid"]
    assert [c["code"] for c in provision["purpose"]] == ["rechtenverkenning"]
    assert provision["actor"][0]["reference"]["identifier"]["value"] == "ocmw-gent"
    assert data["grantee"] == [provision["actor"][0]["reference"]]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"recipients": (recipient("partner", "ocmw-gent"), recipient("partner_type", "caw"),
                        recipient("network", NETWORK))},
        {"purposes": ("gezamenlijke_begeleiding", "doorverwijzing"),
         "sections": ("hulpvraag", "gezondheid", "justitie")},
        {"grantor": Grantor(name="An Peeters", role="bewindvoerder")},
        {"evidence": Evidence(method="signed_paper", reference="form-2026-113",
                              recorded_by="w-7f3a")},
        {"evidence": Evidence(method="portal")},
        {"valid_from": datetime(2026, 11, 28, 11, 0, 0, 123456, tzinfo=BRUSSELS_WINTER),
         "valid_until": datetime(2027, 3, 1, tzinfo=UTC)},
    ],
    ids=[
        "default",
        "every_recipient_kind",
        "bijzonder_sections",
        "legal_representative",
        "signed_paper",
        "portal_without_worker",
        "offset_and_microseconds",
    ],
)
def test_round_trip_gives_the_same_consent(overrides: dict[str, Any]) -> None:
    c = make_consent(**overrides)
    back = from_fhir(parse_fhir_json(to_fhir(c, "active").model_dump_json()))
    assert back.terms.recipients == c.recipients
    assert back.terms.purposes == c.purposes
    assert back.terms.sections == c.sections
    assert (back.terms.valid_from, back.terms.valid_until) == (c.valid_from, c.valid_until)
    assert back.evidence == c.evidence
    assert back.terms.grantor == c.grantor
    assert (back.client_ref, back.consent_id, back.version) == (c.client_ref, c.id, c.version)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_set("decision", "deny"), errors.InvalidFhirConsent),
        (_set("status", "bogus"), errors.InvalidFhirConsent),
        (_set("provision.0.actor.0.reference.identifier.system", "urn:x"),
         errors.InvalidRecipientKind),
        (_set("provision.0.purpose.0.system", "urn:other"), errors.InvalidFhirConsent),
        (_set("provision.0.provision", [{"purpose": []}]), errors.InvalidFhirConsent),
        (_set("period", {"start": "2026-11-28"}), errors.InvalidFhirConsent),
        (_set("subject.identifier.system", "urn:insz"), errors.InvalidFhirConsent),
        (_set("verification.0.verificationType.coding.0.code", "telepathy"),
         errors.InvalidFhirConsent),
    ],
    ids=[
        "deny_decision",
        "status_outside_r5_value_set",
        "unknown_actor_kind",
        "foreign_purpose_system",
        "nested_provision",
        "period_without_end",
        "subject_not_a_pseudonym",
        "unknown_evidence_method",
    ],
)
def test_import_rejects_what_it_cannot_read(
    change: Callable[[dict[str, Any]], None], error: type[errors.ConsentError]
) -> None:
    data = _json(make_consent())
    change(data)
    with pytest.raises(error):
        from_fhir(parse_fhir_json(json.dumps(data)))


@pytest.mark.parametrize(
    "text",
    ['{"resourceType": "Patient"}', '{"resourceType": "Consent", "unknown": 1}', "not json"],
    ids=["other_resource", "unknown_element", "not_json"],
)
def test_parse_rejects_non_consent_json(text: str) -> None:
    with pytest.raises(errors.InvalidFhirConsent):
        parse_fhir_json(text)
