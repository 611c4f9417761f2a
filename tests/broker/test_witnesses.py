"""DESIGN §9 witnesses: C2SP tlog-witness submission and tlog-cosignature storage, served with the
checkpoint, and ``audit verify --witness KEY --quorum N``, against an independent witness
(``aics-witness``, tests/witness_process.py) running as its own process on loopback.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from audit.checkpoint import sign_checkpoint
from audit.cosignature import CosignatureVerifier, open_cosigned
from audit.schema import audit_checkpoint, audit_cosignature, audit_leaf, audit_node
from audit.store import AuditStore
from audit.witness import add_checkpoint, add_checkpoint_body
from broker.app import create_app
from broker.cli import app
from broker.context import BrokerContext, load_context
from broker.security.keys import load_audit_signer
from broker.settings import Settings
from broker.store.audit_events import AuditEvent
from broker.witnessing import WitnessState, parse_witnesses
from tests.broker.test_audit_tamper import _attacker, _rewrite_leaf_and_every_hash_above_it
from tests.factories import issuer_token
from tests.live_server import served
from tests.witness_process import WitnessProcess, running_witness

runner = CliRunner()


@pytest.fixture
def witness(settings: Settings, tmp_path: Path) -> Iterator[WitnessProcess]:
    signer = load_audit_signer(settings)[0]
    with running_witness(tmp_path / "witness", name="witness.test/w1", origin=signer.name,
                         log_vkey=signer.verifier.key_string()) as found:
        yield found


@pytest.fixture
def wctx(settings: Settings, engine: Engine, witness: WitnessProcess) -> Iterator[BrokerContext]:
    """A broker configured with the witness; rounds run when a test calls ``run_once``."""
    configured = settings.model_copy(update={"witnesses": witness.config,
                                             "witness_interval": 3600.0,
                                             "checkpoint_interval": 0.0})
    context = load_context(configured, engine=engine)
    yield context
    context.close()


def _append(ctx: BrokerContext, n: int) -> None:
    for i in range(n):
        ctx.audit.append(AuditEvent(kind="client.erased", network="gbo-gent",
                                    client=f"{i:032x}"), now=datetime.now(UTC))


def _round(ctx: BrokerContext) -> dict[str, str]:
    assert ctx.witnessing is not None
    return ctx.witnessing.run_once()


def _cli(settings: Settings, *args: str) -> Result:
    env = {"GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
           "GBO_DATABASE_URL": settings.resolved_database_url, "GBO_CHECKPOINT_INTERVAL": "0"}
    return runner.invoke(app, list(args), env=env)


def test_each_new_checkpoint_is_cosigned_with_a_consistency_proof_and_served(
    wctx: BrokerContext, witness: WitnessProcess
) -> None:
    verifier = CosignatureVerifier.from_key_string(witness.vkey)
    _append(wctx, 5)
    wctx.audit.log.checkpoint_now()
    assert _round(wctx) == {"witness.test/w1": "cosigned 5"}
    _append(wctx, 7)  # the next checkpoint needs a consistency proof from 5 to 12
    wctx.audit.log.checkpoint_now()
    assert _round(wctx) == {"witness.test/w1": "cosigned 12"}
    with TestClient(create_app(context=wctx)) as api:
        note = api.get("/v1/audit/checkpoint").text
    opened = open_cosigned(note, wctx.audit.log.signer.verifier, [verifier])
    assert opened.checkpoint.size == 12 and opened.count == 1
    assert [c.size for c in wctx.audit.log.store.cosignatures()] == [5, 12]


def test_the_witness_refuses_a_wrong_consistency_proof_and_a_stale_old_size(
    wctx: BrokerContext, witness: WitnessProcess
) -> None:
    """The witness really checks: a proof that does not lead from its size is 422, an old
    size it did not cosign is 409 with its own size."""
    _append(wctx, 3)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    _append(wctx, 3)
    latest = wctx.audit.log.checkpoint_now()
    store = wctx.audit.log.store
    wrong = store.consistency_proof(2, 6)  # a real proof, from the wrong size
    answer = add_checkpoint(witness.url, add_checkpoint_body(3, wrong, latest.note), timeout=5)
    assert answer.status == 422
    stale = add_checkpoint(witness.url, add_checkpoint_body(2, wrong, latest.note), timeout=5)
    assert (stale.status, stale.size) == (409, 3)


def test_a_witness_behind_what_the_broker_assumed_is_caught_up_after_its_409(
    wctx: BrokerContext, witness: WitnessProcess
) -> None:
    _append(wctx, 4)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    _append(wctx, 4)
    wctx.audit.log.checkpoint_now()
    assert wctx.witnessing is not None
    for state in wctx.witnessing.states.values():
        state.known = 0  # the broker forgot: it sends old 0, the witness answers 409 "4"
    assert _round(wctx) == {"witness.test/w1": "cosigned 8"}


def test_a_witness_that_is_down_delays_cosigning_but_loses_no_append(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    signer = load_audit_signer(settings)[0]
    with running_witness(tmp_path / "w", name="witness.test/late", origin=signer.name,
                         log_vkey=signer.verifier.key_string(), start=False) as late:
        now = [0.0]
        ctx = load_context(settings.model_copy(update={
            "witnesses": late.config, "witness_interval": 3600.0, "checkpoint_interval": 0.0,
            "witness_timeout": 2.0}), engine=engine)
        try:
            assert ctx.witnessing is not None
            ctx.witnessing.clock = lambda: now[0]
            _append(ctx, 10)
            ctx.audit.log.checkpoint_now()
            [outcome] = _round(ctx).values()
            assert outcome.startswith("witness unreachable")
            _append(ctx, 10)  # appends go on while the witness is down
            ctx.audit.log.checkpoint_now()
            [state] = ctx.witnessing.states.values()
            assert state.failures == 1 and state.next_try == 1.0
            _round(ctx)  # backing off: not asked again before next_try
            assert state.failures == 1
            late.start()
            now[0] = 1.0
            assert _round(ctx) == {"witness.test/late": "cosigned 20"}
            assert ctx.audit.log.store.size() == 20
        finally:
            ctx.close()


def test_a_witness_ahead_of_the_log_is_reported_as_a_cut_back_log(
    wctx: BrokerContext, witness: WitnessProcess, engine: Engine
) -> None:
    _append(wctx, 6)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    _cut(engine, 4)
    wctx.audit.log.checkpoint_now()
    assert wctx.witnessing is not None
    wctx.witnessing.states.clear()  # as after a restart: the stored cosignature says 6 ...
    [outcome] = _round(wctx).values()
    assert outcome == "ahead of the log"
    [state] = wctx.witnessing.states.values()
    assert state.ahead and state.known == 6


def test_the_witness_keeps_its_state_across_a_restart(
    wctx: BrokerContext, witness: WitnessProcess
) -> None:
    _append(wctx, 3)
    latest = wctx.audit.log.checkpoint_now()
    _round(wctx)
    witness.stop()
    witness.start()
    answer = add_checkpoint(witness.url, add_checkpoint_body(0, [], latest.note), timeout=5)
    assert (answer.status, answer.size) == (409, 3)


def _cut(engine: Engine, cut: int) -> None:
    """An insider cuts the log back to ``cut`` leaves with its checkpoints and cosignatures."""
    with _attacker(engine) as conn:
        conn.execute(delete(audit_leaf).where(audit_leaf.c.idx >= cut))
        for level in range(64):
            conn.execute(delete(audit_node).where(audit_node.c.level == level,
                                                  audit_node.c.idx >= cut >> level))
        conn.execute(delete(audit_checkpoint).where(audit_checkpoint.c.size > cut))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_cosignature_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_cosignature_append_only "
                                 "ON audit_cosignature")
        conn.execute(delete(audit_cosignature).where(audit_cosignature.c.size > cut))


def test_a_cut_tail_with_its_checkpoints_is_caught_with_a_witness_and_a_fresh_state_file(
    wctx: BrokerContext, witness: WitnessProcess, settings: Settings, engine: Engine,
    tmp_path: Path,
) -> None:
    """Finding 3: with a fresh state file, cutting the last leaves with their checkpoints
    passed verify. A witness's own view of the log catches it."""
    _append(wctx, 5)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    _append(wctx, 5)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    ok = _cli(settings, "audit", "verify", "--state", str(tmp_path / "a.txt"),
              "--witness", witness.config, "--quorum", "1")
    assert ok.exit_code == 0, ok.output
    assert "witnessed by 1+ of 1 witness(es) up to size 10" in ok.stdout
    _cut(engine, 7)
    fresh = str(tmp_path / "fresh.txt")
    unwitnessed = _cli(settings, "audit", "verify", "--state", fresh)
    assert unwitnessed.exit_code == 0, unwitnessed.output  # the finding, without witnesses
    caught = _cli(settings, "audit", "verify", "--state", str(tmp_path / "fresh2.txt"),
                  "--witness", witness.config, "--quorum", "1")
    assert caught.exit_code == 1, caught.output
    assert "TAMPERING DETECTED at leaf 7" in caught.output and "truncated" in caught.output


