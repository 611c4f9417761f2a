"""Withdrawal follow-up (DESIGN §3): partners that received data under a consent are
notified when it is narrowed or revoked; ``GET /v1/notifications`` is cursor-based and
at-least-once.

Access decisions are real audit-log entries (``access.decision``), appended here as the access
flow (DESIGN §4) appends them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import AuditEvent
from consent.rules import add_months
from tests.factories import VALID_INSZ, client_auth, give_consent, partner_auth

CAW = "caw-oost-vlaanderen"


def _decision(
    ctx: BrokerContext,
    partner: str,
    consent_ids: list[str],
    verdict: str = "granted",
    when: datetime | None = None,
    insz: str = VALID_INSZ,
) -> None:
    ctx.audit.append(
        AuditEvent(
            kind="access.decision",
            network="gbo-gent",
            client=ctx.keyring.client_ref("gbo-gent", insz),
            partner=partner,
            worker="w-9",
            purpose="rechtenverkenning",
            sections={"inkomen": {"verdict": verdict, "reasons": []},
                      "justitie": {"verdict": "denied", "reasons": ["no_consent_for_section"]}},
            consent_ids=consent_ids,
        ),
        now=when,
    )


def _feed(api: TestClient, settings: Settings, partner: str = CAW, cursor: str | None = None
          ) -> dict[str, Any]:
    query = "" if cursor is None else f"?cursor={cursor}"
    response = api.get(f"/v1/notifications{query}", headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def test_narrowing_notifies_the_partner_that_received_data(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _decision(ctx, CAW, [consent_id])
    api.post(f"/v1/me/consents/{consent_id}/narrow", json={"sections": ["inkomen"]},
             headers=client_auth(settings))
    [notice] = _feed(api, settings)["notifications"]
    assert (notice["consent_id"], notice["version"], notice["change"]) == (consent_id, 2,
                                                                          "narrowed")
    assert notice["no_longer_covers"] == {
        "removed_recipients": [], "removed_purposes": [], "removed_sections": ["huisvesting"],
        "valid_until_shortened": None,
    }
    assert set(notice) == {"id", "kind", "consent_id", "version", "change", "no_longer_covers",
                           "created_at"}  # never content, never the client


def test_revocation_withdraws_everything(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _decision(ctx, CAW, [consent_id])
    api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    [notice] = _feed(api, settings)["notifications"]
    assert notice["change"] == "revoked"
    assert notice["no_longer_covers"]["removed_sections"] == ["inkomen", "huisvesting"]
    assert notice["no_longer_covers"]["removed_recipients"] == [{"kind": "partner_type",
                                                                 "id": "caw"}]


NOT_NOTIFIED = {
    "denied_everything": dict(verdict="denied"),
    "under_another_consent": dict(other_consent=True),
    "over_12_months_ago": dict(months_ago=13),
    "about_another_client": dict(insz="01020312345"),
}


@pytest.mark.parametrize("case", NOT_NOTIFIED.values(), ids=NOT_NOTIFIED.keys())
def test_partner_that_received_nothing_under_the_consent_is_not_notified(
    api: TestClient, settings: Settings, ctx: BrokerContext, case: dict[str, Any]
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    other_id = give_consent(api, settings)["consent"]["id"]
    months = case.get("months_ago")
    _decision(
        ctx, CAW, [other_id if case.get("other_consent") else consent_id],
        verdict=case.get("verdict", "granted"),
        when=None if months is None else add_months(datetime.now(UTC), -months),
        insz=case.get("insz", VALID_INSZ),
    )
    api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    assert _feed(api, settings)["notifications"] == []


def test_each_partner_sees_only_its_own_notices(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _decision(ctx, CAW, [consent_id])
    _decision(ctx, CAW, [consent_id])  # twice: still one notice
    api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    assert len(_feed(api, settings, CAW)["notifications"]) == 1
    assert _feed(api, settings, "ocmw-gent")["notifications"] == []


def test_feed_is_at_least_once_until_acknowledged(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    first_id = give_consent(api, settings)["consent"]["id"]
    second_id = give_consent(api, settings)["consent"]["id"]
    _decision(ctx, CAW, [first_id, second_id])
    api.post(f"/v1/me/consents/{first_id}/revoke", headers=client_auth(settings))
    page = _feed(api, settings)
    again = _feed(api, settings)  # not acknowledged: delivered again
    assert page == again and len(page["notifications"]) == 1
    api.post(f"/v1/me/consents/{second_id}/revoke", headers=client_auth(settings))
    after_ack = _feed(api, settings, cursor=page["cursor"])  # acknowledges the first notice
    assert [n["consent_id"] for n in after_ack["notifications"]] == [second_id]
    resumed = _feed(api, settings)  # without a cursor: resumes after the acknowledged one
    assert resumed == after_ack
    done = _feed(api, settings, cursor=after_ack["cursor"])
    assert done == {"notifications": [], "cursor": after_ack["cursor"]}


BAD_CURSORS = {"not_a_number": "abc", "negative": "-1", "too_long": "9" * 30,
               "beyond_the_feed": "999"}


@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
def test_bad_cursor_rejected(api: TestClient, settings: Settings, cursor: str) -> None:
    response = api.get(f"/v1/notifications?cursor={cursor}", headers=partner_auth(settings))
    assert response.status_code == 422
    assert response.json()["code"] in {"invalid_request", "invalid_cursor"}
    assert _feed(api, settings)["cursor"] == "0"  # nothing acknowledged


def test_feed_needs_a_partner_token(api: TestClient, settings: Settings) -> None:
    assert api.get("/v1/notifications").status_code == 401
    assert api.get("/v1/notifications", headers=client_auth(settings)).status_code == 401


def test_revocation_after_a_real_access_notifies_only_the_partner_that_received_data(
    api: TestClient, settings: Settings
) -> None:
    """The whole loop through HTTP: consent, a granted access request, revocation, notice."""
    from tests.factories import declare_relation

    for partner in (CAW, "ocmw-gent", "dmw-cm"):
        declare_relation(api, settings, partner)
    api.post("/v1/entries", json={"insz": VALID_INSZ, "section": "inkomen",
                                  "content": {"bron": "leefloon"}},
             headers=partner_auth(settings, "ocmw-gent"))
    consent = give_consent(api, settings, recipients=[{"kind": "partner_type", "id": "caw"}],
                           purposes=["rechtenverkenning"], sections=["inkomen"])["consent"]

    def ask(partner: str) -> Any:
        return api.post("/v1/access-requests",
                        json={"insz": VALID_INSZ, "purpose": "rechtenverkenning",
                              "sections": ["inkomen"]},
                        headers=partner_auth(settings, partner)).json()

    assert ask(CAW)["sections"]["inkomen"]["verdict"] == "granted"
    assert ask("dmw-cm")["sections"]["inkomen"]["verdict"] == "denied"
    revoked = api.post(f"/v1/me/consents/{consent['id']}/revoke",
                       headers=client_auth(settings))
    assert revoked.status_code in (200, 201), revoked.text
    [notice] = _feed(api, settings, CAW)["notifications"]
    assert notice["consent_id"] == consent["id"] and notice["change"] == "revoked"
    assert VALID_INSZ not in str(notice)
    assert _feed(api, settings, "dmw-cm")["notifications"] == []
    assert ask(CAW)["sections"]["inkomen"]["verdict"] == "denied"
