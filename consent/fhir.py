"""HL7 FHIR R5 ``Consent`` export and import (``fhir.resources`` 8.x models FHIR 5.0.0).

Mapping (one consent version = one ``Consent``, one permit provision):
- ``status``: active / not_yet_valid -> ``active`` (the period says when it starts); revoked /
  expired -> ``inactive``. R5 value set: draft | active | inactive | not-done | entered-in-error |
  unknown (``fhir.resources`` does not enforce it, so we do).
- ``subject``: logical reference by the client pseudonym identifier, never the INSZ.
- ``grantor``: the client (the subject) or a contained ``RelatedPerson`` for a legal representative.
- ``grantee`` and ``provision.actor`` (role IRCP, information recipient): the recipients, as logical
  references whose identifier system tells partner, partner type or network.
- ``provision.purpose``: GBO purposes; ``provision.documentType``: dossier sections. R5 split R4's
  ``provision.class`` into ``resourceType`` (FHIR resource types) and ``documentType`` (any other
  kind of information); sections are not FHIR resource types, so ``documentType`` is the data class.
- ``verification``: the evidence method and recording worker; ``sourceReference``: the paper's
  reference; ``identifier`` and ``meta.versionId``: consent id and version.
The code systems below are this project's own; replace the base URL when the network publishes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from fhir.resources.consent import Consent
from pydantic import ValidationError

from consent.catalogue import Catalogue
from consent.errors import InvalidFhirConsent, InvalidRecipientKind
from consent.models import (
    ConsentStatus,
    ConsentTerms,
    ConsentVersion,
    Evidence,
    Grantor,
    Recipient,
    RecipientKind,
)

BASE = "https://gbo-broker.example/fhir"
SYSTEM_CLIENT = f"{BASE}/sid/client-pseudonym"
SYSTEM_CONSENT = f"{BASE}/sid/consent"
SYSTEM_WORKER = f"{BASE}/sid/worker"
SYSTEM_EVIDENCE_REFERENCE = f"{BASE}/sid/evidence-reference"
CS_PURPOSE = f"{BASE}/CodeSystem/purpose"
CS_SECTION = f"{BASE}/CodeSystem/section"
CS_EVIDENCE_METHOD = f"{BASE}/CodeSystem/evidence-method"
CS_GRANTOR_ROLE = f"{BASE}/CodeSystem/grantor-role"
RECIPIENT_SYSTEMS: dict[RecipientKind, str] = {
    "partner": f"{BASE}/sid/partner",
    "partner_type": f"{BASE}/CodeSystem/partner-type",
    "network": f"{BASE}/sid/network",
}
_KIND_BY_SYSTEM: dict[str, RecipientKind] = {v: k for k, v in RECIPIENT_SYSTEMS.items()}
# A partner type is a category, not one resource: its reference carries no resource type.
_RECIPIENT_TYPES: dict[RecipientKind, str | None] = {
    "partner": "Organization", "partner_type": None, "network": "Organization",
}
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"

R5_STATUSES = frozenset(("draft", "active", "inactive", "not-done", "entered-in-error", "unknown"))
FHIR_STATUS: dict[ConsentStatus, str] = {
    "active": "active", "not_yet_valid": "active", "expired": "inactive", "revoked": "inactive",
}
_GRANTOR_ID = "grantor"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedConsent:
    """A consent read back from a FHIR ``Consent`` (``from_fhir``): its terms, the client's
    pseudonym, the evidence, and the consent id and version when the resource names them."""

    terms: ConsentTerms
    client_ref: str
    evidence: Evidence
    consent_id: str | None
    version: int | None


def to_fhir(
    c: ConsentVersion, status: ConsentStatus, *, catalogue: Catalogue | None = None
) -> Consent:
    """The FHIR R5 ``Consent`` for one consent version; ``catalogue`` adds display labels."""
    subject = {"type": "Patient", "identifier": {"system": SYSTEM_CLIENT, "value": c.client_ref}}
    recipients = [_recipient_reference(r) for r in c.recipients]
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "meta": {"versionId": str(c.version)},
        "identifier": [{"system": SYSTEM_CONSENT, "value": c.id}],
        "status": FHIR_STATUS[status],
        "category": [_concept(V3_ACT_CODE, "IDSCL", "information disclosure")],
        "subject": subject,
        "date": c.created_at.date().isoformat(),
        "period": {"start": c.valid_from.isoformat(), "end": c.valid_until.isoformat()},
        "grantee": recipients,
        "verification": [_verification(c)],
        "decision": "permit",
        "provision": [
            {
                "actor": [
                    {"role": _concept(V3_PARTICIPATION, "IRCP", "information recipient"),
                     "reference": ref}
                    for ref in recipients
                ],
                "action": [_concept(CONSENT_ACTION, "access", "Access")],
                "purpose": [_coding(CS_PURPOSE, p, _purpose_label(catalogue, p))
                            for p in c.purposes],
                "documentType": [_coding(CS_SECTION, s, _section_label(catalogue, s))
                                 for s in c.sections],
            }
        ],
    }
    if c.grantor is None:
        resource["grantor"] = [subject]
    else:
        resource["contained"] = [{
            "resourceType": "RelatedPerson",
            "id": _GRANTOR_ID,
            "patient": subject,
            "relationship": [_concept(CS_GRANTOR_ROLE, c.grantor.role, None)],
            "name": [{"text": c.grantor.name}],
        }]
        resource["grantor"] = [{"reference": f"#{_GRANTOR_ID}", "type": "RelatedPerson"}]
    if c.evidence.reference is not None:
        resource["sourceReference"] = [{
            "type": "DocumentReference",
            "identifier": {"system": SYSTEM_EVIDENCE_REFERENCE, "value": c.evidence.reference},
        }]
    return Consent.model_validate(resource)


def parse_fhir_json(text: str | bytes) -> Consent:
    """Parse and validate a FHIR R5 ``Consent`` from JSON.

    Raises:
        InvalidFhirConsent: not a valid FHIR R5 Consent.
    """
    try:
        return Consent.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidFhirConsent from exc


def from_fhir(resource: Consent) -> ImportedConsent:
    """Read a FHIR R5 ``Consent`` as written by ``to_fhir`` back into consent terms.

    Raises:
        InvalidFhirConsent: a required part is missing, or uses codes or systems we do not know.
        InvalidRecipientKind: an actor is neither a partner, a partner type nor a network.
    """
    data = cast(dict[str, Any], json.loads(resource.model_dump_json()))
    try:
        if data.get("status") not in R5_STATUSES or data.get("decision") != "permit":
            raise InvalidFhirConsent
        provisions = data["provision"]
        if len(provisions) != 1 or "provision" in provisions[0]:
            raise InvalidFhirConsent  # only the flat shape we export
        provision = provisions[0]
        period = data["period"]
        terms = ConsentTerms(
            recipients=tuple(_recipient(actor["reference"]) for actor in provision["actor"]),
            purposes=tuple(_code(coding, CS_PURPOSE) for coding in provision["purpose"]),
            sections=tuple(_code(coding, CS_SECTION) for coding in provision["documentType"]),
            valid_from=_instant(period["start"]),
            valid_until=_instant(period["end"]),
            grantor=_grantor(data),
        )
        return ImportedConsent(
            terms=terms,
            client_ref=_identifier(data["subject"], SYSTEM_CLIENT),
            evidence=_evidence(data),
            consent_id=_identifier({"identifier": data["identifier"][0]}, SYSTEM_CONSENT),
            version=int(data["meta"]["versionId"]),
        )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        # ValueError includes pydantic's ValidationError of a recipient, the evidence or grantor.
        raise InvalidFhirConsent from exc


# --- export helpers -------------------------------------------------------------------------------


def _coding(system: str, code: str, display: str | None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)]}


def _purpose_label(catalogue: Catalogue | None, purpose: str) -> str | None:
    info = None if catalogue is None else catalogue.purposes.get(purpose)
    return None if info is None else info.label


def _section_label(catalogue: Catalogue | None, section: str) -> str | None:
    info = None if catalogue is None else catalogue.sections.get(section)
    return None if info is None else info.label


def _recipient_reference(r: Recipient) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": RECIPIENT_SYSTEMS[r.kind], "value": r.id}}
    resource_type = _RECIPIENT_TYPES[r.kind]
    if resource_type is not None:
        ref["type"] = resource_type
    return ref


def _verification(c: ConsentVersion) -> dict[str, Any]:
    verification: dict[str, Any] = {
        "verified": True,
        "verificationType": _concept(CS_EVIDENCE_METHOD, c.evidence.method, None),
        "verificationDate": [c.created_at.isoformat()],
    }
    if c.evidence.recorded_by is not None:
        verification["verifiedBy"] = {
            "type": "Practitioner",
            "identifier": {"system": SYSTEM_WORKER, "value": c.evidence.recorded_by},
        }
    return verification


# --- import helpers -------------------------------------------------------------------------------


def _identifier(reference: dict[str, Any], system: str) -> str:
    identifier = reference["identifier"]
    if identifier.get("system") != system:
        raise InvalidFhirConsent
    return str(identifier["value"])


def _code(coding: dict[str, Any], system: str) -> str:
    if coding.get("system") != system:
        raise InvalidFhirConsent
    return str(coding["code"])


def _only_code(concept: dict[str, Any], system: str) -> str:
    codings = concept["coding"]
    if len(codings) != 1:
        raise InvalidFhirConsent
    return _code(codings[0], system)


def _recipient(reference: dict[str, Any]) -> Recipient:
    identifier = reference["identifier"]
    kind = _KIND_BY_SYSTEM.get(identifier.get("system"))
    if kind is None:
        raise InvalidRecipientKind
    return Recipient(kind=kind, id=identifier["value"])


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise InvalidFhirConsent  # a consent period needs full instants with a zone
    return moment


def _evidence(data: dict[str, Any]) -> Evidence:
    verifications = data["verification"]
    if len(verifications) != 1:
        raise InvalidFhirConsent
    verification = verifications[0]
    verified_by = verification.get("verifiedBy")
    sources = data.get("sourceReference", [])
    if len(sources) > 1:
        raise InvalidFhirConsent
    return Evidence.model_validate({
        "method": _only_code(verification["verificationType"], CS_EVIDENCE_METHOD),
        "recorded_by": None if verified_by is None else _identifier(verified_by, SYSTEM_WORKER),
        "reference": _identifier(sources[0], SYSTEM_EVIDENCE_REFERENCE) if sources else None,
    })


def _grantor(data: dict[str, Any]) -> Grantor | None:
    grantors = data["grantor"]
    if len(grantors) != 1:
        raise InvalidFhirConsent
    reference = grantors[0].get("reference")
    if reference is None:
        if _identifier(grantors[0], SYSTEM_CLIENT) != _identifier(data["subject"], SYSTEM_CLIENT):
            raise InvalidFhirConsent  # the grantor is the client, or a representative
        return None
    contained = [r for r in data.get("contained", []) if f"#{r.get('id')}" == reference]
    if len(contained) != 1 or contained[0].get("resourceType") != "RelatedPerson":
        raise InvalidFhirConsent
    person = contained[0]
    return Grantor(
        name=person["name"][0]["text"],
        role=_only_code(person["relationship"][0], CS_GRANTOR_ROLE),
    )
