"""HL7 FHIR R5 Consent export: validates with fhir.resources (R5) and round-trips."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fhir.resources
import pytest
from fhir.resources.consent import Consent

from consent import errors
from consent.fhir import (
    PURPOSE_OF_USE,
    R5_STATUSES,
    RECEIPT_MEDIA_TYPE,
    from_fhir,
    parse_fhir_json,
    to_fhir,
)
from consent.models import ConsentStatus, ConsentVersion, Evidence, Grantor
from consent.publisher import EXAMPLE, Controller, Publisher
from tests.consent.factories import (
    CATALOGUE,
    CLIENT_REF,
    DAY,
    NETWORK,
    NOW,
    make_consent,
    recipient,
)

BRUSSELS_WINTER = timezone(timedelta(hours=1))


def _json(c: ConsentVersion, status: ConsentStatus = "active", **kwargs: Any) -> dict[str, Any]:
    resource = to_fhir(c, status, publisher=kwargs.pop("publisher", EXAMPLE), catalogue=CATALOGUE,
                       **kwargs)
    return dict(json.loads(resource.model_dump_json()))


def _own(kind: str) -> str:
    return f"{EXAMPLE.fhir_base}/{kind}"


def test_fhir_resources_models_r5() -> None:
    assert fhir.resources.__fhir_version__ == "5.0.0"


def test_export_is_a_valid_r5_consent_that_reparses_equal() -> None:
    resource = to_fhir(make_consent(), "active", publisher=EXAMPLE, catalogue=CATALOGUE)
    assert isinstance(resource, Consent)
    assert Consent.model_validate_json(resource.model_dump_json()) == resource


@pytest.mark.parametrize(
    ("status", "fhir_status"),
    [("active", "active"), ("not_yet_valid", "active"), ("expired", "inactive"),
     ("revoked", "inactive")],
    ids=["active", "not_yet_valid", "expired", "revoked"],
)
def test_status_maps_into_r5_value_set(status: ConsentStatus, fhir_status: str) -> None:
    assert to_fhir(make_consent(), status, publisher=EXAMPLE).status == fhir_status
    assert fhir_status in R5_STATUSES


def test_export_shape() -> None:
    data = _json(make_consent(sections=("inkomen", "gezondheid")))
    assert data["decision"] == "permit"
    assert data["subject"]["identifier"]["value"] == CLIENT_REF
    assert data["grantor"] == [data["subject"]]
    (provision,) = data["provision"]
    assert [c["coding"][0]["code"] for c in provision["code"]] == ["inkomen", "gezondheid"]
    assert "documentType" not in provision  # sections are not document types
    assert [c["code"] for c in provision["purpose"]] == ["rechtenverkenning", "ELIGDTRM"]
    assert provision["actor"][0]["reference"]["identifier"]["value"] == "ocmw-gent"
    assert data["grantee"] == [provision["actor"][0]["reference"]]
    assert data["id"] == "c-1-v1"
    assert data["meta"]["profile"] == [_own("StructureDefinition/gbo-consent")]


def test_recipient_role_is_in_the_r5_value_set_with_ircp_beside_it() -> None:
    role = _json(make_consent())["provision"][0]["actor"][0]["role"]
    assert [(c["system"], c["code"]) for c in role["coding"]] == [
        ("http://dicom.nema.org/resources/ontology/DCM", "110152"),
        ("http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "IRCP"),
    ]


@pytest.mark.parametrize("purpose", sorted(CATALOGUE.purposes))
def test_each_purpose_has_our_code_and_its_v3_purpose_of_use_where_one_fits(purpose: str) -> None:
    codings = _json(make_consent(purposes=(purpose,)))["provision"][0]["purpose"]
    assert codings[0] == {"system": _own("CodeSystem/purpose"), "code": purpose,
                          "display": CATALOGUE.purposes[purpose].label}
    v3 = [(c["system"], c["code"]) for c in codings[1:]]
    expected = PURPOSE_OF_USE.get(purpose)
    assert v3 == ([] if expected is None
                  else [("http://terminology.hl7.org/CodeSystem/v3-ActReason", expected[0])])


def test_bijzonder_section_adds_the_restricted_label_and_article_9() -> None:
    plain = _json(make_consent(sections=("inkomen",)))
    special = _json(make_consent(sections=("inkomen", "gezondheid")))
    assert "securityLabel" not in plain["provision"][0]
    assert special["provision"][0]["securityLabel"] == [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R",
        "display": "restricted"}]
    assert [c["coding"][0]["code"] for c in plain["regulatoryBasis"]] == ["gdpr-6-1-a"]
    assert [c["coding"][0]["code"] for c in special["regulatoryBasis"]] == [
        "gdpr-6-1-a", "gdpr-9-2-a"]


def test_controller_and_manager_are_the_configured_organisation() -> None:
    data = _json(make_consent())
    assert data["controller"] == data["manager"] == [{
        "type": "Organization", "display": EXAMPLE.controller.name,
        "identifier": {"system": _own("sid/controller"), "value": EXAMPLE.controller.id}}]


def test_every_own_system_sits_under_the_configured_base() -> None:
    elsewhere = Publisher(fhir_base="https://netwerk.example.be/terminologie/", issuer="x",
                          controller=Controller(id="n", name="N", contact_email="a@b.be",
                                                privacy_notice_url="https://n.be/p"))
    c = make_consent(grantor=Grantor(name="An Peeters", role="bewindvoerder"),
                     evidence=Evidence(method="signed_paper", reference="P-1", recorded_by="w-1"))
    text = json.dumps(_json(c, publisher=elsewhere))
    systems = {s for s in _strings_at(json.loads(text), "system")}
    ours = {s for s in systems if "hl7.org" not in s and "dicom.nema.org" not in s}
    assert ours and all(s.startswith("https://netwerk.example.be/terminologie/") for s in ours)
    assert "//terminologie" not in text and "example.org" not in text
    back = from_fhir(parse_fhir_json(text), publisher=elsewhere)
    assert back.terms.grantor == c.grantor and back.evidence == c.evidence


def _strings_at(node: Any, key: str) -> list[str]:
    if isinstance(node, dict):
        found = [node[key]] if isinstance(node.get(key), str) else []
        return found + [s for v in node.values() for s in _strings_at(v, key)]
    if isinstance(node, list):
        return [s for v in node for s in _strings_at(v, key)]
    return []


def test_revoked_consent_ends_at_its_revocation_and_verifies_the_grant_not_the_revocation(
) -> None:
    granted = make_consent(evidence=Evidence(method="signed_paper", reference="P-9",
                                             recorded_by="w-7f3a"))
    revoked_at = NOW + 3 * DAY
    revocation = make_consent(version=2, previous_version_id="c-1", revoked_at=revoked_at,
                              created_at=revoked_at, evidence=Evidence(method="portal"))
    data = _json(revocation, "revoked", granted=granted)
    assert data["status"] == "inactive"
    assert datetime.fromisoformat(data["period"]["end"]) == revoked_at
    (verification,) = data["verification"]
    assert verification["verificationType"]["coding"][0]["code"] == "signed_paper"
    assert [datetime.fromisoformat(d) for d in verification["verificationDate"]] == [
        granted.recorded_at]
    assert verification["verifiedBy"]["identifier"]["value"] == "w-7f3a"


def test_the_signed_receipt_is_the_source_attachment() -> None:
    data = _json(make_consent(), receipt_jws="eyJhbGciOiJFZERTQSJ9.e30.c2ln")
    (attachment,) = data["sourceAttachment"]
    assert attachment["contentType"] == RECEIPT_MEDIA_TYPE == "application/jose"
    assert base64.b64decode(attachment["data"]) == b"eyJhbGciOiJFZERTQSJ9.e30.c2ln"


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
    exported = to_fhir(c, "active", publisher=EXAMPLE, catalogue=CATALOGUE)
    back = from_fhir(parse_fhir_json(exported.model_dump_json()), publisher=EXAMPLE)
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
        from_fhir(parse_fhir_json(json.dumps(data)), publisher=EXAMPLE)


@pytest.mark.parametrize(
    "text",
    ['{"resourceType": "Patient"}', '{"resourceType": "Consent", "unknown": 1}', "not json"],
    ids=["other_resource", "unknown_element", "not_json"],
)
def test_parse_rejects_non_consent_json(text: str) -> None:
    with pytest.raises(errors.InvalidFhirConsent):
        parse_fhir_json(text)
