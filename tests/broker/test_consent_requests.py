"""Consent requests (DESIGN §9): a partner asks, the client decides, over HTTP on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import decode
from broker.store.db import session_scope
from consent.tables import ConsentRequestRow
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    in_days,
    partner_auth,
)

MESSAGE = "Dag An, mogen we je inkomen bekijken voor je leefloon? — marker-7c1e"


def _body(**overrides: Any) -> dict[str, Any]:
    body = {"insz": VALID_INSZ, "recipients": [{"kind": "partner", "id": "ocmw-gent"}],
            "purposes": ["rechtenverkenning"], "sections": ["identiteit", "inkomen", "werk"],
            "valid_until": in_days(200), "message": MESSAGE}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _ask(api: TestClient, settings: Settings, **overrides: Any) -> dict[str, Any]:
    response = api.post("/v1/consent-requests", json=_body(**overrides),
                        headers=partner_auth(settings))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
def helped(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings, eid=False)


def test_request_needs_a_valid_relation(api: TestClient, settings: Settings) -> None:
    response = api.post("/v1/consent-requests", json=_body(), headers=partner_auth(settings))
    assert (response.status_code, response.json()["code"]) == (403, "no_valid_help_relation")


@pytest.mark.usefixtures("helped")
def test_client_sees_pending_request_with_message_and_partner_sees_status(
    api: TestClient, settings: Settings
) -> None:
    created = _ask(api, settings)
    assert created["status"] == "pending" and "message" not in created
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=13, hours=23) < expires - datetime.now(UTC) <= timedelta(days=14)
    mine = api.get("/v1/me/consent-requests", headers=client_auth(settings)).json()["requests"]
    assert [(r["id"], r["status"], r["message"]) for r in mine] == [
        (created["id"], "pending", MESSAGE)]
    status = api.get(f"/v1/consent-requests/{created['id']}", headers=partner_auth(settings))
    assert status.json()["status"] == "pending"


@pytest.mark.usefixtures("helped")
def test_approval_narrower_gives_a_client_consent_with_receipt(
    api: TestClient, settings: Settings
) -> None:
    created = _ask(api, settings)
    until = in_days(100)
    approved = api.post(f"/v1/me/consent-requests/{created['id']}/approve",
                        json={"sections": ["identiteit", "inkomen"], "valid_until": until},
                        headers=client_auth(settings))
    assert approved.status_code == 201, approved.text
    body = approved.json()
    assert body["consent"]["proof"] == "client"
    assert body["consent"]["sections"] == ["identiteit", "inkomen"]
    assert datetime.fromisoformat(body["consent"]["valid_until"]) == datetime.fromisoformat(until)
    assert body["receipt"]["proof"] == "client" and body["jws"].count(".") == 2
    assert body["request"]["status"] == "approved"
    assert body["request"]["consent_id"] == body["consent"]["id"]
    status = api.get(f"/v1/consent-requests/{created['id']}", headers=partner_auth(settings))
    assert (status.json()["status"], status.json()["consent_id"]) == (
        "approved", body["consent"]["id"])


@pytest.mark.usefixtures("helped")
@pytest.mark.parametrize(("change", "pointer"), [
    ({"sections": ["identiteit", "schulden"]}, "/sections"),
    ({"purposes": ["rechtenrealisatie"]}, "/purposes"),
    ({"valid_until": in_days(250)}, "/valid_until"),
], ids=["added_section", "other_purpose", "later_end"])
def test_approval_may_not_widen_the_request(
    api: TestClient, settings: Settings, change: dict[str, Any], pointer: str
) -> None:
    created = _ask(api, settings)
    response = api.post(f"/v1/me/consent-requests/{created['id']}/approve", json=change,
                        headers=client_auth(settings))
    assert response.status_code == 422
    assert (response.json()["code"], response.json()["pointer"]) == (
        "approval_widens_request", pointer)
    assert api.get(f"/v1/consent-requests/{created['id']}",
                   headers=partner_auth(settings)).json()["status"] == "pending"


@pytest.mark.usefixtures("helped")
def test_refused_withdrawn_and_decided_requests_cannot_be_decided_again(
    api: TestClient, settings: Settings
) -> None:
    refused = _ask(api, settings)
    response = api.post(f"/v1/me/consent-requests/{refused['id']}/refuse",
                        headers=client_auth(settings))
    assert response.json()["status"] == "refused"
    again = api.post(f"/v1/me/consent-requests/{refused['id']}/approve",
                     headers=client_auth(settings))
    assert (again.status_code, again.json()["code"]) == (409, "consent_request_not_pending")
    withdrawn = _ask(api, settings)
    response = api.post(f"/v1/consent-requests/{withdrawn['id']}/withdraw",
                        headers=partner_auth(settings))
    assert response.json()["status"] == "withdrawn"
    late = api.post(f"/v1/me/consent-requests/{withdrawn['id']}/approve",
                    headers=client_auth(settings))
    assert late.status_code == 409
    assert api.get("/v1/me/consents", headers=client_auth(settings)).json()["consents"] == []


@pytest.mark.usefixtures("helped")
def test_request_expires_after_14_days(api: TestClient, settings: Settings,
                                       ctx: BrokerContext) -> None:
    created = _ask(api, settings)
    with session_scope(ctx.engine) as session:  # fourteen days later
        row = session.exec(select(ConsentRequestRow)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
        session.commit()
    assert api.get(f"/v1/consent-requests/{created['id']}",
                   headers=partner_auth(settings)).json()["status"] == "expired"
    response = api.post(f"/v1/me/consent-requests/{created['id']}/approve",
                        headers=client_auth(settings))
    assert (response.status_code, response.json()["code"]) == (409, "consent_request_not_pending")


@pytest.mark.usefixtures("helped")
def test_other_clients_and_partners_cannot_see_or_decide_a_request(
    api: TestClient, settings: Settings
) -> None:
    created = _ask(api, settings)
    other_client = client_auth(settings, OTHER_INSZ)
    assert api.get("/v1/me/consent-requests", headers=other_client).json()["requests"] == []
    for action in ("approve", "refuse"):
        response = api.post(f"/v1/me/consent-requests/{created['id']}/{action}",
                            headers=other_client)
        assert (response.status_code, response.json()["code"]) == (
            404, "consent_request_not_found")
    other_partner = partner_auth(settings, "caw-oost-vlaanderen")
    assert api.get(f"/v1/consent-requests/{created['id']}",
                   headers=other_partner).status_code == 404


@pytest.mark.usefixtures("helped")
def test_every_step_is_audited_and_the_message_never_is(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    first = _ask(api, settings)
    api.post(f"/v1/me/consent-requests/{first['id']}/approve", headers=client_auth(settings))
    second = _ask(api, settings)
    api.post(f"/v1/me/consent-requests/{second['id']}/refuse", headers=client_auth(settings))
    third = _ask(api, settings)
    api.post(f"/v1/consent-requests/{third['id']}/withdraw", headers=partner_auth(settings))
    leaves = ctx.audit.log.store.find_leaves(limit=1000)
    kinds = [decode(x)["kind"] for x in leaves]
    assert kinds.count("consent_request.created") == 3
    for kind in ("approved", "refused", "withdrawn"):
        assert kinds.count(f"consent_request.{kind}") == 1
    stored = b"".join(x.leaf for x in leaves)
    assert b"marker-7c1e" not in stored and VALID_INSZ.encode() not in stored


@pytest.mark.usefixtures("helped")
@pytest.mark.parametrize("bad", [
    {"sections": ["werkaantekeningen"]}, {"purposes": ["hobby"]}, {"recipients": []},
    {"message": "x" * 1001}, {"valid_until": in_days(-1)}, {"extra": 1},
], ids=["never_shared_section", "unknown_purpose", "no_recipients", "message_too_long",
        "end_in_past", "unknown_field"])
def test_bad_request_is_refused_with_a_clear_error(
    api: TestClient, settings: Settings, bad: dict[str, Any]
) -> None:
    response = api.post("/v1/consent-requests", json=_body(**bad), headers=partner_auth(settings))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "marker-7c1e" not in response.text and VALID_INSZ not in json.dumps(response.json())
