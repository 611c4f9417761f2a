"""Redacting a broken or mistaken dossier entry (``gbo-broker entry redact``): audited first,
the content gone, the entry's existence and its redaction visible, the log still verifying.

The broken entry here is one stored before the strict JSON reader bounded bodies: 500 levels
deep, which the response serialiser cannot write, so every read of the dossier failed (500) and
there was no way to remove it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from broker.cli import app
from broker.context import BrokerContext
from broker.errors import AuditUnavailable, EntryAlreadyRedacted, EntryNotFound
from broker.services import dossier
from broker.services.redaction import redact_entry
from broker.settings import Settings
from broker.store.db import session_scope
from broker.store.models import Entry
from tests.broker.test_access_flow import REFUSE_INSERTS
from tests.broker.test_portal_client import login
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    issuer_token,
    make_entry,
    partner_auth,
)

runner = CliRunner()
CANARY = "KANARIE-51c2-vergissing"


def cli(settings: Settings, *args: str) -> Any:
    return runner.invoke(app, list(args), env={
        "GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
        "GBO_DATABASE_URL": settings.resolved_database_url})


def nested(depth: int) -> Any:
    value: Any = {"note": CANARY}
    for _ in range(depth):
        value = {"a": value}
    return value


def store_legacy_entry(ctx: BrokerContext, engine: Engine, content: Any) -> str:
    """An entry as the broker stored it before bodies were bounded (the same service call the
    route made, without the reader in front)."""
    with session_scope(engine) as session:
        entry = dossier.store_entry(
            session=session, keyring=ctx.keyring, network="gbo-gent", author="ocmw-gent",
            worker="w-1", now=datetime.now(UTC),
            entry_in=dossier.NewEntry(insz=VALID_INSZ, section="hulpvraag", content=content))
        return entry.id


def own_hulpvraag(api: TestClient, settings: Settings) -> Any:
    return api.post("/v1/access-requests", headers=partner_auth(settings),
                    json={"insz": VALID_INSZ, "purpose": "hulpvraagverheldering",
                          "sections": ["hulpvraag"]})


def test_a_broken_entry_is_found_redacted_and_the_dossier_is_served_again(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    declare_relation(api, settings)
    kept = api.post("/v1/entries", json=make_entry(content={"vraag": "huur"}),
                    headers=partner_auth(settings)).json()["id"]
    broken = store_legacy_entry(ctx, engine, nested(500))
    assert api.get("/v1/me/dossier", headers=client_auth(settings)).status_code == 500
    assert own_hulpvraag(api, settings).status_code == 500

    check = cli(settings, "entry", "check")
    assert check.exit_code == 1
    assert check.output.splitlines() == [f"{broken}\thulpvraag\tocmw-gent\tjson_too_deep"]

    done = cli(settings, "entry", "redact", broken, "--reason", "malformed", "--yes")
    assert done.exit_code == 0, done.output
    assert cli(settings, "entry", "check").exit_code == 0

    mine = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert mine.status_code == 200
    assert [(e["id"], e["redacted"], e["content"]) for e in mine.json()["entries"]] == [
        (kept, False, {"vraag": "huur"}), (broken, True, None)]
    released = own_hulpvraag(api, settings)
    assert released.status_code == 200
    assert {e["id"]: (e["redacted"], e.get("content")) for e in
            released.json()["sections"]["hulpvraag"]["entries"]} == {
        kept: (False, {"vraag": "huur"}), broken: (True, None)}
    login(api)  # the client's portal says so, in Dutch
    page = api.get("/mijn/dossier")
    assert page.status_code == 200
    assert "gewist door de beheerder" in page.text and "huur" in page.text

    # audited: kind, author, entry id and reason in clear; never the content
    auditor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
    logged = api.get("/v1/audit/entries?kind=entry.redacted", headers=auditor).json()["entries"]
    assert [(e["partner"], e["facts"]) for e in logged] == [
        ("ocmw-gent", {"record_kind": "entry", "record_id": broken, "reason": "malformed"})]
    assert cli(settings, "audit", "checkpoint").exit_code == 0  # covers the redaction
    verify = cli(settings, "audit", "verify")
    assert verify.exit_code == 0, verify.output
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT content_ct FROM entry WHERE id = :id"),
                              {"id": broken}).scalar_one()
        leaves = b"".join(bytes(r[0]) for r in conn.execute(text("SELECT leaf FROM audit_leaf")))
    assert bytes(stored) == b""
    assert CANARY.encode() not in leaves


def test_redacting_twice_or_an_unknown_entry_is_refused(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    declare_relation(api, settings)
    entry_id = api.post("/v1/entries", json=make_entry(content={"note": CANARY}),
                        headers=partner_auth(settings)).json()["id"]
    first = cli(settings, "entry", "redact", entry_id, "--reason", "mistaken", "--yes")
    assert first.exit_code == 0, first.output
    again = cli(settings, "entry", "redact", entry_id, "--reason", "mistaken", "--yes")
    assert again.exit_code == 2 and "entry_redacted" in again.output
    unknown = cli(settings, "entry", "redact", "e-00000000000000000000000000000000",
                  "--reason", "mistaken", "--yes")
    assert unknown.exit_code == 2 and "entry_not_found" in unknown.output
    bad_reason = cli(settings, "entry", "redact", entry_id, "--reason", "because", "--yes")
    assert bad_reason.exit_code == 2
    with session_scope(engine) as session:
        with pytest.raises(EntryAlreadyRedacted):
            redact_entry(session=session, audit=ctx.audit, entry_id=entry_id,
                         reason="mistaken", now=datetime.now(UTC))
        with pytest.raises(EntryNotFound):
            redact_entry(session=session, audit=ctx.audit, entry_id="e-unknown",
                         reason="mistaken", now=datetime.now(UTC))
    login(api)
    page = api.get("/mijn/dossier")
    assert page.status_code == 200 and "gewist door de beheerder" in page.text
    assert CANARY not in page.text


def test_nothing_is_redacted_when_its_audit_entry_cannot_be_stored(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    """DESIGN: audit before effect."""
    declare_relation(api, settings)
    entry_id = api.post("/v1/entries", json=make_entry(content={"note": CANARY}),
                        headers=partner_auth(settings)).json()["id"]
    with engine.begin() as conn:
        for statement in REFUSE_INSERTS[conn.dialect.name]:
            conn.exec_driver_sql(statement)
    with session_scope(engine) as session, pytest.raises(AuditUnavailable):
        redact_entry(session=session, audit=ctx.audit, entry_id=entry_id, reason="mistaken",
                     now=datetime.now(UTC))
    with session_scope(engine) as session:
        entry = session.get(Entry, entry_id)
        assert entry is not None and not entry.is_redacted
    mine = api.get("/v1/me/dossier", headers=client_auth(settings)).json()["entries"]
    assert mine[0]["content"] == {"note": CANARY}