def test_a_forked_checkpoint_has_no_witness_quorum(
    wctx: BrokerContext, witness: WitnessProcess, settings: Settings, engine: Engine,
    tmp_path: Path,
) -> None:
    """An insider with the signing key rewrites a leaf and every hash above it, and signs a
    fresh checkpoint of the fork: no witness cosigned it, so a quorum of one refuses it, even
    with only the witness's key and no local state."""
    _append(wctx, 8)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    store = AuditStore(engine)
    leaf = store.leaf(3)
    assert leaf is not None
    forged = leaf.leaf.replace(b'"client.erased"', b'"client.erasee"')
    with _attacker(engine) as conn:
        _rewrite_leaf_and_every_hash_above_it_sized(conn, 3, forged, 8)
        conn.execute(delete(audit_checkpoint))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER audit_cosignature_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_cosignature_append_only "
                                 "ON audit_cosignature")
        conn.execute(delete(audit_cosignature))
    signer = load_audit_signer(settings)[0]
    root = store.root(8)
    with engine.begin() as conn:
        conn.execute(audit_checkpoint.insert().values(
            size=8, root=root, note=sign_checkpoint(signer.name, 8, root, signer),
            signed_at="2026-12-01T00:00:00.000000Z"))
    key_only = witness.vkey
    result = _cli(settings, "audit", "verify", "--state", str(tmp_path / "s.txt"),
                  "--witness", key_only, "--quorum", "1")
    assert result.exit_code == 1, result.output
    assert "no checkpoint carries 1 valid witness cosignature" in result.output
    with_view = _cli(settings, "audit", "verify", "--state", str(tmp_path / "t.txt"),
                     "--witness", witness.config, "--quorum", "1")
    assert with_view.exit_code == 1, with_view.output
    assert "TAMPERING DETECTED" in with_view.output


