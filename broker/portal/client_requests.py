"""Consent requests in the portal (DESIGN §9): a partner asked, the client decides: approve as
asked, approve narrower (after a confirmation that says what the partner will be able to see),
or refuse. Every decision goes through ``broker.services.consent_requests``, the service behind
``/v1/me/consent-requests``; the confirmation computes the approved terms with the same pure
rule (``consent.controls.approval_terms``) and stores nothing. Another client's request answers
the same 404 page as an unknown one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broker.deps import SessionDep
from broker.errors import ConsentRequestNotFound
from broker.portal import forms, texts
from broker.portal.acting import actor_labels
from broker.portal.pages import CheckedForm, CurrentPortal, Portal, PortalNotFound, first, render
from broker.portal.pages import see_other as redirect
from broker.services import consent_requests
from broker.services.consent_requests import ClientRequest
from consent.controls import approval_terms
from consent.models import ConsentTerms

router = APIRouter(prefix="/mijn/vragen", include_in_schema=False)
DONE = ("goedgekeurd", "geweigerd")


def _find(portal: Portal, session: Session, request_id: str) -> ClientRequest:
    """One request about the client in scope, with the partner's message. Raises
    ``PortalNotFound`` (unknown, or another client's)."""
    for found in consent_requests.of_client(session=session, ctx=portal.ctx, scope=portal.scope):
        if found.request.id == request_id:
            return found
    raise PortalNotFound()


def _values(portal: Portal, session: Session, found: ClientRequest) -> dict[str, Any]:
    now = datetime.now(UTC)
    q = found.request
    return {"r": found, "q": q, "state": q.status(now),
            "actors": actor_labels(portal.ctx, session, portal.scope, [q.on_behalf_of]),
            "earliest": texts.local(now).date().isoformat(),
            "latest": texts.local(q.terms.valid_until).date().isoformat()}


@router.get("", response_class=HTMLResponse)
def request_list(request: Request, portal: CurrentPortal, session: SessionDep) -> Response:
    """Every request about the client, newest first, with its status."""
    now = datetime.now(UTC)
    found = consent_requests.of_client(session=session, ctx=portal.ctx, scope=portal.scope)
    return render(request, portal.ctx, "requests.html", session=portal.session,
                  requests=[(r, r.request.status(now)) for r in found])


def _request_page(request: Request, portal: Portal, session: Session, found: ClientRequest, *,
                  status: int = 200, error: str | None = None, done: str = "") -> Response:
    return render(request, portal.ctx, "request.html", status=status, session=portal.session,
                  error=error, done=done, **_values(portal, session, found))


@router.get("/{request_id}", response_class=HTMLResponse)
def request_page(request: Request, request_id: str, portal: CurrentPortal, session: SessionDep,
                 klaar: str = "") -> Response:
    found = _find(portal, session, request_id)
    return _request_page(request, portal, session, found, done=klaar if klaar in DONE else "")


def _decide(request: Request, portal: Portal, session: Session, request_id: str,
            decision: str, *, change: Any = None) -> Response:
    """Approve (with ``change``, possibly None: as asked) or refuse; then the request's page."""
    now = datetime.now(UTC)
    try:
        if decision == "goedgekeurd":
            consent_requests.approve(session=session, ctx=portal.ctx, scope=portal.scope,
                                     request_id=request_id, change=change, now=now)
        else:
            consent_requests.refuse(session=session, ctx=portal.ctx, scope=portal.scope,
                                    request_id=request_id, now=now)
    except ConsentRequestNotFound as exc:
        raise PortalNotFound() from exc
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        found = _find(portal, session, request_id)
        return _request_page(request, portal, session, found, status=status, error=message)
    return redirect(f"/mijn/vragen/{request_id}?klaar={decision}")


@router.post("/{request_id}/goedkeuren", response_class=HTMLResponse)
def approve(request: Request, request_id: str, portal: CurrentPortal, form: CheckedForm,
            session: SessionDep) -> Response:
    """Approve as asked: a consent with proof ``client`` (DESIGN §9)."""
    return _decide(request, portal, session, request_id, "goedgekeurd")


@router.post("/{request_id}/weigeren", response_class=HTMLResponse)
def refuse(request: Request, request_id: str, portal: CurrentPortal, form: CheckedForm,
           session: SessionDep) -> Response:
    return _decide(request, portal, session, request_id, "geweigerd")


def _narrow_form(request: Request, portal: Portal, session: Session, found: ClientRequest,
                 chosen: forms.Chosen, *, status: int = 200, error: str | None = None,
                 terms: ConsentTerms | None = None) -> Response:
    return render(request, portal.ctx, "request_narrow.html", status=status,
                  session=portal.session, chosen=chosen, error=error, terms=terms,
                  **_values(portal, session, found))


@router.get("/{request_id}/beperken", response_class=HTMLResponse)
def narrow_form(request: Request, request_id: str, portal: CurrentPortal,
                session: SessionDep) -> Response:
    found = _find(portal, session, request_id)
    asked = found.request.terms
    chosen = forms.Chosen(purposes=set(asked.purposes), sections=set(asked.sections),
                          valid_until=texts.local(asked.valid_until).date().isoformat())
    return _narrow_form(request, portal, session, found, chosen)


@router.post("/{request_id}/beperken", response_class=HTMLResponse)
def narrow(request: Request, request_id: str, portal: CurrentPortal, form: CheckedForm,
           session: SessionDep) -> Response:
    """First a confirmation of what the partner will be able to see (the approved terms, by
    the same rule as the approval, nothing stored); ``bevestigd=ja`` then approves them."""
    found = _find(portal, session, request_id)
    chosen = forms.Chosen.from_form(form)
    try:
        change = forms.approval_change(form, found.request.terms)
        terms = approval_terms(found.request, change, datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        message, status = forms.failure(exc)
        return _narrow_form(request, portal, session, found, chosen, status=status,
                            error=message)
    if first(form, "bevestigd") != "ja":
        return _narrow_form(request, portal, session, found, chosen, terms=terms)
    return _decide(request, portal, session, request_id, "goedgekeurd", change=change)
