"""The broker's FHIR terminology at its canonical URLs (DESIGN §3): ``GET /fhir/CodeSystem/{name}``
and ``GET /fhir/StructureDefinition/gbo-consent``, public, so that the systems and the profile an
exported ``Consent`` names resolve (with ``GBO_FHIR_BASE`` left at ``<public URL>/fhir``)."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Response

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep
from consent.fhir_terminology import code_system, consent_profile

router = APIRouter(route_class=StrictJSONRoute, prefix="/fhir", tags=["public"])
FHIR_JSON = "application/fhir+json"
# consent.fhir_terminology.CODE_SYSTEM_NAMES as a type, for the OpenAPI enum (a test keeps
# the two equal)
CodeSystemName = Literal["purpose", "section", "evidence-method", "partner-type", "grantor-role",
                         "legal-basis"]
_RESOURCE: dict[int | str, dict[str, Any]] = {
    200: {"content": {FHIR_JSON: {"schema": {"type": "object"}}},
          "description": "An HL7 FHIR R5 resource"}}
_CACHE = {"Cache-Control": "max-age=300"}


@router.get("/CodeSystem/{name}", response_class=Response, responses=_RESOURCE)
def get_code_system(name: CodeSystemName, ctx: ContextDep) -> Response:
    """One of the broker's FHIR R5 ``CodeSystem`` resources (purposes and sections from the policy
    catalogue, evidence methods, partner types, grantor roles, legal bases). Public."""
    resource = code_system(name, catalogue=ctx.catalogue, publisher=ctx.settings.publisher)
    return Response(json.dumps(resource, ensure_ascii=False), media_type=FHIR_JSON,
                    headers=_CACHE)


@router.get("/StructureDefinition/gbo-consent", response_class=Response, responses=_RESOURCE)
def get_consent_profile(ctx: ContextDep) -> Response:
    """The profile every exported ``Consent`` names in ``meta.profile``. Public."""
    return Response(json.dumps(consent_profile(ctx.settings.publisher), ensure_ascii=False),
                    media_type=FHIR_JSON, headers=_CACHE)
