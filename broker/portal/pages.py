"""Rendering and request plumbing shared by the portal's routes (DESIGN §2): the Jinja2
environment, the logged-in client, form parsing with CSRF, and the HTML error pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from broker import problems
from broker.context import BrokerContext
from broker.deps import ContextDep, SessionDep
from broker.errors import MandateNotFound, RateLimited
from broker.portal import is_portal_path, texts
from broker.portal.acting import Acting, acting_of
from broker.portal.csrf import CsrfFailed, check_csrf
from broker.portal.session import CLIENT, Cookie, PortalSession, read_session, store_session
from broker.security.auth import ClientPrincipal
from broker.services.client_scope import ClientScope, own_scope, scope_for

TEMPLATES = Path(__file__).parent / "templates"
LOGIN_URL = "/mijn/login"
AUDIT_PREFIX = "/audit"
FormData = dict[str, list[str]]

env = Environment(  # noqa: S701 - autoescape is on for every .html template
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["datum"] = texts.date_nl
env.filters["tijdstip"] = texts.datetime_nl


class LoginRequired(Exception):
    """No valid logged-in session: the page redirects to the (client or auditor) login page."""

    def __init__(self, login_url: str = LOGIN_URL) -> None:
        super().__init__(login_url)
        self.login_url = login_url


class PortalNotFound(Exception):
    """Unknown, or another client's: one 404 page for both (DESIGN §2)."""


class NotUnderMandate(Exception):
    """DESIGN §9: a mandate reaches consents, never the dossier, the access log or the relations.
    A page of those, asked for while acting for someone, says so (a 403 page)."""


@dataclass(frozen=True)
class Portal:
    """One logged-in request: the broker, the session, the person it authenticates, and whose
    consents the consent pages manage (their own, or a client's under a mandate, DESIGN §9).
    ``acting``: the mandate the consent pages act under; ``lapsed``: the session names a mandate
    that no longer holds (the pages then manage the person's own consents, and say so)."""

    ctx: BrokerContext
    session: PortalSession
    principal: ClientPrincipal
    scope: ClientScope
    acting: Acting | None = None
    lapsed: bool = False


def render(request: Request, ctx: BrokerContext, name: str, *, status: int = 200,
           session: PortalSession | None = None, new_session: bool = False,
           cookie: Cookie = CLIENT, **values: Any) -> HTMLResponse:
    """Render ``name``; ``new_session`` also sets the session cookie (login, first visit)."""
    # Every client page says under which mandate it acts (DESIGN §9): ``current_portal`` left
    # the request's portal here, error pages included.
    portal = getattr(request.state, "portal", None)
    html = env.get_template(name).render(
        request=request, session=session, demo=ctx.settings.demo, t=texts,
        catalogue=ctx.catalogue, registry=ctx.registry,
        acting=portal.acting if isinstance(portal, Portal) else None,
        lapsed=portal.lapsed if isinstance(portal, Portal) else False, **values,
    )
    response = HTMLResponse(html, status_code=status)
    # Personal data: never cached by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    if new_session and session is not None:
        store_session(response, session, ctx, cookie)
    return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def portal_session(request: Request, ctx: ContextDep) -> PortalSession | None:
    return read_session(request, ctx, datetime.now(UTC))


SessionOrNone = Annotated[PortalSession | None, Depends(portal_session)]


def current_portal(request: Request, ctx: ContextDep, session: SessionOrNone,
                   db: SessionDep) -> Portal:
    """Raises ``LoginRequired`` without a logged-in session. A session acting under a mandate
    that is no longer valid falls back to the person's own consents (``lapsed``)."""
    if session is None or session.insz is None:
        raise LoginRequired()
    if session.sid is not None:  # always set: read_session refuses a logged-in one without
        ctx.rate_limiter.check_session("client", session.sid, datetime.now(UTC))
    lapsed = False
    try:
        scope = scope_for(ctx, db, insz=session.insz, mandate_id=session.acting,
                          now=datetime.now(UTC))
    except MandateNotFound:
        scope, lapsed = own_scope(ctx, session.insz), True
    portal = Portal(ctx=ctx, session=session, principal=ClientPrincipal(insz=session.insz),
                    scope=scope, acting=acting_of(ctx, db, scope), lapsed=lapsed)
    request.state.portal = portal
    return portal


