"""The auditor portal ``/audit`` (DESIGN §2): login per scope, entries with filters and paging, CSV
export, charts with their tables, the integrity panel with "verify now". The scope in the sealed
session decides what is visible, through the same scope filter as ``GET /v1/audit/entries``.
Auditors never see content, an INSZ or the encrypted detail (``audit_search.Row``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from broker.context import BrokerContext
from broker.deps import ContextDep
from broker.errors import AuthenticationError, ConfigurationError
from broker.portal import audit_integrity, audit_report, audit_search, oidc_login
from broker.portal import session as sessions
from broker.portal.csrf import check_csrf
from broker.portal.pages import (
    FormData,
    LoginRequired,
    PortalNotFound,
    first,
    form_data,
    render,
    see_other,
)
from broker.portal.session import AUDITOR, PortalSession, display_name
from broker.portal.texts import local
from broker.security.auth import (
    auditor_rights_from,
    auditor_scope_from,
    verify_auditor_token,
)
from broker.security.oidc import AUDITOR_CALLBACK, AUDITOR_LOGGED_OUT
from broker.security.registry import Partner
from broker.security.tokens import auditor_token

router = APIRouter(prefix="/audit", include_in_schema=False)
LOGIN = "/audit/login"
NO_SCOPE = ("Je account heeft geen rol in het auditportaal van dit netwerk. Je bent niet "
            "ingelogd. Vraag je beheerder om de juiste rol.")
CHART_ROWS = 100_000  # rows summarised per chart page at most (the page says when cut off)
FILTER_ERRORS = {
    "van": "De begindatum is geen geldige datum (jaar-maand-dag).",
    "tot": "De einddatum is geen geldige datum, of ligt voor de begindatum.",
    "partner": "Kies een partner uit de lijst.",
    "soort": "Kies een soort uit de lijst.",
    "doel": "Kies een doel uit de lijst.",
    "uitkomst": "Kies toegestaan of geweigerd.",
    "nood": "Kies ja of nee bij noodsituatie.",
    "overleg": "Dit is geen nummer van een casusoverleg: cc- gevolgd door 32 tekens.",
    "na": "Deze paginalink klopt niet. Begin opnieuw bij de eerste pagina.",
}


def audit_session(request: Request, ctx: ContextDep) -> PortalSession | None:
    return sessions.read_session(request, ctx, datetime.now(UTC), AUDITOR)


AuditSessionOrNone = Annotated[PortalSession | None, Depends(audit_session)]


@dataclass(frozen=True)
class AuditPortal:
    ctx: BrokerContext
    session: PortalSession
    scope: str


def current_auditor_portal(ctx: ContextDep, session: AuditSessionOrNone) -> AuditPortal:
    """Raises ``LoginRequired`` (a redirect to the auditor login) without an auditor session."""
    if session is None or session.scope is None:
        raise LoginRequired(LOGIN)
    if session.sid is not None:  # always set: read_session refuses a logged-in one without
        ctx.rate_limiter.check_session("auditor", session.sid, datetime.now(UTC))
    return AuditPortal(ctx=ctx, session=session, scope=session.scope)


def audit_checked_form(session: AuditSessionOrNone,
                       form: Annotated[FormData, Depends(form_data)]) -> FormData:
    """Raises ``CsrfFailed`` (a 403 page) unless the token matches the auditor session's."""
    check_csrf(session, form)
    return form


CurrentAuditPortal = Annotated[AuditPortal, Depends(current_auditor_portal)]
AuditCheckedForm = Annotated[FormData, Depends(audit_checked_form)]


def demo_scopes(ctx: BrokerContext) -> list[tuple[str, str]]:
    """(scope, who) for every scope this registry has: each partner's DPO, each network's
    coordinator, the supervisory authority. The demo login offers them all."""
    scopes = [(f"partner:{p.id}", f"Functionaris gegevensbescherming van {p.name}")
              for p in ctx.registry.partners.values()]
    scopes += [(f"network:{n.id}", f"Coördinator van het netwerk {n.name}")
               for n in ctx.registry.networks.values()]
    return [*scopes, ("supervisor", "Toezichthouder (Gegevensbeschermingsautoriteit)")]


def visible_partners(ctx: BrokerContext, scope: str) -> list[Partner]:
    """The partners whose entries this scope may see (for the partner filter)."""
    kind, _, value = scope.partition(":")
    partners = list(ctx.registry.partners.values())
    if kind == "partner":
        return [p for p in partners if p.id == value]
    return [p for p in partners if kind != "network" or p.network == value]


