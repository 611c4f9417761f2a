"""Both portals' OpenID Connect login in a real browser (DESIGN §2): Chromium follows the redirect
to a provider on loopback (``tests.oidc_provider``: PKCE required), picks a user there and comes
back logged in; the session cookie (``SameSite=Lax``) must survive that cross-site return. The
login pages pass axe-core with the provider's button, and in their error state."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import (
    DESKTOP,
    axe_violations,
    describe,
    record_csp_violations,
    screenshot,
)
from tests.e2e.conftest import demo_broker_at, free_port
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, User, running_provider

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from tests.e2e.conftest import DemoBroker

pytestmark = pytest.mark.slow

INSZ = "85073003328"  # An Peeters in broker/demo/seed.yaml
USERS = [User("u-an", "An Peeters", {"insz": INSZ}),
         User("u-dpo", "Dirk DPO", {"gbo_auditor_scope": "partner:caw-oost-vlaanderen"})]
TIMEOUT_MS = 10_000


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def oidc_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoBroker, Provider]]:
    """The demo broker with the OIDC login configured against a provider on loopback."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    callbacks = {f"{base}/mijn/login/callback", f"{base}/audit/login/callback"}
    logged_out = {f"{base}/mijn/login", f"{base}/audit/login"}
    # The provider on another site (localhost vs 127.0.0.1): the return from it is a cross-site
    # navigation, as in production, which the SameSite=Lax cookie must survive.
    with running_provider(USERS, callbacks, logged_out, host="localhost") as provider:
        env = {"GBO_OIDC_ISSUER": provider.issuer, "GBO_OIDC_CLIENT_ID": CLIENT_ID,
               "GBO_OIDC_CLIENT_SECRET": CLIENT_SECRET, "GBO_PUBLIC_URL": base}
        with demo_broker_at(tmp_path_factory.mktemp("oidc-broker"), port=port,
                            extra_env=env) as (broker, _):
            yield broker, provider


def new_page(browser: Browser, javascript: bool = True,
             enforce_csp: bool = False) -> tuple[Page, list[str]]:
    """A page and the list of every URL it requests. The portal's CSP is bypassed for axe
    (injected inline) unless ``enforce_csp``."""
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=javascript,
                                  bypass_csp=not enforce_csp, locale="nl-BE")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return page, urls


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], describe(violations)


@dataclass(frozen=True)
class Login:
    portal: str  # /mijn or /audit
    link: str  # the login page's button
    user: str  # whom to pick at the provider
    shown: str  # what the portal shows once logged in


CLIENT = Login("/mijn", "Inloggen met eID of itsme", "An Peeters", "Ingelogd als An Peeters")
AUDITOR = Login("/audit", "Inloggen via de identiteitsprovider", "Dirk DPO",
                "partner:caw-oost-vlaanderen")


@pytest.mark.parametrize(("login", "javascript"), [(CLIENT, True), (CLIENT, False),
                                                   (AUDITOR, True), (AUDITOR, False)],
                         ids=["client-js", "client-no-js", "auditor-js", "auditor-no-js"])
def test_user_logs_in_at_the_provider_and_comes_back(
    browser: Browser, oidc_broker: tuple[DemoBroker, Provider], login: Login, javascript: bool
) -> None:
    broker, provider = oidc_broker
    page, urls = new_page(browser, javascript)
    page.goto(f"{broker.base}{login.portal}/login")
    if javascript:
        assert_accessible(page)
        screenshot(page, f"{login.portal.strip('/')}-login-oidc")
    page.get_by_role("link", name=login.link).click()
    expect(page).to_have_url(re.compile(re.escape(f"{provider.issuer}/authorize?")))
    page.get_by_role("button", name=login.user).click()
    expect(page).to_have_url(f"{broker.base}{login.portal}")
    expect(page.get_by_text(login.shown).first).to_be_visible()
    assert not any(INSZ in url for url in urls)  # DESIGN §3: never in a URL
    page.context.close()


def test_cancelling_at_the_provider_returns_to_an_accessible_login_page(
    browser: Browser, oidc_broker: tuple[DemoBroker, Provider]
) -> None:
    broker, _ = oidc_broker
    page, _ = new_page(browser)
    page.goto(f"{broker.base}/mijn/login")
    page.get_by_role("link", name="Inloggen met eID of itsme").click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("alert")).to_contain_text("Je hebt het inloggen afgebroken")
    assert_accessible(page)
    screenshot(page, "mijn-login-oidc-afgebroken")
    page.goto(f"{broker.base}/mijn")
    expect(page).to_have_url(f"{broker.base}/mijn/login")  # not logged in
    page.context.close()


@pytest.mark.parametrize("login", [CLIENT, AUDITOR], ids=["client", "auditor"])
def test_logging_out_also_ends_the_provider_session_under_the_csp(
    browser: Browser, oidc_broker: tuple[DemoBroker, Provider], login: Login
) -> None:
    """"Afmelden" posts to the broker, which sends the browser on to the provider's logout and
    back: the CSP's form-action must allow that hop (and nothing else may break it)."""
    broker, provider = oidc_broker
    page, urls = new_page(browser, enforce_csp=True)
    violations: list[str] = []
    record_csp_violations(page, violations)
    page.goto(f"{broker.base}{login.portal}/login")
    page.get_by_role("link", name=login.link).click()
    page.get_by_role("button", name=login.user).click()
    expect(page).to_have_url(f"{broker.base}{login.portal}")
    page.get_by_role("button", name="Afmelden").click()
    expect(page).to_have_url(f"{broker.base}{login.portal}/login")
    assert any(url.startswith(f"{provider.issuer}/logout?") for url in urls)
    assert violations == []
    page.goto(f"{broker.base}{login.portal}")
    expect(page).to_have_url(f"{broker.base}{login.portal}/login")  # logged out
    page.context.close()