def _rewrite_leaf_and_every_hash_above_it_sized(conn: object, index: int, leaf: bytes,
                                                size: int) -> None:
    import tests.broker.test_audit_tamper as tamper

    saved = tamper.LOG_SIZE
    tamper.LOG_SIZE = size
    try:
        _rewrite_leaf_and_every_hash_above_it(conn, index, leaf)  # type: ignore[arg-type]
    finally:
        tamper.LOG_SIZE = saved


def test_witness_configuration_is_checked(witness: WitnessProcess) -> None:
    [parsed] = parse_witnesses(witness.config)
    assert parsed.url == witness.url and parsed.name == "witness.test/w1"
    from broker.errors import ConfigurationError

    for bad in ("not-a-key http://x", f"{witness.vkey} ftp://x", f"{witness.vkey} a b",
                f"{witness.vkey},{witness.vkey}"):
        with pytest.raises(ConfigurationError):
            parse_witnesses(bad)
    assert WitnessState().known is None


def _served(context: BrokerContext) -> AbstractContextManager[str]:
    """``context``'s broker served by uvicorn on a free loopback port, in a thread."""
    return served(context, 15)


def test_a_forked_checkpoint_served_to_one_verifier_over_http_is_caught(
    wctx: BrokerContext, witness: WitnessProcess, settings: Settings, engine: Engine,
    tmp_path: Path,
) -> None:
    """A split view: an insider with the signing key serves one outside verifier (no local
    state, the log key pinned) a consistent fork of the log under a fresh log-signed
    checkpoint. The verifier's witness catches it: the fork has no cosignature, and the
    witness's own view of size 8 has another root."""
    _append(wctx, 8)
    wctx.audit.log.checkpoint_now()
    _round(wctx)
    key = wctx.audit.log.verifier_key
    with _served(wctx) as base:
        token = issuer_token(settings, role="auditor", scope="supervisor")
        outside = ("audit", "verify", "--url", base, "--token", token, "--key", key,
                   "--witness", witness.config, "--quorum", "1")
        honest = _cli(settings, *outside, "--state", str(tmp_path / "a.txt"))
        assert honest.exit_code == 0, honest.output
        store = AuditStore(engine)
        leaf = store.leaf(3)
        assert leaf is not None
        real, other = f"{3:032x}", "f" * 32  # entry 3 now names another client
        assert real.encode() in leaf.leaf
        with _attacker(engine) as conn:
            _rewrite_leaf_and_every_hash_above_it_sized(
                conn, 3, leaf.leaf.replace(real.encode(), other.encode()), 8)
            conn.execute(update(audit_leaf).where(audit_leaf.c.idx == 3).values(client=other))
            conn.execute(delete(audit_checkpoint))
        signer = load_audit_signer(settings)[0]
        root = store.root(8)
        with engine.begin() as conn:
            conn.execute(audit_checkpoint.insert().values(
                size=8, root=root, note=sign_checkpoint(signer.name, 8, root, signer),
                signed_at="2026-12-01T00:00:00.000000Z"))
        forked = httpx.get(f"{base}/v1/audit/checkpoint", timeout=5).text
        assert base64.b64encode(root).decode() in forked  # what this verifier is served
        fooled = _cli(settings, "audit", "verify", "--url", base, "--token", token,
                      "--key", key, "--state", str(tmp_path / "b.txt"))
        assert fooled.exit_code == 0, fooled.output  # without a witness the fork passes
        caught = _cli(settings, *outside, "--state", str(tmp_path / "c.txt"))
    assert caught.exit_code == 1, caught.output
    assert "the log signed two different trees of size 8: it was forked" in caught.output
