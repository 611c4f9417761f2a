"""The client portal ``/mijn`` (DESIGN §2): login, overview, dossier, access log, preview.
Consent pages are in ``client_consents``. Every page reads through the v1 API's services; the
client is the one in the sealed session cookie, never one named in a URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from broker.context import BrokerContext
from broker.demo import demo_citizens
from broker.deps import ContextDep, SessionDep
from broker.errors import AuthenticationError, ClientErased
from broker.portal import oidc_login, referral_texts, texts
from broker.portal import session as sessions
from broker.portal.forms import FormError
from broker.portal.pages import (
    CheckedForm,
    CurrentPortal,
    OwnPortal,
    PortalNotFound,
    SessionOrNone,
    first,
    render,
    see_other,
)
from broker.portal.preview import preview
from broker.portal.session import PortalSession, display_name
from broker.schemas.dossier import EntryPublic
from broker.schemas.me import AccessLogPublic
from broker.security.auth import client_from_claims, verify_client_token
from broker.security.oidc import CLIENT_CALLBACK, CLIENT_LOGGED_OUT
from broker.security.tokens import client_token
from broker.services import case_consultations, client_view, consent_requests, referrals, relations
from broker.services.client_scope import client_refs
from consent.legal_basis import LEGAL_BASES
from consent.rules import relation_is_valid

router = APIRouter(prefix="/mijn", include_in_schema=False)
NO_INSZ = ("De aanmelddienst gaf geen geldig rijksregisternummer door. Je bent niet ingelogd. "
           "Vraag hulp aan de balie van je OCMW, CAW of ziekenfonds.")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: ContextDep, session: SessionOrNone) -> Response:
    """The OpenID Connect login when configured; in demo mode also the demo citizens to choose
    from (names only: no INSZ in the page)."""
    return _login_page(request, ctx, session)


def _login_page(request: Request, ctx: BrokerContext, session: PortalSession | None,
                **failure: Any) -> Response:
    citizens = [c["name"] for c in demo_citizens()] if ctx.settings.demo else []
    return oidc_login.login_page(request, ctx, session, "login.html", sessions.CLIENT,
                                 citizens=citizens, **failure)


@router.get("/privacy", response_class=HTMLResponse)
def privacy_page(request: Request, ctx: ContextDep, session: SessionOrNone) -> Response:
    """The privacy notice every consent receipt links to (``policy_url``; Kantara CR 1.1): the
    controller and its contact, the purposes, the legal bases and the client's rights. Public."""
    return render(request, ctx, "privacy.html", session=session,
                  controller=ctx.settings.publisher.controller, legal_bases=LEGAL_BASES)


@router.get("/login/oidc")
def login_oidc(request: Request, ctx: ContextDep, session: SessionOrNone) -> Response:
    """Start the OpenID Connect login (authorization code with PKCE) at the provider."""
    if ctx.oidc is None:
        raise PortalNotFound()
    try:
        return oidc_login.start(ctx, session, sessions.CLIENT, CLIENT_CALLBACK, datetime.now(UTC))
    except oidc_login.LoginFailed as exc:
        return _login_page(request, ctx, session, error=exc.message, status=exc.status)


@router.get("/login/callback")
def login_callback(request: Request, ctx: ContextDep, session: SessionOrNone) -> Response:
    """The provider sends the browser back here: verify, then start the client's session from
    the ID token's INSZ claim (``GBO_CLIENT_INSZ_CLAIM``)."""
    if ctx.oidc is None:
        raise PortalNotFound()
    now = datetime.now(UTC)
    try:
        claims = oidc_login.complete(request, ctx, session, CLIENT_CALLBACK, now)
        principal = client_from_claims(claims, ctx.settings.client_insz_claim)
    except oidc_login.LoginFailed as exc:
        return _login_page(request, ctx, session, error=exc.message, status=exc.status)
    except AuthenticationError:
        oidc_login.log.warning("oidc login refused", extra={"cause": "no valid INSZ claim"})
        return _login_page(request, ctx, session, status=403, error=NO_INSZ)
    response = see_other("/mijn")
    # A fresh session (new CSRF token, no attempt) at login: no fixation of the anonymous one;
    # a session this browser held before ends on the server.
    fresh = sessions.log_in(ctx, now, previous=session, cookie=sessions.CLIENT,
                            subject=principal.insz, insz=principal.insz,
                            name=display_name(claims), via_oidc=True)
    sessions.store_session(response, fresh, ctx)
    return response


@router.post("/login")
def login(request: Request, ctx: ContextDep, session: SessionOrNone,
          form: CheckedForm) -> Response:
    """Demo login: mint a client token with the demo issuer and verify it on the same path as the
    v1 API (``broker.security.auth.verify_client_token``), then start a fresh session."""
    if not ctx.settings.demo or ctx.issuer is None:
        return render(request, ctx, "error.html", status=404, title="Niet beschikbaar",
                      message="Inloggen met een demo-burger kan alleen in de demo.")
    citizens = demo_citizens()
    choice = first(form, "citizen")
    if not choice.isdigit() or int(choice) >= len(citizens):
        return see_other("/mijn/login")
    now = datetime.now(UTC)
    citizen = citizens[int(choice)]
    try:
        principal = verify_client_token(
            client_token(ctx.settings, insz=citizen["insz"], now=now), issuer=ctx.issuer,
            audience=ctx.settings.audience, insz_claim=ctx.settings.client_insz_claim, now=now,
        )
    except AuthenticationError:
        return see_other("/mijn/login")
    response = see_other("/mijn")
    # A fresh session (new CSRF token) at login: no fixation of the anonymous one; a session
    # this browser held before ends on the server.
    fresh = sessions.log_in(ctx, now, previous=session, cookie=sessions.CLIENT,
                            subject=principal.insz, insz=principal.insz, name=citizen["name"])
    sessions.store_session(response, fresh, ctx)
    return response


