"""Exclusions in the portal (DESIGN §9 client controls): the client excludes a partner of their
networks, which then gets nothing of their dossier, break-glass included, and undoes it. Every
change goes through ``broker.services.exclusions``, the service behind ``/v1/me/exclusions``
(the rule itself is the policy's, reason ``excluded_by_client``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broker.deps import SessionDep
from broker.portal import forms
from broker.portal.acting import actor_labels
from broker.portal.pages import CheckedForm, CurrentPortal, Portal, first, render
from broker.portal.pages import see_other as redirect
from broker.services import exclusions

router = APIRouter(prefix="/mijn/uitsluitingen", include_in_schema=False)
DONE = ("uitgesloten", "opgeheven")


def _page(request: Request, portal: Portal, session: Session, *, status: int = 200,
          error: str | None = None, done: str = "", chosen: str = "") -> Response:
    now = datetime.now(UTC)
    found = exclusions.of_client(session=session, scope=portal.scope)
    active = [x for x in found if x.active(now)]
    ended = sorted((x for x in found if not x.active(now)),
                   key=lambda x: (x.ended_at or x.created_at, x.id), reverse=True)
    excluded = {x.partner for x in active}
    # The partners of the networks in scope (DESIGN §3: a partner shares only in its network).
    choices = [p for network in portal.scope.refs
               for p in portal.ctx.registry.partners_in(network) if p.id not in excluded]
    return render(request, portal.ctx, "exclusions.html", status=status, session=portal.session,
                  active=active, ended=ended, choices=choices, chosen=chosen, error=error,
                  done=done, actors=actor_labels(portal.ctx, session, portal.scope,
                                                 (x.on_behalf_of for x in found)))


@router.get("", response_class=HTMLResponse)
def exclusion_page(request: Request, portal: CurrentPortal, session: SessionDep,
                   dienst: str = "", klaar: str = "") -> Response:
    """``dienst``: a partner to offer first (from a desk notice's "exclude" link)."""
    return _page(request, portal, session, chosen=dienst, done=klaar if klaar in DONE else "")


@router.post("", response_class=HTMLResponse)
def exclude(request: Request, portal: CurrentPortal, form: CheckedForm,
            session: SessionDep) -> Response:
    partner = first(form, "partner")
    try:
        exclusions.exclude(session=session, ctx=portal.ctx, scope=portal.scope,
                           partner_id=partner, now=datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _page(request, portal, session, status=status, error=message, chosen=partner)
    return redirect("/mijn/uitsluitingen?klaar=uitgesloten")


@router.post("/{exclusion_id}/opheffen", response_class=HTMLResponse)
def undo(request: Request, exclusion_id: str, portal: CurrentPortal, form: CheckedForm,
         session: SessionDep) -> Response:
    """End an exclusion. Unknown, another client's or ended already: one answer (404)."""
    try:
        exclusions.undo(session=session, ctx=portal.ctx, scope=portal.scope,
                        exclusion_id=exclusion_id, now=datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _page(request, portal, session, status=status, error=message)
    return redirect("/mijn/uitsluitingen?klaar=opgeheven")
