"""Key rotation (DESIGN §5 ``keys rotate``, §6, §7): the KEK, the log's key and the receipt key
are replaced while the broker serves, and what the old keys wrapped or signed stays readable
and verifiable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from audit.checkpoint import open_checkpoint
from audit.errors import UnverifiedNoteError
from audit.keys import Ed25519Verifier
from audit.note import parse_note
from broker.app import create_app
from broker.cli import app
from broker.context import BrokerContext, load_context
from broker.security.keys import load_keks
from broker.services import dossier
from broker.services.erasure import erase_client
from broker.services.key_rotation import rotate
from broker.services.rewrap import rewrap_data_keys
from broker.settings import Settings
from broker.store.audit_events import decode
from broker.store.db import session_scope
from broker.store.models import Client
from consent.receipt import verify_receipt
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    give_consent,
    make_entry,
    partner_auth,
)

runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    return {"GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
            "GBO_DATABASE_URL": settings.resolved_database_url}


@pytest.fixture
def watching(settings: Settings, engine: Engine) -> Iterator[BrokerContext]:
    """A serving broker that looks at its key files at every use (no wait for a rotation)."""
    context = load_context(settings.model_copy(update={"key_reload_interval": 0}),
                           engine=engine)
    yield context
    context.close()


@pytest.fixture
def served(watching: BrokerContext) -> Iterator[TestClient]:
    with TestClient(create_app(context=watching), raise_server_exceptions=False) as client:
        yield client


def _write(api: TestClient, settings: Settings, insz: str, marker: str) -> None:
    declare_relation(api, settings, "ocmw-gent", insz)
    response = api.post("/v1/entries", json=make_entry(insz=insz, content={"vraag": marker}),
                        headers=partner_auth(settings))
    assert response.status_code == 201, response.text


def _dossier(api: TestClient, settings: Settings, insz: str) -> tuple[int, str]:
    response = api.get("/v1/me/dossier", headers=client_auth(settings, insz))
    return response.status_code, response.text


def _rotations(context: BrokerContext) -> list[dict[str, Any]]:
    store = context.audit.log.store
    leaves = (decode(store.leaf(i)) for i in range(store.size()))  # type: ignore[arg-type]
    return [e for e in leaves if e["kind"] == "key.rotated"]


def test_kek_rotation_keeps_every_dossier_readable_and_erased_clients_unreadable(
    settings: Settings, engine: Engine
) -> None:
    # A broker that would look at its key files only once an hour: it must still read a data
    # key re-wrapped under a KEK it has never seen (a look at the file on an unknown kek_id).
    slow = load_context(settings.model_copy(update={"key_reload_interval": 3600}),
                        engine=engine)
    with TestClient(create_app(context=slow), raise_server_exceptions=False) as api:
        _write(api, settings, VALID_INSZ, "kept-marker")
        _write(api, settings, OTHER_INSZ, "shredded-marker")
        with session_scope(engine) as session:
            erase_client(session=session, audit=slow.audit, network="gbo-gent",
                         ref=slow.keyring.client_ref("gbo-gent", OTHER_INSZ),
                         now=datetime.now(UTC))
        old_kid = load_keks(settings).current.kid

        rotated = rotate(ctx=slow, key="kek", now=datetime.now(UTC))
        # Before any re-wrap: the data key wrapped by the retired KEK is still read.
        assert _dossier(api, settings, VALID_INSZ)[0] == 200
        done = rewrap_data_keys(engine=engine, keks=load_keks(settings), batch=1)

        assert (done.rewrapped, done.remaining) == (1, 0)
        with session_scope(engine) as session:
            kept = _stored(session, slow, VALID_INSZ)
            shredded = _stored(session, slow, OTHER_INSZ)
            assert (kept.kek_id, shredded.kek_id) == (rotated.key_id, old_kid)
            assert shredded.data_key_wrapped is None
        status, body = _dossier(api, settings, VALID_INSZ)
        assert status == 200 and "kept-marker" in body
        status, body = _dossier(api, settings, OTHER_INSZ)
        assert status == 410 and "shredded-marker" not in body
        [*_, entry] = _rotations(slow)
        assert entry["facts"] == {"key": "kek", "key_id": rotated.key_id,
                                  "previous_key_id": old_kid}
    slow.close()


def _stored(session: Any, context: BrokerContext, insz: str) -> Client:
    found = dossier.find_client_by_ref(session, network="gbo-gent",
                                       client_ref=context.keyring.client_ref("gbo-gent", insz))
    assert found is not None
    return found


def test_new_clients_are_wrapped_by_the_new_kek_once_the_broker_sees_the_rotation(
    settings: Settings, watching: BrokerContext, served: TestClient
) -> None:
    rotated = rotate(ctx=watching, key="kek", now=datetime.now(UTC))
    _write(served, settings, VALID_INSZ, "after-rotation")
    with session_scope(watching.engine) as session:
        assert _stored(session, watching, VALID_INSZ).kek_id == rotated.key_id


def test_log_rotation_old_checkpoints_verify_with_the_old_key_new_ones_with_the_new(
    settings: Settings, watching: BrokerContext, served: TestClient
) -> None:
    _write(served, settings, VALID_INSZ, "before")
    old_note = watching.audit.log.checkpoint_now().note
    old_key = Ed25519Verifier.from_key_string(served.get("/v1/audit/key").text.strip())

    rotate(ctx=watching, key="log", now=datetime.now(UTC))
    _write(served, settings, OTHER_INSZ, "after")
    new_note = watching.audit.log.checkpoint_now().note
    new_key = Ed25519Verifier.from_key_string(served.get("/v1/audit/key").text.strip())

    assert new_key.name == old_key.name and new_key.key_id != old_key.key_id
    assert open_checkpoint(old_note, old_key).size > 0
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(old_note, new_key)
    assert open_checkpoint(new_note, new_key).size > open_checkpoint(old_note, old_key).size
    with pytest.raises(UnverifiedNoteError):
        open_checkpoint(new_note, old_key)
    assert served.get("/v1/audit/keys").text.split() == [new_key.key_string(),
                                                        old_key.key_string()]
    # The handover: the tree holding the rotation's entry is signed by both keys.
    [entry] = _rotations(watching)
    handover = watching.audit.log.store.checkpoint(entry["index"] + 1)
    assert handover is not None
    assert {(s.name, s.key_id) for s in parse_note(handover.note)[1]} == {
        (old_key.name, old_key.key_id), (new_key.name, new_key.key_id)}
    assert entry["facts"]["key_id"] == f"log-{new_key.key_id:08x}"
    result = runner.invoke(app, ["audit", "verify"], env=_env(settings))
    assert result.exit_code == 0, result.output
    # Without the retired key, the checkpoints it signed do not verify.
    alone = runner.invoke(app, ["audit", "verify", "--key", new_key.key_string(),
                                "--state", str(settings.data_dir / "no-state.txt")],
                          env=_env(settings))
    assert alone.exit_code == 1 and "TAMPERING" in alone.output


def test_receipt_rotation_old_receipts_still_verify(
    settings: Settings, watching: BrokerContext, served: TestClient
) -> None:
    consent_id = give_consent(served, settings)["consent"]["id"]
    path = f"/v1/me/consents/{consent_id}/receipt"
    before = served.get(path, headers=client_auth(settings)).json()

    rotated = rotate(ctx=watching, key="receipt", now=datetime.now(UTC))
    jwks = served.get("/.well-known/jwks.json").json()
    after = served.get(path, headers=client_auth(settings)).json()

    assert [k["kid"] for k in jwks["keys"]] == [rotated.key_id, rotated.previous_key_id]
    assert all("d" not in k for k in jwks["keys"])
    assert verify_receipt(before["jws"], jwks) == before["receipt"]
    assert verify_receipt(after["jws"], jwks) == after["receipt"]
    header = json.loads(_b64decode(after["jws"].split(".")[0]))
    assert header["kid"] == rotated.key_id
    [entry] = _rotations(watching)
    assert entry["facts"]["key"] == "receipt"


def _b64decode(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_rotate_cli_refuses_an_unknown_key(settings: Settings, engine: Engine) -> None:
    result = runner.invoke(app, ["keys", "rotate", "pseudonym"], env=_env(settings))
    assert result.exit_code == 2 and "kek, log, receipt" in result.output


def test_rotate_cli_rotates_and_rewraps(settings: Settings, engine: Engine,
                                        ctx: BrokerContext, api: TestClient) -> None:
    _write(api, settings, VALID_INSZ, "cli-marker")
    result = runner.invoke(app, ["keys", "rotate", "kek"], env=_env(settings))
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 data keys; 0 left" in result.output
    again = runner.invoke(app, ["keys", "rewrap"], env=_env(settings))
    assert again.exit_code == 0 and "re-wrapped 0 data keys; 0 left" in again.output
    status, body = _dossier(api, settings, VALID_INSZ)
    assert status == 200 and "cli-marker" in body


@pytest.mark.parametrize("key", ["kek", "log", "receipt"])
def test_rotation_while_a_live_broker_serves_fails_no_request(
    settings: Settings, ctx: BrokerContext, key: str
) -> None:
    import httpx2 as httpx

    from tests.broker.load import Load
    from tests.live_server import served as live

    with live(ctx) as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            declare_relation(client, settings, "ocmw-gent", VALID_INSZ)  # type: ignore[arg-type]
            _write(client, settings, VALID_INSZ, "live-marker")  # type: ignore[arg-type]
        with Load(base, settings) as load:
            load.wait_for(6)
            result = runner.invoke(app, ["keys", "rotate", key], env=_env(settings))
            assert result.exit_code == 0, result.output
            load.wait_for(load.done + 9)  # the broker kept serving after the rotation
        assert load.failures == []
        ctx.audit.log.checkpoint_now()
    verified = runner.invoke(app, ["audit", "verify"], env=_env(settings))
    assert verified.exit_code == 0, verified.output
