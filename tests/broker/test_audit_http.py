"""The audit log over HTTP (DESIGN §7): public checkpoint, key and proofs; scoped leaves and
entries for auditors; the client's own access log with its detail decrypted."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from audit.checkpoint import open_checkpoint
from audit.keys import Ed25519Verifier
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from broker.context import BrokerContext
from broker.errors import AuditSecretLeak
from broker.services import dossier
from broker.services.erasure import erase_client
from broker.settings import Settings
from broker.store.audit_events import AuditEvent, decode
from broker.store.db import session_scope
from broker.store.models import Client
from tests.factories import OTHER_INSZ, VALID_INSZ, auth, client_auth, issuer_token


def _client(ctx: BrokerContext, insz: str) -> Client:
    with session_scope(ctx.engine) as session:
        return dossier.get_or_create_client(session, keyring=ctx.keyring, network="gbo-gent",
                                            insz=insz, now=datetime.now(UTC))


def _access(ctx: BrokerContext, client: object, partner: str, **detail: object) -> int:
    event = AuditEvent(
        kind="access.decision", network="gbo-gent", client=client.ref,  # type: ignore[attr-defined]
        partner=partner, worker="w-1", purpose="rechtenverkenning",
        sections={"inkomen": {"verdict": "granted", "reasons": []},
                  "justitie": {"verdict": "denied", "reasons": ["no_consent_for_section"]}},
        policy_version="ab" * 32, consent_ids=["cs-" + "cd" * 16],
        request_id="0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", detail=detail or None,
    )
    key = ctx.keyring.data_key(client) if detail else None  # type: ignore[arg-type]
    return ctx.audit.append(event, data_key=key).index


def _auditor(settings: Settings, scope: str) -> dict[str, str]:
    return auth(issuer_token(settings, role="auditor", scope=scope))


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
def logged(ctx: BrokerContext) -> list[int]:
    """Six access decisions: four by OCMW about client A, two by CAW about client B."""
    a, b = _client(ctx, VALID_INSZ), _client(ctx, OTHER_INSZ)
    # Released ids spelled so they cannot occur by chance in hex, UUIDs or base64.
    return [_access(ctx, a, "ocmw-gent", released=[f"released-entry-{i}"]) for i in range(4)] + [
        _access(ctx, b, "caw-oost-vlaanderen", released=["released-entry-9"]) for _ in range(2)
    ]


def test_checkpoint_verifies_with_the_published_key(api: TestClient, logged: list[int]) -> None:
    api.app.state.context.audit.log.checkpoint_now()  # type: ignore[attr-defined]
    key = api.get("/v1/audit/key")
    note = api.get("/v1/audit/checkpoint")
    assert key.headers["content-type"].startswith("text/plain")
    verifier = Ed25519Verifier.from_key_string(key.text.strip())
    checkpoint = open_checkpoint(note.text, verifier)
    assert checkpoint.origin == verifier.name
    assert checkpoint.size == len(logged)


def test_checkpoint_of_an_empty_log_is_signed_on_demand(api: TestClient) -> None:
    verifier = Ed25519Verifier.from_key_string(api.get("/v1/audit/key").text.strip())
    assert open_checkpoint(api.get("/v1/audit/checkpoint").text, verifier).size == 0


def test_inclusion_proof_from_the_api_verifies_against_the_signed_root(
    api: TestClient, settings: Settings, logged: list[int]
) -> None:
    ctx: BrokerContext = api.app.state.context  # type: ignore[attr-defined]
    checkpoint = open_checkpoint(ctx.audit.log.checkpoint_now().note,
                                 ctx.audit.log.signer.verifier)
    for index in logged:
        leaf = api.get(f"/v1/audit/leaves/{index}", headers=_auditor(settings, "supervisor")).json()
        assert _b64(leaf["leaf_hash"]) == leaf_hash(_b64(leaf["leaf"]))
        proof = api.get("/v1/audit/proof/inclusion",
                        params={"index": index, "size": checkpoint.size}).json()["hashes"]
        verify_inclusion(_b64(leaf["leaf_hash"]), index, checkpoint.size,
                         [_b64(h) for h in proof], checkpoint.root_hash)


def test_consistency_proof_between_two_checkpoints_verifies(
    api: TestClient, ctx: BrokerContext, logged: list[int]
) -> None:
    first = open_checkpoint(ctx.audit.log.checkpoint_now().note, ctx.audit.log.signer.verifier)
    _access(ctx, _client(ctx, VALID_INSZ), "dmw-cm", released=[])
    second = open_checkpoint(ctx.audit.log.checkpoint_now().note, ctx.audit.log.signer.verifier)
    proof = api.get("/v1/audit/proof/consistency",
                    params={"old": first.size, "new": second.size}).json()["hashes"]
    verify_consistency(first.size, second.size, first.root_hash, second.root_hash,
                       [_b64(h) for h in proof])


BAD_PROOF_QUERIES = {
    "index_not_below_size": ("inclusion", {"index": 6, "size": 6}),
    "size_beyond_the_log": ("inclusion", {"index": 0, "size": 7}),
    "negative_index": ("inclusion", {"index": -1, "size": 3}),
    "index_not_a_number": ("inclusion", {"index": "x", "size": 3}),
    "missing_size": ("inclusion", {"index": 0}),
    "old_after_new": ("consistency", {"old": 5, "new": 3}),
    "new_beyond_the_log": ("consistency", {"old": 1, "new": 99}),
    "old_zero": ("consistency", {"old": 0, "new": 3}),
}


@pytest.mark.parametrize(("proof", "query"), BAD_PROOF_QUERIES.values(),
                         ids=BAD_PROOF_QUERIES.keys())
def test_bad_proof_request_is_a_422_problem(
    api: TestClient, logged: list[int], proof: str, query: dict[str, object]
) -> None:
    response = api.get(f"/v1/audit/proof/{proof}", params=query)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in {"invalid_proof_request", "invalid_request"}


@pytest.mark.parametrize(
    ("scope", "visible"),
    [("partner:ocmw-gent", {"ocmw-gent"}), ("partner:caw-oost-vlaanderen", {"caw-oost-vlaanderen"}),
     ("network:gbo-gent", {"ocmw-gent", "caw-oost-vlaanderen"}),
     ("network:gbo-brugge", set()), ("supervisor", {"ocmw-gent", "caw-oost-vlaanderen"})],
    ids=["own_partner", "other_partner", "own_network", "other_network", "supervisor"],
)
def test_auditor_scope_decides_which_leaves_and_entries_are_visible(
    api: TestClient, settings: Settings, logged: list[int], scope: str, visible: set[str]
) -> None:
    headers = _auditor(settings, scope)
    seen = set()
    for index in logged:
        response = api.get(f"/v1/audit/leaves/{index}", headers=headers)
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            seen.add(json.loads(_b64(response.json()["leaf"]))["partner"])
        else:
            assert response.json()["code"] == "leaf_not_found"
    assert seen == visible
    entries = api.get("/v1/audit/entries", headers=headers).json()["entries"]
    assert {e["partner"] for e in entries} == visible


def test_leaf_outside_scope_looks_like_a_missing_leaf(
    api: TestClient, settings: Settings, logged: list[int]
) -> None:
    headers = _auditor(settings, "partner:ocmw-gent")
    hidden = api.get(f"/v1/audit/leaves/{logged[-1]}", headers=headers)
    missing = api.get("/v1/audit/leaves/999999", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_whole_log_reading_needs_the_supervisor_scope(
    api: TestClient, settings: Settings, logged: list[int]
) -> None:
    denied = api.get("/v1/audit/leaves", headers=_auditor(settings, "network:gbo-gent"))
    assert denied.status_code == 403
    page = api.get("/v1/audit/leaves", params={"limit": 4},
                   headers=_auditor(settings, "supervisor")).json()
    assert [leaf["index"] for leaf in page["leaves"]] == [0, 1, 2, 3]
    assert page["next"] == 4


def test_audit_endpoints_for_auditors_refuse_other_tokens(
    api: TestClient, settings: Settings, logged: list[int]
) -> None:
    for headers in ({}, client_auth(settings), auth("garbage")):
        assert api.get("/v1/audit/entries", headers=headers).status_code == 401
        assert api.get("/v1/audit/leaves/0", headers=headers).status_code == 401


def test_entries_filter_by_kind_partner_and_time_and_page_with_a_cursor(
    api: TestClient, settings: Settings, ctx: BrokerContext, logged: list[int]
) -> None:
    ctx.audit.append(AuditEvent(kind="relation.created", network="gbo-gent", partner="ocmw-gent"))
    headers = _auditor(settings, "supervisor")
    access = api.get("/v1/audit/entries", params={"kind": "access"}, headers=headers).json()
    assert len(access["entries"]) == 6
    caw = api.get("/v1/audit/entries", params={"partner": "caw-oost-vlaanderen"},
                  headers=headers).json()["entries"]
    assert [e["index"] for e in caw] == logged[4:]
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/audit/entries", params=params, headers=headers).json()
        pages.append([e["index"] for e in page["entries"]])
        cursor = page["cursor"]
        if cursor is None:
            break
    assert sum(pages, []) == list(range(7))
    future = api.get("/v1/audit/entries", params={"from": "2999-01-01T00:00:00Z"},
                     headers=headers).json()
    assert future["entries"] == []


@pytest.mark.parametrize(
    "params",
    [{"kind": "Access;DROP"}, {"partner": "OCMW GENT"}, {"cursor": "abc"}, {"limit": 0},
     {"limit": 100000}, {"from": "yesterday"}],
    ids=["kind_bad_chars", "partner_bad_chars", "cursor_not_a_number", "limit_zero",
         "limit_too_large", "from_not_a_time"],
)
def test_bad_entries_query_is_a_422_problem(
    api: TestClient, settings: Settings, params: dict[str, object]
) -> None:
    response = api.get("/v1/audit/entries", params=params, headers=_auditor(settings, "supervisor"))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_client_access_log_shows_own_accesses_with_detail_decrypted(
    api: TestClient, settings: Settings, logged: list[int]
) -> None:
    mine = api.get("/v1/me/access-log", headers=client_auth(settings, VALID_INSZ)).json()
    assert [e["index"] for e in mine["entries"]] == logged[:4]
    assert [e["detail"] for e in mine["entries"]] == [
        {"released": [f"released-entry-{i}"]} for i in range(4)]
    assert mine["entries"][0]["sections"]["justitie"]["verdict"] == "denied"
    other = api.get("/v1/me/access-log", headers=client_auth(settings, OTHER_INSZ)).json()
    assert [e["partner"] for e in other["entries"]] == ["caw-oost-vlaanderen"] * 2


def test_auditors_see_verdicts_but_detail_stays_encrypted(
    api: TestClient, settings: Settings, logged: list[int]
) -> None:
    entries = api.get("/v1/audit/entries", headers=_auditor(settings, "supervisor")).json()
    first = entries["entries"][0]
    assert first["sections"]["inkomen"]["verdict"] == "granted"
    assert set(first["detail"]) == {"alg", "ct"}
    assert "released-entry" not in json.dumps(entries)


def test_access_log_after_erasure_reports_the_client_erased(
    api: TestClient, settings: Settings, ctx: BrokerContext, logged: list[int]
) -> None:
    client = _client(ctx, VALID_INSZ)
    with session_scope(ctx.engine) as session:
        erase_client(session=session, audit=ctx.audit, network="gbo-gent", ref=client.ref,
                     now=datetime.now(UTC))
    response = api.get("/v1/me/access-log", headers=client_auth(settings, VALID_INSZ))
    assert response.status_code == 410
    # The log itself is untouched: every entry is still there, plus the erasure's own entry.
    ctx.audit.log.checkpoint_now()
    assert ctx.audit.log.store.size() == len(logged) + 1
    erased = decode(ctx.audit.log.store.leaf(len(logged)))  # type: ignore[arg-type]
    assert (erased["kind"], erased["client"]) == ("client.erased", client.ref)


def test_entry_containing_a_guarded_secret_is_refused_and_nothing_logged(
    ctx: BrokerContext,
) -> None:
    event = AuditEvent(kind="relation.created", network="gbo-gent", facts={"note": VALID_INSZ})
    with pytest.raises(AuditSecretLeak):
        ctx.audit.append(event, never_contains=[VALID_INSZ])
    assert ctx.audit.log.store.size() == 0


def test_access_log_shows_accesses_to_a_client_without_dossier_entries(
    api: TestClient, settings: Settings
) -> None:
    """A client with relations but no entry has no client record; accesses to them (all denied
    or empty) are still theirs to see."""
    from tests.factories import declare_relation, partner_auth

    declare_relation(api, settings, "caw-oost-vlaanderen", VALID_INSZ)
    api.post("/v1/access-requests", json={"insz": VALID_INSZ, "purpose": "rechtenverkenning",
                                          "sections": ["inkomen"]},
             headers=partner_auth(settings, "caw-oost-vlaanderen"))
    log = api.get("/v1/me/access-log", headers=client_auth(settings, VALID_INSZ)).json()
    assert [(e["partner"], e["detail"]) for e in log["entries"]] == [("caw-oost-vlaanderen", None)]
