"""The portal session (DESIGN §2): a cookie sealed with AES-256-GCM under the data dir's session
key, so the client's identity travels neither readable nor forgeable. During an OpenID Connect
login it also carries the attempt's state, nonce and PKCE verifier (``broker.security.oidc``).
The INSZ lives only inside the sealed cookie: never in a URL or a page (DESIGN §3).

Cookie flags (DESIGN §2): ``HttpOnly``, ``SameSite=Lax``, ``Secure`` outside demo mode, path
``/mijn`` (clients) or ``/audit`` (auditors: their own cookie, sealed with its own associated data,
so one portal's cookie is no session in the other). Sessions end after ``LIFETIME`` seconds;
logging out clears the cookie.

A logged-in session also holds on the server (``broker.store.portal_sessions``): the cookie
carries a random session id, and a session is honoured only while its id is recorded and not
expired there. Logging out deletes it, so a saved copy of the cookie is refused at once, by every
worker. A new login in a browser ends the session that browser held. A login of the same person
elsewhere does not end their other sessions (a client on a phone and a laptop, several auditors
holding one scope in demo mode); each person keeps at most ``MAX_PER_SUBJECT`` sessions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import Request
from starlette.responses import Response

from broker.context import BrokerContext
from broker.security.auth import AUDITOR_RIGHTS
from broker.security.oidc import PendingLogin
from broker.store import portal_sessions

LIFETIME = 3600  # one hour, like an identity provider's session token (broker.security.auth)
_MAX_COOKIE = 4096


@dataclass(frozen=True)
class Cookie:
    """Where one portal keeps its session: cookie name, path, the AES-GCM associated data, and
    the portal's name in the session table."""

    name: str
    path: str
    aad: bytes
    portal: str


CLIENT = Cookie("gbo_portal", "/mijn", b"gbo-broker/portal-session/v1", "client")
AUDITOR = Cookie("gbo_audit", "/audit", b"gbo-broker/audit-portal-session/v1", "auditor")


@dataclass(frozen=True)
class PortalSession:
    """``insz`` (client) or ``scope`` (auditor) is None before login (the session then only
    carries the CSRF token)."""

    csrf: str
    expires: int
    insz: str | None = field(default=None, repr=False)
    name: str | None = None
    scope: str | None = None  # auditor scope: partner:<id> | network:<id> | supervisor
    login: PendingLogin | None = field(default=None, repr=False)  # an OIDC login under way
    via_oidc: bool = False  # logged in at the OIDC provider: logging out ends that session too
    acting: str | None = None  # DESIGN §9: the mandate under which the consent pages act
    sid: str | None = field(default=None, repr=False)  # the server-side session (logged in)
    rights: tuple[str, ...] = ()  # auditor rights besides the scope (DESIGN §11: signals)

    def coordinates(self, network: str) -> bool:
        """The coordinator of ``network``: its scope with the ``signals`` right."""
        return self.scope == f"network:{network}" and "signals" in self.rights

    @property
    def logged_in(self) -> bool:
        return self.insz is not None

    @property
    def authenticated(self) -> bool:
        """A client or an auditor is logged in: the session must hold on the server too."""
        return self.insz is not None or self.scope is not None

    @property
    def is_auditor(self) -> bool:
        return self.scope is not None


def display_name(claims: dict[str, object]) -> str | None:
    """The name to greet the user by, from an ID token's ``name`` claim (at most 100 chars)."""
    name = claims.get("name")
    if not isinstance(name, str):
        return None
    return name.strip()[:100] or None


def new_session(now: datetime, *, insz: str | None = None, name: str | None = None,
                scope: str | None = None, via_oidc: bool = False,
                rights: tuple[str, ...] = ()) -> PortalSession:
    """A fresh session with a fresh CSRF token (rotated at login against session fixation)."""
    return PortalSession(csrf=secrets.token_urlsafe(32), expires=int(now.timestamp()) + LIFETIME,
                         insz=insz, name=name, scope=scope, via_oidc=via_oidc,
                         rights=rights)


