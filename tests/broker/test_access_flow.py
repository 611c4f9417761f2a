"""The access flow around the decision (DESIGN §4): audit before release, fail closed,
no existence leak, bad input, and what the client and the auditors see afterwards."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from audit.store import Appended
from broker.api.access import access_response, access_response_body
from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.policy.decision import Decision, SectionVerdict
from broker.schemas.access import AccessResponse, ReleasedEntry, SectionResult
from broker.schemas.common import AuditReceipt
from broker.schemas.dossier import EntryPublic
from broker.services.access import AccessResult
from broker.settings import DEFAULT_POLICY_DIR, Settings
from broker.store.db import make_engine
from tests.backends import on_backends
from tests.broker.access_scenarios import INSZ, JUSTIFICATION, C, Case, E, R, now, write_scenario
from tests.factories import client_auth, partner_auth

CAW, OCMW = "caw-oost-vlaanderen", "ocmw-gent"
CATALOGUE_SECTIONS = frozenset(json.loads(
    (DEFAULT_POLICY_DIR / "catalogue.json").read_text())["sections"])
GRANTED_CASE = Case("granted", {"inkomen": "granted"},
                    entries=(E("secret", OCMW, "inkomen"),))


def _ask(api: TestClient, settings: Settings, partner: str = CAW, **body: Any) -> Any:
    return api.post("/v1/access-requests", json={"insz": INSZ, "purpose": "rechtenverkenning",
                                                 "sections": ["inkomen"], **body},
                    headers=partner_auth(settings, partner))


# --- audit before release ------------------------------------------------------------------


@pytest.fixture
def impatient(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The API with a short audit wait, so that a failing log fails the request fast."""
    ctx = load_context(settings.model_copy(update={"audit_timeout": 1.0}), engine=engine)
    with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
        yield client


REFUSE_INSERTS = {  # the database itself refuses to store audit leaves (a real storage failure)
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON audit_leaf "
               "BEGIN SELECT RAISE(ABORT, 'disk full'); END"],
    "postgresql": ["CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "RAISE EXCEPTION 'disk full'; END $$",
                   "CREATE TRIGGER refuse BEFORE INSERT ON audit_leaf "
                   "FOR EACH ROW EXECUTE FUNCTION refuse()"],
}


def _assert_nothing_released(response: Any, code: str = "audit_unavailable") -> None:
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert "secret" not in response.text and "label" not in response.text


def test_audit_store_refusing_writes_fails_the_request_with_503_and_releases_nothing(
    impatient: TestClient, settings: Settings, engine: Engine
) -> None:
    ctx: BrokerContext = impatient.app.state.context  # type: ignore[attr-defined]
    write_scenario(ctx, GRANTED_CASE, now())
    assert _ask(impatient, settings).status_code == 200  # the log works...
    size = ctx.audit.log.store.size()
    with engine.begin() as conn:  # ...until the database refuses its inserts
        for statement in REFUSE_INSERTS[conn.dialect.name]:
            conn.exec_driver_sql(statement)
    _assert_nothing_released(_ask(impatient, settings))
    assert ctx.audit.log.store.size() == size
    with engine.begin() as conn:  # and it recovers when the database does
        conn.exec_driver_sql("DROP TRIGGER refuse" + (" ON audit_leaf" if
                                                       conn.dialect.name == "postgresql" else ""))
    assert _ask(impatient, settings).status_code == 200


def test_locked_database_fails_the_request_with_503_and_releases_nothing(
    settings: Settings, engine: Engine
) -> None:
    """Another session holds a lock: PostgreSQL locks the log's table, SQLite (one lock per
    database) the whole file. Either way: 503, nothing released, nothing half-done."""
    fast = make_engine(settings.resolved_database_url, busy_timeout=0.2)
    ctx = load_context(settings.model_copy(update={"audit_timeout": 1.0}), engine=fast)
    write_scenario(ctx, GRANTED_CASE, now())
    with TestClient(create_app(context=ctx), raise_server_exceptions=False) as api, \
            engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
            expected = {"audit_unavailable", "database_unavailable"}  # whichever write comes first
        else:
            conn.execute(text("BEGIN"))
            conn.execute(text("LOCK TABLE audit_leaf IN ACCESS EXCLUSIVE MODE"))
            expected = {"audit_unavailable"}
        response = _ask(api, settings)
        conn.rollback()
    fast.dispose()
    _assert_nothing_released(response, code=response.json()["code"])
    assert response.json()["code"] in expected


