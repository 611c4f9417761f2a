"""The client's consents in the portal (DESIGN §2): list with history, give (with a preview), narrow
and revoke (each with a confirmation that says what stops), receipts. Every change goes through
``broker.services.consents`` — the same service, rules, audit and notices as
``/v1/me/consents``. Another client's consent id answers the same 404 page as an unknown one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broker.deps import SessionDep
from broker.errors import ConsentNotFound
from broker.portal import forms, texts
from broker.portal.acting import actor_labels
from broker.portal.pages import (
    CheckedForm,
    CurrentPortal,
    NotUnderMandate,
    Portal,
    PortalNotFound,
    first,
    render,
)
from broker.portal.pages import see_other as redirect
from broker.portal.preview import preview
from broker.services import consents
from broker.services.consents import PORTAL
from consent import versions
from consent.store import StoredConsent

router = APIRouter(prefix="/mijn/toestemmingen", include_in_schema=False)


def _own(portal: Portal, session: Session, consent_id: str) -> consents.OwnConsent:
    try:
        return consents.own_consent(session=session, scope=portal.scope, consent_id=consent_id)
    except ConsentNotFound as exc:
        raise PortalNotFound() from exc


def _view(own: consents.OwnConsent, now: datetime) -> dict[str, Any]:
    return {"id": own.head.record.id, "head": own.head.record, "status": own.status(own.head, now),
            "versions": [(v, own.status(v, now)) for v in reversed(own.versions)]}


def _actors(portal: Portal, session: Session, *owns: consents.OwnConsent) -> dict[str, str]:
    """Who made the versions a trusted person made, in words (DESIGN §9: the client sees who
    did what)."""
    return actor_labels(portal.ctx, session, portal.scope,
                        (v.record.on_behalf_of for own in owns for v in own.versions))


@router.get("", response_class=HTMLResponse)
def consent_list(request: Request, portal: CurrentPortal, session: SessionDep) -> Response:
    now = datetime.now(UTC)
    found = consents.own_consents(session=session, scope=portal.scope)
    return render(request, portal.ctx, "consents.html", session=portal.session,
                  consents=[_view(own, now) for own in reversed(found)],
                  actors=_actors(portal, session, *found))


def _give_form(request: Request, portal: Portal, chosen: forms.Chosen, *, status: int = 200,
               error: str | None = None, result: Any = None) -> Response:
    now = datetime.now(UTC)
    networks = list(portal.ctx.registry.networks.values())
    return render(request, portal.ctx, "consent_form.html", status=status,
                  session=portal.session, chosen=chosen, error=error, result=result,
                  networks=networks, earliest=texts.local(now).date().isoformat(),
                  latest=forms.latest_end(now))


@router.get("/nieuw", response_class=HTMLResponse)
def give_form(request: Request, portal: CurrentPortal) -> Response:
    chosen = forms.Chosen(valid_until=forms.default_end(datetime.now(UTC)))
    return _give_form(request, portal, chosen)


@router.post("/nieuw", response_class=HTMLResponse)
def give(request: Request, portal: CurrentPortal, form: CheckedForm,
         session: SessionDep) -> Response:
    """``actie=voorbeeld`` shows what a partner would see with this consent added (nothing is
    stored); otherwise the consent is given, as ``POST /v1/me/consents`` does."""
    now, chosen = datetime.now(UTC), forms.Chosen.from_form(form)
    try:
        terms = forms.consent_terms(form)
        if first(form, "actie") == "voorbeeld":
            if portal.acting is not None:  # it would tell which partners help (DESIGN §9)
                raise NotUnderMandate()
            result = preview(session=session, ctx=portal.ctx, scope=portal.scope,
                             partner_id=chosen.preview_partner, purpose=chosen.preview_purpose,
                             proposed=terms.terms(), now=now)
            return _give_form(request, portal, chosen, result=result)
        own = consents.give(session=session, ctx=portal.ctx, scope=portal.scope,
                            consent_in=terms, now=now)
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _give_form(request, portal, chosen, status=status, error=message)
    return redirect(f"/mijn/toestemmingen/{own.head.record.id}?klaar=gegeven")


@router.get("/{consent_id}", response_class=HTMLResponse)
def consent_page(request: Request, consent_id: str, portal: CurrentPortal, session: SessionDep,
                 klaar: str = "") -> Response:
    own = _own(portal, session, consent_id)
    done = klaar if klaar in texts.CHANGES or klaar == "gegeven" else ""
    return render(request, portal.ctx, "consent.html", session=portal.session,
                  c=_view(own, datetime.now(UTC)), done=done,
                  actors=_actors(portal, session, own))


def _narrow_form(request: Request, portal: Portal, own: consents.OwnConsent,
                 chosen: forms.Chosen, *, status: int = 200, error: str | None = None,
                 diff: Any = None) -> Response:
    now = datetime.now(UTC)
    current = forms.Chosen.from_consent(own.head.record)
    allowed = current.recipients | current.purposes | current.sections  # narrowing only
    return render(request, portal.ctx, "narrow.html", status=status, session=portal.session,
                  c=_view(own, now), chosen=chosen, error=error, diff=diff, allowed=allowed,
                  networks=list(portal.ctx.registry.networks.values()),
                  earliest=texts.local(now).date().isoformat())


@router.get("/{consent_id}/beperken", response_class=HTMLResponse)
def narrow_form(request: Request, consent_id: str, portal: CurrentPortal,
                session: SessionDep) -> Response:
    own = _own(portal, session, consent_id)
    return _narrow_form(request, portal, own, forms.Chosen.from_consent(own.head.record))


@router.post("/{consent_id}/beperken", response_class=HTMLResponse)
def narrow(request: Request, consent_id: str, portal: CurrentPortal, form: CheckedForm,
           session: SessionDep) -> Response:
    """First a confirmation that lists what stops (the same pure narrowing rule, stored
    nothing); ``bevestigd=ja`` then narrows as ``POST /v1/me/consents/{id}/narrow`` does."""
    own = _own(portal, session, consent_id)
    chosen, now = forms.Chosen.from_form(form), datetime.now(UTC)
    try:
        change = forms.narrow_change(form, own.head.record)
        if first(form, "bevestigd") != "ja":
            result = versions.narrow(own.head.record, change, new_id=consent_id,
                                     evidence=PORTAL, now=now, relations=own.relations)
            return _narrow_form(request, portal, own, chosen, diff=result.diff)
        consents.narrow_own(session=session, ctx=portal.ctx, scope=portal.scope,
                            consent_id=consent_id, change=change, now=now)
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _narrow_form(request, portal, own, chosen, status=status, error=message)
    return redirect(f"/mijn/toestemmingen/{consent_id}?klaar=narrowed")


@router.get("/{consent_id}/intrekken", response_class=HTMLResponse)
def revoke_confirm(request: Request, consent_id: str, portal: CurrentPortal,
                   session: SessionDep) -> Response:
    own = _own(portal, session, consent_id)
    return render(request, portal.ctx, "revoke.html", session=portal.session,
                  c=_view(own, datetime.now(UTC)), error=None,
                  actors=_actors(portal, session, own))


@router.post("/{consent_id}/intrekken", response_class=HTMLResponse)
def revoke(request: Request, consent_id: str, portal: CurrentPortal, form: CheckedForm,
           session: SessionDep) -> Response:
    own = _own(portal, session, consent_id)
    try:
        consents.revoke_own(session=session, ctx=portal.ctx, scope=portal.scope,
                            consent_id=consent_id, now=datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return render(request, portal.ctx, "revoke.html", status=status, session=portal.session,
                      c=_view(own, datetime.now(UTC)), error=message,
                      actors=_actors(portal, session, own))
    return redirect(f"/mijn/toestemmingen/{consent_id}?klaar=revoked")


def _version(own: consents.OwnConsent, version: int | None) -> StoredConsent:
    for stored in own.versions:
        if (version is None and stored is own.head) or stored.record.version == version:
            return stored
    raise PortalNotFound()


@router.get("/{consent_id}/bewijs", response_class=HTMLResponse)
def receipt_page(request: Request, consent_id: str, portal: CurrentPortal, session: SessionDep,
                 versie: int | None = None) -> Response:
    """DESIGN §2: the consent receipt (DESIGN §3) in plain Dutch."""
    own = _own(portal, session, consent_id)
    stored = _version(own, versie)
    receipt, _ = consents.signed_receipt(portal.ctx, stored)
    return render(request, portal.ctx, "receipt.html", session=portal.session, receipt=receipt,
                  stored=stored, c=_view(own, datetime.now(UTC)),
                  actors=_actors(portal, session, own))


@router.get("/{consent_id}/bewijs.json")
def receipt_download(consent_id: str, portal: CurrentPortal, session: SessionDep,
                     versie: int | None = None) -> Response:
    """The signed receipt as ``GET /v1/me/consents/{id}/receipt`` returns it, as a download."""
    own = _own(portal, session, consent_id)
    stored = _version(own, versie)
    receipt, jws = consents.signed_receipt(portal.ctx, stored)
    body = json.dumps({"receipt": receipt, "jws": jws}, ensure_ascii=False, indent=2)
    name = f"toestemming-{stored.record.id}-v{stored.record.version}.json"
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
