"""DESIGN §9: each item of a client's access log carries its leaf and an inclusion proof to the
(witnessed) checkpoint served beside it, which the client can check without trusting the
broker's word, and which the server checks too (for a page without JavaScript)."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine

from audit.checkpoint import open_checkpoint
from audit.keys import Ed25519Verifier
from audit.merkle import leaf_hash, verify_inclusion
from audit.schema import audit_checkpoint, audit_node
from broker.context import BrokerContext
from broker.settings import Settings
from tests.broker.test_audit_tamper import _attacker
from tests.broker.test_portal_client import login
from tests.factories import client_auth, declare_relation, make_entry, partner_auth


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Checkpoints only when a test cuts one: a periodic one between two steps of a test would
    prove an item the test means to be not yet covered."""
    return settings.model_copy(update={"checkpoint_interval": 0})


def _accesses(api: TestClient, settings: Settings, n: int) -> None:
    declare_relation(api, settings, partner="caw-oost-vlaanderen")
    api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings,
                                                                     "caw-oost-vlaanderen"))
    for _ in range(n):
        response = api.post("/v1/access-requests", json={"insz": make_entry()["insz"],
                                                         "purpose": "rechtenverkenning"},
                            headers=partner_auth(settings, "caw-oost-vlaanderen"))
        assert response.status_code == 200


def test_each_access_log_item_proves_its_inclusion_in_the_served_checkpoint(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    _accesses(api, settings, 3)
    ctx.audit.log.checkpoint_now()
    _accesses(api, settings, 1)  # after the checkpoint: no proof yet
    body = api.get("/v1/me/access-log", headers=client_auth(settings)).json()
    key = Ed25519Verifier.from_key_string(body["log_key"])
    checkpoint = open_checkpoint(body["checkpoint"], key)
    proven = [e for e in body["entries"] if e["inclusion"] is not None]
    assert len(proven) == 3 and len(body["entries"]) == 4
    for item in proven:
        assert item["tree_size"] == checkpoint.size and item["verified"] is True
        verify_inclusion(leaf_hash(base64.b64decode(item["leaf"])), item["index"],
                         item["tree_size"], [base64.b64decode(h) for h in item["inclusion"]],
                         checkpoint.root_hash)
    [late] = [e for e in body["entries"] if e["inclusion"] is None]
    assert late["verified"] is None and late["tree_size"] is None


def test_a_tampered_stored_hash_makes_the_servers_check_fail(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    _accesses(api, settings, 4)
    ctx.audit.log.checkpoint_now()
    with _attacker(engine) as conn:  # every low subtree hash: on each proof path
        conn.execute(update(audit_node).where(audit_node.c.level <= 2)
                     .values(hash=b"\x11" * 32))
    body = api.get("/v1/me/access-log", headers=client_auth(settings)).json()
    assert body["entries"] and all(e["verified"] is False for e in body["entries"])


def test_a_checkpoint_the_log_key_did_not_sign_fails_every_receipt_not_pending(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    """An insider rewrites the stored checkpoint (another root, the old signature line): the
    server's check says it fails, for every item, rather than "not yet confirmed"."""
    _accesses(api, settings, 2)
    served = ctx.audit.log.checkpoint_now()
    lines = served.note.split("\n")
    lines[2] = base64.b64encode(b"\x07" * 32).decode()
    with _attacker(engine) as conn:
        conn.execute(update(audit_checkpoint).values(note="\n".join(lines)))
    body = api.get("/v1/me/access-log", headers=client_auth(settings)).json()
    assert len(body["entries"]) == 2
    assert all(e["verified"] is False for e in body["entries"])
    login(api)  # An, the demo citizen with VALID_INSZ
    page = api.get("/mijn/toegang")
    assert page.status_code == 200
    assert page.text.count("Controle mislukt") == 2
    assert "Nog niet bevestigd" not in page.text