def own_portal(portal: Annotated[Portal, Depends(current_portal)]) -> Portal:
    """The portal of a page that shows the person's own data (dossier, access log, relations):
    raises ``NotUnderMandate`` while they act for someone else (DESIGN §9)."""
    if portal.acting is not None:
        raise NotUnderMandate()
    return portal


async def form_data(request: Request) -> FormData:
    """The urlencoded form (repeated names kept, e.g. checkboxes). The body size is capped by
    ``BrokerMiddleware`` (DESIGN §5: 1 MiB)."""
    body = await request.body()
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        return {}


def checked_form(session: SessionOrNone, form: Annotated[FormData, Depends(form_data)]) -> FormData:
    """The form, after its CSRF token matched (raises ``CsrfFailed``: a 403 page)."""
    check_csrf(session, form)
    return form


CurrentPortal = Annotated[Portal, Depends(current_portal)]
OwnPortal = Annotated[Portal, Depends(own_portal)]
CheckedForm = Annotated[FormData, Depends(checked_form)]


def first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


# The error pages' (title, message) by HTTP status; 0 for any other status.
HTTP_PAGES = {
    404: ("Niet gevonden", "Deze pagina bestaat niet, of je hebt er geen toegang toe."),
    405: ("Dat kan hier niet", "Deze pagina kan je niet op die manier gebruiken. Ga terug naar "
                               "het overzicht en probeer het van daar."),
    429: ("Even geduld", "Je vroeg heel veel pagina's op korte tijd. Wacht een minuutje en "
                         "probeer het dan opnieuw. Er is niets veranderd."),
    0: ("Er ging iets mis", "We konden je vraag niet behandelen. Ga terug naar het overzicht en "
                            "probeer het nog eens."),
}


def install_error_pages(app: FastAPI) -> None:
    """HTML answers for the portal's own failures (the v1 API keeps problem+json)."""

    async def login_required(request: Request, exc: Exception) -> Response:
        return see_other(exc.login_url if isinstance(exc, LoginRequired) else LOGIN_URL)

    def error_page(request: Request, status: int, title: str, message: str) -> Response:
        ctx: BrokerContext = request.app.state.context
        audit = request.url.path.startswith(AUDIT_PREFIX)
        # A logged-in client's error page keeps the menu and says for whom they act (DESIGN §9).
        portal = getattr(request.state, "portal", None)
        return render(request, ctx, "error.html", status=status, title=title, message=message,
                      layout="audit/base.html" if audit else "base.html",
                      home=AUDIT_PREFIX if audit else "/mijn",
                      session=portal.session if isinstance(portal, Portal) else None)

    async def csrf_failed(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, "Formulier niet aanvaard",
                          "Dit formulier is verlopen of kwam niet van deze website. "
                          "Er is niets veranderd. Ga terug, laad de pagina opnieuw en "
                          "probeer nog eens.")

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_page(request, 404, *HTTP_PAGES[404])

    async def not_under_mandate(request: Request, exc: Exception) -> Response:
        ctx: BrokerContext = request.app.state.context
        portal = getattr(request.state, "portal", None)
        return render(request, ctx, "not_under_mandate.html", status=403,
                      session=portal.session if isinstance(portal, Portal) else None)

    async def http_error(request: Request, exc: Exception) -> Response:
        """An unknown path or a wrong method under /mijn or /audit (a missing static file too)
        is a page; anywhere else the v1 API's problem+json."""
        assert isinstance(exc, StarletteHTTPException)
        if not is_portal_path(request.url.path):
            return await problems.http_error(request, exc)
        title, message = HTTP_PAGES.get(exc.status_code, HTTP_PAGES[0])
        response = error_page(request, exc.status_code, title, message)
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response

    async def rate_limited(request: Request, exc: Exception) -> Response:
        """Over the rate limit (docs/operations.md): a page in the portals, problem+json in the
        v1 API; ``Retry-After`` in both."""
        assert isinstance(exc, RateLimited)
        if not is_portal_path(request.url.path):
            return await problems.broker_error(request, exc)
        response = error_page(request, 429, *HTTP_PAGES[429])
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(RateLimited, rate_limited)
    app.add_exception_handler(CsrfFailed, csrf_failed)
    app.add_exception_handler(PortalNotFound, not_found)
    app.add_exception_handler(NotUnderMandate, not_under_mandate)
    # Takes over from the problem+json handler (broker.problems), which it calls for the API.
    app.add_exception_handler(StarletteHTTPException, http_error)
