"""A production start, as docs/deploy.md tells an operator: outside demo mode, on PostgreSQL,
``serve --workers 2``, every key from a file (partners' and the identity provider's public keys,
the KEK), the portals' OpenID Connect login against a provider, and two independent witnesses
(``aics-witness``) with a quorum of two (DESIGN §9).

The operator's steps run as commands (``keys init``, ``db upgrade``, ``audit key`` for the
witnesses, ``serve``); the workload is what partners, a client and a monitor do over HTTP: an
entry, a denied request, the client's consent, a granted request, a login through the provider,
and ``audit verify`` against the witnesses' cosignatures, from the database and over HTTP.
"""

from __future__ import annotations

import json
import secrets
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
import yaml
from sqlalchemy.engine import Engine

from broker.demo import DEMO_REGISTRY
from broker.policy.bundle import load_bundle
from broker.security.keys import new_signing_jwk, public_jwk
from broker.security.tokens import sign
from broker.settings import DEFAULT_POLICY_DIR
from tests.broker.test_portal_oidc import AN, USERS, authorize
from tests.e2e.conftest import CLI, DemoBroker, broker_env, free_port, fresh_schema, serving
from tests.factories import VALID_INSZ, make_consent_terms
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider
from tests.witness_process import WitnessProcess, make_witness, require_witness_tools

pytestmark = pytest.mark.slow

ISSUER = "https://login.gbo.test"  # the identity provider of API client and auditor tokens
AUDIENCE = "gbo-broker"
LOG_ORIGIN = "audit.gbo.test/production"
QUORUM = 2
COSIGN_WAIT_S = 30


@dataclass(frozen=True)
class Production:
    broker: DemoBroker
    provider: Provider
    witnesses: tuple[WitnessProcess, ...]
    partner_keys: dict[str, dict[str, Any]]
    issuer_key: dict[str, Any]
    etc: Path
    log_key: str  # what `gbo-broker audit key` printed

    def partner(self, partner: str, worker: str = "w-1") -> dict[str, str]:
        """A partner system's own signed token (DESIGN §6), as an Authorization header."""
        now = int(time.time())
        token = sign({"iss": partner, "sub": worker, "aud": AUDIENCE, "iat": now,
                      "exp": now + 120, "jti": secrets.token_urlsafe(16)},
                     self.partner_keys[partner])
        return {"Authorization": f"Bearer {token}"}

    def issued(self, **claims: Any) -> str:
        now = int(time.time())
        return sign({"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
                     "sub": f"s-{secrets.token_hex(4)}", **claims}, self.issuer_key)


def _operator(env: dict[str, str], *args: str) -> str:
    """One operator command; its stdout."""
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"gbo-broker {' '.join(args)}:\n{done.stderr}"
    return done.stdout.strip()


