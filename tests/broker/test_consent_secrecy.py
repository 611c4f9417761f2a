"""Secrecy canary for relations, consents, receipts, FHIR and notices (DESIGN §3, §6): a unique
INSZ travels through every endpoint of DESIGN §3 and appears in no response, log line, audit entry
or consent table — responses carry pseudonyms only."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from broker.context import BrokerContext
from broker.observability import json_formatter
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.broker.test_secrecy import CALLER_LOGGERS, _canary_insz
from tests.factories import client_auth, in_days, make_desk_consent, partner_auth

CONSENT_TABLES = ("help_relation", "consent_version", "consent_notification", "notification_ack")


def test_insz_canary_never_leaves_the_request(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    insz = _canary_insz()
    typo = insz[:-1] + str((int(insz[-1]) + 1) % 10)
    partner, client = partner_auth, client_auth(settings, insz)
    seen: list[Any] = []

    def call(method: str, path: str, **kw: Any) -> Any:
        response = api.request(method, path, **kw)
        seen.append(response)
        return response

    relation = call("POST", "/v1/relations", json={"insz": insz}, headers=partner(settings)).json()
    call("POST", "/v1/relations", json={"insz": typo}, headers=partner(settings))
    call("POST", "/v1/relations", json={"insz": insz, "end": in_days(-1)},
         headers=partner(settings))
    call("POST", "/v1/relations", json={"insz": insz, insz: insz}, headers=partner(settings))
    desk = call("POST", "/v1/consents", json=make_desk_consent(insz=insz),
                headers=partner(settings)).json()["consent"]
    for bad in ({"insz": typo}, {"purposes": [insz]}, {"sections": [insz]},
                {"recipients": [{"kind": "partner", "id": insz}]}, {"valid_until": insz}):
        call("POST", "/v1/consents", json=make_desk_consent(**{"insz": insz, **bad}),
             headers=partner(settings, "dmw-cm"))
    consent_id = desk["id"]
    call("GET", "/v1/me/relations", headers=client)
    call("GET", "/v1/me/consents", headers=client)
    call("GET", f"/v1/me/consents/{consent_id}/receipt", headers=client)
    call("GET", f"/v1/me/consents/{consent_id}/fhir", headers=client)
    call("POST", f"/v1/me/consents/{consent_id}/narrow", json={"sections": ["inkomen"]},
         headers=client)
    call("POST", f"/v1/me/consents/{consent_id}/narrow", json={"sections": [insz]},
         headers=client)
    call("POST", f"/v1/me/consents/{consent_id}/revoke", headers=client)
    call("POST", "/v1/me/consents", json={"insz": insz}, headers=client)
    call("GET", "/v1/me/consents", headers=partner(settings))
    call("POST", f"/v1/relations/{relation['id']}/end", headers=partner(settings))
    call("GET", "/v1/notifications", headers=partner(settings))
    assert all(r.status_code < 500 for r in seen)

    with engine.connect() as conn:
        stored = [
            tuple(row) for table in CONSENT_TABLES
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608
        ]
    leaves = [decode(leaf) for leaf in ctx.audit.log.store.find_leaves(limit=1000)]
    logs = "\n".join(
        json_formatter().format(r) for r in caplog.records if not r.name.startswith(CALLER_LOGGERS)
    )
    assert stored and leaves and logs
    places = {
        "responses": "\n".join(r.text + repr(dict(r.headers)) for r in seen),
        "audit log": json.dumps(leaves),
        "consent tables": repr(stored),
        "logs": logs,
    }
    for place, dump in places.items():
        assert insz not in dump, f"INSZ canary leaked into {place}"
        assert typo not in dump, f"mistyped INSZ leaked into {place}"