def _page(request: Request, portal: AuditPortal, name: str, *, status: int = 200,
          **values: Any) -> Response:
    return render(request, portal.ctx, name, status=status, session=portal.session,
                  cookie=AUDITOR, scope=portal.scope, **values)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, ctx: ContextDep, session: AuditSessionOrNone) -> Response:
    """The OpenID Connect login when configured; in demo mode also one clearly labelled login
    per scope."""
    return _login_page(request, ctx, session)


def _login_page(request: Request, ctx: BrokerContext, session: PortalSession | None,
                **failure: Any) -> Response:
    scopes = demo_scopes(ctx) if ctx.settings.demo else []
    return oidc_login.login_page(request, ctx, session, "audit/login.html", AUDITOR,
                                 scopes=scopes, **failure)


@router.get("/login/oidc")
def login_oidc(request: Request, ctx: ContextDep, session: AuditSessionOrNone) -> Response:
    """Start the OpenID Connect login (authorization code with PKCE) at the provider."""
    if ctx.oidc is None:
        raise PortalNotFound()
    try:
        return oidc_login.start(ctx, session, AUDITOR, AUDITOR_CALLBACK, datetime.now(UTC))
    except oidc_login.LoginFailed as exc:
        return _login_page(request, ctx, session, error=exc.message, status=exc.status)


@router.get("/login/callback")
def login_callback(request: Request, ctx: ContextDep, session: AuditSessionOrNone) -> Response:
    """The provider sends the browser back here: verify, then start an auditor session with
    the scope in the ID token's ``GBO_OIDC_AUDITOR_CLAIM`` claim, if it names a partner or
    network of the registry (or the supervisor)."""
    if ctx.oidc is None:
        raise PortalNotFound()
    now = datetime.now(UTC)
    try:
        claims = oidc_login.complete(request, ctx, session, AUDITOR_CALLBACK, now)
        scope = auditor_scope_from(claims.get(ctx.settings.oidc_auditor_claim))
        rights = auditor_rights_from(claims.get("rights"))  # DESIGN §11 the coordinator
    except oidc_login.LoginFailed as exc:
        return _login_page(request, ctx, session, error=exc.message, status=exc.status)
    except AuthenticationError:
        scope, rights = None, frozenset()
    known = dict(demo_scopes(ctx))  # every scope this registry has, with who holds it
    if scope is None or scope not in known:
        oidc_login.log.warning("oidc login refused", extra={"cause": "no known auditor scope"})
        return _login_page(request, ctx, session, status=403, error=NO_SCOPE)
    response = see_other("/audit")
    # The person is the provider's ``sub`` (OpenID Connect Core §2: unique per issuer); several
    # people may hold one scope.
    sub = claims.get("sub")
    fresh = sessions.log_in(ctx, now, previous=session, cookie=AUDITOR,
                            subject=f"sub:{sub}" if isinstance(sub, str) else f"scope:{scope}",
                            name=display_name(claims) or known[scope], scope=scope,
                            via_oidc=True, rights=tuple(sorted(rights)))
    sessions.store_session(response, fresh, ctx, AUDITOR)
    return response


@router.post("/login")
def login(request: Request, ctx: ContextDep, session: AuditSessionOrNone,
          form: AuditCheckedForm) -> Response:
    """Demo login: mint an auditor token with the demo issuer and verify it as the v1 API does
    (``broker.security.auth.verify_auditor_token``), then start a fresh session holding the
    scope."""
    if not ctx.settings.demo or ctx.issuer is None:
        return render(request, ctx, "error.html", status=404, title="Niet beschikbaar",
                      message="Inloggen met een demo-rol kan alleen in de demo.",
                      layout="audit/base.html", home="/audit")
    offered = dict(demo_scopes(ctx))
    scope = first(form, "scope")
    if scope not in offered:
        return see_other(LOGIN)
    now = datetime.now(UTC)
    # DESIGN §11: the demo's network login is the network's coordinator (signals right).
    rights = ("signals",) if scope.startswith("network:") else ()
    try:
        principal = verify_auditor_token(
            auditor_token(ctx.settings, scope=scope, now=now, rights=rights), issuer=ctx.issuer,
            audience=ctx.settings.audience, now=now,
        )
    except (AuthenticationError, ConfigurationError):
        return see_other(LOGIN)
    response = see_other("/audit")
    fresh = sessions.log_in(ctx, now, previous=session, cookie=AUDITOR,
                            subject=f"scope:{principal.scope}", name=offered[scope],
                            scope=principal.scope, rights=tuple(sorted(principal.rights)))
    sessions.store_session(response, fresh, ctx, AUDITOR)
    return response


