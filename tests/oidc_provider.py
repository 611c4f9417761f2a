"""A small OpenID Connect provider for the tests, served over HTTP on loopback in a thread.

It is strict where the broker's login depends on it: the client must authenticate with
``client_secret_basic``; the redirect URI must be registered and repeated at the token request;
PKCE is required (``S256`` only, RFC 7636 §4.6: the verifier must hash to the challenge); codes
are single use and expire; the ID token carries the nonce and is signed with Ed25519.

Tests steer the next ID token (``next_claims``, ``sign_with``) to check that the broker refuses
what it must refuse. The authorization page lists the provider's users as buttons, so a real
browser can log in too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jwt.algorithms import OKPAlgorithm

CLIENT_ID = "gbo-broker-portals"
CLIENT_SECRET = "test-secret-" + "x" * 20
CODE_LIFETIME = 60


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (first value of each name)."""
    body = (await request.body()).decode()
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


@dataclass(frozen=True)
class User:
    sub: str
    name: str
    claims: dict[str, Any]


@dataclass
class _Grant:
    user: User
    redirect_uri: str
    challenge: str
    nonce: str | None
    expires: float


@dataclass
class Provider:
    """The running provider. ``issuer`` is its base URL."""

    users: list[User]
    redirect_uris: set[str]
    issuer: str = ""
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    kid: str = "idp-1"
    next_claims: dict[str, Any] = field(default_factory=dict)  # merged into the next ID token
    sign_with: Ed25519PrivateKey | None = None  # sign the next ID token with another key
    token_requests: list[dict[str, str]] = field(default_factory=list)
    post_logout_uris: set[str] = field(default_factory=set)
    logouts: list[dict[str, str]] = field(default_factory=list)  # end-session requests received
    end_session: bool = True  # advertise an end_session_endpoint
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def jwks(self) -> dict[str, Any]:
        jwk = OKPAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": grant.user.sub, "aud": CLIENT_ID,
                                  "iat": now, "exp": now + 300, "name": grant.user.name,
                                  **grant.user.claims}
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.next_claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.sign_with or self.key
        self.next_claims, self.sign_with = {}, None
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": self.kid})

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            logout = {"end_session_endpoint": f"{self.issuer}/logout"} if self.end_session else {}
            return {**logout, "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["EdDSA"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"]}

        @app.get("/logout")
        def logout(request: Request) -> Response:
            """RP-Initiated Logout 1.0: back to a registered post-logout URI."""
            params = dict(request.query_params)
            self.logouts.append(params)
            back = params.get("post_logout_redirect_uri")
            if params.get("client_id") != CLIENT_ID or back not in self.post_logout_uris:
                return HTMLResponse("<p>You are logged out.</p>")
            return RedirectResponse(back, 302)

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return self.jwks()

        def invalid(params: Any) -> str | None:
            if params.get("response_type") != "code":
                return "response_type must be code"
            if params.get("client_id") != CLIENT_ID:
                return "unknown client"
            if params.get("redirect_uri") not in self.redirect_uris:
                return "redirect_uri not registered"
            if "openid" not in params.get("scope", "").split():
                return "scope must include openid"
            if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                return "PKCE with S256 is required"
            return None

        @app.get("/authorize", response_class=HTMLResponse)
        def authorize_page(request: Request) -> Response:
            params = request.query_params
            problem = invalid(params)
            if problem:
                return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
            hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" '
                             f'value="{html.escape(v)}">' for k, v in params.items())
            buttons = "".join(f'<button name="user" value="{i}">{html.escape(u.name)}</button>'
                              for i, u in enumerate(self.users))
            return HTMLResponse(
                '<!doctype html><html lang="en"><title>Test provider</title><main>'
                f'<form method="post" action="/authorize">{hidden}{buttons}'
                '<button name="user" value="deny">Cancel</button></form></main></html>')

        @app.post("/authorize")
        async def authorize(request: Request) -> Response:
            params = await form_of(request)
            problem = invalid(params)
            if problem:
                return HTMLResponse(f"<p>{html.escape(problem)}</p>", status_code=400)
            back: dict[str, str] = {"state": str(params.get("state", ""))}
            choice = str(params.get("user", ""))
            if choice == "deny":
                back["error"] = "access_denied"
            else:
                code = secrets.token_urlsafe(24)
                with self._lock:
                    self._codes[code] = _Grant(
                        user=self.users[int(choice)], redirect_uri=str(params["redirect_uri"]),
                        challenge=str(params["code_challenge"]),
                        nonce=str(params["nonce"]) if "nonce" in params else None,
                        expires=time.time() + CODE_LIFETIME)
                back["code"] = code
            return RedirectResponse(f"{params['redirect_uri']}?{urlencode(back)}", 302)

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = await form_of(request)
            self.token_requests.append({k: v for k, v in form.items() if k != "code"})
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if not hmac.compare_digest(request.headers.get("authorization", ""),
                                       f"Basic {expected}"):
                return JSONResponse({"error": "invalid_client"}, 401)
            if form.get("grant_type") != "authorization_code":
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            with self._lock:
                grant = self._codes.pop(form.get("code", ""), None)  # single use
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if (grant is None or grant.expires < time.time()
                    or form.get("redirect_uri") != grant.redirect_uri
                    or not 43 <= len(verifier) <= 128
                    or not hmac.compare_digest(challenge, grant.challenge)):
                return JSONResponse({"error": "invalid_grant"}, 400)
            return JSONResponse({"access_token": secrets.token_urlsafe(24),
                                 "token_type": "Bearer", "expires_in": 300,
                                 "id_token": self.id_token(grant)},
                                headers={"Cache-Control": "no-store"})

        return app


@contextmanager
def running_provider(users: list[User], redirect_uris: set[str],
                     post_logout_uris: set[str] | None = None,
                     host: str = "127.0.0.1") -> Iterator[Provider]:
    """Serve a provider on a free loopback port for the duration of the block. ``host`` names
    it in its issuer URL: ``localhost`` makes it another *site* than a broker on 127.0.0.1
    (a port alone only makes another origin), as a real provider is."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    provider = Provider(users=users, redirect_uris=redirect_uris,
                        post_logout_uris=post_logout_uris or set(),
                        issuer=f"http://{host}:{sock.getsockname()[1]}")
    server = uvicorn.Server(uvicorn.Config(provider.app(), log_level="warning", lifespan="off",
                                           ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready = threading.Event()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        ready.wait(0.01)  # readiness poll (bounded), not a timing assumption
    assert server.started, "the test OIDC provider did not start"
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
