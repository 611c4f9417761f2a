"""A partner's public keys (DESIGN §3, §6): a JWK Set, from the registry or from its ``jwks_uri``.

A partner that publishes its keys at a ``jwks_uri`` rolls them over by itself: it publishes the
new key beside the old one, starts signing with the new one, then drops the old one. The broker
keeps what it fetched for ``cache_seconds``; a token whose ``kid`` is not among them makes it
fetch again at once (the partner may have just added it), but not more often than once every
``refresh_seconds`` per partner, so a stream of tokens with made-up kids cannot turn the broker
into a load on the partner's server. A failed fetch keeps the keys fetched before. Fetches are
bounded: ``https`` (``http`` on loopback only), no redirects, a timeout, at most
``MAX_JWKS_BYTES`` and ``MAX_KEYS`` keys.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from broker.errors import ConfigurationError

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 16
_log = logging.getLogger("gbo.keys")


def parse_jwks(partner: str, jwks: object) -> dict[str, PyJWK]:
    """The keys of an RFC 7517 JWK Set, by ``kid``. Raises ``ConfigurationError`` for a private
    key, a key without ``kid``, an unusable key, no keys or more than ``MAX_KEYS``."""
    raw_keys = jwks.get("keys", []) if isinstance(jwks, dict) else []
    if not isinstance(raw_keys, list) or len(raw_keys) > MAX_KEYS:
        raise ConfigurationError(f"partner {partner!r}: keys must be a list of at most "
                                 f"{MAX_KEYS}")
    keys: dict[str, PyJWK] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict):
            raise ConfigurationError(f"partner {partner!r}: a key is not a JSON object")
        if "d" in raw:
            raise ConfigurationError(f"partner {partner!r}: the registry holds a PRIVATE key")
        kid = raw.get("kid")
        if not kid or not isinstance(kid, str):
            raise ConfigurationError(f"partner {partner!r}: every key needs a kid")
        try:
            keys[kid] = PyJWK(raw)
        except PyJWTError as exc:  # PyJWKError, InvalidKeyError (an unknown kty)
            raise ConfigurationError(f"partner {partner!r}: key {kid!r} is unusable") from exc
    if not keys:
        raise ConfigurationError(f"partner {partner!r} has no keys")
    return keys


def check_jwks_uri(uri: str) -> str:
    """``uri`` if the broker may fetch keys from it: ``https``, or ``http`` to a loopback
    address (a test, a sidecar). Raises ``ValueError``."""
    parts = urlsplit(uri)
    if parts.scheme == "https" and parts.hostname:
        return uri
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return uri
    raise ValueError("jwks_uri must be an https URL (http only to a loopback address)")


def fetch_jwks(uri: str, *, timeout: float) -> object:
    """GET the JWK Set at ``uri``: no redirects, at most ``MAX_JWKS_BYTES``. Raises
    ``ConfigurationError`` on any failure."""
    try:
        with requests.get(uri, timeout=timeout, allow_redirects=False, stream=True,
                          headers={"Accept": "application/jwk-set+json, application/json"}
                          ) as response:
            if response.status_code != 200:
                raise ConfigurationError(f"jwks_uri answered {response.status_code}")
            body = b""
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ConfigurationError("jwks_uri answered more than the bound")
    except requests.RequestException as exc:
        raise ConfigurationError(f"jwks_uri unreachable: {type(exc).__name__}") from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise ConfigurationError("jwks_uri answered no JSON") from exc


class RemoteJwks:
    """One partner's keys fetched from its ``jwks_uri``, cached (see module doc)."""

    def __init__(self, partner: str, uri: str, *, cache_seconds: float,
                 refresh_seconds: float, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str], object] | None = None) -> None:
        self.partner, self.uri = partner, uri
        self._cache_seconds, self._refresh_seconds = cache_seconds, refresh_seconds
        self._clock = clock
        self._fetch = fetch or (lambda u: fetch_jwks(u, timeout=timeout))
        self._lock = threading.Lock()
        self._keys: Mapping[str, PyJWK] = {}
        self._fetched_at: float | None = None  # the last good fetch
        self._tried_at: float | None = None  # the last attempt

    def key(self, kid: str) -> PyJWK | None:
        """The key ``kid``, fetching the set first when the cache is stale, or when ``kid`` is
        unknown and the last attempt is ``refresh_seconds`` old. None when no fetched key has
        that ``kid``."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._cache_seconds:
                self._try_fetch(now)
            found = self._keys.get(kid)
            if found is None and (self._tried_at is None
                                  or now - self._tried_at >= self._refresh_seconds):
                self._try_fetch(now)  # an unknown kid: a rollover may have just begun
                found = self._keys.get(kid)
            return found

    def _try_fetch(self, now: float) -> None:
        if self._tried_at is not None and now - self._tried_at < min(
                self._refresh_seconds, self._cache_seconds):
            return  # rate limit: one attempt per window, whatever asked for it
        self._tried_at = now
        try:
            keys = parse_jwks(self.partner, self._fetch(self.uri))
        except ConfigurationError as exc:
            _log.warning("a partner's keys could not be fetched; the keys fetched before stay",
                         extra={"partner": self.partner, "error": exc.detail})
            return
        self._keys, self._fetched_at = keys, now


class JwksFetcher:
    """Makes the :class:`RemoteJwks` of each partner with a ``jwks_uri``, with one setting."""

    def __init__(self, *, cache_seconds: float = 300.0, refresh_seconds: float = 30.0,
                 timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.cache_seconds, self.refresh_seconds = cache_seconds, refresh_seconds
        self.timeout, self.clock = timeout, clock

    def remote(self, partner: str, uri: str) -> RemoteJwks:
        return RemoteJwks(partner, uri, cache_seconds=self.cache_seconds,
                          refresh_seconds=self.refresh_seconds, timeout=self.timeout,
                          clock=self.clock)
