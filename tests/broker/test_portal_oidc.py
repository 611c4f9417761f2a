"""OpenID Connect login for both portals (DESIGN §2): the authorization-code flow with PKCE against
a real provider on loopback (``tests.oidc_provider``), the broker in-process. Runs on SQLite and
PostgreSQL. The provider enforces PKCE, the registered redirect URI and single-use codes; the
tests check that the broker refuses every ID token or callback it must refuse."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.errors import ConfigurationError
from broker.security.oidc import LOGIN_WINDOW, check_settings
from broker.settings import Settings
from tests.backends import on_backends
from tests.factories import VALID_INSZ, production_settings
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, User, running_provider

BROKER = "https://broker.test"
CALLBACKS = {f"{BROKER}/mijn/login/callback", f"{BROKER}/audit/login/callback"}
LOGGED_OUT = {f"{BROKER}/mijn/login", f"{BROKER}/audit/login"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
AN, NO_INSZ, BAD_INSZ, DPO, STRANGER, CITIZEN_AS_AUDITOR = range(6)
USERS = [
    User("u-an", "An Peeters", {"insz": VALID_INSZ}),
    User("u-no-insz", "Zonder Nummer", {}),
    User("u-bad-insz", "Fout Nummer", {"insz": "12345678901"}),
    User("u-dpo", "Dirk DPO", {"gbo_auditor_scope": "partner:caw-oost-vlaanderen"}),
    User("u-stranger", "Sara Vreemd", {"gbo_auditor_scope": "partner:bestaat-niet"}),
    User("u-citizen", "Cor Burger", {"insz": VALID_INSZ}),
]


def with_oidc(base: Settings, issuer: str, **extra: Any) -> Settings:
    given = {name: getattr(base, name) for name in base.model_fields_set}
    return Settings(**{**given, "oidc_issuer": issuer, "oidc_client_id": CLIENT_ID,
                       "oidc_client_secret": CLIENT_SECRET, "public_url": BROKER, **extra})


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider(USERS, CALLBACKS, LOGGED_OUT) as running:
        yield running


@contextmanager
def serve(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, BrokerContext]]:
    ctx = load_context(settings, engine=engine)
    try:
        with TestClient(create_app(context=ctx), base_url=BROKER,
                        raise_server_exceptions=False) as client:
            yield client, ctx
    finally:
        ctx.close()


@pytest.fixture
def broker(settings: Settings, engine: Engine, provider: Provider) -> Iterator[TestClient]:
    """The demo broker with the OIDC login configured as well."""
    with serve(with_oidc(settings, provider.issuer), engine) as (client, _):
        yield client


@pytest.fixture
def production(settings: Settings, engine: Engine, provider: Provider,
               tmp_path: Path) -> Iterator[TestClient]:
    """A broker outside demo mode: the provider is the only way in."""
    production = with_oidc(production_settings(settings, tmp_path), provider.issuer)
    with serve(production, engine) as (client, _):
        yield client


def start(api: TestClient, portal: str = "/mijn") -> str:
    """Press the login button; the provider's authorization URL the broker redirects to."""
    response = api.get(f"{portal}/login/oidc", follow_redirects=False)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


