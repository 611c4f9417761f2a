"""No 5xx on any input (DESIGN §5, §8): bodies the strict JSON reader refuses, moments outside
1900..2200, integers beyond 64 bits, token times that are not numbers. Each answer is a
problem+json with a stable code, and nothing is stored that could later fail to serialise."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from broker.api import ROUTERS
from broker.api.routing import StrictJSONRoute
from broker.portal import forms
from broker.security.tokens import sign as sign_claims
from broker.settings import Settings
from broker.strict_json import MAX_DEPTH
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    issuer_token,
    make_desk_consent,
    make_entry,
    partner_auth,
    partner_claims,
    partner_jwk,
)

JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> Any:
    value: Any = {"x": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def problem_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    code: str = response.json()["code"]
    assert response.json()["type"] == "urn:gbo-broker:problem:" + code
    return code


def own_entries(api: TestClient, settings: Settings) -> list[dict[str, Any]]:
    """What the author partner gets back of its own hulpvraag entries (DESIGN §4: a partner
    always sees the entries it wrote)."""
    response = api.post("/v1/access-requests", headers=partner_auth(settings),
                        json={"insz": VALID_INSZ, "purpose": "hulpvraagverheldering",
                              "sections": ["hulpvraag"]})
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["sections"]["hulpvraag"].get("entries", [])
    return entries


# --- bodies -------------------------------------------------------------------------------------


def test_deeply_nested_entry_is_refused_and_the_dossier_stays_readable(
    api: TestClient, settings: Settings
) -> None:
    """Before: 500 levels were accepted (201), then the client's dossier and every release of
    the section answered 500 for good."""
    declare_relation(api, settings)
    ok = api.post("/v1/entries", json=make_entry(content={"vraag": "huur"}),
                  headers=partner_auth(settings))
    assert ok.status_code == 201
    deep = api.post("/v1/entries", json=make_entry(content=nested(500)),
                    headers=partner_auth(settings))
    assert problem_code(deep, 422) == "json_too_deep"
    mine = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert mine.status_code == 200
    assert [e["content"] for e in mine.json()["entries"]] == [{"vraag": "huur"}]
    assert [e["content"] for e in own_entries(api, settings)] == [{"vraag": "huur"}]


def test_the_deepest_accepted_entry_is_served_to_the_client_and_the_partner(
    api: TestClient, settings: Settings
) -> None:
    declare_relation(api, settings)
    content = nested(MAX_DEPTH - 1)  # the body object is the first level
    created = api.post("/v1/entries", json=make_entry(content=content),
                       headers=partner_auth(settings))
    assert created.status_code == 201, created.text
    mine = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert mine.status_code == 200
    assert mine.json()["entries"][0]["content"] == content
    assert own_entries(api, settings)[0]["content"] == content
    too_deep = api.post("/v1/entries", json=make_entry(content=nested(MAX_DEPTH)),
                        headers=partner_auth(settings))
    assert problem_code(too_deep, 422) == "json_too_deep"


ENTRY = '{"insz": "85073003328", "section": "hulpvraag", "content": %s}'


@pytest.mark.parametrize(("body", "status", "code"), [
    (ENTRY % '{"a": "\\ud800"}', 422, "json_lone_surrogate"),
    (ENTRY % '{"a": NaN}', 422, "json_non_finite_number"),
    (ENTRY % '{"a": Infinity}', 422, "json_non_finite_number"),
    (ENTRY % '{"a": 1e400}', 422, "json_non_finite_number"),
    (ENTRY % '{"a": 18446744073709551616}', 422, "json_integer_out_of_range"),
    (ENTRY % '{"a": 1, "a": 2}', 422, "json_duplicate_key"),
    ('{"insz": "85073003328", "section": "werkaantekeningen", "section": "hulpvraag", '
     '"content": {}}', 422, "json_duplicate_key"),
    (ENTRY % '{"a": "%s"}' % ("x" * 100_001), 422, "json_string_too_long"),
    (ENTRY % json.dumps(list(range(20_001))), 422, "json_too_many_values"),
    (ENTRY % '{"a": "\xff"}', 422, "invalid_encoding"),
    (ENTRY % "{", 422, "invalid_request"),
], ids=["lone-surrogate", "nan", "infinity", "float-overflow", "int-65-bits", "duplicate",
        "duplicate-section", "long-string", "many-values", "not-utf8", "truncated"])
def test_refused_bodies_store_nothing(api: TestClient, settings: Settings, body: str,
                                      status: int, code: str) -> None:
    """Before: a lone surrogate answered 500, NaN/Infinity were stored as null and a duplicate
    key silently took the last value."""
    declare_relation(api, settings)
    raw = body.encode("latin-1") if "\xff" in body else body.encode()
    response = api.post("/v1/entries", content=raw, headers={**partner_auth(settings), **JSON})
    assert problem_code(response, status) == code
    assert "85073003328" not in response.text
    mine = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert mine.status_code == 200 and mine.json()["entries"] == []


def test_every_json_route_reads_with_the_strict_reader(api: TestClient, settings: Settings) -> None:
    """One reader for every body: a duplicate key is refused on the client's routes too."""
    body = b'{"recipients": [], "purposes": [], "purposes": [], "sections": [], ' \
           b'"valid_until": "2027-01-01T00:00:00Z"}'
    response = api.post("/v1/me/consents", content=body,
                        headers={**client_auth(settings), **JSON})
    assert problem_code(response, 422) == "json_duplicate_key"
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute) and isinstance(route, StrictJSONRoute), route


