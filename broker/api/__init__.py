"""The v1 HTTP API (DESIGN §5, §9): one router module per resource. Each route parses its body
(``broker.schemas``), calls one service (``broker.services``) and returns a schema."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from broker.api import (
    access,
    audit,
    case_consultations,
    consent_requests,
    consents,
    entries,
    exclusions,
    fhir_terminology,
    health,
    mandates,
    me,
    me_consents,
    notifications,
    opt_out,
    presence,
    referrals,
    relations,
    review,
    signal_bundles,
    signals,
    tiles,
    webhooks,
    well_known,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    entries.router,
    me.router,
    audit.router,
    tiles.router,  # DESIGN §9: C2SP tlog-tiles
    review.router,
    access.router,  # DESIGN §4: the access flow
    relations.router,  # DESIGN §3: help relations, consents, receipts
    consents.router,
    me_consents.router,
    presence.router,  # DESIGN §9: proof of the client's will
    consent_requests.router,
    consent_requests.me_router,
    exclusions.router,
    mandates.router,
    mandates.me_router,
    notifications.router,
    referrals.router,  # DESIGN §10: casework
    webhooks.router,  # docs/webhooks.md: dead letters
    case_consultations.router,  # DESIGN §10: case consultations
    case_consultations.audit_router,
    case_consultations.me_router,
    signals.router,  # DESIGN §11: signals, bundles, opt-out of secondary use
    signal_bundles.router,
    opt_out.router,
    well_known.router,
    fhir_terminology.router,  # DESIGN §3: the FHIR export's code systems and profile
)


def include_routes(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
