"""DESIGN §9: the log's C2SP tlog-tiles read API, checked by an off-the-shelf tiles client
(``aics-tlog``'s HTTP tile reader, run as its own process: tests/witness_process.py) that mirrors
and verifies every tile and entry bundle against the signed checkpoint."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from audit.tiles import TilePath, entry_bundle, parse_tile_path, tile_path
from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import AuditEvent
from tests.backends import on_backends
from tests.broker.test_audit_tamper import live_broker  # noqa: F401 - fixture
from tests.factories import auth, issuer_token
from tests.witness_process import TILES_BIN, require_witness_tools

PATHS = {  # tlog-tiles examples and edges
    "0/000": TilePath(0, 0, None),
    "0/x001/x234/067": TilePath(0, 1234067, None),
    "1/017.p/17": TilePath(1, 17, 17),
    "entries/001.p/255": TilePath(None, 1, 255),
    "63/999": TilePath(63, 999, None),
}


@pytest.mark.parametrize(("path", "tile"), PATHS.items(), ids=PATHS.keys())
def test_tile_paths_round_trip(path: str, tile: TilePath) -> None:
    assert parse_tile_path(path) == tile
    assert tile_path(tile) == path


# Refused by the path's parser before any query; on both backends one tile and one bundle.
@on_backends("path", {p: p for p in ["64/000", "0/1", "0/x001", "0/001/002", "0/000.p/0",
                                     "0/000.p/256", "0/x000/001", "01/000", "0/000.p/07",
                                     "entries/abc", "0/-01"]},
             both={"0/x001", "entries/abc"})
def test_malformed_tile_paths_are_refused(path: str, api: TestClient) -> None:
    from audit.errors import ProofRequestError

    with pytest.raises(ProofRequestError):
        parse_tile_path(path)
    assert api.get(f"/v1/audit/tile/{path}").status_code == (401 if "entries" in path else 404)


def test_entry_bundle_is_uint16_length_prefixed() -> None:
    assert entry_bundle([b"ab", b""]) == b"\x00\x02ab\x00\x00"


def _log(ctx: BrokerContext, n: int) -> None:
    for i in range(n):
        ctx.audit.append(AuditEvent(kind="client.erased", network="gbo-gent",
                                    client=f"{i:032x}"), now=datetime.now(UTC))
    ctx.audit.log.checkpoint_now()


def test_tiles_beyond_the_checkpoint_are_not_served_and_bundles_need_the_supervisor(
    api: TestClient, ctx: BrokerContext, settings: Settings
) -> None:
    _log(ctx, 300)
    full = api.get("/v1/audit/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert api.get("/v1/audit/tile/0/001.p/44").status_code == 200
    assert api.get("/v1/audit/tile/0/001.p/45").status_code == 404  # past size 300
    assert api.get("/v1/audit/tile/0/001").status_code == 404
    assert api.get("/v1/audit/tile/1/000.p/1").status_code == 200
    assert api.get("/v1/audit/tile/entries/000").status_code == 401
    partner = auth(issuer_token(settings, role="auditor", scope="partner:ocmw-gent"))
    assert api.get("/v1/audit/tile/entries/000", headers=partner).status_code == 403
    supervisor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
    bundle = api.get("/v1/audit/tile/entries/001.p/44", headers=supervisor)
    assert bundle.status_code == 200
    first = ctx.audit.log.store.leaf(256)
    assert first is not None
    assert bundle.content.startswith(len(first.leaf).to_bytes(2, "big") + first.leaf)


CLIENT = """
import sys
from aics_tlog.remote import HttpTileReader
from aics_tlog.verified import audit_tiles
base, vkey, token = sys.argv[1:4]
reader = HttpTileReader([base + "/v1/audit/"], proxies={})
reader._opener.addheaders = [("Authorization", "Bearer " + token)]
note = reader.read_checkpoint().decode()
lines = note.split("\\n")
size, root = int(lines[1]), __import__("base64").b64decode(lines[2])
report = audit_tiles(reader, size, root, entries=True)
print("audited", report.size, report.tiles, report.bundles)
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_independent_tiles_client_mirrors_and_verifies_the_whole_log(
    ctx: BrokerContext, settings: Settings, live_broker: str  # noqa: F811
) -> None:
    require_witness_tools()
    _log(ctx, 70 * 9)  # 630 leaves: two full level-0 tiles and a partial, a partial level 1
    token = issuer_token(settings, role="auditor", scope="supervisor")
    python = TILES_BIN.with_name("python")
    done = subprocess.run([str(python), "-c", CLIENT, live_broker,
                           ctx.audit.log.verifier_key, token],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["audited", "630", "4", "3"]
