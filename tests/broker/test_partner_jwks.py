"""Partner keys from a ``jwks_uri`` (DESIGN §3, §6): fetched from the partner's server (here a
loopback one), cached, fetched again for an unknown ``kid`` at most once per window, and
several keys at once during a rollover."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from broker.app import create_app
from broker.context import load_context
from broker.demo import demo_registry_raw
from broker.errors import AuthenticationError, ConfigurationError
from broker.security.auth import verify_partner_token
from broker.security.jwks import JwksFetcher
from broker.security.keys import new_signing_jwk, public_jwk
from broker.security.registry import Registry, parse_registry
from broker.security.tokens import sign
from broker.settings import Settings
from broker.store.replay import MemoryReplayGuard
from tests.factories import auth, partner_claims


class JwksServer:
    """A partner's web server on loopback publishing a JWK Set the test changes."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] = {"keys": []}
        self.hits = 0
        self.redirect: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                outer.hits += 1
                if outer.redirect is not None:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps(outer.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def publish(self, *private_jwks: dict[str, Any]) -> None:
        self.jwks = {"keys": [public_jwk(k) for k in private_jwks]}


@pytest.fixture
def partner_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _registry(uri: str, fetcher: JwksFetcher, tmp_path: Path) -> Registry:
    raw = demo_registry_raw()
    raw["partners"] = [p for p in raw["partners"] if p["id"] == "ocmw-gent"]
    del raw["partners"][0]["jwks_file"]
    raw["partners"][0]["jwks_uri"] = uri
    return parse_registry(raw, base=tmp_path, data_dir=tmp_path, fetcher=fetcher)


def _verify(token: str, registry: Registry, settings: Settings) -> str:
    return verify_partner_token(token, registry=registry, audience=settings.audience,
                                replay_guard=MemoryReplayGuard(),
                                now=datetime.now(UTC)).partner.id


@pytest.fixture
def plain_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", demo=True)


def test_rollover_accepts_tokens_of_both_keys_and_refuses_an_unknown_kid(
    partner_server: JwksServer, plain_settings: Settings, tmp_path: Path
) -> None:
    old, new, stranger = (new_signing_jwk(k) for k in ("ocmw-2026-1", "ocmw-2026-2", "x-1"))
    partner_server.publish(old, new)
    registry = _registry(partner_server.uri, JwksFetcher(), tmp_path)

    for key in (old, new):
        assert _verify(sign(partner_claims(plain_settings), key), registry,
                       plain_settings) == "ocmw-gent"
    with pytest.raises(AuthenticationError):
        _verify(sign(partner_claims(plain_settings), stranger), registry, plain_settings)


def test_keys_are_cached_and_an_unknown_kid_refetches_once_per_window(
    partner_server: JwksServer, plain_settings: Settings, tmp_path: Path
) -> None:
    old, new = new_signing_jwk("ocmw-2026-1"), new_signing_jwk("ocmw-2026-2")
    partner_server.publish(old)
    clock = Clock()
    registry = _registry(partner_server.uri,
                         JwksFetcher(cache_seconds=300, refresh_seconds=30, clock=clock),
                         tmp_path)
    for _ in range(3):
        _verify(sign(partner_claims(plain_settings), old), registry, plain_settings)
    assert partner_server.hits == 1  # cached

    # The partner starts a rollover: a token of the new key makes the broker fetch again...
    clock.now += 31
    partner_server.publish(old, new)
    assert _verify(sign(partner_claims(plain_settings), new), registry,
                   plain_settings) == "ocmw-gent"
    assert partner_server.hits == 2
    # ...but made-up kids within the window never reach the partner's server.
    for i in range(5):
        with pytest.raises(AuthenticationError):
            _verify(sign(partner_claims(plain_settings), new_signing_jwk(f"made-up-{i}")),
                    registry, plain_settings)
    assert partner_server.hits == 2
    # After the rollover the old key is gone once the cache expires.
    partner_server.publish(new)
    clock.now += 301
    with pytest.raises(AuthenticationError):
        _verify(sign(partner_claims(plain_settings), old), registry, plain_settings)
    assert partner_server.hits == 3


def test_an_unreachable_jwks_uri_refuses_tokens_and_keeps_keys_fetched_before(
    partner_server: JwksServer, plain_settings: Settings, tmp_path: Path
) -> None:
    key = new_signing_jwk("ocmw-2026-1")
    partner_server.publish(key)
    clock = Clock()
    registry = _registry(partner_server.uri,
                         JwksFetcher(cache_seconds=10, refresh_seconds=1, clock=clock),
                         tmp_path)
    _verify(sign(partner_claims(plain_settings), key), registry, plain_settings)
    partner_server.jwks = {"keys": [{"kid": "broken", "kty": "nonsense"}]}
    clock.now += 11
    assert _verify(sign(partner_claims(plain_settings), key), registry,
                   plain_settings) == "ocmw-gent"  # the bad answer did not replace the keys
    down = _registry("http://127.0.0.1:9/jwks.json", JwksFetcher(timeout=1), tmp_path)
    with pytest.raises(AuthenticationError):
        _verify(sign(partner_claims(plain_settings), key), down, plain_settings)


def _too_big(server: JwksServer, key: dict[str, Any]) -> None:
    server.publish(key)
    server.jwks["padding"] = "x" * 70_000


def _redirected(server: JwksServer, key: dict[str, Any]) -> None:
    server.publish(key)
    server.redirect = server.uri + "?elsewhere"


def _too_many(server: JwksServer, key: dict[str, Any]) -> None:
    server.publish(key, *(new_signing_jwk(f"extra-{i}") for i in range(16)))


def _private(server: JwksServer, key: dict[str, Any]) -> None:
    server.jwks = {"keys": [key]}


@pytest.mark.parametrize("answer", [_too_big, _redirected, _too_many, _private],
                         ids=["over-64-kib", "redirect", "over-16-keys", "private-key"])
def test_a_jwks_answer_out_of_bounds_gives_no_key(
    partner_server: JwksServer, plain_settings: Settings, tmp_path: Path, answer: Any
) -> None:
    key = new_signing_jwk("ocmw-2026-1")
    answer(partner_server, key)
    registry = _registry(partner_server.uri, JwksFetcher(), tmp_path)
    with pytest.raises(AuthenticationError):
        _verify(sign(partner_claims(plain_settings), key), registry, plain_settings)
    assert partner_server.hits == 1  # the redirect was not followed


@pytest.mark.parametrize("uri", ["http://partner.example/jwks.json", "file:///etc/passwd",
                                 "ftp://127.0.0.1/jwks"],
                         ids=["http-not-loopback", "file", "ftp"])
def test_registry_refuses_a_jwks_uri_outside_https_or_loopback(uri: str,
                                                                 tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="jwks_uri"):
        _registry(uri, JwksFetcher(), tmp_path)


def test_registry_refuses_two_key_sources(tmp_path: Path) -> None:
    raw = demo_registry_raw()
    raw["partners"][0]["jwks_uri"] = "https://partner.example/jwks.json"
    with pytest.raises(ConfigurationError, match="exactly one of jwks, jwks_file or jwks_uri"):
        parse_registry(raw, base=tmp_path, data_dir=tmp_path)


def test_a_running_broker_accepts_a_partner_token_by_jwks_uri(
    partner_server: JwksServer, settings: Settings, engine: Any, tmp_path: Path
) -> None:
    old, new = new_signing_jwk("ocmw-2026-1"), new_signing_jwk("ocmw-2026-2")
    partner_server.publish(old, new)
    raw = demo_registry_raw()
    for partner in raw["partners"]:
        partner["jwks_file"] = partner["jwks_file"].replace("{data_dir}",
                                                            str(settings.data_dir))
        if partner["id"] == "ocmw-gent":
            del partner["jwks_file"]
            partner["jwks_uri"] = partner_server.uri
    registry_file = tmp_path / "registry.yaml"
    registry_file.write_text(yaml.safe_dump(raw))
    context = load_context(settings.model_copy(update={"registry_file": registry_file}),
                           engine=engine)
    try:
        with TestClient(create_app(context=context), raise_server_exceptions=False) as api:
            for key in (old, new):
                response = api.get("/v1/notifications",
                                   headers=auth(sign(partner_claims(settings), key)))
                assert response.status_code == 200, response.text
            response = api.get("/v1/notifications", headers=auth(
                sign(partner_claims(settings), new_signing_jwk("ocmw-2027-1"))))
            assert response.status_code == 401
    finally:
        context.close()
