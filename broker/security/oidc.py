"""OpenID Connect login for the portals (DESIGN §2): the authorization-code flow with PKCE
(RFC 7636, ``S256``) against the configured provider, the broker being the relying party.

This is the I/O edge: discovery, the authorization URL, the token request (Authlib) and the
provider's keys (pyjwt's ``PyJWKClient``). The ID-token checks themselves are pure and live in
``broker.security.auth.verify_id_token``. Nothing here logs or returns a token or a claim value.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from jwt import PyJWK, PyJWKClient
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWTError

from broker.errors import AuthenticationError, ConfigurationError, OidcError
from broker.security.auth import verify_id_token
from broker.settings import Settings

DISCOVERY_PATH = "/.well-known/openid-configuration"
METADATA_TTL = 3600.0  # seconds a discovery document is reused
LOGIN_WINDOW = 600  # seconds between starting a login and coming back with the code
CLIENT_CALLBACK = "/mijn/login/callback"
AUDITOR_CALLBACK = "/audit/login/callback"
CLIENT_LOGGED_OUT = "/mijn/login"  # where the provider sends the browser back after logout
AUDITOR_LOGGED_OUT = "/audit/login"


@dataclass(frozen=True)
class PendingLogin:
    """One login attempt, kept in the sealed session cookie until the provider sends the
    browser back: ``state`` (CSRF of the redirect, RFC 6749 §10.12), ``nonce`` (binds the ID
    token, OIDC Core §3.1.2.1) and the PKCE ``verifier`` (RFC 7636 §4.1)."""

    state: str
    nonce: str
    verifier: str
    started: int  # Unix seconds

    def expired(self, now: datetime) -> bool:
        return now.timestamp() - self.started > LOGIN_WINDOW


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(name: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return  # a provider or broker on this machine (development, tests)
    raise ConfigurationError(f"{name} must be an https:// URL (http:// only on loopback)")


def check_settings(settings: Settings) -> None:
    """Refuse a half-configured login: every OIDC setting, and ``GBO_PUBLIC_URL`` for the
    redirect URIs, must be given together, over https outside loopback."""
    if not settings.oidc_configured:
        return
    missing = [env for env, value in (
        ("GBO_OIDC_ISSUER", settings.oidc_issuer),
        ("GBO_OIDC_CLIENT_ID", settings.oidc_client_id),
        ("GBO_OIDC_CLIENT_SECRET", settings.oidc_client_secret),
        ("GBO_PUBLIC_URL", settings.public_url),
    ) if not value]
    if missing:
        raise ConfigurationError(f"OpenID Connect login needs {', '.join(missing)} as well")
    assert settings.oidc_issuer and settings.public_url  # noqa: S101 - checked just above
    _check_url("GBO_OIDC_ISSUER", settings.oidc_issuer)
    _check_url("GBO_PUBLIC_URL", settings.public_url)
    if "openid" not in settings.oidc_scopes.split():
        raise ConfigurationError("GBO_OIDC_SCOPES must include openid")


class OidcClient:
    """The relying party. Thread-safe: discovery and keys are cached behind a lock."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, scopes: str,
                 public_url: str, timeout: float) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = scopes
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._fetched = 0.0
        self._keys: PyJWKClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcClient | None:
        check_settings(settings)
        if not settings.oidc_configured:
            return None
        assert settings.oidc_issuer and settings.oidc_client_id  # noqa: S101 - checked
        assert settings.oidc_client_secret and settings.public_url  # noqa: S101 - checked
        return cls(issuer=settings.oidc_issuer, client_id=settings.oidc_client_id,
                   client_secret=settings.oidc_client_secret.get_secret_value(),
                   scopes=settings.oidc_scopes, public_url=settings.public_url,
                   timeout=settings.oidc_timeout)

    def redirect_uri(self, callback: str) -> str:
        return self.public_url + callback

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (OIDC Discovery §4), fetched once an hour. Its
        ``issuer`` must be exactly the configured one (§4.3)."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._fetched < METADATA_TTL:
                return self._metadata
            url = self.issuer.rstrip("/") + DISCOVERY_PATH
            try:
                response = requests.get(url, timeout=self.timeout)
                response.raise_for_status()
                found = response.json()
            except (requests.RequestException, ValueError) as exc:
                raise OidcError("unavailable", f"discovery: {type(exc).__name__}") from exc
            needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
            if not isinstance(found, dict) or not all(
                isinstance(found.get(k), str) for k in needed
            ):
                raise OidcError("unavailable", "discovery document incomplete")
            if found["issuer"] != self.issuer:
                raise OidcError("unavailable", "discovery names another issuer")
            self._metadata, self._fetched = found, time.monotonic()
            self._keys = PyJWKClient(found["jwks_uri"], cache_keys=True, lifespan=300,
                                     timeout=int(max(1, self.timeout)))
            return found

    @property
    def origin(self) -> str:
        """The provider's origin (scheme://host[:port]): the portals' CSP lets a logout form
        lead there (``form-action``), and only there."""
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}"

    def logout_url(self, logged_out: str) -> str | None:
        """Where to end the provider's session too (OIDC RP-Initiated Logout 1.0): its
        ``end_session_endpoint`` with our ``client_id`` and ``post_logout_redirect_uri``. No
        ``id_token_hint``: the ID token holds the INSZ, which never goes into a URL (DESIGN §3).
        None when the provider has no such endpoint on its own origin, or cannot be reached:
        the broker's session is ended all the same."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except OidcError:
            return None
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            return None
        parts = urlsplit(endpoint)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            return None  # the CSP's form-action names the issuer's origin only
        query = urlencode({"client_id": self.client_id,
                           "post_logout_redirect_uri": self.redirect_uri(logged_out)})
        return f"{endpoint}{'&' if parts.query else '?'}{query}"

    def _session(self, redirect_uri: str) -> OAuth2Session:
        return OAuth2Session(self.client_id, self._secret, scope=self.scopes,
                             redirect_uri=redirect_uri, code_challenge_method="S256",
                             token_endpoint_auth_method="client_secret_basic")  # noqa: S106

    def begin(self, callback: str, now: datetime) -> tuple[str, PendingLogin]:
        """The provider's authorization URL for a new attempt, and what to keep until the
        browser comes back (in the sealed session, never in a URL of ours)."""
        meta = self.metadata()
        pending = PendingLogin(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                               verifier=secrets.token_urlsafe(64), started=int(now.timestamp()))
        with self._session(self.redirect_uri(callback)) as oauth:
            url, _ = oauth.create_authorization_url(
                meta["authorization_endpoint"], state=pending.state, nonce=pending.nonce,
                code_verifier=pending.verifier,
            )
        return url, pending

    def finish(self, callback: str, code: str, pending: PendingLogin,
               now: datetime) -> dict[str, Any]:
        """Redeem ``code`` with the PKCE verifier and return the verified ID token's claims."""
        meta = self.metadata()
        with self._session(self.redirect_uri(callback)) as oauth:
            try:
                token = oauth.fetch_token(meta["token_endpoint"], code=code,
                                          code_verifier=pending.verifier,
                                          timeout=self.timeout)
            except OAuthError as exc:
                raise OidcError("rejected", f"token endpoint: {exc.error}") from exc
            except (requests.RequestException, ValueError) as exc:
                raise OidcError("unavailable", f"token endpoint: {type(exc).__name__}") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("rejected", "no ID token in the token response")
        try:
            claims = verify_id_token(id_token, self._signing_key(id_token), issuer=self.issuer,
                                     client_id=self.client_id, nonce=pending.nonce, now=now)
        except AuthenticationError as exc:
            raise OidcError("rejected", f"ID token: {exc}") from exc
        return claims

    def _signing_key(self, id_token: str) -> PyJWK:
        keys = self._keys
        if keys is None:  # metadata() sets it before any token is asked for
            raise OidcError("unavailable", "no key set")
        try:
            return keys.get_signing_key_from_jwt(id_token)
        except PyJWKClientConnectionError as exc:
            raise OidcError("unavailable", "key set unreachable") from exc
        except (PyJWKClientError, PyJWTError, ValueError) as exc:
            raise OidcError("rejected", f"ID token key: {type(exc).__name__}") from exc
