"""The portals' OpenID Connect login (DESIGN §2), shared by ``/mijn`` and ``/audit``: start an
attempt (a 303 to the provider, the attempt sealed in the session cookie) and come back with
the code (state checked, code redeemed with the PKCE verifier, ID token verified).

The attempt is single use: whatever the outcome, the callback clears it from the session. A
failure is logged by cause only (never a code, token or claim value) and shown as a Dutch page.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from broker.context import BrokerContext
from broker.errors import OidcError
from broker.portal import session as sessions
from broker.portal.pages import render
from broker.portal.session import Cookie, PortalSession

log = logging.getLogger("gbo.portal")

# Dutch texts (B1) for each way a login can fail; the cause stays in the log.
EXPIRED = "Je inlogpoging is verlopen of niet meer geldig. Probeer opnieuw in te loggen."
CANCELLED = "Je hebt het inloggen afgebroken. Er is niets veranderd."
REFUSED = "De aanmelddienst kon je niet aanmelden. Probeer opnieuw in te loggen."
UNAVAILABLE = ("De aanmelddienst is nu niet bereikbaar. Probeer het later opnieuw, of vraag "
               "hulp aan de balie.")


class LoginFailed(Exception):
    """Shown on the login page with ``status``; ``cause`` goes to the log."""

    def __init__(self, message: str, status: int, cause: str) -> None:
        super().__init__(cause)
        self.message = message
        self.status = status
        self.cause = cause


def start(ctx: BrokerContext, session: PortalSession | None, cookie: Cookie, callback: str,
          now: datetime) -> Response:
    """Send the browser to the provider. Raises ``LoginFailed`` when it cannot be reached."""
    assert ctx.oidc is not None  # noqa: S101 - the routes answer 404 when not configured
    try:
        url, pending = ctx.oidc.begin(callback, now)
    except OidcError as exc:
        log.warning("oidc login not started", extra={"cause": exc.cause})
        raise LoginFailed(UNAVAILABLE, 502, exc.cause) from exc
    base = session or sessions.new_session(now)
    response = Response(status_code=303, headers={"Location": url})
    sessions.store_session(response, replace(base, login=pending), ctx, cookie)
    return response


def complete(request: Request, ctx: BrokerContext, session: PortalSession | None,
             callback: str, now: datetime) -> dict[str, Any]:
    """The verified ID token's claims for the attempt this callback ends. Raises
    ``LoginFailed``."""
    assert ctx.oidc is not None  # noqa: S101 - the routes answer 404 when not configured
    params = request.query_params
    pending = session.login if session is not None else None
    # RFC 6749 §10.12: the state must be the one this browser's attempt sent.
    if pending is None or pending.expired(now) or not hmac.compare_digest(
        params.get("state", "").encode(), pending.state.encode()
    ):
        raise _failed(EXPIRED, 400, "no attempt, expired attempt or state mismatch")
    if "error" in params:  # RFC 6749 §4.1.2.1; the provider's own words are not shown
        cancelled = params["error"] == "access_denied"
        raise _failed(CANCELLED if cancelled else REFUSED, 400, "provider answered an error")
    code = params.get("code", "")
    if not code:
        raise _failed(REFUSED, 400, "no code")
    try:
        return ctx.oidc.finish(callback, code, pending, now)
    except OidcError as exc:
        unavailable = exc.code == "unavailable"
        raise _failed(UNAVAILABLE if unavailable else REFUSED, 502 if unavailable else 400,
                      exc.cause) from exc


def _failed(message: str, status: int, cause: str) -> LoginFailed:
    log.warning("oidc login refused", extra={"cause": cause})
    return LoginFailed(message, status, cause)


def login_page(request: Request, ctx: BrokerContext, session: PortalSession | None,
               template: str, cookie: Cookie, *, error: str | None = None, status: int = 200,
               **values: Any) -> Response:
    """A portal's login page: the provider's button when configured, ``error`` after a failed
    attempt. A failed attempt is spent: the session is stored again without it."""
    fresh = session is None or error is not None
    kept = replace(session, login=None) if session else sessions.new_session(datetime.now(UTC))
    return render(request, ctx, template, status=status, session=kept, new_session=fresh,
                  cookie=cookie, oidc=ctx.oidc is not None, error=error, **values)


def logout(ctx: BrokerContext, session: PortalSession | None, cookie: Cookie,
           logged_out: str) -> Response:
    """End the portal session; after an OIDC login also the provider's (a 303 to its
    ``end_session_endpoint``, which sends the browser back to ``logged_out``), so the next person
    at a shared computer cannot log in as this one with a click."""
    url = None
    if ctx.oidc is not None and session is not None and session.via_oidc:
        url = ctx.oidc.logout_url(logged_out)
    response = Response(status_code=303, headers={"Location": url or logged_out})
    sessions.log_out(ctx, session)  # on the server: a saved copy of the cookie is refused too
    sessions.clear_session(response, ctx, cookie)
    return response
