"""DESIGN §9, "Verification covers everything stored": the query columns of the log.

The finding this answers: on a copy of the database with the triggers dropped, ``UPDATE audit_leaf
SET client=..., break_glass=0, partner=NULL WHERE idx=N`` hid a break-glass access from the
client's access log and from the partner's auditors, and ``gbo-broker audit verify`` said OK. Now
every query column is recomputed from the leaf bytes: verification (database, ``--url``, the
portal's "verify now") names the index and the column, and a search never shows a row whose
columns disagree with its leaf.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.engine import Engine

from audit.entry import decode_leaf
from audit.schema import audit_leaf, audit_node
from broker.context import BrokerContext
from broker.portal.audit_integrity import verify_now
from broker.settings import Settings
from tests.broker.test_audit_tamper import (  # noqa: F401 - fixtures
    LOG_SIZE,
    TAMPERED,
    _assert_tampering_at,
    _attacker,
    _verify,
    _verify_url,
    built_logs,
    live_broker,
    log_of_1000,
)
from tests.factories import (
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    issuer_token,
    make_entry,
    partner_auth,
)

CHANGES: dict[str, Any] = {
    "kind": "consent.created",
    "time": "2020-01-01T00:00:00.000000Z",
    "network": "gbo-elders",
    "partner": None,
    "client": "f" * 32,
    "break_glass": True,
}


@pytest.mark.parametrize(("column", "value"), CHANGES.items(), ids=CHANGES.keys())
def test_verify_names_the_index_and_column_of_a_changed_query_column(
    settings: Settings, log_of_1000: Engine, ctx: BrokerContext, column: str, value: Any,  # noqa: F811
) -> None:
    with _attacker(log_of_1000) as conn:
        conn.execute(update(audit_leaf).where(audit_leaf.c.idx == TAMPERED)
                     .values({column: value}))
    result = _verify(settings)
    _assert_tampering_at(result, TAMPERED)
    assert f"column(s) {column} differ" in result.output
    outcome = verify_now(ctx)  # the auditor portal's "verify now" agrees
    assert not outcome.ok and outcome.bad_index == TAMPERED
    assert column in outcome.message


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_verify_catches_a_flag_stored_as_another_true_value(
    settings: Settings, log_of_1000: Engine,  # noqa: F811
) -> None:
    """SQLite keeps booleans as integers: 2 is truthy in Python, but no search for
    break_glass = true finds it."""
    with _attacker(log_of_1000) as conn:
        conn.execute(text("UPDATE audit_leaf SET break_glass = 2 WHERE idx = :i"),
                     {"i": TAMPERED})
    result = _verify(settings)
    _assert_tampering_at(result, TAMPERED)
    assert "break_glass" in result.output


def _break_glass_access(api: TestClient, settings: Settings) -> int:
    declare_relation(api, settings, partner="dmw-cm")
    api.post("/v1/entries", json=make_entry(section="gezondheid"),
             headers=partner_auth(settings, "dmw-cm"))
    response = api.post("/v1/access-requests", json={
        "insz": VALID_INSZ, "purpose": "noodsituatie",
        "justification": "bewusteloos aangetroffen, medicatie nodig voor de spoeddienst"},
        headers=partner_auth(settings, "dmw-cm"))
    assert response.status_code == 200, response.text
    index: int = response.json()["audit"]["index"]
    return index


def _hide(engine: Engine, index: int) -> None:
    """The finding's statement: the access moves to another client, loses its flag and its
    partner."""
    with _attacker(engine) as conn:
        conn.execute(update(audit_leaf).where(audit_leaf.c.idx == index)
                     .values(client="0" * 32, break_glass=False, partner=None))


def test_a_hidden_break_glass_access_fails_verification_in_the_database_and_over_http(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine,
    live_broker: str,  # noqa: F811
) -> None:
    index = _break_glass_access(api, settings)
    ctx.audit.log.checkpoint_now()
    before = api.get("/v1/me/access-log", headers=client_auth(settings)).json()["entries"]
    assert any(e["break_glass"] for e in before)
    _hide(engine, index)
    # Hidden from the client's access log and the partner's auditors ...
    after = api.get("/v1/me/access-log", headers=client_auth(settings)).json()["entries"]
    assert not any(e["break_glass"] for e in after)
    # ... and caught by every verifier.
    result = _verify(settings)
    _assert_tampering_at(result, index)
    assert "column(s) partner, client, break_glass differ" in result.output
    _assert_tampering_at(_verify_url(settings, live_broker), index)
    outcome = verify_now(ctx)
    assert not outcome.ok and outcome.bad_index == index


def test_searches_refuse_to_show_a_row_whose_columns_differ_from_its_leaf(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    """A row moved *into* the client's access log (or an auditor's search) is not shown as
    theirs: the answer fails with a stable code instead."""
    index = _break_glass_access(api, settings)
    leaf = ctx.audit.log.store.leaf(index)
    assert leaf is not None
    with _attacker(engine) as conn:
        conn.execute(update(audit_leaf).where(audit_leaf.c.idx == index)
                     .values(partner="ocmw-gent"))
    scoped = auth(issuer_token(settings, role="auditor", scope="partner:ocmw-gent"))
    search = api.get("/v1/audit/entries", headers=scoped)
    assert search.status_code == 500
    assert search.json()["code"] == "audit_log_tampered"
    own = api.get("/v1/me/access-log", headers=client_auth(settings))
    assert own.status_code == 500
    assert own.json()["code"] == "audit_log_tampered"
    assert decode_leaf(leaf.leaf)["partner"] == "dmw-cm"


def test_untouched_columns_verify(
    settings: Settings, log_of_1000: Engine,  # noqa: F811
) -> None:
    result = _verify(settings)
    assert result.exit_code == 0, result.output
    assert f"OK: {LOG_SIZE} leaves verified" in result.stdout


# --- the hash index: the stored tree beside the leaves ------------------------------------------

NODES = {  # (level, index of the node at that level) on the path of leaf TAMPERED
    "level_0": (0, TAMPERED),
    "level_1": (1, TAMPERED >> 1),
    "level_4": (4, TAMPERED >> 4),
}


@pytest.mark.parametrize(("level", "idx"), NODES.values(), ids=NODES.keys())
def test_verify_names_the_first_leaf_under_a_changed_stored_hash(
    settings: Settings, log_of_1000: Engine, ctx: BrokerContext, level: int, idx: int,  # noqa: F811
) -> None:
    """The stored subtree hashes serve every inclusion proof, tile and new root: a changed one
    is named by the first leaf under it, by the CLI and by the portal's "verify now"."""
    with _attacker(log_of_1000) as conn:
        conn.execute(update(audit_node).where(audit_node.c.level == level,
                                              audit_node.c.idx == idx)
                     .values(hash=b"\x5a" * 32))
    first = idx << level
    result = _verify(settings)
    _assert_tampering_at(result, first)
    outcome = verify_now(ctx)
    assert not outcome.ok and outcome.bad_index == first
