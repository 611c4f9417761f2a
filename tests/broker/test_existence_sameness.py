"""DESIGN §4 "no existence leak", beyond the body: an access request or an involvement question
about a client the broker never saw does the same work as one about a client it knows (the same
SQL statements returning as many rows, the same policy evaluation on an input of the same size
and shape, a data key unwrapped either way) and leaves the same kind of audit entry (always an
encrypted detail), so neither the time it takes nor the partner's own auditor tells them apart.
Timings themselves are measured in bench/existence_timing.py, not here."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from broker.context import BrokerContext
from broker.policy.inputs import (
    NOBODY,
    PAD_BUCKETS,
    PAD_CONSENT,
    PAD_RELATION,
    consent_input,
    relation_input,
)
from broker.security.auth import PartnerPrincipal
from broker.services import access, dossier
from broker.settings import Settings
from broker.store.db import session_scope
from broker.store.keyring import DECOY_CLIENT_ID
from consent import store as consent_store
from tests.broker.access_scenarios import INSZ, C, Case, E, R, now, write_scenario
from tests.factories import auth, client_auth, issuer_token, make_entry, partner_auth

NEVER_SEEN = "01020312345"
CAW, OCMW, CM = "caw-oost-vlaanderen", "ocmw-gent", "dmw-cm"
SECTIONS = ["identiteit", "contact", "inkomen", "huisvesting"]
# A client the requester (caw) does not help: relations, consents and entries of others only.
KNOWN = Case("known", {}, relations=(R(OCMW), R(CM)),
             consents=(C(recipients=(("partner_type", "ocmw"),), sections=("inkomen",)),
                       C(recipients=(("partner", CM),), purposes=("doorverwijzing",))),
             entries=(E("i", OCMW, "inkomen"), E("h", OCMW, "huisvesting"),
                      E("c", CM, "contact")))
ASKS = {
    "access_request": ("/v1/access-requests", {"purpose": "rechtenverkenning",
                                               "sections": SECTIONS}),
    "involvement": ("/v1/involvement", {"purpose": "doorverwijzing"}),
}
# Tables a request about a client reads; the log's own statements (its writer and checkpoints
# run on their own threads and timers) and the token replay guard are not about the client.
_CLIENT_TABLES = re.compile(r"\b(client|entry|help_relation\w*|consent\w*|exclusion\w*)\b")
_BOUND = re.compile(r"\s+")


@pytest.fixture
def statements(ctx: BrokerContext) -> Iterator[list[str]]:
    """The SQL text of every statement run on the broker's database that reads the client's
    records, in order (parameters left out: they are the client's pseudonym and ids)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if _CLIENT_TABLES.search(statement) and not statement.lstrip().upper().startswith(
                ("INSERT", "UPDATE", "DELETE")):
            seen.append(_BOUND.sub(" ", statement).strip())

    event.listen(ctx.engine, "before_cursor_execute", record)
    yield seen
    event.remove(ctx.engine, "before_cursor_execute", record)


