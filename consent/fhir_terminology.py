"""The broker's own FHIR R5 terminology and profile, published at their canonical URLs (DESIGN §3):
the ``CodeSystem`` resources behind every code the ``Consent`` export uses under
``Publisher.fhir_base``, and the ``StructureDefinition`` its ``meta.profile`` names.

Pure functions of the catalogue and the publisher; ``fhir.resources`` validates each resource."""

from __future__ import annotations

import json
from typing import Any, cast, get_args

from fhir.resources.codesystem import CodeSystem
from fhir.resources.structuredefinition import StructureDefinition

from consent.catalogue import Catalogue
from consent.fhir import Systems
from consent.legal_basis import LEGAL_BASES
from consent.models import EvidenceMethod, PartnerType
from consent.publisher import Publisher

EVIDENCE_METHOD_LABELS: dict[str, str] = {
    "portal": "Door de cliënt zelf gegeven in het online dossier",
    "signed_paper": "Ondertekend papieren formulier aan de balie",
    "verbal_at_desk": "Mondeling aan de balie, genoteerd door de hulpverlener",
}
PARTNER_TYPE_LABELS: dict[str, str] = {
    "ocmw": "Openbaar centrum voor maatschappelijk welzijn",
    "caw": "Centrum algemeen welzijnswerk",
    "dmw": "Dienst maatschappelijk werk van het ziekenfonds",
    "other": "Andere partner van het netwerk",
}
CODE_SYSTEM_NAMES = ("purpose", "section", "evidence-method", "partner-type", "grantor-role",
                     "legal-basis")


def code_system(name: str, *, catalogue: Catalogue, publisher: Publisher) -> dict[str, Any]:
    """The ``CodeSystem`` called ``name`` (one of ``CODE_SYSTEM_NAMES``) as FHIR JSON data.

    Raises:
        KeyError: ``name`` is not one of ours.
    """
    concepts, content, description = _concepts(name, catalogue)
    systems = Systems(publisher.fhir_base)
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "id": name,
        "url": systems.cs(name),
        "name": "".join(part.capitalize() for part in name.split("-")),
        "title": f"gbo-broker {name}",
        "status": "active",
        "experimental": False,
        "publisher": publisher.controller.name,
        "contact": [{"telecom": [{"system": "email",
                                  "value": publisher.controller.contact_email}]}],
        "description": description,
        "caseSensitive": True,
        "content": content,
    }
    if name == "section":
        resource["property"] = [{"code": "tier", "type": "code",
                                 "description": "basis, vertrouwelijk, bijzonder or geheim"}]
    if concepts:
        resource["count"] = len(concepts)
        resource["concept"] = concepts
    return _validated(CodeSystem, resource)


def consent_profile(publisher: Publisher) -> dict[str, Any]:
    """The ``StructureDefinition`` of the exported ``Consent`` (what ``to_fhir`` always fills)."""
    systems = Systems(publisher.fhir_base)
    required = [("Consent.id", 1, "1"), ("Consent.subject", 1, "1"), ("Consent.grantee", 1, "*"),
                ("Consent.controller", 1, "*"), ("Consent.regulatoryBasis", 1, "*"),
                ("Consent.period", 1, "1"), ("Consent.verification", 1, "1"),
                ("Consent.decision", 1, "1"), ("Consent.provision", 1, "1"),
                ("Consent.provision.actor", 1, "*"), ("Consent.provision.purpose", 1, "*"),
                ("Consent.provision.code", 1, "*")]
    resource: dict[str, Any] = {
        "resourceType": "StructureDefinition",
        "id": "gbo-consent",
        "url": systems.profile,
        "name": "GboConsent",
        "title": "Toestemming in het GBO-netwerk",
        "status": "active",
        "publisher": publisher.controller.name,
        "description": "A consent version as gbo-broker exports it: one permit provision whose "
                       "codes name dossier sections, purposes with their v3 PurposeOfUse "
                       "translation, the signed consent receipt as source attachment.",
        "fhirVersion": "5.0.0",
        "kind": "resource",
        "abstract": False,
        "type": "Consent",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Consent",
        "derivation": "constraint",
        "differential": {"element": [
            {"id": path, "path": path, "min": low, "max": high} for path, low, high in required
        ]},
    }
    return _validated(StructureDefinition, resource)


def _concepts(name: str, catalogue: Catalogue) -> tuple[list[dict[str, Any]], str, str]:
    if name == "purpose":
        return ([{"code": p, "display": info.label, "definition": info.uitleg}
                 for p, info in sorted(catalogue.purposes.items())],
                "complete", "Purposes of access in the GBO network (the policy catalogue).")
    if name == "section":
        return ([{"code": s, "display": info.label, "definition": info.uitleg,
                  "property": [{"code": "tier", "valueCode": info.tier}]}
                 for s, info in sorted(catalogue.sections.items())],
                "complete", "Sections of a client's dossier, each with its tier.")
    if name == "evidence-method":
        return ([{"code": m, "display": EVIDENCE_METHOD_LABELS[m]}
                 for m in get_args(EvidenceMethod)],
                "complete", "How a consent was obtained.")
    if name == "partner-type":
        return ([{"code": t, "display": PARTNER_TYPE_LABELS[t]} for t in get_args(PartnerType)],
                "complete", "Kinds of partner in a GBO network.")
    if name == "grantor-role":
        return ([], "not-present",
                "The role of a legal representative who consents for a client (lower-case "
                "words such as bewindvoerder or ouder, as recorded at the desk).")
    if name == "legal-basis":
        return ([{"code": code, "display": label} for code, label in LEGAL_BASES.items()],
                "complete", "Legal bases for processing and sharing.")
    raise KeyError(name)


def _validated(model: Any, resource: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(model.model_validate(resource).model_dump_json()))