@router.post("/logout")
def logout(ctx: ContextDep, session: AuditSessionOrNone, form: AuditCheckedForm) -> Response:
    return oidc_login.logout(ctx, session, AUDITOR, AUDITOR_LOGGED_OUT)


def _filters(request: Request, portal: AuditPortal) -> tuple[audit_search.Filters, str | None]:
    try:
        found = audit_search.parse_filters(request.query_params,
                                           portal.ctx.catalogue.purposes)
    except audit_search.FilterError as exc:
        return audit_search.Filters(), FILTER_ERRORS[exc.field]
    return found, None


def _form_values(portal: AuditPortal, f: audit_search.Filters,
                 error: str | None) -> dict[str, Any]:
    return {"f": f, "error": error, "partners": visible_partners(portal.ctx, portal.scope),
            "kinds": audit_search.KINDS, "purposes": portal.ctx.catalogue.purposes}


@router.get("", response_class=HTMLResponse)
def entries_page(request: Request, portal: CurrentAuditPortal) -> Response:
    """Entries in scope, newest filters first applied, oldest entry first, one page at a time."""
    f, error = _filters(request, portal)
    page = None if error else audit_search.search(portal.ctx.audit.log.store, portal.scope, f)
    return _page(request, portal, "audit/entries.html", status=422 if error else 200,
                 page=page, **_form_values(portal, f, error))


@router.get("/export.csv")
def export(request: Request, portal: CurrentAuditPortal) -> Response:
    """Every row the entries page shows for these filters (all pages), as CSV."""
    f, error = _filters(request, portal)
    if error:
        return _page(request, portal, "audit/entries.html", status=422, page=None,
                     **_form_values(portal, f, error))
    f = audit_search.Filters(**{**vars(f), "na": None})
    rows = (row for _, row in audit_search.scan(portal.ctx.audit.log.store, portal.scope, f,
                                                max_scan=None) if row is not None)
    today = local(datetime.now(UTC)).date().isoformat()
    name = f"gbo-audit-{portal.scope.replace(':', '-')}-{today}.csv"
    return StreamingResponse(audit_report.csv_chunks(rows), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store"})


@router.get("/grafieken", response_class=HTMLResponse)
def charts(request: Request, portal: CurrentAuditPortal) -> Response:
    """Accesses per day per partner, denials by reason code, break-glass per day: as tables
    (always) and as charts (with JavaScript), for the same filters as the entries page."""
    f, error = _filters(request, portal)
    data = None
    if not error:
        f = audit_search.Filters(**{**vars(f), "na": None})
        rows = (row for _, row in audit_search.scan(portal.ctx.audit.log.store, portal.scope,
                                                    f, max_scan=None) if row is not None)
        data = audit_report.chart_data(rows, limit=CHART_ROWS)
    return _page(request, portal, "audit/charts.html", status=422 if error else 200,
                 data=data, **_form_values(portal, f, error))


@router.get("/integriteit", response_class=HTMLResponse)
def integrity(request: Request, portal: CurrentAuditPortal) -> Response:
    return _integrity_page(request, portal)


@router.post("/integriteit", response_class=HTMLResponse)
def verify(request: Request, portal: CurrentAuditPortal, form: AuditCheckedForm) -> Response:
    """Verify the whole log now and show how far it got while it runs: the page streams a newer
    progress bar as the check advances, then the result (no JavaScript needed). It all happens
    in this one request, so any worker process can answer it."""
    total = portal.ctx.audit.log.store.size()
    page = _integrity_page(request, portal,
                           verifying=audit_integrity.Progress(done=0, total=total))
    chunks = audit_integrity.stream_page(portal.ctx, bytes(page.body).decode(), total=total)
    response = StreamingResponse(chunks, media_type="text/html; charset=utf-8",
                                 headers={"X-Accel-Buffering": "no"})  # nginx: pass pieces on
    response.raw_headers += [(name, value) for name, value in page.raw_headers
                             if name not in (b"content-length", b"content-type")]
    return response


def _integrity_page(request: Request, portal: AuditPortal, *,
                    verifying: audit_integrity.Progress | None = None) -> Response:
    """``verifying``: the page for ``audit_integrity.stream_page`` (its size is the log's)."""
    log = portal.ctx.audit.log
    size = log.store.size() if verifying is None else verifying.total
    return _page(request, portal, "audit/integrity.html", checkpoint=log.store.latest_checkpoint(),
                 key=log.verifier_key, size=size, verifying=verifying,
                 stream_marker=audit_integrity.STREAM_MARKER)