def _write_jwks(path: Path, private: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"keys": [public_jwk(private)]}))


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory,
               postgres_admin: Engine) -> Iterator[Production]:
    require_witness_tools()
    tmp = tmp_path_factory.mktemp("production")
    etc = tmp / "etc" / "gbo"
    # Keys the operator receives as files: each partner's public JWKS, the identity provider's.
    registry = yaml.safe_load(DEMO_REGISTRY.read_text("utf-8"))
    registry["demo"] = False
    partner_keys = {}
    for partner in registry["partners"]:
        partner_keys[partner["id"]] = new_signing_jwk(f"{partner['id']}-2026-1")
        partner["jwks_file"] = str(etc / "partners" / f"{partner['id']}.jwks.json")
        _write_jwks(Path(partner["jwks_file"]), partner_keys[partner["id"]])
    (etc / "registry.yaml").write_text(yaml.safe_dump(registry))
    issuer_key = new_signing_jwk("login-2026-1")
    _write_jwks(etc / "issuer.jwks.json", issuer_key)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        provider = stack.enter_context(running_provider(
            USERS, {f"{base}/mijn/login/callback", f"{base}/audit/login/callback"},
            {f"{base}/mijn/login", f"{base}/audit/login"}))
        database_url = stack.enter_context(fresh_schema(postgres_admin))
        env = broker_env(
            GBO_DEMO="0", GBO_DATA_DIR=str(tmp / "var" / "lib" / "gbo"),
            GBO_DATABASE_URL=database_url, GBO_REGISTRY_FILE=str(etc / "registry.yaml"),
            GBO_KEK_FILE=str(etc / "secrets" / "kek.json"), GBO_AUDIENCE=AUDIENCE,
            GBO_ISSUER=ISSUER, GBO_ISSUER_JWKS_FILE=str(etc / "issuer.jwks.json"),
            GBO_LOG_ORIGIN=LOG_ORIGIN, GBO_PUBLIC_URL=base, GBO_OIDC_ISSUER=provider.issuer,
            GBO_OIDC_CLIENT_ID=CLIENT_ID, GBO_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            GBO_WITNESS_QUORUM=str(QUORUM))
        _operator(env, "keys", "init")
        _operator(env, "db", "upgrade")
        log_key = _operator(env, "audit", "key")
        witnesses = []
        for n in range(1, 3):
            witness = make_witness(tmp / f"witness-{n}", name=f"witness.gbo.test/w{n}",
                                   origin=LOG_ORIGIN, log_vkey=log_key)
            stack.callback(witness.stop)
            witness.start()
            witnesses.append(witness)
        env["GBO_WITNESSES"] = "\n".join(w.config for w in witnesses)
        broker, _ = stack.enter_context(serving(tmp, env, port=port, workers=2))
        yield Production(broker=broker, provider=provider, witnesses=tuple(witnesses),
                         partner_keys=partner_keys, issuer_key=issuer_key, etc=etc,
                         log_key=log_key)


def test_keys_init_wrote_the_kek_where_configured_readable_by_the_owner_only(
    production: Production,
) -> None:
    kek = production.etc / "secrets" / "kek.json"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert json.loads(kek.read_text())["demo"] is False


def test_two_workers_start_and_log_no_error(production: Production) -> None:
    records = [json.loads(line) for line in production.broker.log.read_text().splitlines()]
    assert any(r.get("gbo.workers") == 2 for r in records), records
    errors = [r for r in records if r.get("log.level") in ("error", "critical")]
    assert errors == []


def test_readiness_names_the_shipped_bundle_and_the_key_is_published(
    production: Production,
) -> None:
    body = httpx.get(f"{production.broker.base}/readyz", timeout=10).json()
    assert body["status"] == "ready"
    assert body["policy_version"] == load_bundle(DEFAULT_POLICY_DIR).version
    published = httpx.get(f"{production.broker.base}/v1/audit/key", timeout=10).text
    assert published.strip() == production.log_key
    assert production.log_key.startswith(LOG_ORIGIN + "+")


def _access(production: Production, partner: str) -> dict[str, Any]:
    response = httpx.post(f"{production.broker.base}/v1/access-requests",
                          headers=production.partner(partner, "w-7"), timeout=10,
                          json={"insz": VALID_INSZ, "purpose": "rechtenverkenning",
                                "sections": ["inkomen"]})
    assert response.status_code == 200, response.text
    decision: dict[str, Any] = response.json()
    return decision


