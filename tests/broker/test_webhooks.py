"""Pushed notifications (docs/webhooks.md): events reach a partner's webhook signed per the
Standard Webhooks specification, at least once, with retries and a dead-letter list; on both
backends, with a real receiver on loopback that verifies with the specification's library.

The retry clock is driven explicitly (``Deliverer.run_once(now)``); nothing sleeps for timing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from broker.context import BrokerContext, load_context
from broker.errors import ConfigurationError
from broker.settings import Settings
from broker.store.webhook_outbox import WebhookOutboxRow, claim_due
from broker.webhooks.delivery import Deliverer, backoff
from broker.webhooks.events import check_data
from broker.webhooks.signing import signed_headers
from tests.broker.test_notifications import _decision
from tests.factories import (
    VALID_INSZ,
    client_auth,
    declare_relation,
    give_consent,
    in_days,
    partner_auth,
)
from tests.webhook_receiver import Receiver, new_secret

DEMO_REGISTRY = Path(__file__).parents[2] / "broker" / "demo" / "registry.yaml"
OCMW, CAW = "ocmw-gent", "caw-oost-vlaanderen"
LATER = timedelta(days=1)  # beyond any back-off: the event is due again


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(new_secret())
    yield r
    r.release.set()
    r.down()


def write_registry(path: Path, hooks: dict[str, tuple[str, str]]) -> Path:
    """The demo registry with ``hooks`` (partner -> (url, secret)) added."""
    raw = yaml.safe_load(DEMO_REGISTRY.read_text())
    for partner in raw["partners"]:
        if partner["id"] in hooks:
            url, secret = hooks[partner["id"]]
            secret_file = path.parent / f"{partner['id']}.whsec"
            secret_file.write_text(secret)
            partner["webhook"] = {"url": url, "secret_file": str(secret_file)}
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, receiver: Receiver) -> Settings:
    """Demo settings whose registry gives two partners a webhook to ``receiver``; no delivery
    thread (the tests drive the deliverer), three attempts at most."""
    registry = write_registry(tmp_path / "registry.yaml",
                              {OCMW: (receiver.url, receiver.secret),
                               CAW: (receiver.url, receiver.secret)})
    return settings.model_copy(update={"registry_file": registry, "webhook_worker": False,
                                       "webhook_max_attempts": 3, "webhook_timeout": 5.0})


def deliverer(ctx: BrokerContext) -> Deliverer:
    assert ctx.webhooks is not None
    return ctx.webhooks


def rows(engine: Engine) -> list[WebhookOutboxRow]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookOutboxRow).order_by(WebhookOutboxRow.id)).all())


def ask(api: TestClient, settings: Settings) -> str:
    declare_relation(api, settings, eid=False)
    response = api.post("/v1/consent-requests", headers=partner_auth(settings), json={
        "insz": VALID_INSZ, "recipients": [{"kind": "partner", "id": OCMW}],
        "purposes": ["rechtenverkenning"], "sections": ["identiteit", "inkomen"],
        "valid_until": in_days(100)})
    assert response.status_code == 201, response.text
    request_id: str = response.json()["id"]
    return request_id


def answer(api: TestClient, settings: Settings, request_id: str, how: str) -> dict[str, Any]:
    response = api.post(f"/v1/me/consent-requests/{request_id}/{how}",
                        json={} if how == "approve" else None, headers=client_auth(settings))
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def test_approval_is_pushed_signed_to_the_asking_partner_with_ids_only(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    request_id = ask(api, settings)
    approved = answer(api, settings, request_id, "approve")
    assert deliverer(ctx).run_once() == 1
    [delivery] = receiver.deliveries
    assert delivery.verified  # the library's verifier: signature and timestamp
    assert delivery.headers["webhook-id"].startswith("msg_")
    assert delivery.event["type"] == "consent_request.approved"
    assert delivery.event["data"] == {"consent_request_id": request_id,
                                      "consent_id": approved["consent"]["id"]}
    assert VALID_INSZ not in delivery.body.decode()
    assert ctx.keyring.client_ref("gbo-gent", VALID_INSZ) not in delivery.body.decode()
    assert [r.state for r in rows(ctx.engine)] == ["delivered"]
    assert deliverer(ctx).run_once(datetime.now(UTC) + LATER) == 0  # delivered once


def test_revocation_is_pushed_to_the_partner_that_received_data(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    consent_id = give_consent(api, settings)["consent"]["id"]
    _decision(ctx, CAW, [consent_id])
    revoked = api.post(f"/v1/me/consents/{consent_id}/revoke", headers=client_auth(settings))
    assert revoked.status_code == 200, revoked.text
    deliverer(ctx).run_once()
    assert [(d.event["type"], d.event["data"]) for d in receiver.verified] == [
        ("consent.revoked", {"consent_id": consent_id, "version": 2})]
    assert [r.partner for r in rows(ctx.engine)] == [CAW]  # only the partner that received


def test_referral_changes_are_pushed_to_the_partner_concerned(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    declare_relation(api, settings, OCMW)
    created = api.post("/v1/referrals", headers=partner_auth(settings, OCMW), json={
        "insz": VALID_INSZ, "to": CAW, "reason": "schulden",
        "sections": ["contact", "hulpvraag", "identiteit"]})
    assert created.status_code == 201, created.text
    referral = created.json()
    assert referral["status"] == "awaiting_consent"  # not proposed to the receiver yet
    answer(api, settings, referral["consent_request_id"], "approve")
    declined = api.post(f"/v1/referrals/{referral['id']}/decline", json={"reason": "wachtlijst"},
                        headers=partner_auth(settings, CAW))
    assert declined.status_code == 200, declined.text
    deliverer(ctx).run_once()
    assert sorted((r.partner, r.event_type, r.state) for r in rows(ctx.engine)) == [
        (CAW, "referral.proposed", "delivered"),
        (OCMW, "consent_request.approved", "delivered"),
        (OCMW, "referral.declined", "delivered"),
    ]
    pushed = {d.event["type"]: d.event["data"] for d in receiver.verified}
    assert pushed["referral.proposed"] == pushed["referral.declined"] == {
        "referral_id": referral["id"]}
    assert VALID_INSZ not in "".join(d.body.decode() for d in receiver.deliveries)


def test_receiver_that_is_down_gets_the_event_when_it_comes_back(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    request_id = ask(api, settings)
    receiver.down()
    answer(api, settings, request_id, "refuse")
    now = datetime.now(UTC)
    assert deliverer(ctx).run_once(now) == 1
    [row] = rows(ctx.engine)
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, "connection")
    assert row.next_attempt_at > now  # backed off
    assert deliverer(ctx).run_once(now) == 0  # not due yet
    receiver.up()
    assert deliverer(ctx).run_once(now + LATER) == 1
    [delivery] = receiver.verified
    assert delivery.event["type"] == "consent_request.refused"
    assert [r.state for r in rows(ctx.engine)] == ["delivered"]


def test_event_is_a_dead_letter_after_the_last_attempt_and_can_be_redelivered(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    request_id = ask(api, settings)
    answer(api, settings, request_id, "refuse")
    receiver.status = 500
    now = datetime.now(UTC)
    for attempt in range(settings.webhook_max_attempts):
        assert deliverer(ctx).run_once(now + attempt * LATER) == 1
    assert deliverer(ctx).run_once(now + 10 * LATER) == 0  # dead: never tried again
    metrics = api.get("/metrics").text
    assert 'gbo_webhook_outbox_events{state="dead"} 1.0' in metrics
    assert 'gbo_webhook_outbox_events{state="pending"} 0.0' in metrics
    assert 'gbo_webhook_deliveries_total{outcome="retry"} 2.0' in metrics
    assert 'gbo_webhook_deliveries_total{outcome="dead"} 1.0' in metrics
    page = api.get("/v1/webhooks/dead-letters", headers=partner_auth(settings)).json()
    [dead] = page["dead_letters"]
    assert (dead["type"], dead["attempts"], dead["last_status"], dead["last_error"]) == (
        "consent_request.refused", 3, 500, "status")
    assert json.loads(dead["payload"])["data"] == {"consent_request_id": request_id}
    other = api.get("/v1/webhooks/dead-letters", headers=partner_auth(settings, CAW)).json()
    assert other["dead_letters"] == []  # another partner's dead letters are not shown
    stolen = api.post(f"/v1/webhooks/dead-letters/{dead['id']}/redeliver",
                      headers=partner_auth(settings, CAW))
    assert (stolen.status_code, stolen.json()["code"]) == (404, "dead_letter_not_found")

    receiver.status = 204
    again = api.post(f"/v1/webhooks/dead-letters/{dead['id']}/redeliver",
                     headers=partner_auth(settings))
    assert (again.status_code, again.json()) == (202, {"id": dead["id"], "state": "pending"})
    assert deliverer(ctx).run_once() == 1
    assert receiver.verified[-1].headers["webhook-id"] == dead["id"]  # the same webhook-id
    assert api.get("/v1/webhooks/dead-letters",
                   headers=partner_auth(settings)).json()["dead_letters"] == []
    twice = api.post(f"/v1/webhooks/dead-letters/{dead['id']}/redeliver",
                     headers=partner_auth(settings))
    assert twice.status_code == 404  # delivered: no longer a dead letter


@pytest.mark.parametrize("message_id", ["msg_x", "msg_" + "A" * 28, "85073003328"],
                         ids=["short", "upper_case", "insz"])
def test_redeliver_of_a_malformed_id_is_a_problem(
    api: TestClient, settings: Settings, message_id: str
) -> None:
    response = api.post(f"/v1/webhooks/dead-letters/{message_id}/redeliver",
                        headers=partner_auth(settings))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_dead_letters_need_a_partner_token(api: TestClient) -> None:
    assert api.get("/v1/webhooks/dead-letters").status_code == 401


def test_receiver_with_another_secret_refuses_the_delivery_and_it_stays_pending(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    receiver.secret = new_secret()  # the partner rotated on its side only
    request_id = ask(api, settings)
    answer(api, settings, request_id, "refuse")
    deliverer(ctx).run_once()
    [delivery] = receiver.deliveries
    assert not delivery.verified
    [row] = rows(ctx.engine)
    assert (row.state, row.last_status, row.last_error) == ("pending", 400, "status")


def test_the_outbox_survives_a_restart(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine, receiver: Receiver
) -> None:
    request_id = ask(api, settings)
    answer(api, settings, request_id, "refuse")
    ctx.close()  # the broker stops before delivering
    restarted = load_context(settings, engine=engine)
    try:
        assert deliverer(restarted).run_once() == 1
    finally:
        restarted.close()
    assert [d.event["type"] for d in receiver.verified] == ["consent_request.refused"]


def test_two_deliverers_never_send_the_same_event_at_once(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    request_id = ask(api, settings)
    answer(api, settings, request_id, "refuse")
    first, second = deliverer(ctx), Deliverer(engine=ctx.engine, registry=ctx.registry,
                                              deliveries=ctx.metrics.webhook_deliveries)
    receiver.release.clear()  # the receiver holds its answer
    sending = threading.Thread(target=first.run_once)
    sending.start()
    assert receiver.arrived.wait(30)
    assert second.run_once() == 0  # claimed by the first, which is still sending
    receiver.release.set()
    sending.join(30)
    assert second.run_once(datetime.now(UTC) + LATER) == 0  # delivered
    assert len(receiver.deliveries) == 1
    second.close()


def test_a_deliverer_that_died_holding_an_event_leaves_it_to_another_after_the_lease(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    request_id = ask(api, settings)
    answer(api, settings, request_id, "refuse")
    now = datetime.now(UTC)
    [claimed] = claim_due(engine=ctx.engine, owner="dead-worker", now=now,
                          lease=timedelta(minutes=1), limit=10, partners=[OCMW])
    assert deliverer(ctx).run_once(now) == 0
    assert deliverer(ctx).run_once(now + timedelta(minutes=2)) == 1
    assert [d.headers["webhook-id"] for d in receiver.verified] == [claimed.message_id]


def test_delivered_events_are_pruned_after_thirty_days_and_dead_ones_kept(
    api: TestClient, settings: Settings, ctx: BrokerContext, receiver: Receiver
) -> None:
    for _ in range(2):
        answer(api, settings, ask(api, settings), "refuse")
    now = datetime.now(UTC)
    with Session(ctx.engine) as session:  # the second one is dead already
        row = session.exec(select(WebhookOutboxRow).order_by(WebhookOutboxRow.id)).all()[1]
        row.state = "dead"
        session.add(row)
        session.commit()
    assert deliverer(ctx).run_once(now) == 1
    assert deliverer(ctx).prune(now + timedelta(days=29)) == 0
    assert deliverer(ctx).prune(now + timedelta(days=31)) == 1
    assert [r.state for r in rows(ctx.engine)] == ["dead"]


def test_the_background_worker_delivers_without_being_driven(
    settings: Settings, engine: Engine, receiver: Receiver
) -> None:
    from broker.app import create_app

    running = load_context(settings.model_copy(update={"webhook_worker": True}), engine=engine)
    try:
        with TestClient(create_app(context=running)) as api:
            answer(api, settings, ask(api, settings), "refuse")
            assert receiver.arrived.wait(30)  # a deadline, not a timing
    finally:
        running.close()
    assert [d.event["type"] for d in receiver.verified] == ["consent_request.refused"]


# --- receivers' side: the library's verifier refuses what it must ------------------------------

def test_receiver_refuses_a_tampered_body_an_old_timestamp_and_another_secret() -> None:
    secret, body = new_secret(), '{"data":{},"timestamp":"x","type":"consent.revoked"}'
    now = datetime.now(UTC)
    good = signed_headers(secret=secret, message_id="msg_" + "a" * 28, timestamp=now, body=body)
    Webhook(secret).verify(body, good)
    for data, headers, verifier in [
        (body.replace("revoked", "narrowed"), good, secret),
        (body, signed_headers(secret=secret, message_id="msg_" + "a" * 28,
                              timestamp=now - timedelta(minutes=10), body=body), secret),
        (body, good, new_secret()),
    ]:
        with pytest.raises(WebhookVerificationError):
            Webhook(verifier).verify(data, headers)


# --- pure parts ---------------------------------------------------------------------------------

def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    waits = [backoff(n, base=30, cap=3600, rand=lambda: 1.0).total_seconds() for n in (1, 2, 3)]
    assert waits == [30, 60, 120]
    assert backoff(20, base=30, cap=3600, rand=lambda: 1.0).total_seconds() == 3600
    assert backoff(1, base=30, cap=3600, rand=lambda: 0.0).total_seconds() == 15


@pytest.mark.parametrize(("event_type", "data"), [
    ("consent.revoked", {"consent_id": "85073003328", "version": 2}),
    ("consent.revoked", {"consent_id": "cs-" + "a" * 32, "version": 2, "insz": "x"}),
    ("consent.revoked", {"consent_id": "cs-" + "a" * 32, "version": 10**11}),
    ("consent.revoked", {"consent_id": "Jan Peeters", "version": 2}),
    ("dossier.read", {}),
], ids=["insz_as_id", "extra_field", "big_number", "free_text", "unknown_type"])
def test_an_event_carries_only_broker_made_ids(event_type: str, data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"."):
        check_data(event_type, data)


@pytest.mark.parametrize("url", ["http://example.org/hook", "ftp://127.0.0.1/hook",
                                 "https://user:pw@example.org/hook", "https://example.org/#x",
                                 "not a url"],
                         ids=["plain_http_remote", "ftp", "user_info", "fragment", "garbage"])
def test_registry_refuses_a_webhook_url_that_is_not_https_or_loopback(
    tmp_path: Path, url: str
) -> None:
    from broker.security.registry import load_registry

    path = write_registry(tmp_path / "registry.yaml", {OCMW: (url, new_secret())})
    with pytest.raises(ConfigurationError, match="webhook"):
        load_registry(path, data_dir=tmp_path)


@pytest.mark.parametrize("secret", ["", "whsec_!!!", "whsec_" + "YQ==", "c2VjcmV0c2VjcmV0"],
                         ids=["empty", "not_base64", "too_short", "no_prefix"])
def test_registry_refuses_a_webhook_secret_that_is_not_a_standard_one(
    tmp_path: Path, demo_data_dir: Path, secret: str
) -> None:
    from broker.security.registry import load_registry

    path = write_registry(tmp_path / "registry.yaml", {OCMW: ("https://example.org/h", secret)})
    with pytest.raises(ConfigurationError, match="secret"):
        load_registry(path, data_dir=demo_data_dir)


def test_registry_gives_a_partner_its_webhook(tmp_path: Path, demo_data_dir: Path) -> None:
    from broker.security.registry import load_registry

    secret = new_secret()
    path = write_registry(tmp_path / "registry.yaml", {OCMW: ("https://example.org/h", secret)})
    registry = load_registry(path, data_dir=demo_data_dir)
    webhook = registry.partners[OCMW].webhook
    assert webhook is not None and (webhook.url, webhook.secret) == ("https://example.org/h",
                                                                      secret)
    assert secret not in repr(registry.partners[OCMW])
    assert registry.partners[CAW].webhook is None


def test_plain_http_webhook_is_refused_outside_demo_mode(settings: Settings, tmp_path: Path
                                                         ) -> None:
    from tests.factories import production_settings

    production = production_settings(settings, tmp_path)
    assert production.registry_file is not None
    raw = yaml.safe_load(production.registry_file.read_text())
    secret_file = tmp_path / "prod.whsec"
    secret_file.write_text(new_secret())
    raw["partners"][0]["webhook"] = {"url": "http://127.0.0.1:9/hook",
                                     "secret_file": str(secret_file)}
    production.registry_file.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigurationError, match="plain-http webhooks"):
        load_context(production)


def test_loopback_receiver_is_reachable(receiver: Receiver) -> None:
    """The receiver itself: a wrong signature is answered 400 (what the broker counts as a
    failed attempt)."""
    response = requests.post(receiver.url, data=b"{}", timeout=5, headers=signed_headers(
        secret=new_secret(), message_id="msg_" + "b" * 28, timestamp=datetime.now(UTC),
        body="{}"))
    assert response.status_code == 400
