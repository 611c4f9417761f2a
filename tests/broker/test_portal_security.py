"""The portals' browser security headers and HTML error pages (DESIGN §2 "security"). Runs on SQLite
and PostgreSQL (``api``).

- Every response under /mijn and /audit — pages, redirects, static files, error pages — carries a
  strict Content-Security-Policy, nosniff, no Referer (a login callback URL holds an authorization
  code) and no framing. The v1 API keeps its JSON and gets nosniff.
- An unknown path or a wrong method under /mijn or /audit is a Dutch HTML page in that portal's
  layout; under /v1 it stays RFC 9457 problem+json.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.backends import on_backends
from tests.broker.test_portal_audit import login as audit_login
from tests.broker.test_portal_client import login as client_login

CSP = {  # directive: sources
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}


def csp_directives(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives}


def assert_portal_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert csp_directives(headers["content-security-policy"]) == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"


# --- headers ----------------------------------------------------------------------------------


PORTAL_RESPONSES = {  # case: (who is logged in, path, expected status)
    "client-login-page": (None, "/mijn/login", 200),
    "client-page": ("client", "/mijn/toestemmingen", 200),
    "client-redirect-to-login": (None, "/mijn", 303),
    "client-stylesheet": (None, "/mijn/static/portal.css", 200),
    "client-not-found-page": ("client", "/mijn/toestemmingen/cs-bestaat-niet", 404),
    "client-unknown-path": (None, "/mijn/bestaat-niet", 404),
    "auditor-page": ("auditor", "/audit/grafieken", 200),
    "auditor-chart-script": (None, "/audit/static/audit-charts.js", 200),
    "auditor-chart-library": (None, "/audit/static/vendor/chartjs/chart.umd.min.js", 200),
    "auditor-missing-static-file": (None, "/audit/static/bestaat-niet.js", 404),
    "auditor-unknown-path": (None, "/audit/bestaat-niet", 404),
}


# Headers are set apart from the database; on both backends a page read from it per portal.
@on_backends(("who", "path", "status"), PORTAL_RESPONSES,
             both={"client-page", "client-not-found-page", "auditor-page"})
def test_portal_responses_carry_the_security_headers(api: TestClient, who: str | None, path: str,
                                                     status: int) -> None:
    if who == "client":
        client_login(api)
    elif who == "auditor":
        audit_login(api)
    response = api.get(path, follow_redirects=False)
    assert response.status_code == status, response.text
    assert_portal_headers(response)


def test_csrf_refusal_page_carries_the_security_headers(api: TestClient) -> None:
    api.get("/mijn/login")
    response = api.post("/mijn/login", data={"citizen": "0"}, follow_redirects=False)
    assert response.status_code == 403 and "Formulier niet aanvaard" in response.text
    assert_portal_headers(response)


def test_v1_api_keeps_json_and_gets_nosniff_without_the_page_policy(api: TestClient) -> None:
    response = api.get("/v1/me/consents")  # no token: a 401 problem
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in response.headers
    assert api.get("/readyz").json()  # still plain JSON, answered as before


def test_a_lookalike_prefix_is_not_the_portal(api: TestClient) -> None:
    response = api.get("/mijnheer")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "content-security-policy" not in response.headers


# --- error pages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "layout_marker"),
    [("/mijn/bestaat-niet", "Mijn gegevens bij het GBO"),
     ("/mijn/static/bestaat-niet.css", "Mijn gegevens bij het GBO"),
     ("/audit/bestaat-niet", "GBO auditlogboek"),
     ("/audit/static/bestaat-niet.js", "GBO auditlogboek")],
    ids=["client-path", "client-static-file", "auditor-path", "auditor-static-file"],
)
def test_unknown_portal_path_is_a_dutch_html_page(api: TestClient, path: str,
                                                  layout_marker: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="nl">' in response.text
    assert "<h1>Niet gevonden</h1>" in response.text
    assert layout_marker in response.text  # that portal's own header
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("POST", "/mijn/toestemmingen", "GET"), ("DELETE", "/audit/grafieken", "GET")],
    ids=["client", "auditor"],
)
def test_wrong_method_on_a_portal_page_is_a_dutch_html_page(api: TestClient, method: str,
                                                            path: str, allow: str) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Dat kan hier niet</h1>" in response.text
    assert allow in response.headers["allow"]
    assert_portal_headers(response)


@pytest.mark.parametrize(("method", "path", "status"),
                         [("GET", "/v1/bestaat-niet", 404), ("DELETE", "/v1/me/consents", 405)],
                         ids=["unknown-path", "wrong-method"])
def test_v1_api_errors_stay_problem_json(api: TestClient, method: str, path: str,
                                         status: int) -> None:
    response = api.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