# --- fail closed on a broken policy --------------------------------------------------------

BROKEN_POLICIES = {
    "engine_error": 'decision := {"sections": {}, "x": to_number("not a number")}',
    "undefined": 'decision := 1 if { false }',
    "malformed": 'decision := {"sections": {s: {"verdict": "granted", "reasons": [], '
                 '"consents": []} | '
                 'some s in input.sections}, "release": [e.id | some e in input.entries], '
                 '"obligations": [], "break_glass": false, "consultations": []}',
                 # releases restricted entries too
    "timeout": 'decision := {"n": count([x | some x in numbers.range(1, 3000000)])}',
}


@pytest.fixture(params=list(BROKEN_POLICIES), ids=list(BROKEN_POLICIES))
def broken(request: pytest.FixtureRequest, tmp_path: Path, settings: Settings,
           engine: Engine) -> Iterator[tuple[TestClient, str]]:
    bundle = tmp_path / "broken-policies"
    bundle.mkdir()
    shutil.copy(DEFAULT_POLICY_DIR / "catalogue.json", bundle / "catalogue.json")
    (bundle / "access.rego").write_text(f"package gbo.access\n\n{BROKEN_POLICIES[request.param]}\n")
    ctx = load_context(settings.model_copy(update={"policy_dir": bundle, "policy_timeout_ms": 50}),
                       engine=engine)
    with TestClient(create_app(context=ctx), raise_server_exceptions=False) as client:
        yield client, request.param


def test_broken_policy_denies_everything_and_is_audited_and_counted(
    broken: tuple[TestClient, str], settings: Settings
) -> None:
    api, cause = broken
    ctx: BrokerContext = api.app.state.context  # type: ignore[attr-defined]
    write_scenario(ctx, Case("x", {}, entries=(E("secret", OCMW, "inkomen"),
                                               E("closed", OCMW, "inkomen", restricted=True))),
                   now())
    response = _ask(api, settings)
    assert response.status_code == 200
    body = response.json()
    assert body["sections"] == {"inkomen": {"verdict": "denied", "reasons": ["policy_error"]}}
    logged = json.loads(ctx.audit.log.store.leaf(body["audit"]["index"]).leaf)  # type: ignore[union-attr]
    assert logged["facts"]["policy_error"] == cause
    assert logged["sections"]["inkomen"]["reasons"] == ["policy_error"]
    metrics = api.get("/metrics").text
    assert f'gbo_policy_failures_total{{cause="{cause}"}} 1.0' in metrics


# --- no existence leak ---------------------------------------------------------------------


def _sections(response: Any) -> Any:
    return response.json()["sections"]


def test_denied_answer_is_the_same_with_and_without_data(api: TestClient, settings: Settings,
                                                         ctx: BrokerContext) -> None:
    base = Case("x", {}, consents=(C(sections=("inkomen",)),), entries=())
    write_scenario(ctx, base, now())
    asked = {"sections": ["inkomen", "huisvesting", "justitie", "werkaantekeningen"]}
    before = _ask(api, settings, **asked)
    write_scenario(ctx, Case("y", {}, relations=(), consents=(), entries=(
        E("h", OCMW, "huisvesting"), E("j", OCMW, "justitie"),
        E("w", OCMW, "werkaantekeningen"))), now())
    after = _ask(api, settings, **asked)
    assert json.dumps(_sections(before), sort_keys=True) == json.dumps(_sections(after),
                                                                      sort_keys=True)