# --- moments ------------------------------------------------------------------------------------

FAR = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2200-01-01T00:00:00Z",
       "1899-12-31T23:59:59Z"]


@pytest.mark.parametrize("moment", FAR)
def test_moments_outside_the_window_are_refused_in_bodies(
    api: TestClient, settings: Settings, moment: str
) -> None:
    relation = api.post("/v1/relations", json={"insz": VALID_INSZ, "end": moment},
                        headers=partner_auth(settings))
    assert problem_code(relation, 422) == "invalid_request"
    assert relation.json()["errors"][0]["type"] == "moment_out_of_range"
    mine = api.post("/v1/me/consents", headers=client_auth(settings), json={
        "recipients": [{"kind": "partner", "id": "ocmw-gent"}], "purposes": ["rechtenverkenning"],
        "sections": ["identiteit"], "valid_until": moment})
    assert problem_code(mine, 422) == "invalid_request"
    declare_relation(api, settings)
    desk = api.post("/v1/consents", json=make_desk_consent(valid_until=moment),
                    headers=partner_auth(settings))
    assert problem_code(desk, 422) == "invalid_request"


# --- integers and moments in paths and queries -------------------------------------------------


def auditor(settings: Settings) -> dict[str, str]:
    return auth(issuer_token(settings, role="auditor", scope="supervisor"))


@pytest.mark.parametrize(("url", "code"), [
    ("/v1/audit/entries?cursor=9999999999999999999", "invalid_cursor"),
    ("/v1/audit/leaves/99999999999999999999999", "invalid_request"),
    ("/v1/audit/leaves/9223372036854775808", "invalid_request"),
    ("/v1/audit/leaves?start=99999999999999999999", "invalid_request"),
    ("/v1/audit/leaves?start=9223372036854775808", "invalid_request"),
    ("/v1/audit/proof/inclusion?index=9223372036854775808&size=1", "invalid_request"),
    ("/v1/audit/proof/consistency?old=1&new=9223372036854775808", "invalid_request"),
], ids=["cursor", "leaf-huge", "leaf-int64+1", "start-huge", "start-int64+1", "inclusion",
        "consistency"])
def test_out_of_range_parameters_are_422(api: TestClient, settings: Settings, url: str,
                                         code: str) -> None:
    """Before: each answered 500 (an overflowing database parameter or UTC conversion)."""
    assert problem_code(api.get(url, headers=auditor(settings)), 422) == code


@pytest.mark.parametrize(("query", "everything"), [
    ({"from": "0001-01-01T00:00:00+14:00"}, True),
    ({"to": "9999-12-31T23:59:59-14:00"}, True),
    ({"from": "0999-01-01T00:00:00"}, True),
    ({"from": "9999-12-31T23:59:59-14:00"}, False),
    ({"to": "0001-01-01T00:00:00+14:00"}, False),
], ids=["from-year-1", "to-year-9999", "from-year-999-naive", "from-year-9999", "to-year-1"])
def test_far_search_bounds_mean_the_edge_of_the_window(
    api: TestClient, settings: Settings, query: dict[str, str], everything: bool
) -> None:
    """Before: 500 (the conversion to UTC overflowed, or a three-digit year broke the log's
    lexical time order). Nothing is logged outside 1900..2200, so a bound beyond it is its
    edge."""
    declare_relation(api, settings)
    every = api.get("/v1/audit/entries", headers=auditor(settings)).json()["entries"]
    assert every
    found = api.get("/v1/audit/entries", params=query, headers=auditor(settings))
    assert found.status_code == 200, found.text
    assert found.json()["entries"] == (every if everything else [])


def test_the_largest_index_is_simply_not_found(api: TestClient, settings: Settings) -> None:
    response = api.get("/v1/audit/leaves/9223372036854775807", headers=auditor(settings))
    assert problem_code(response, 404) == "leaf_not_found"
    page = api.get("/v1/audit/leaves?start=9223372036854775807", headers=auditor(settings))
    assert page.status_code == 200 and page.json()["leaves"] == []


# --- token times --------------------------------------------------------------------------------


