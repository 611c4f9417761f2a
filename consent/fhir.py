"""HL7 FHIR R5 ``Consent`` export and import (``fhir.resources`` 8.x models FHIR 5.0.0).

Mapping (one consent version = one ``Consent``, one permit provision):
- ``id`` ``<consent id>-v<version>``; ``identifier`` the consent id; ``meta.versionId`` the version;
  ``meta.profile`` the broker's published profile (``fhir_terminology.consent_profile``).
- ``status``: active / not_yet_valid -> ``active`` (the period says when it starts); revoked /
  expired -> ``inactive``. R5 value set: draft | active | inactive | not-done | entered-in-error |
  unknown (``fhir.resources`` does not enforce it, so we do). A revoked consent's ``period.end`` is
  the moment of revocation.
- ``subject``: logical reference by the client pseudonym identifier, never the INSZ.
- ``grantor``: the client (the subject) or a contained ``RelatedPerson`` for a legal representative.
- ``controller`` and ``manager``: the configured controller organisation (``consent.publisher``).
- ``grantee`` and ``provision.actor``: the recipients, as logical references whose identifier system
  tells partner, partner type or network; role DICOM CID 402 ``110152`` (destination role: the
  receiving side of a disclosure), which is in R5's extensible ``participation-role-type`` value
  set, with v3 ``IRCP`` (information recipient) as a second coding.
- ``provision.purpose``: our purpose code plus, where one fits, its v3-ActReason ``PurposeOfUse``
  code (``PURPOSE_OF_USE``). ``provision.code``: the dossier sections (what the permit is about;
  ``documentType`` is for document types and stays empty); ``provision.securityLabel`` v3
  Confidentiality ``R`` when a section of tier ``bijzonder`` (GDPR art. 9) is included.
- ``regulatoryBasis``: GDPR art. 6(1)(a), and 9(2)(a) for a ``bijzonder`` section.
- ``verification``: how the grant was verified (evidence method, recording worker, first recorded
  moment) — of the consent's first version, never of a later narrowing or the revocation.
- ``sourceReference``: the paper's reference; ``sourceAttachment``: the signed consent receipt
  (compact JWS, ``application/jose``).
Our own code systems and identifier systems live under the configured canonical base
(``Publisher.fhir_base``); the broker publishes them as ``CodeSystem`` resources.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from fhir.resources.consent import Consent
from pydantic import ValidationError

from consent.catalogue import Catalogue
from consent.errors import InvalidFhirConsent, InvalidRecipientKind
from consent.legal_basis import LEGAL_BASES, consent_bases
from consent.models import (
    ConsentStatus,
    ConsentTerms,
    ConsentVersion,
    Evidence,
    Grantor,
    Recipient,
    RecipientKind,
)
from consent.publisher import Publisher


@dataclass(frozen=True, slots=True)
class Systems:
    """The broker's own code systems and identifier systems under one canonical base."""

    base: str

    def sid(self, name: str) -> str:
        return f"{self.base}/sid/{name}"

    def cs(self, name: str) -> str:
        return f"{self.base}/CodeSystem/{name}"

    @property
    def profile(self) -> str:
        return f"{self.base}/StructureDefinition/gbo-consent"

    def recipient_system(self, kind: RecipientKind) -> str:
        return self.cs("partner-type") if kind == "partner_type" else self.sid(kind)

    def recipient_kind(self, system: str) -> RecipientKind | None:
        for kind in RECIPIENT_KINDS:
            if self.recipient_system(kind) == system:
                return kind
        return None


RECIPIENT_KINDS: tuple[RecipientKind, ...] = ("partner", "partner_type", "network")
# A partner type is a category, not one resource: its reference carries no resource type.
_RECIPIENT_TYPES: dict[RecipientKind, str | None] = {
    "partner": "Organization", "partner_type": None, "network": "Organization",
}
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
RECEIPT_MEDIA_TYPE = "application/jose"  # RFC 7515 §9.2.1: a compact JWS

# Our purposes with the v3-ActReason PurposeOfUse code that means the same, where one exists
# (R5 binds provision.purpose extensibly to v3-PurposeOfUse). hulpvraagverheldering has none.
PURPOSE_OF_USE: dict[str, tuple[str, str]] = {
    "rechtenverkenning": ("ELIGDTRM", "eligibility determination"),
    "rechtenrealisatie": ("ENROLLM", "enrollment"),
    "doorverwijzing": ("COC", "coordination of care"),
    "gezamenlijke_begeleiding": ("COC", "coordination of care"),
    "noodsituatie": ("BTG", "break the glass"),
    "casusoverleg": ("THREAT", "threat"),
}
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