@pytest.fixture
def evaluations(ctx: BrokerContext, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """Per policy evaluation: the sizes of the input's lists about the client. The real engine
    answers; this only looks at what it was asked."""
    seen: list[dict[str, int]] = []
    engine = ctx.policy.engine
    real = engine.evaluate

    def evaluate(rule: str, input_doc: Any) -> Any:
        seen.append({"rule": rule, "relations": len(input_doc["client"]["help_relations"]),
                     "consents": len(input_doc["consents"]),
                     "entries": len(input_doc["entries"])})
        return real(rule, input_doc)

    monkeypatch.setattr(engine, "evaluate", evaluate)
    return seen


def _ask(api: TestClient, settings: Settings, ask: str, insz: str) -> dict[str, Any]:
    path, body = ASKS[ask]
    response = api.post(path, json={"insz": insz, **body}, headers=partner_auth(settings, CAW))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _leaf(ctx: BrokerContext, answer: dict[str, Any]) -> dict[str, Any]:
    stored = ctx.audit.log.store.leaf(answer["audit"]["index"])
    assert stored is not None
    leaf: dict[str, Any] = json.loads(stored.leaf)
    return leaf


def _without_volatile(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in ("request_id", "audit")}


@pytest.mark.parametrize("ask", list(ASKS))
def test_known_and_never_seen_client_run_the_same_statements_and_policy_work(
    api: TestClient, settings: Settings, ctx: BrokerContext, statements: list[str],
    evaluations: list[dict[str, int]], ask: str
) -> None:
    write_scenario(ctx, KNOWN, now())
    _ask(api, settings, ask, INSZ)  # warm: first-use statements (the registry, ...) out of the way
    _ask(api, settings, ask, NEVER_SEEN)
    statements.clear()
    evaluations.clear()
    known = _ask(api, settings, ask, INSZ)
    known_statements, known_evaluations = list(statements), list(evaluations)
    statements.clear()
    evaluations.clear()
    never = _ask(api, settings, ask, NEVER_SEEN)
    assert _without_volatile(known) == _without_volatile(never)
    assert any(" entry" in s or '"entry"' in s for s in known_statements)
    assert statements == known_statements  # the same queries, in the same order
    # The policy was asked once either way, on inputs of the same size (padded, DESIGN §4).
    assert len(known_evaluations) == len(evaluations) == 1
    assert evaluations == known_evaluations


@pytest.mark.parametrize("ask", list(ASKS))
def test_known_and_never_seen_client_leave_the_same_kind_of_audit_entry(
    api: TestClient, settings: Settings, ctx: BrokerContext, ask: str
) -> None:
    write_scenario(ctx, KNOWN, now())
    known = _leaf(ctx, _ask(api, settings, ask, INSZ))
    never = _leaf(ctx, _ask(api, settings, ask, NEVER_SEEN))
    if ask == "access_request":  # always an encrypted detail, of the same size
        assert known["detail"] is not None and never["detail"] is not None
        assert known["detail"]["alg"] == never["detail"]["alg"] == "A256GCM"
        assert len(base64.b64decode(known["detail"]["ct"])) == len(
            base64.b64decode(never["detail"]["ct"]))
    else:
        assert known["detail"] is None and never["detail"] is None
    volatile = ("id", "time", "client", "request_id", "detail", "index")
    assert {k: v for k, v in known.items() if k not in volatile} == {
        k: v for k, v in never.items() if k not in volatile}
    # The partner's own auditor sees the two entries alike.
    dpo = auth(issuer_token(settings, role="auditor", scope=f"partner:{CAW}"))
    listed = api.get("/v1/audit/entries", headers=dpo).json()["entries"]
    shown = [e for e in listed if e.get("kind", "").startswith("access.")]
    assert len(shown) == 2
    assert (shown[0].get("detail") is None) == (shown[1].get("detail") is None)
    assert set(shown[0]) == set(shown[1])


def test_access_asked_before_the_client_existed_stays_in_their_log_without_detail(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    """The detail of an access asked about a never-seen client is under a decoy key nobody
    keeps: once the client exists, their access log still shows that access (DESIGN §5), with
    no detail, and the later ones with theirs."""
    _ask(api, settings, "access_request", INSZ)
    write_scenario(ctx, Case("later", {}, relations=(R(OCMW),), consents=(), entries=()), now())
    written = api.post("/v1/entries", json=make_entry(insz=INSZ),
                       headers=partner_auth(settings, OCMW))
    assert written.status_code == 201
    _ask(api, settings, "access_request", INSZ)
    log = api.get("/v1/me/access-log", headers=client_auth(settings, INSZ))
    assert log.status_code == 200, log.text
    entries = log.json()["entries"]
    assert [e["detail"] for e in entries] == [None, {"released": []}]


def test_known_and_never_seen_client_read_as_many_rows_and_make_as_much_input(
    ctx: BrokerContext
) -> None:
    """The database returns as many rows about a known client as about a never-seen one (the
    client's records, then padding read in the same statement), and each is made into policy
    input alike: the padding becomes what the policy's own padding is. The client's key is read
    with a decoy row in its place when there is none."""
    write_scenario(ctx, KNOWN, now())
    network = ctx.registry.partners[CAW].network
    read: dict[str, tuple[int, int, int]] = {}
    with session_scope(ctx.engine) as session:
        for insz in (INSZ, NEVER_SEEN):
            ref = ctx.keyring.client_ref(network, insz)
            records = consent_store.padded_records(
                session=session, network=network, client_ref=ref,
                relation_bucket=PAD_BUCKETS["help_relations"],
                consent_bucket=PAD_BUCKETS["consents"])
            client = dossier.find_client_key(session, network=network, client_ref=ref)
            rows = session.connection().execute(dossier._CLIENT_KEY, {
                "network": network, "ref": ref}).all()
            assert len(rows) == 1 and (client is None) == (rows[0][0] == DECOY_CLIENT_ID)
            metas, padding = access._entry_metas(session, keyring=ctx.keyring, network=network,
                                                 client=client, sections=SECTIONS)
            read[insz] = (len(records.relations) + len(records.padding_relations),
                          len(records.consents) + len(records.padding_consents),
                          len(metas) + len(padding))
            # Stored padding (migration 0012) differs from the policy's own padding only in its
            # ids, which name nobody either, and in a consent's purposes and sections ("-":
            # shaped like a typical consent's, no real purpose or section).
            assert all(r.id.startswith(NOBODY) for r in records.padding_relations)
            assert [relation_input(r, ctx.registry) | {"id": NOBODY}
                    for r in records.padding_relations] == [
                PAD_RELATION] * len(records.padding_relations)
            assert all(c.id.startswith(NOBODY) for c in records.padding_consents)
            assert [consent_input(c) | {"id": NOBODY, "purposes": [], "sections": []}
                    for c in records.padding_consents] == [
                PAD_CONSENT] * len(records.padding_consents)
            assert all(set(c.purposes) == set(c.sections) == {NOBODY}
                       for c in records.padding_consents)
            assert all(m.author == NOBODY and m.restricted and m.id.startswith(NOBODY)
                       for m in padding)
    assert read[INSZ] == read[NEVER_SEEN] == (4, 4, 16)


@pytest.mark.parametrize("ask", list(ASKS))
def test_known_and_never_seen_client_take_at_least_the_existence_floor(
    ctx: BrokerContext, ask: str
) -> None:
    """DESIGN §4 no existence leak, in time: the reads and the decision about a client end no
    sooner than ``GBO_EXISTENCE_FLOOR_MS`` after they began, whether the broker knows the
    client or not (a lower bound: how much later is up to the machine)."""
    write_scenario(ctx, KNOWN, now())
    floored = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"existence_floor_ms": 80.0}))
    principal = PartnerPrincipal(partner=ctx.registry.partners[CAW], worker="w-1", jti="j")
    for insz in (INSZ, NEVER_SEEN):
        started = time.perf_counter()
        with session_scope(ctx.engine) as session:
            if ask == "access_request":
                access.request_access(ctx=floored, session=session, principal=principal,
                                      insz=insz, purpose="rechtenverkenning", sections=SECTIONS,
                                      justification=None, request_id=str(uuid.uuid4()),
                                      now=now())
            else:
                access.involvement(ctx=floored, session=session, principal=principal, insz=insz,
                                   purpose="doorverwijzing", request_id=str(uuid.uuid4()),
                                   now=now())
        assert time.perf_counter() - started >= 0.080


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_padded_reads_search_indexes_and_scan_no_table(ctx: BrokerContext) -> None:
    """The client's records and the stored padding are each found through an index (the
    network's size must not change an access request's cost, DESIGN §8): SQLite's plan for
    every padded read names an index search and no scan of a client table."""
    write_scenario(ctx, KNOWN, now())
    seen: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, sql: str, params: Any, *_: object) -> None:
        if "pad" in sql:
            seen.append((sql, params))

    event.listen(ctx.engine, "before_cursor_execute", record)
    try:
        with session_scope(ctx.engine) as session:
            principal = PartnerPrincipal(partner=ctx.registry.partners[CAW], worker="w-1",
                                         jti="j")
            access.gather(ctx=ctx, session=session, principal=principal, insz=INSZ,
                          purpose="rechtenverkenning", justification=None, sections=SECTIONS,
                          now=now())
    finally:
        event.remove(ctx.engine, "before_cursor_execute", record)
    assert len(seen) == 4  # the client's key, relations, consents, entry metadata
    with ctx.engine.connect() as conn:
        for sql, params in seen:
            plan = " | ".join(str(row[-1]) for row in
                              conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all())
            assert "USING INDEX" in plan or "USING PRIMARY KEY" in plan, plan
            assert not re.search(r"\bSCAN (client|entry|help_relation|consent_version)\b",
                                 plan), plan