def test_unknown_client_looks_like_a_client_without_relation(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    stranger = _ask(api, settings, insz="01020312345")
    write_scenario(ctx, Case("x", {}, relations=(R(OCMW),), consents=()), now())
    known = _ask(api, settings)
    assert _sections(stranger) == _sections(known) == {"inkomen": {
        "verdict": "denied", "reasons": ["no_consent_for_section", "no_valid_help_relation"]}}


# --- what the client and the auditors see ----------------------------------------------------


def test_client_sees_the_access_with_released_entries_and_break_glass_justification(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    ids = write_scenario(ctx, Case("x", {}, relations=(R(OCMW), R(CAW)),
                                   entries=(E("gez", CAW, "gezondheid"),)), now())
    api.post("/v1/access-requests",
             json={"insz": INSZ, "purpose": "noodsituatie", "sections": ["gezondheid"],
                   "justification": JUSTIFICATION}, headers=partner_auth(settings, OCMW))
    [entry] = api.get("/v1/me/access-log", headers=client_auth(settings, INSZ)).json()["entries"]
    assert entry["partner"] == OCMW and entry["purpose"] == "noodsituatie"
    assert entry["break_glass"] is True
    assert entry["detail"] == {"released": [ids["gez"]], "justification": JUSTIFICATION}
    # DESIGN §4: the justification is stored for the client encrypted, never in clear in the leaf
    leaf = ctx.audit.log.store.leaf(entry["index"])
    assert leaf is not None and JUSTIFICATION.encode() not in leaf.leaf
    assert json.loads(leaf.leaf)["facts"]["obligations"] == ["notify_client", "notify_dpo"]


def test_decision_records_the_consents_it_relied_on(api: TestClient, settings: Settings,
                                                    ctx: BrokerContext) -> None:
    write_scenario(ctx, Case("x", {}, consents=(C(), C(sections=("werk",)),
                                                C(recipients=(("partner", OCMW),)))), now())
    body = _ask(api, settings).json()
    logged = json.loads(ctx.audit.log.store.leaf(body["audit"]["index"]).leaf)  # type: ignore[union-attr]
    assert len(logged["consent_ids"]) == 1  # only the consent covering caw, the purpose, inkomen


def test_inclusion_proof_for_the_partners_own_request_verifies(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    import base64

    from audit.checkpoint import open_checkpoint
    from audit.merkle import verify_inclusion

    write_scenario(ctx, GRANTED_CASE, now())
    receipt = _ask(api, settings).json()["audit"]
    checkpoint = open_checkpoint(ctx.audit.log.checkpoint_now().note,
                                 ctx.audit.log.signer.verifier)
    proof = api.get("/v1/audit/proof/inclusion",
                    params={"index": receipt["index"], "size": checkpoint.size}).json()
    verify_inclusion(base64.b64decode(receipt["leaf_hash"]), receipt["index"], checkpoint.size,
                     [base64.b64decode(h) for h in proof["hashes"]], checkpoint.root_hash)


# --- bad input -----------------------------------------------------------------------------

BAD_REQUESTS: dict[str, tuple[dict[str, Any], str]] = {
    "missing_insz": ({"purpose": "rechtenverkenning"}, "invalid_request"),
    "invalid_insz": ({"insz": "85073003329", "purpose": "rechtenverkenning"}, "invalid_request"),
    "insz_as_number": ({"insz": 85073003328, "purpose": "rechtenverkenning"}, "invalid_request"),
    "missing_purpose": ({"insz": INSZ}, "invalid_request"),
    "empty_sections": ({"insz": INSZ, "purpose": "rechtenverkenning", "sections": []},
                       "invalid_request"),
    "sections_not_a_list": ({"insz": INSZ, "purpose": "rechtenverkenning", "sections": "inkomen"},
                            "invalid_request"),
    "too_many_sections": ({"insz": INSZ, "purpose": "rechtenverkenning",
                           "sections": ["inkomen"] * 33}, "invalid_request"),
    "justification_too_long": ({"insz": INSZ, "purpose": "noodsituatie",
                                "justification": "x" * 2001}, "invalid_request"),
    "unknown_field": ({"insz": INSZ, "purpose": "rechtenverkenning", "partner": OCMW},
                      "invalid_request"),
    "unknown_purpose_without_sections": ({"insz": INSZ, "purpose": "buurtfeest"},
                                         "unknown_purpose"),
}


# Refused before any query; on both backends one by the schema, one by the catalogue.
@on_backends(("body", "code"), BAD_REQUESTS, both={"invalid_insz",
                                                   "unknown_purpose_without_sections"})
def test_bad_access_request_is_a_problem_and_nothing_is_logged(
    api: TestClient, settings: Settings, ctx: BrokerContext, body: dict[str, Any], code: str
) -> None:
    response = api.post("/v1/access-requests", json=body, headers=partner_auth(settings, CAW))
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert "85073003329" not in response.text
    assert ctx.audit.log.store.size() == 0


def test_access_request_needs_a_partner_token(api: TestClient, settings: Settings) -> None:
    response = api.post("/v1/access-requests", json={"insz": INSZ, "purpose": "noodsituatie"},
                        headers=client_auth(settings))
    assert response.status_code == 401


def test_obligations_reach_the_client_and_the_auditors(api: TestClient, settings: Settings,
                                                       ctx: BrokerContext) -> None:
    """notify_client marks the access in the client's log; notify_dpo (break-glass) makes it
    findable for the partner's auditors."""
    from tests.factories import issuer_token

    write_scenario(ctx, Case("x", {}, relations=(R(OCMW), R(CAW)), entries=()), now())
    _ask(api, settings)  # an ordinary grant
    api.post("/v1/access-requests", json={"insz": INSZ, "purpose": "noodsituatie",
                                          "sections": ["gezondheid"],
                                          "justification": JUSTIFICATION},
             headers=partner_auth(settings, OCMW))
    _ask(api, settings, sections=["justitie"])  # denied: nothing to tell
    log = api.get("/v1/me/access-log", headers=client_auth(settings, INSZ)).json()["entries"]
    assert [(e["purpose"], e["notice"], e["break_glass"]) for e in log] == [
        ("rechtenverkenning", True, False), ("noodsituatie", True, True),
        ("rechtenverkenning", False, False)]
    dpo = {"Authorization": "Bearer " + issuer_token(settings, role="auditor",
                                                     scope="partner:ocmw-gent")}
    review = api.get("/v1/audit/entries", params={"break_glass": "true"}, headers=dpo).json()
    assert [(e["partner"], e["purpose"]) for e in review["entries"]] == [(OCMW, "noodsituatie")]


# --- the response body --------------------------------------------------------------------


@pytest.mark.parametrize("consultations", [(), ("cc-1",)], ids=["consent", "consultation"])
def test_access_response_body_is_the_response_model_serialised_without_nulls(
    ctx: BrokerContext, consultations: tuple[str, ...],
) -> None:
    """The route writes its body directly; it must be exactly what FastAPI would make of the
    ``AccessResponse`` model with ``response_model_exclude_none``: granted sections with and
    without entries, a redacted entry (no content), a denied section, names outside the
    catalogue merged as ``unknown``, content with nulls, floats and non-ASCII text kept."""
    moment = datetime(2026, 11, 28, 10, 0, 0, 4500, tzinfo=UTC)
    entries = [
        EntryPublic(id="e-1", section="inkomen", author=OCMW, restricted=False,
                    created_at=moment, content={"n": None, "f": 1e30, "t": "é\u2028"}),
        EntryPublic(id="e-2", section="inkomen", author=OCMW, restricted=False,
                    created_at=moment.replace(microsecond=0), content=None, redacted=True),
    ]
    decision = Decision(
        sections={"inkomen": SectionVerdict("granted", (), ("c-1",)),
                  "contact": SectionVerdict("granted", (), ("c-1",)),
                  "justitie": SectionVerdict("denied", ("no_consent_for_section",)),
                  "x-1": SectionVerdict("denied", ("unknown_section",)),
                  "x-2": SectionVerdict("denied", ("unknown_section", "unknown_purpose"))},
        release=("e-1", "e-2"), obligations=("notify_client",), break_glass=False,
        consultations=consultations)
    result = AccessResult(request_id="r-1", policy_version="v-1", decision=decision,
                          entries={"inkomen": entries},
                          appended=Appended(index=7, leaf_hash=bytes(range(32))))
    body = access_response_body(result, CATALOGUE_SECTIONS)
    model = AccessResponse(
        request_id="r-1", policy_version="v-1", audit=AuditReceipt.of(result.appended),
        obligations=["notify_client"], consultations=list(consultations) or None,
        sections={
            "inkomen": SectionResult(verdict="granted", reasons=[], entries=[
                ReleasedEntry(id=e.id, author=e.author, created_at=e.created_at,
                              content=e.content, redacted=e.redacted) for e in entries]),
            "contact": SectionResult(verdict="granted", reasons=[], entries=[]),
            "justitie": SectionResult(verdict="denied", reasons=["no_consent_for_section"]),
            "unknown": SectionResult(verdict="denied",
                                     reasons=["unknown_section", "unknown_purpose"]),
        })
    assert body == model.model_dump_json(exclude_none=True).encode()
    assert body == access_response(ctx, result).model_dump_json(exclude_none=True).encode()
    assert "content" not in json.loads(body)["sections"]["inkomen"]["entries"][1]