@router.post("/logout")
def logout(ctx: ContextDep, session: SessionOrNone, form: CheckedForm) -> Response:
    return oidc_login.logout(ctx, session, sessions.CLIENT, CLIENT_LOGGED_OUT)


@router.get("", response_class=HTMLResponse)
def overview(request: Request, portal: CurrentPortal, session: SessionDep) -> Response:
    """What waits for the client (consent requests) and what partners recorded at their desk
    (DESIGN §9), then who helps them: partners with a help relation valid now (DESIGN §3).
    Acting for someone under a mandate: their requests and desk consents, never their
    relations (DESIGN §9)."""
    ctx, now = portal.ctx, datetime.now(UTC)
    waiting = [r for r in consent_requests.of_client(session=session, ctx=ctx, scope=portal.scope)
               if r.request.status(now) == "pending"]
    notices = [n for n in client_view.desk_records(session=session, scope=portal.scope, now=now)
               if n.in_force]
    helping = []
    referred = []
    consultations = []
    if portal.acting is None:
        found = relations.relations_of(session=session, ctx=ctx, insz=portal.principal.insz)
        helping = [(ctx.registry.partner(rel.partner), rel) for _, rel in found
                   if relation_is_valid(rel, now)]
        # DESIGN §10: where the client was referred, and how it stands, in plain Dutch.
        referred = [(ctx.registry.partner(r.from_partner), ctx.registry.partner(r.to_partner), r,
                     referral_texts.status_text(r.status))
                    for r in referrals.of_client(
                        session=session, refs=client_refs(ctx, portal.principal.insz))]
        consultations = told_consultations(ctx, session, portal.principal.insz, now)
    return render(request, ctx, "overview.html", session=portal.session, helping=helping,
                  waiting=waiting, notices=notices, referred=referred,
                  consultations=consultations)


@dataclass(frozen=True)
class ToldConsultation:
    """DESIGN §10: a case consultation that concerned the client, once it ended."""

    legal_basis: str  # the catalogue's Dutch label
    goal: str | None
    participants: list[str]
    opened_at: datetime
    ended_at: datetime


def told_consultations(ctx: BrokerContext, session: Session, insz: str,
                       now: datetime) -> list[ToldConsultation]:
    """The consultations the client is told of (ended, notice not deferred), as
    ``GET /v1/me/case-consultations`` lists them."""
    bases = case_consultations.info(ctx).legal_bases
    refs = set(client_refs(ctx, insz).items())
    return [ToldConsultation(
        legal_basis=bases[c.legal_basis].label if c.legal_basis in bases else c.legal_basis,
        goal=case_consultations.secret_of(ctx, session, c).goal,
        participants=list(c.participants), opened_at=c.opened_at, ended_at=c.ends_at())
        for c in case_consultations.told_to_client(session=session, refs=refs, now=now)]


@router.get("/dossier", response_class=HTMLResponse)
def my_dossier(request: Request, portal: OwnPortal, session: SessionDep) -> Response:
    """Everything recorded about me, except working notes (DESIGN §4); never under a mandate
    (DESIGN §9)."""
    ctx = portal.ctx
    entries: list[EntryPublic] = []
    erased = False
    try:
        entries = client_view.own_dossier(ctx=ctx, session=session, insz=portal.principal.insz)
    except ClientErased:
        erased = True
    by_section: dict[str, list[EntryPublic]] = {}
    for entry in entries:
        by_section.setdefault(entry.section, []).append(entry)
    return render(request, ctx, "dossier.html", session=portal.session, by_section=by_section,
                  erased=erased)


@router.get("/toegang", response_class=HTMLResponse)
def access_log(request: Request, portal: OwnPortal, session: SessionDep) -> Response:
    """Who looked at my data, when, why, which parts, with break-glass highlighted (DESIGN §2),
    from the same audit reading as ``GET /v1/me/access-log``."""
    ctx = portal.ctx
    receipts = client_view.Receipts.of(ctx)  # one checkpoint for every proof on the page
    try:
        found = client_view.access_log(ctx=ctx, session=session, insz=portal.principal.insz,
                                       receipts=receipts)
    except ClientErased:
        found = []
    rows = sorted(found, key=lambda e: e.index, reverse=True)
    # DESIGN §9: the same receipts as GET /v1/me/access-log, for the browser's own check
    # (static/access-receipts.js); the decrypted detail stays out of it (nothing checks it).
    proofs = AccessLogPublic(entries=found, checkpoint=receipts.note,
                             log_key=ctx.audit.log.verifier_key).model_dump(
        mode="json", exclude={"entries": {"__all__": {"detail"}}})
    return render(request, ctx, "access_log.html", session=portal.session, rows=rows,
                  proofs=proofs)


@router.get("/voorbeeld", response_class=HTMLResponse)
def preview_page(request: Request, portal: OwnPortal, session: SessionDep,
                 partner: str = "", doel: str = "") -> Response:
    """What would a partner see for a purpose under my current consents? (DESIGN §2) Not under
    a mandate: the answer tells which partners help the client (DESIGN §9)."""
    ctx = portal.ctx
    values: dict[str, Any] = {"partner_id": partner, "purpose": doel, "result": None,
                              "error": None}
    status = 200
    if partner or doel:
        try:
            values["result"] = preview(session=session, ctx=ctx, scope=portal.scope,
                                       partner_id=partner, purpose=doel, proposed=None,
                                       now=datetime.now(UTC))
        except FormError as exc:
            values["error"], status = texts.error_text(exc.code), 422
    return render(request, ctx, "preview.html", status=status, session=portal.session, **values)