def resource_id(c: ConsentVersion) -> str:
    """The ``Consent.id`` of one version (FHIR id: ``[A-Za-z0-9-.]{1,64}``)."""
    return f"{c.id}-v{c.version}"


def to_fhir(
    c: ConsentVersion,
    status: ConsentStatus,
    *,
    publisher: Publisher,
    catalogue: Catalogue | None = None,
    granted: ConsentVersion | None = None,
    receipt_jws: str | None = None,
) -> Consent:
    """The FHIR R5 ``Consent`` for one consent version. ``catalogue`` adds display labels and the
    ``bijzonder`` security label and legal basis; ``granted`` is the consent's first version (whose
    evidence the verification describes; default ``c``); ``receipt_jws`` becomes the
    ``sourceAttachment``."""
    systems = Systems(publisher.fhir_base)
    subject = {"type": "Patient", "identifier": {"system": systems.sid("client-pseudonym"),
                                                 "value": c.client_ref}}
    recipients = [_recipient_reference(systems, r) for r in c.recipients]
    special = catalogue is not None and any(
        (info := catalogue.sections.get(s)) is not None and info.is_special_category
        for s in c.sections)
    controller = _controller_reference(systems, publisher)
    provision: dict[str, Any] = {
        "actor": [{"role": _recipient_role(), "reference": ref} for ref in recipients],
        "action": [_concept(CONSENT_ACTION, "access", "Access")],
        "purpose": [coding for p in c.purposes
                    for coding in _purpose_codings(systems, catalogue, p)],
        "code": [_concept(systems.cs("section"), s, _section_label(catalogue, s))
                 for s in c.sections],
    }
    if special:
        provision["securityLabel"] = [_coding(V3_CONFIDENTIALITY, "R", "restricted")]
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": resource_id(c),
        "meta": {"versionId": str(c.version), "profile": [systems.profile]},
        "identifier": [{"system": systems.sid("consent"), "value": c.id}],
        "status": FHIR_STATUS[status],
        "category": [_concept(V3_ACT_CODE, "IDSCL", "information disclosure")],
        "subject": subject,
        "date": c.created_at.date().isoformat(),
        "period": {"start": c.valid_from.isoformat(), "end": _period_end(c).isoformat()},
        "grantee": recipients,
        "controller": [controller],
        "manager": [controller],
        "regulatoryBasis": [_concept(systems.cs("legal-basis"), code, LEGAL_BASES[code])
                            for code in consent_bases(special)],
        "verification": [_verification(systems, granted or c)],
        "decision": "permit",
        "provision": [provision],
    }
    if c.grantor is None:
        resource["grantor"] = [subject]
    else:
        resource["contained"] = [{
            "resourceType": "RelatedPerson",
            "id": _GRANTOR_ID,
            "patient": subject,
            "relationship": [_concept(systems.cs("grantor-role"), c.grantor.role, None)],
            "name": [{"text": c.grantor.name}],
        }]
        resource["grantor"] = [{"reference": f"#{_GRANTOR_ID}", "type": "RelatedPerson"}]
    if c.evidence.reference is not None:
        resource["sourceReference"] = [{
            "type": "DocumentReference",
            "identifier": {"system": systems.sid("evidence-reference"),
                           "value": c.evidence.reference},
        }]
    if receipt_jws is not None:
        resource["sourceAttachment"] = [{
            "contentType": RECEIPT_MEDIA_TYPE,
            "data": base64.b64encode(receipt_jws.encode("ascii")).decode("ascii"),
            "title": "Ondertekend toestemmingsbewijs (consent receipt, JWS)",
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


def from_fhir(resource: Consent, *, publisher: Publisher) -> ImportedConsent:
    """Read a FHIR R5 ``Consent`` as written by ``to_fhir`` back into consent terms.

    Raises:
        InvalidFhirConsent: a required part is missing, or uses codes or systems we do not know.
        InvalidRecipientKind: an actor is neither a partner, a partner type nor a network.
    """
    systems = Systems(publisher.fhir_base)
    data = cast(dict[str, Any], json.loads(resource.model_dump_json()))
    try:
        if data.get("status") not in R5_STATUSES or data.get("decision") != "permit":
            raise InvalidFhirConsent
        provisions = data["provision"]
        if len(provisions) != 1 or "provision" in provisions[0]:
            raise InvalidFhirConsent  # only the flat shape we export
        provision = provisions[0]
        period = data["period"]
        purpose_system = systems.cs("purpose")
        terms = ConsentTerms(
            recipients=tuple(_recipient(systems, actor["reference"])
                             for actor in provision["actor"]),
            # the v3 PurposeOfUse codings are a translation of ours: ours are the terms
            purposes=tuple(str(coding["code"]) for coding in provision["purpose"]
                           if coding.get("system") == purpose_system),
            sections=tuple(_only_code(concept, systems.cs("section"))
                           for concept in provision["code"]),
            valid_from=_instant(period["start"]),
            valid_until=_instant(period["end"]),
            grantor=_grantor(systems, data),
        )
        if not terms.purposes:
            raise InvalidFhirConsent
        return ImportedConsent(
            terms=terms,
            client_ref=_identifier(data["subject"], systems.sid("client-pseudonym")),
            evidence=_evidence(systems, data),
            consent_id=_identifier({"identifier": data["identifier"][0]}, systems.sid("consent")),
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


def _purpose_codings(
    systems: Systems, catalogue: Catalogue | None, purpose: str
) -> list[dict[str, str]]:
    info = None if catalogue is None else catalogue.purposes.get(purpose)
    codings = [_coding(systems.cs("purpose"), purpose, None if info is None else info.label)]
    if purpose in PURPOSE_OF_USE:
        code, display = PURPOSE_OF_USE[purpose]
        codings.append(_coding(V3_ACT_REASON, code, display))
    return codings


def _section_label(catalogue: Catalogue | None, section: str) -> str | None:
    info = None if catalogue is None else catalogue.sections.get(section)
    return None if info is None else info.label


def _recipient_role() -> dict[str, Any]:
    return {"coding": [_coding(DICOM, "110152", "Destination Role ID"),
                       _coding(V3_PARTICIPATION, "IRCP", "information recipient")]}


def _recipient_reference(systems: Systems, r: Recipient) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": systems.recipient_system(r.kind),
                                          "value": r.id}}
    resource_type = _RECIPIENT_TYPES[r.kind]
    if resource_type is not None:
        ref["type"] = resource_type
    return ref


def _controller_reference(systems: Systems, publisher: Publisher) -> dict[str, Any]:
    return {"type": "Organization", "display": publisher.controller.name,
            "identifier": {"system": systems.sid("controller"), "value": publisher.controller.id}}


def _period_end(c: ConsentVersion) -> datetime:
    """A revoked consent ends when it was revoked (if that is before its planned end)."""
    if c.revoked_at is not None and c.revoked_at < c.valid_until:
        return max(c.revoked_at, c.valid_from)
    return c.valid_until


def _verification(systems: Systems, granted: ConsentVersion) -> dict[str, Any]:
    """How the grant was verified: the first version's evidence, at its first recording."""
    verification: dict[str, Any] = {
        "verified": True,
        "verificationType": _concept(systems.cs("evidence-method"), granted.evidence.method, None),
        "verificationDate": [granted.recorded_at.isoformat()],
    }
    if granted.evidence.recorded_by is not None:
        verification["verifiedBy"] = {
            "type": "Practitioner",
            "identifier": {"system": systems.sid("worker"), "value": granted.evidence.recorded_by},
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


def _recipient(systems: Systems, reference: dict[str, Any]) -> Recipient:
    identifier = reference["identifier"]
    kind = systems.recipient_kind(identifier.get("system"))
    if kind is None:
        raise InvalidRecipientKind
    return Recipient(kind=kind, id=identifier["value"])


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise InvalidFhirConsent  # a consent period needs full instants with a zone
    return moment


def _evidence(systems: Systems, data: dict[str, Any]) -> Evidence:
    verifications = data["verification"]
    if len(verifications) != 1:
        raise InvalidFhirConsent
    verification = verifications[0]
    verified_by = verification.get("verifiedBy")
    sources = data.get("sourceReference", [])
    if len(sources) > 1:
        raise InvalidFhirConsent
    return Evidence.model_validate({
        "method": _only_code(verification["verificationType"], systems.cs("evidence-method")),
        "recorded_by": None if verified_by is None
        else _identifier(verified_by, systems.sid("worker")),
        "reference": _identifier(sources[0], systems.sid("evidence-reference"))
        if sources else None,
    })


def _grantor(systems: Systems, data: dict[str, Any]) -> Grantor | None:
    client_system = systems.sid("client-pseudonym")
    grantors = data["grantor"]
    if len(grantors) != 1:
        raise InvalidFhirConsent
    reference = grantors[0].get("reference")
    if reference is None:
        if _identifier(grantors[0], client_system) != _identifier(data["subject"], client_system):
            raise InvalidFhirConsent  # the grantor is the client, or a representative
        return None
    contained = [r for r in data.get("contained", []) if f"#{r.get('id')}" == reference]
    if len(contained) != 1 or contained[0].get("resourceType") != "RelatedPerson":
        raise InvalidFhirConsent
    person = contained[0]
    return Grantor(
        name=person["name"][0]["text"],
        role=_only_code(person["relationship"][0], systems.cs("grantor-role")),
    )