def test_a_partner_sees_what_the_client_consented_to_and_nothing_before(
    production: Production,
) -> None:
    base = production.broker.base
    for partner in ("ocmw-gent", "caw-oost-vlaanderen"):  # DESIGN §5: relations first
        declared = httpx.post(f"{base}/v1/relations", json={"insz": VALID_INSZ},
                              headers=production.partner(partner), timeout=10)
        assert declared.status_code == 201, declared.text
        assert declared.json()["proof"] == "attested"  # no eID roots configured
    content = {"bron": "leefloon", "bedrag_per_maand": 1263}
    written = httpx.post(f"{base}/v1/entries", headers=production.partner("ocmw-gent"),
                         json={"insz": VALID_INSZ, "section": "inkomen", "content": content},
                         timeout=10)
    assert written.status_code == 201, written.text

    before = _access(production, "caw-oost-vlaanderen")["sections"]["inkomen"]
    assert before["verdict"] == "denied" and not before.get("entries")

    client = {"Authorization": f"Bearer {production.issued(role='client', insz=VALID_INSZ)}"}
    given = httpx.post(f"{base}/v1/me/consents", json=make_consent_terms(), headers=client,
                       timeout=10)
    assert given.status_code == 201, given.text

    after = _access(production, "caw-oost-vlaanderen")["sections"]["inkomen"]
    assert after["verdict"] == "granted", after
    assert [e["content"] for e in after["entries"]] == [content]
    log = httpx.get(f"{base}/v1/me/access-log", headers=client, timeout=10).json()["entries"]
    assert [e["partner"] for e in log] == ["caw-oost-vlaanderen", "caw-oost-vlaanderen"]


def _cookies(response: httpx.Response) -> str:
    """The cookies a response sets, as a Cookie header. By hand: outside demo mode they are
    ``Secure``, which a browser sends to http://127.0.0.1 (a trustworthy origin) and httpx's
    cookie jar does not."""
    return "; ".join(line.split(";", 1)[0] for line in response.headers.get_list("set-cookie"))


def test_a_client_logs_in_through_the_provider(production: Production) -> None:
    base = production.broker.base
    page = httpx.get(f"{base}/mijn/login", timeout=10)
    assert 'href="/mijn/login/oidc"' in page.text
    start = httpx.get(f"{base}/mijn/login/oidc", timeout=10)
    assert start.status_code == 303, start.text
    url = start.headers["location"]
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == [f"{base}/mijn/login/callback"]
    assert query["code_challenge_method"] == ["S256"]
    callback = authorize(production.provider, url, AN)
    back = httpx.get(callback, headers={"Cookie": _cookies(start)}, timeout=10)
    assert back.status_code == 303, back.text
    home = httpx.get(f"{base}/mijn", headers={"Cookie": _cookies(back)}, timeout=10)
    assert home.status_code == 200
    assert "An Peeters" in home.text
    assert VALID_INSZ not in home.text


def _cosigned(production: Production) -> bool:
    note = httpx.get(f"{production.broker.base}/v1/audit/checkpoint", timeout=10).text
    names = {w.name for w in production.witnesses}
    return len({line.split()[1] for line in note.splitlines()
                if line.startswith("— ") and line.split()[1] in names}) == QUORUM


def test_the_audit_log_verifies_with_both_witnesses_cosigning(production: Production) -> None:
    httpx.post(f"{production.broker.base}/v1/access-requests", timeout=10,
               headers=production.partner("dmw-cm"),
               json={"insz": VALID_INSZ, "purpose": "rechtenverkenning", "sections": ["werk"]})
    deadline = time.monotonic() + COSIGN_WAIT_S
    while not _cosigned(production):  # bounded: witnessing runs every second in the background
        assert time.monotonic() < deadline, "the witnesses did not both cosign a checkpoint"
        time.sleep(0.2)
    env = production.broker.env
    local = _operator(env, "audit", "verify", "--quorum", str(QUORUM))
    assert local.startswith("OK: ") and f"witnessed by {QUORUM}+ of {QUORUM}" in local
    supervisor = production.issued(role="auditor", scope="supervisor")
    remote = _operator(
        env, "audit", "verify", "--url", production.broker.base, "--token", supervisor,
        "--key", production.log_key, "--state", str(production.etc / "monitor.txt"),
        *[arg for w in production.witnesses for arg in ("--witness", w.config)],
        "--quorum", str(QUORUM))
    assert remote.startswith("OK: ") and f"witnessed by {QUORUM}+ of {QUORUM}" in remote