@pytest.mark.parametrize(("claim", "value"), [
    ("iat", "now"), ("exp", "now+60"), ("nbf", "now"), ("iat", "abc"), ("nbf", None),
    ("exp", None), ("iat", True), ("exp", 10**30), ("iat", -(10**30)), ("nbf", 10**30),
    ("exp", 1e300), ("iat", 253402300800),
], ids=["iat-string", "exp-string", "nbf-string", "iat-text", "nbf-null", "exp-null",
        "iat-bool", "exp-huge", "iat-huge-negative", "nbf-huge", "exp-float-huge",
        "iat-year-10000"])
def test_signed_partner_token_with_bad_times_is_401(api: TestClient, settings: Settings,
                                                    claim: str, value: Any) -> None:
    """Before: a validly signed token whose ``iat`` or ``exp`` is a numeric string answered 500."""
    now = int(time.time())
    claims = partner_claims(settings)
    claims[claim] = {"now": str(now), "now+60": str(now + 60)}.get(value, value) \
        if isinstance(value, str) else value
    token = sign_claims(claims, partner_jwk(settings, "ocmw-gent"))
    response = api.post("/v1/relations", json={"insz": VALID_INSZ}, headers=auth(token))
    assert problem_code(response, 401) == "unauthorized"


def test_fractional_token_times_are_numbers_and_accepted(api: TestClient,
                                                         settings: Settings) -> None:
    """RFC 7519 §2: a NumericDate may be non-integer."""
    now = time.time()
    claims = partner_claims(settings, iat=now, exp=now + 60.5, nbf=now - 0.5)
    token = sign_claims(claims, partner_jwk(settings, "ocmw-gent"))
    response = api.post("/v1/relations", json={"insz": VALID_INSZ}, headers=auth(token))
    assert response.status_code == 201, response.text


# --- metrics ------------------------------------------------------------------------------------


def test_unknown_methods_add_no_metric_series(api: TestClient) -> None:
    """Before: every method string (no token needed) made new series."""
    before = api.get("/metrics").text.count("\n")
    for method in ("FOOBAR", "BREW", "X-1234", "PROPFIND"):
        assert api.request(method, "/v1/entries").status_code in (400, 405)
    metrics = api.get("/metrics").text
    methods = set(re.findall(r'method="([^"]*)"', metrics))
    assert methods <= {"GET", "POST", "other"}, methods
    assert 'gbo_http_requests_total{method="other",route="/v1/entries",status="405"} 4.0' \
        in metrics
    again = api.request("QUUX", "/v1/entries")
    assert again.status_code == 405
    # one more request of a known kind adds no series
    assert api.get("/metrics").text.count("\n") == metrics.count("\n")
    assert before < metrics.count("\n")


# --- the auditor portal's filters ---------------------------------------------------------------


def portal_login(api: TestClient) -> None:
    page = api.get("/audit/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    done = api.post("/audit/login", data={"csrf": token.group(1), "scope": "supervisor"},
                    follow_redirects=False)
    assert done.status_code == 303


@pytest.mark.parametrize("page", ["/audit", "/audit/grafieken", "/audit/export.csv"])
def test_auditor_portal_far_days_mean_the_edge_of_the_window(
    api: TestClient, settings: Settings, page: str
) -> None:
    """Before: far days answered 500 on the entries and charts pages, and the CSV export
    dropped the connection mid-answer."""
    declare_relation(api, settings)
    portal_login(api)
    everything = api.get(page)
    assert everything.status_code == 200
    for query in ("van=0001-01-01", "tot=9999-12-31", "van=0001-01-01&tot=9999-12-31",
                  "van=1899-12-31&tot=2200-01-01"):
        found = api.get(f"{page}?{query}")
        assert found.status_code == 200, query
        if page.endswith(".csv"):
            assert found.text == everything.text
    for query in ("van=9999-12-31", "tot=0001-01-01"):
        found = api.get(f"{page}?{query}")
        assert found.status_code == 200, query
        if page.endswith(".csv"):
            assert len(found.text.splitlines()) == 1  # the header row only


@pytest.mark.parametrize("page", ["/audit", "/audit/grafieken", "/audit/export.csv"])
@pytest.mark.parametrize("cursor", ["99999999999999999999", "9223372036854775808"])
def test_auditor_portal_cursor_beyond_64_bits_is_422(api: TestClient, page: str,
                                                     cursor: str) -> None:
    portal_login(api)
    response = api.get(f"{page}?na={cursor}")
    assert response.status_code == 422, response.text[:200]
    assert response.headers["content-type"].startswith("text/html")


def test_auditor_portal_window_edges_are_accepted(api: TestClient) -> None:
    portal_login(api)
    for page in ("/audit", "/audit/grafieken", "/audit/export.csv"):
        assert api.get(f"{page}?van=1900-01-01&tot=2199-12-31").status_code == 200


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1899-12-31", "2200-01-01"])
def test_portal_end_dates_outside_the_window_are_a_form_error(day: str) -> None:
    """The consent and mandate forms of /mijn: a far day is the form's own error, never an
    overflow converting it to UTC."""
    with pytest.raises(forms.FormError):
        forms.parse_end_date(day)
    assert forms.parse_end_date("2199-12-31").year == 2199