def seal(session: PortalSession, key: bytes, cookie: Cookie = CLIENT) -> str:
    login = session.login
    payload = json.dumps({"c": session.csrf, "e": session.expires, "i": session.insz,
                          "n": session.name, "s": session.scope,
                          "l": None if login is None else [login.state, login.nonce,
                                                           login.verifier, login.started],
                          "o": session.via_oidc, "a": session.acting, "d": session.sid,
                          "r": list(session.rights)},
                         separators=(",", ":")).encode()
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, payload, cookie.aad)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(value: str, key: bytes, now: datetime,
           cookie: Cookie = CLIENT) -> PortalSession | None:
    """The session in ``value``, or None when it is forged, damaged or expired."""
    if len(value) > _MAX_COOKIE:
        return None
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
        data = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], cookie.aad))
        scope, login = data.get("s"), data.get("l")
        session = PortalSession(
            csrf=str(data["c"]), expires=int(data["e"]), insz=data["i"], name=data["n"],
            scope=None if scope is None else str(scope),
            login=None if login is None else PendingLogin(
                state=str(login[0]), nonce=str(login[1]), verifier=str(login[2]),
                started=int(login[3])),
            via_oidc=data.get("o") is True,
            acting=data["a"] if isinstance(data.get("a"), str) else None,
            sid=data["d"] if isinstance(data.get("d"), str) else None,
            rights=tuple(sorted(r for r in data.get("r") or () if r in AUDITOR_RIGHTS)),
        )
    except (binascii.Error, ValueError, InvalidTag, KeyError, IndexError, TypeError,
            UnicodeEncodeError, AttributeError):
        return None
    if session.expires <= int(now.timestamp()):
        return None
    return session


def read_session(request: Request, ctx: BrokerContext, now: datetime,
                 cookie: Cookie = CLIENT) -> PortalSession | None:
    """The request's session, or None. A logged-in session counts only while it holds on the
    server (not logged out, not expired, not replaced by a later login in this browser); one
    without a session id (sealed before sessions were kept on the server) never does."""
    value = request.cookies.get(cookie.name)
    session = None if value is None else unseal(value, ctx.session_key.key, now, cookie)
    if session is None or not session.authenticated:
        return session
    if session.sid is None or not portal_sessions.is_live(engine=ctx.engine, portal=cookie.portal,
                                                          sid=session.sid, now=now):
        return None
    return session


def subject_ref(key: bytes, cookie: Cookie, subject: str) -> str:
    """Who logged in, as the session table keeps it: HMAC-SHA-256 under a key derived from the
    session key (HKDF, RFC 5869), so the table holds no INSZ and cannot be joined to other
    pseudonyms."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"gbo-broker/portal-session-subject/v1").derive(key)
    return hmac.new(derived, f"{cookie.portal}:{subject}".encode(), hashlib.sha256).hexdigest()


def log_in(ctx: BrokerContext, now: datetime, *, previous: PortalSession | None, cookie: Cookie,
           subject: str, insz: str | None = None, name: str | None = None,
           scope: str | None = None, via_oidc: bool = False,
           rights: tuple[str, ...] = ()) -> PortalSession:
    """A fresh logged-in session for ``subject`` (the INSZ of a client; an auditor's OIDC
    ``sub``, or the scope of a demo login), recorded on the server. The session this browser
    held before (``previous``) ends: a saved copy of the earlier cookie is no session."""
    fresh = new_session(now, insz=insz, name=name, scope=scope, via_oidc=via_oidc,
                        rights=rights)
    sid = portal_sessions.open_session(
        engine=ctx.engine, portal=cookie.portal,
        subject=subject_ref(ctx.session_key.key, cookie, subject), now=now,
        lifetime=timedelta(seconds=LIFETIME),
        replaces=previous.sid if previous is not None else None,
    )
    return replace(fresh, sid=sid)


def log_out(ctx: BrokerContext, session: PortalSession | None) -> None:
    """End ``session`` on the server: from now on no copy of its cookie is a session."""
    if session is not None and session.sid is not None:
        portal_sessions.close_session(engine=ctx.engine, sid=session.sid)


def store_session(response: Response, session: PortalSession, ctx: BrokerContext,
                  cookie: Cookie = CLIENT) -> None:
    response.set_cookie(
        cookie.name, seal(session, ctx.session_key.key, cookie), max_age=LIFETIME,
        path=cookie.path, httponly=True, samesite="lax", secure=not ctx.settings.demo,
    )


def clear_session(response: Response, ctx: BrokerContext, cookie: Cookie = CLIENT) -> None:
    response.delete_cookie(cookie.name, path=cookie.path, httponly=True, samesite="lax",
                           secure=not ctx.settings.demo)