def authorize(provider: Provider, url: str, user: int | str) -> str:
    """The user picks ``user`` (or ``"deny"``) at the provider; the callback URL it answers."""
    assert url.startswith(f"{provider.issuer}/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert httpx.get(url).status_code == 200  # the provider accepts the request as sent
    answer = httpx.post(f"{provider.issuer}/authorize", data={**params, "user": str(user)})
    assert answer.status_code == 302, answer.text
    location: str = answer.headers["location"]
    return location


def log_in(api: TestClient, provider: Provider, user: int, portal: str = "/mijn") -> Any:
    """The whole round trip; the broker's answer to the callback."""
    callback = authorize(provider, start(api, portal), user)
    return api.get(callback, follow_redirects=False)


def logged_in(api: TestClient, portal: str = "/mijn") -> bool:
    return api.get(portal, follow_redirects=False).status_code == 200


# --- the happy paths --------------------------------------------------------------------------


def test_client_logs_in_with_code_and_pkce(broker: TestClient, provider: Provider) -> None:
    url = start(broker)
    query = parse_qs(urlsplit(url).query)
    assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [f"{BROKER}/mijn/login/callback"]
    assert "openid" in query["scope"][0].split()
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0]
    callback = authorize(provider, url, AN)
    answer = broker.get(callback, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/mijn"
    overview = broker.get("/mijn")
    assert overview.status_code == 200 and "An Peeters" in overview.text
    # The token request proved possession of the verifier and repeated the redirect URI.
    request = provider.token_requests[-1]
    assert request["redirect_uri"] == f"{BROKER}/mijn/login/callback"
    assert 43 <= len(request["code_verifier"]) <= 128
    # DESIGN §3: no INSZ in any URL of the round trip.
    assert VALID_INSZ not in url + callback + answer.headers["location"]


def test_auditor_logs_in_with_the_scope_claim(broker: TestClient, provider: Provider) -> None:
    answer = log_in(broker, provider, DPO, "/audit")
    assert answer.status_code == 303 and answer.headers["location"] == "/audit"
    page = broker.get("/audit")
    assert page.status_code == 200 and "partner:caw-oost-vlaanderen" in page.text
    assert not logged_in(broker, "/mijn")  # an auditor session is no client session


def test_outside_demo_the_provider_is_the_only_login_and_the_cookie_is_secure(
    production: TestClient, provider: Provider
) -> None:
    page = production.get("/mijn/login")
    assert 'href="/mijn/login/oidc"' in page.text
    assert 'name="citizen"' not in page.text and "nog niet ingesteld" not in page.text
    answer = log_in(production, provider, AN)
    cookie = answer.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/mijn" in cookie and VALID_INSZ not in cookie
    assert logged_in(production)
    auditor_page = production.get("/audit/login")
    assert 'href="/audit/login/oidc"' in auditor_page.text
    assert 'name="scope"' not in auditor_page.text


def log_out(api: TestClient, portal: str) -> str:
    """Press "Afmelden"; where the broker sends the browser."""
    found = CSRF.search(api.get(portal).text)
    assert found is not None
    answer = api.post(f"{portal}/logout", data={"csrf": found.group(1)}, follow_redirects=False)
    assert answer.status_code == 303
    location: str = answer.headers["location"]
    return location


@pytest.mark.parametrize(("portal", "user"), [("/mijn", AN), ("/audit", DPO)])
def test_logout_after_a_provider_login_ends_the_provider_session_too(
    broker: TestClient, provider: Provider, portal: str, user: int
) -> None:
    """On a shared computer the next person must not get in as this one with one click."""
    log_in(broker, provider, user, portal)
    location = log_out(broker, portal)
    assert location.startswith(f"{provider.issuer}/logout?")
    query = parse_qs(urlsplit(location).query)
    assert query == {"client_id": [CLIENT_ID],
                     "post_logout_redirect_uri": [f"{BROKER}{portal}/login"]}
    assert VALID_INSZ not in location  # no id_token_hint: the ID token holds the INSZ
    assert not logged_in(broker, portal)
    back = httpx.get(location)  # the provider ends its session and sends the browser back
    assert back.status_code == 302 and back.headers["location"] == f"{BROKER}{portal}/login"
    assert len(provider.logouts) == 1


def test_logout_after_a_demo_login_stays_at_the_broker(broker: TestClient,
                                                       provider: Provider) -> None:
    csrf = CSRF.search(broker.get("/mijn/login").text)
    assert csrf is not None
    broker.post("/mijn/login", data={"csrf": csrf.group(1), "citizen": "0"})
    assert logged_in(broker)
    assert log_out(broker, "/mijn") == "/mijn/login"
    assert not logged_in(broker) and provider.logouts == []


def test_logout_stays_at_the_broker_when_the_provider_has_no_end_session_endpoint(
    broker: TestClient, provider: Provider
) -> None:
    provider.end_session = False  # before the broker reads the discovery document
    log_in(broker, provider, AN)
    assert log_out(broker, "/mijn") == "/mijn/login"
    assert not logged_in(broker)


def test_portal_csp_lets_forms_lead_to_the_provider_and_nowhere_else(
    broker: TestClient, provider: Provider
) -> None:
    policy = broker.get("/mijn/login").headers["content-security-policy"]
    assert f"form-action 'self' {provider.issuer};" in policy


# --- refusals ---------------------------------------------------------------------------------


def test_code_from_another_attempt_fails_pkce(broker: TestClient, provider: Provider,
                                              settings: Settings) -> None:
    """Code injection: an attacker's code replayed into the victim's callback (with the
    victim's own state) is redeemed with the victim's verifier, so the provider refuses it."""
    victim_url = start(broker)
    victim_state = parse_qs(urlsplit(victim_url).query)["state"][0]
    with TestClient(broker.app, base_url=BROKER) as attacker:
        stolen = authorize(provider, start(attacker), AN)
    code = parse_qs(urlsplit(stolen).query)["code"][0]
    answer = broker.get("/mijn/login/callback", params={"code": code, "state": victim_state})
    assert answer.status_code == 400 and "kon je niet aanmelden" in answer.text
    assert not logged_in(broker)


def test_state_of_another_attempt_is_refused_before_any_token_request(
    broker: TestClient, provider: Provider
) -> None:
    callback = authorize(provider, start(broker), AN)
    forged = callback.replace("state=", "state=x")
    answer = broker.get(forged, follow_redirects=False)
    assert answer.status_code == 400 and "verlopen of niet meer geldig" in answer.text
    assert provider.token_requests == []
    assert not logged_in(broker)


def test_callback_without_a_login_attempt_is_refused(broker: TestClient,
                                                     provider: Provider) -> None:
    answer = broker.get("/mijn/login/callback", params={"code": "abc", "state": "def"})
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/html")
    assert provider.token_requests == []


def test_cancelling_at_the_provider_says_so_and_spends_the_attempt(
    broker: TestClient, provider: Provider
) -> None:
    url = start(broker)
    cancelled = authorize(provider, url, "deny")
    answer = broker.get(cancelled)
    assert answer.status_code == 400 and "afgebroken" in answer.text
    # The same attempt cannot be finished afterwards, even with a valid code for it.
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    late = httpx.post(f"{provider.issuer}/authorize", data={**params, "user": str(AN)})
    assert broker.get(late.headers["location"]).status_code == 400
    assert not logged_in(broker)


def test_a_callback_is_single_use(broker: TestClient, provider: Provider) -> None:
    callback = authorize(provider, start(broker), AN)
    assert broker.get(callback, follow_redirects=False).status_code == 303
    broker.cookies.clear()
    assert broker.get(callback, follow_redirects=False).status_code == 400


def test_an_attempt_expires(broker: TestClient, provider: Provider,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    callback = authorize(provider, start(broker), AN)
    later = datetime.fromtimestamp(datetime.now(UTC).timestamp() + LOGIN_WINDOW + 5, UTC)

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:
            return later

    monkeypatch.setattr("broker.portal.client.datetime", Later)
    answer = broker.get(callback, follow_redirects=False)
    assert answer.status_code == 400 and "verlopen" in answer.text
    assert provider.token_requests == []


OTHER_KEY = Ed25519PrivateKey.generate()


UNACCEPTABLE: dict[str, tuple[dict[str, Any], Ed25519PrivateKey | None]] = {
    "nonce of another attempt": ({"nonce": "another-nonce"}, None),
    "no nonce": ({"nonce": None}, None),
    "another audience": ({"aud": "someone-else"}, None),
    "several audiences without azp": ({"aud": [CLIENT_ID, "someone-else"]}, None),
    "another issuer": ({"iss": "https://evil.example"}, None),
    "expired": ({"iat": 1_000_000_000, "exp": 1_000_000_300}, None),
    "issued in the future": ({"iat": 4_000_000_000, "exp": 4_000_000_300}, None),
    "lives longer than an hour": ({"exp": 4_000_000_000}, None),
    "signed by another key": ({}, OTHER_KEY),
}


# The ID token's checks need no query; on both backends a nonce, a time and a signature check.
@on_backends(("case", "claims", "key"), {k: (k, *v) for k, v in UNACCEPTABLE.items()},
             both={"nonce of another attempt", "expired", "signed by another key"})
def test_unacceptable_id_token_is_refused(broker: TestClient, provider: Provider, case: str,
                                          claims: dict[str, Any],
                                          key: Ed25519PrivateKey | None) -> None:
    provider.next_claims, provider.sign_with = claims, key
    answer = log_in(broker, provider, AN)
    assert answer.status_code == 400, case
    assert "kon je niet aanmelden" in answer.text
    assert not logged_in(broker)


def test_several_audiences_with_azp_are_accepted(broker: TestClient, provider: Provider) -> None:
    provider.next_claims = {"aud": [CLIENT_ID, "someone-else"], "azp": CLIENT_ID}
    assert log_in(broker, provider, AN).status_code == 303


@pytest.mark.parametrize("user", [NO_INSZ, BAD_INSZ])
def test_client_without_a_valid_insz_claim_is_refused(broker: TestClient, provider: Provider,
                                                      user: int) -> None:
    answer = log_in(broker, provider, user)
    assert answer.status_code == 403 and "geen geldig rijksregisternummer" in answer.text
    assert "12345678901" not in answer.text
    assert not logged_in(broker)


@pytest.mark.parametrize("user", [STRANGER, CITIZEN_AS_AUDITOR])
def test_auditor_without_a_known_scope_is_refused(broker: TestClient, provider: Provider,
                                                  user: int) -> None:
    answer = log_in(broker, provider, user, "/audit")
    assert answer.status_code == 403 and "geen rol" in answer.text
    assert not logged_in(broker, "/audit")


def test_unreachable_provider_shows_a_dutch_page(settings: Settings, engine: Engine) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this closes
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with serve(with_oidc(settings, closed, oidc_timeout=2), engine) as (client, _):
        answer = client.get("/mijn/login/oidc", follow_redirects=False)
        assert answer.status_code == 502 and "niet bereikbaar" in answer.text
        assert answer.headers["content-type"].startswith("text/html")


def test_login_leaves_no_insz_or_code_in_the_log(broker: TestClient, provider: Provider,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    callback = authorize(provider, start(broker), AN)
    broker.get(callback)
    provider.next_claims = {"nonce": "wrong"}
    refused = authorize(provider, start(broker), AN)
    broker.get(refused)
    code = parse_qs(urlsplit(refused).query)["code"][0]
    # Everything the broker's side logged (the test's own HTTP client logs its URLs: left out).
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records
                     if not r.name.startswith(("httpx2", "httpcore2")))
    assert "oidc login refused" in text  # the refusal is logged, by cause
    assert VALID_INSZ not in text and code not in text and CLIENT_SECRET not in text


def test_without_oidc_settings_the_provider_routes_are_not_found(api: TestClient) -> None:
    for path in ("/mijn/login/oidc", "/mijn/login/callback", "/audit/login/oidc",
                 "/audit/login/callback"):
        answer = api.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
    assert "/mijn/login/oidc" not in api.get("/mijn/login").text


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "named"), [
    ({"oidc_issuer": "https://idp.example"}, "GBO_OIDC_CLIENT_ID"),
    ({"oidc_issuer": "https://idp.example", "oidc_client_id": "c", "oidc_client_secret": "s"},
     "GBO_PUBLIC_URL"),
    ({"oidc_client_secret": "s"}, "GBO_OIDC_ISSUER"),
])
def test_half_configured_login_is_refused_naming_what_is_missing(
    tmp_path: Path, given: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        check_settings(Settings(data_dir=tmp_path, **given))


@pytest.mark.parametrize(("issuer", "public_url", "scopes"), [
    ("http://idp.example", BROKER, "openid"),
    ("https://idp.example", "http://broker.example", "openid"),
    ("https://idp.example", BROKER, "profile email"),
])
def test_plain_http_off_loopback_or_no_openid_scope_is_refused(
    tmp_path: Path, issuer: str, public_url: str, scopes: str
) -> None:
    with pytest.raises(ConfigurationError):
        check_settings(Settings(data_dir=tmp_path, oidc_issuer=issuer, oidc_client_id="c",
                                oidc_client_secret="s", public_url=public_url,
                                oidc_scopes=scopes))
