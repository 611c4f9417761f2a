"""Mandates in the portal (DESIGN §9): the client names a trusted person (by INSZ), sees the
mandates they gave and hold, and ends one; a trusted person switches to acting "namens" a
client and back. Every change goes through ``broker.services.mandates``, the service behind
``/v1/me/mandates``; which mandate a request acts under is ``broker.services.client_scope``'s.

The trusted person's INSZ travels only in the form's body (DESIGN §3): it is never put back
into a page (not even after an error), a URL or a log line. The mandate one acts under is kept
in the sealed session cookie (``PortalSession.acting``), never in a URL."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from broker.deps import SessionDep
from broker.errors import MandateNotFound
from broker.portal import forms, texts
from broker.portal import session as sessions
from broker.portal.forms import FormData, FormError
from broker.portal.pages import CheckedForm, CurrentPortal, Portal, first, render
from broker.portal.pages import see_other as redirect
from broker.schemas.mandates import MandateCreate
from broker.services import mandates
from broker.services.client_scope import scope_for
from consent.controls import Mandate

router = APIRouter(prefix="/mijn", include_in_schema=False)
PAGE = "/mijn/vertrouwenspersonen"
DONE = ("gekozen", "beeindigd")
_INSZ_PUNCTUATION = re.compile(r"[\s.\-]")  # "85.07.30-033.28" as printed on a card


def _page(request: Request, portal: Portal, session: Session, *, status: int = 200,
          error: str | None = None, done: str = "", names: dict[str, str] | None = None,
          valid_until: str = "") -> Response:
    now = datetime.now(UTC)
    given, held = mandates.of_person(session=session, ctx=portal.ctx,
                                     insz=portal.principal.insz)

    def view(found: list[Mandate]) -> list[tuple[Mandate, dict[str, str | None]]]:
        return [(m, mandates.names_of(portal.ctx, session, m)) for m in found]

    return render(
        request, portal.ctx, "mandates.html", status=status, session=portal.session,
        error=error, done=done,
        given=view([m for m in given if m.valid(now)]),
        held=view([m for m in held if m.valid(now)]),
        ended=view(sorted((m for m in given + held if not m.valid(now)),
                          key=lambda m: (m.revoked_at or m.valid_until), reverse=True)),
        given_ids={m.id for m in given},
        names=names or {"client": portal.session.name or ""},
        valid_until=valid_until or forms.default_end(now), latest=forms.latest_end(now),
        earliest=texts.local(now).date().isoformat(),
        networks=list(portal.ctx.registry.networks.values()),
    )


@router.get("/vertrouwenspersonen", response_class=HTMLResponse)
def mandate_page(request: Request, portal: CurrentPortal, session: SessionDep,
                 klaar: str = "") -> Response:
    return _page(request, portal, session, done=klaar if klaar in DONE else "")


def _mandate_body(form: FormData) -> MandateCreate:
    """The form as ``POST /v1/me/mandates`` reads it. Raises ``FormError``; neither it nor its
    cause carries the INSZ."""
    insz = _INSZ_PUNCTUATION.sub("", first(form, "insz"))
    mandatary, mine = first(form, "trusted_person_name"), first(form, "my_name")
    if not mandatary:
        raise FormError("mandatary_name_missing")
    if not mine:
        raise FormError("own_name_missing")
    data: dict[str, Any] = {"insz": insz, "trusted_person_name": mandatary, "my_name": mine,
                            "valid_until": forms.parse_end_date(first(form, "valid_until"))}
    if first(form, "network"):
        data["network"] = first(form, "network")
    try:
        return MandateCreate.model_validate(data)
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        code = ("invalid_insz" if "insz" in fields else
                "name_too_long" if fields & {"trusted_person_name", "my_name"} else
                "invalid_form")
    raise FormError(code)  # outside the except: the cause (with the INSZ) is not kept


@router.post("/vertrouwenspersonen", response_class=HTMLResponse)
def give(request: Request, portal: CurrentPortal, form: CheckedForm,
         session: SessionDep) -> Response:
    """Name a trusted person, as ``POST /v1/me/mandates`` does: only for oneself, so not while
    acting for someone else."""
    names = {"mandatary": first(form, "trusted_person_name"), "client": first(form, "my_name")}
    try:
        if portal.acting is not None:
            raise FormError("acting_for_someone")
        mandates.give(session=session, ctx=portal.ctx, insz=portal.principal.insz,
                      body=_mandate_body(form), now=datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _page(request, portal, session, status=status, error=message, names=names,
                     valid_until=first(form, "valid_until"))
    return redirect(f"{PAGE}?klaar=gekozen")


def _with_acting(response: Response, portal: Portal, acting: str | None) -> Response:
    """Store the session with ``acting`` (DESIGN §9) in the sealed cookie."""
    sessions.store_session(response, replace(portal.session, acting=acting), portal.ctx)
    return response


@router.post("/vertrouwenspersonen/{mandate_id}/beeindigen", response_class=HTMLResponse)
def end(request: Request, mandate_id: str, portal: CurrentPortal, form: CheckedForm,
        session: SessionDep) -> Response:
    """End a mandate one gave or holds; ending the one acted under also stops acting."""
    try:
        mandates.revoke(session=session, ctx=portal.ctx, insz=portal.principal.insz,
                        mandate_id=mandate_id, now=datetime.now(UTC))
    except forms.CHANGE_ERRORS as exc:
        session.rollback()
        message, status = forms.failure(exc)
        return _page(request, portal, session, status=status, error=message)
    response = redirect(f"{PAGE}?klaar=beeindigd")
    if portal.session.acting == mandate_id:
        _with_acting(response, portal, None)
    return response


@router.post("/namens", response_class=HTMLResponse)
def switch(request: Request, portal: CurrentPortal, form: CheckedForm,
           session: SessionDep) -> Response:
    """Act under a mandate one holds (``mandaat``: its id), or for oneself again (empty)."""
    mandate_id = first(form, "mandaat") or None
    if mandate_id is not None:
        try:
            scope_for(portal.ctx, session, insz=portal.principal.insz, mandate_id=mandate_id,
                      now=datetime.now(UTC))
        except MandateNotFound as exc:
            message, status = forms.failure(exc)
            return _page(request, portal, session, status=status, error=message)
    return _with_acting(redirect("/mijn"), portal, mandate_id)
