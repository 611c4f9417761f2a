"""The opt-out of secondary use in ``/mijn`` (DESIGN §11): the client sees whether they are left
out of the network's figures, opts out and undoes it, through ``broker.services.opt_out``, the
service behind ``/v1/me/opt-out``. Always the logged-in person's own choice, never under a
mandate (a mandate reaches consents only, DESIGN §9)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broker.deps import SessionDep
from broker.portal import forms
from broker.portal.pages import CheckedForm, CurrentPortal, Portal, render
from broker.portal.pages import see_other as redirect
from broker.services import opt_out
from broker.services.client_scope import own_scope

router = APIRouter(prefix="/mijn/statistiek", include_in_schema=False)
DONE = ("uit", "terug")


def _page(request: Request, portal: Portal, session: Session, *, status: int = 200,
          error: str | None = None, done: str = "") -> Response:
    state = opt_out.status(session=session, scope=own_scope(portal.ctx, portal.principal.insz))
    return render(request, portal.ctx, "opt_out.html", status=status, session=portal.session,
                  state=state, error=error, done=done)


@router.get("", response_class=HTMLResponse)
def opt_out_page(request: Request, portal: CurrentPortal, session: SessionDep,
                 klaar: str = "") -> Response:
    return _page(request, portal, session, done=klaar if klaar in DONE else "")


def _change(request: Request, portal: Portal, session: Session, undo: bool) -> Response:
    scope = own_scope(portal.ctx, portal.principal.insz)
    try:
        if undo:
            opt_out.undo(session=session, ctx=portal.ctx, scope=scope, now=datetime.now(UTC))
        else:
            opt_out.opt_out(session=session, ctx=portal.ctx, scope=scope, now=datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _page(request, portal, session, status=status, error=message)
    return redirect("/mijn/statistiek?klaar=" + ("terug" if undo else "uit"))


@router.post("", response_class=HTMLResponse)
def opt_out_now(request: Request, portal: CurrentPortal, form: CheckedForm,
                session: SessionDep) -> Response:
    return _change(request, portal, session, undo=False)


@router.post("/ongedaan", response_class=HTMLResponse)
def opt_back_in(request: Request, portal: CurrentPortal, form: CheckedForm,
                session: SessionDep) -> Response:
    return _change(request, portal, session, undo=True)
