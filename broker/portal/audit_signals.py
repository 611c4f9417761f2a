"""Signals and signal bundles in ``/audit`` (DESIGN §11): a network's auditors and the supervisor
read the signals and bundles; the network's coordinator (scope ``network:<id>`` with the
``signals`` right) follows signals up, drafts bundles and releases them. The same services as
``/v1/signals`` and ``/v1/signal-bundles``; a partner-scoped auditor gets the portal's 404."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from broker.deps import SessionDep
from broker.errors import BrokerError, IdentifyingText
from broker.portal.auditor import AuditCheckedForm, AuditPortal, CurrentAuditPortal
from broker.portal.pages import PortalNotFound, first, render, see_other
from broker.portal.session import AUDITOR
from broker.portal.texts import error_text
from broker.schemas.signals import BundleCreate, FollowUpCreate
from broker.security.auth import AuditorPrincipal
from broker.services import bundle_export, bundles, signals
from broker.services.signals import SignalActor

router = APIRouter(prefix="/audit", include_in_schema=False)
STATUS_NL = bundle_export.STATUS_NL
KIND_NL = {"insz": "rijksregisternummer", "iban": "rekeningnummer", "email": "e-mailadres",
           "telefoon": "telefoonnummer", "naam": "naam van een cliënt"}


def _networks(portal: AuditPortal) -> list[str]:
    """The networks whose signals this scope reads; raises ``PortalNotFound`` for a partner's
    auditor (signals belong to a network)."""
    kind, _, value = portal.scope.partition(":")
    if kind == "network":
        return [value]
    if portal.scope == "supervisor":
        return sorted(portal.ctx.registry.networks)
    raise PortalNotFound()


def readers(portal: CurrentAuditPortal) -> AuditPortal:
    _networks(portal)
    return portal


SignalReader = Annotated[AuditPortal, Depends(readers)]


def _principal(portal: AuditPortal) -> AuditorPrincipal:
    return AuditorPrincipal(subject="portal", scope=portal.scope,
                            rights=frozenset(portal.session.rights))


def _page(request: Request, portal: AuditPortal, name: str, *, status: int = 200,
          **values: Any) -> Response:
    return render(request, portal.ctx, name, status=status, session=portal.session,
                  cookie=AUDITOR, scope=portal.scope, status_nl=STATUS_NL, **values)


def _spans_text(exc: IdentifyingText) -> list[str]:
    """Where the text identifies someone, in words (never the text itself)."""
    return [f"{KIND_NL.get(str(s['kind']), 'gegeven')} op teken {int(str(s['start'])) + 1} "
            f"tot {s['end']}" for s in exc.spans]


def _signals_page(request: Request, portal: AuditPortal, session: Session, *,
                  status: int = 200, **values: Any) -> Response:
    found = [s for network in _networks(portal)
             for s in signals.of_network(session=session, network=network)]
    partners = {n: portal.ctx.registry.partners_in(n) for n in _networks(portal)}
    coordinator = any(portal.session.coordinates(n) for n in _networks(portal))
    return _page(request, portal, "audit/signals.html", status=status, signals=found,
                 partners=partners, coordinator=coordinator, **values)


@router.get("/signalen", response_class=HTMLResponse)
def signals_page(request: Request, portal: SignalReader, session: SessionDep,
                 klaar: str = "") -> Response:
    return _signals_page(request, portal, session, done=klaar == "ja")


@router.post("/signalen/{signal_id}", response_class=HTMLResponse)
def follow_up(request: Request, signal_id: str, portal: SignalReader, session: SessionDep,
              form: AuditCheckedForm) -> Response:
    """The coordinator adds a step: a note and, optionally, a new status or owner."""
    network = _networks(portal)[0]
    if not portal.session.coordinates(network):
        raise PortalNotFound()
    note, status_value, owner = first(form, "note"), first(form, "status"), first(form, "owner")
    try:
        body = FollowUpCreate(note=note, status=status_value or None,
                              owner=owner or None)
        signals.follow_up(session=session, ctx=portal.ctx,
                          actor=SignalActor(network=network, coordinator=True),
                          signal_id=signal_id, body=body, now=datetime.now(UTC))
    except ValidationError:
        return _signals_page(request, portal, session, status=422, failed=signal_id, note=note,
                             error="Schrijf een notitie van minstens 3 tekens, en kies een "
                             "status en trekker uit de lijst.")
    except IdentifyingText as exc:
        session.rollback()
        return _signals_page(request, portal, session, status=422, failed=signal_id, note=note,
                             error=error_text(exc.code), spans=_spans_text(exc))
    except BrokerError as exc:
        session.rollback()
        return _signals_page(request, portal, session, status=exc.status, failed=signal_id,
                             note=note, error=error_text(exc.code))
    return see_other("/audit/signalen?klaar=ja")


def _bundles_page(request: Request, portal: AuditPortal, session: Session, *,
                  status: int = 200, **values: Any) -> Response:
    found = bundles.of_auditor(session=session, ctx=portal.ctx, auditor=_principal(portal))
    network = _networks(portal)[0]
    return _page(request, portal, "audit/bundles.html", status=status, bundles=found,
                 coordinator=portal.session.coordinates(network), network=network, **values)


@router.get("/bundels", response_class=HTMLResponse)
def bundles_page(request: Request, portal: SignalReader, session: SessionDep) -> Response:
    return _bundles_page(request, portal, session)


@router.post("/bundels", response_class=HTMLResponse)
def create_bundle(request: Request, portal: SignalReader, session: SessionDep,
                  form: AuditCheckedForm) -> Response:
    network = _networks(portal)[0]
    start, end = first(form, "van"), first(form, "tot")
    try:
        body = BundleCreate.model_validate({"network": network, "from": date.fromisoformat(start),
                                            "to": date.fromisoformat(end)})
        made = bundles.create(session=session, ctx=portal.ctx, auditor=_principal(portal),
                              body=body, now=datetime.now(UTC))
    except (ValueError, ValidationError):
        return _bundles_page(request, portal, session, status=422, start=start, end=end,
                             error="Geef een begin- en einddatum (jaar-maand-dag).")
    except BrokerError as exc:
        session.rollback()
        return _bundles_page(request, portal, session, status=exc.status, start=start, end=end,
                             error=error_text(exc.code)
                             if exc.status != 403 else "Alleen de coördinator maakt bundels.")
    return see_other(f"/audit/bundels/{made.id}")


def _bundle_page(request: Request, portal: AuditPortal, session: Session, bundle_id: str, *,
                 status: int = 200, **values: Any) -> Response:
    try:
        bundle = bundles.get(session=session, ctx=portal.ctx, auditor=_principal(portal),
                             bundle_id=bundle_id)
    except BrokerError:
        raise PortalNotFound() from None
    return _page(request, portal, "audit/bundle.html", status=status, bundle=bundle,
                 coordinator=portal.session.coordinates(bundle.network),
                 method=bundle_export.method_text(bundle), **values)


@router.get("/bundels/{bundle_id}", response_class=HTMLResponse)
def bundle_page(request: Request, bundle_id: str, portal: SignalReader,
                session: SessionDep) -> Response:
    return _bundle_page(request, portal, session, bundle_id)


@router.post("/bundels/{bundle_id}/vrijgeven", response_class=HTMLResponse)
def release(request: Request, bundle_id: str, portal: SignalReader, session: SessionDep,
            form: AuditCheckedForm) -> Response:
    try:
        bundles.release(session=session, ctx=portal.ctx, auditor=_principal(portal),
                        bundle_id=bundle_id, now=datetime.now(UTC))
    except BrokerError as exc:
        session.rollback()
        if exc.status == 404:
            raise PortalNotFound() from None
        return _bundle_page(request, portal, session, bundle_id, status=exc.status,
                            error=error_text(exc.code)
                            if exc.status != 403 else "Alleen de coördinator geeft vrij.")
    return see_other(f"/audit/bundels/{bundle_id}")


def _released(portal: AuditPortal, session: Session, bundle_id: str) -> Any:
    try:
        return bundles.released(session=session, ctx=portal.ctx, auditor=_principal(portal),
                                bundle_id=bundle_id)
    except BrokerError:
        raise PortalNotFound() from None


@router.get("/bundels/{bundle_id}/cijfers.csv")
def bundle_csv(bundle_id: str, portal: SignalReader, session: SessionDep) -> Response:
    bundle = _released(portal, session, bundle_id)
    return Response(bundle_export.figures_csv(bundle), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="{bundle.id}-cijfers.csv"'})


@router.get("/bundels/{bundle_id}/bundel.json")
def bundle_json(bundle_id: str, portal: SignalReader, session: SessionDep) -> Response:
    bundle = _released(portal, session, bundle_id)
    return Response(json.dumps(bundle.model_dump(mode="json", by_alias=True), indent=2,
                               ensure_ascii=False), media_type="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="{bundle.id}.json"'})


@router.get("/bundels/{bundle_id}/rapport.pdf")
def bundle_pdf(bundle_id: str, portal: SignalReader, session: SessionDep) -> Response:
    bundle = _released(portal, session, bundle_id)
    return Response(bundle_export.report_pdf(bundle, portal.ctx.registry),
                    media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{bundle.id}-rapport.pdf"'})
