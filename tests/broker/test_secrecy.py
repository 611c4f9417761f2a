"""Secrecy canaries (DESIGN §6): markers in content and INSZ values appear only where authorised."""

from __future__ import annotations

import logging
import secrets

import pytest
from fastapi.testclient import TestClient

from broker.observability import json_formatter
from broker.settings import Settings
from consent.insz import is_valid_insz
from tests.factories import auth, client_auth, declare_relation, make_entry, partner_auth


def _canary_insz() -> str:
    """A random, valid INSZ that no other test uses."""
    while True:
        body = f"{secrets.randbelow(10**9):09d}"
        candidate = body + f"{97 - int(body) % 97:02d}"
        if is_valid_insz(candidate):
            return candidate


CALLER_LOGGERS = ("httpx", "httpcore")


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_canaries_appear_only_in_the_authorised_response(
    api: TestClient, settings: Settings, captured: pytest.LogCaptureFixture
) -> None:
    marker = f"canary-{secrets.token_hex(8)}"
    insz = _canary_insz()
    bad_insz = insz[:-1] + str((int(insz[-1]) + 1) % 10)
    unauthorised: list[str] = []

    def record(response: object) -> None:
        unauthorised.append(response.text)  # type: ignore[attr-defined]
        unauthorised.append(repr(dict(response.headers)))  # type: ignore[attr-defined]

    declare_relation(api, settings, insz=insz)
    ok = api.post(
        "/v1/entries",
        json=make_entry(insz=insz, content={"note": marker}),
        headers=partner_auth(settings),
    )
    assert ok.status_code == 201
    record(ok)
    # Every kind of failure, each carrying the canaries.
    record(
        api.post(
            "/v1/entries",
            json=make_entry(insz=bad_insz, content={"note": marker}),
            headers=partner_auth(settings),
        )
    )
    record(
        api.post(
            "/v1/entries",
            json=make_entry(insz=insz, section=marker),
            headers=partner_auth(settings),
        )
    )
    record(
        api.post(
            "/v1/entries",
            json={**make_entry(insz=insz), marker: insz},
            headers=partner_auth(settings),
        )
    )
    record(
        api.post(
            "/v1/entries",
            json=make_entry(insz=insz, content=marker),
            headers=partner_auth(settings),
        )
    )
    record(
        api.post(
            "/v1/entries",
            json=make_entry(insz=insz, content={"note": marker}),
            headers=auth("garbage"),
        )
    )
    record(
        api.post(
            "/v1/entries",
            json=make_entry(insz=insz, content={"x": marker * 40000}),
            headers=partner_auth(settings),
        )
    )
    record(
        api.post(
            "/v1/entries",
            content=f'{{"insz": "{insz}", "content": "{marker}'.encode(),
            headers={**partner_auth(settings), "Content-Type": "application/json"},
        )
    )
    record(api.get(f"/v1/entries/{insz}?q={marker}"))
    record(api.get("/v1/me/dossier", headers=partner_auth(settings)))
    metrics = api.get("/metrics").text

    mine = api.get("/v1/me/dossier", headers=client_auth(settings, insz))
    assert marker in mine.text  # the client themselves may read it: the canary is detectable

    # Everything the broker process logged; the test's own HTTP client logs are the caller's.
    broker_records = [r for r in captured.records if not r.name.startswith(CALLER_LOGGERS)]
    logs = "\n".join(json_formatter().format(r) for r in broker_records)
    assert any(r.name == "gbo.access" for r in broker_records), "the workload must have logged"
    for place, text in {
        "logs": logs,
        "metrics": metrics,
        "responses": "\n".join(unauthorised),
    }.items():
        assert marker not in text, f"content canary leaked into {place}"
        assert insz not in text, f"INSZ canary leaked into {place}"
        assert bad_insz not in text, f"mistyped INSZ leaked into {place}"


def test_canaries_never_reach_the_audit_log_or_denied_answers(
    api: TestClient, settings: Settings, captured: pytest.LogCaptureFixture
) -> None:
    """Issues 3 and 5: after a workload of relations, consents, entries, granted and denied
    access requests, a break-glass and an involvement question, carrying canaries in content,
    INSZ and the break-glass justification, no canary is in any stored leaf, audit response,
    log line, metric or denied answer — while the authorised answer does carry the content."""
    from tests.factories import declare_relation, eid_presence, issuer_token, make_desk_consent

    marker = f"canary-{secrets.token_hex(8)}"
    reason = f"Levensgevaar, geen toestemming mogelijk: {secrets.token_hex(8)}-justif"
    insz = _canary_insz()
    for partner in ("ocmw-gent", "caw-oost-vlaanderen"):
        declare_relation(api, settings, partner, insz)
    consent = make_desk_consent(insz=insz, recipients=[{"kind": "partner_type", "id": "caw"}],
                                purposes=["rechtenverkenning"], sections=["inkomen"],
                                presence=eid_presence(api, settings, "ocmw-gent", insz))
    assert api.post("/v1/consents", json=consent,
                    headers=partner_auth(settings, "ocmw-gent")).status_code == 201
    for section in ("inkomen", "justitie", "gezondheid"):
        assert api.post("/v1/entries", json=make_entry(insz=insz, section=section,
                                                       content={"note": marker}),
                        headers=partner_auth(settings, "ocmw-gent")).status_code == 201

    def ask(partner: str, **body: object) -> object:
        return api.post("/v1/access-requests", json={"insz": insz, **body},
                        headers=partner_auth(settings, partner))

    granted = ask("caw-oost-vlaanderen", purpose="rechtenverkenning", sections=["inkomen"])
    assert marker in granted.text  # the canary is there where it is allowed: detectable
    denied = [
        ask("caw-oost-vlaanderen", purpose="rechtenverkenning", sections=["justitie"]),
        ask("dmw-cm", purpose="rechtenverkenning", sections=["inkomen"]),
        ask("buurtwerk-gent", purpose="rechtenverkenning", sections=["inkomen"]),
        ask("caw-oost-vlaanderen", purpose="noodsituatie", sections=["gezondheid"],
            justification="te kort"),
    ]
    assert all(r.status_code == 200 for r in denied)
    assert ask("caw-oost-vlaanderen", purpose="noodsituatie", sections=["gezondheid"],
               justification=reason).status_code == 200
    api.post("/v1/involvement", json={"insz": insz, "purpose": "doorverwijzing"},
             headers=partner_auth(settings, "caw-oost-vlaanderen"))

    ctx = api.app.state.context  # type: ignore[attr-defined]
    leaves = b"".join(leaf.leaf for leaf in ctx.audit.log.store.iter_leaves())
    assert leaves.count(b'"kind":"access.decision"') == 6
    supervisor = {"Authorization": "Bearer " + issuer_token(settings, role="auditor",
                                                            scope="supervisor")}
    audit_views = [api.get("/v1/audit/entries", params={"limit": 1000}, headers=supervisor).text,
                   api.get("/v1/audit/leaves", headers=supervisor).text,
                   api.get("/v1/audit/checkpoint").text]
    broker_records = [r for r in captured.records if not r.name.startswith(CALLER_LOGGERS)]
    logs = "\n".join(json_formatter().format(r) for r in broker_records)
    places = {"audit leaves": leaves.decode(), "audit responses": "\n".join(audit_views),
              "logs": logs, "metrics": api.get("/metrics").text,
              "denied answers": "\n".join(r.text for r in denied)}
    for place, text in places.items():
        for canary in (marker, insz, reason):
            assert canary not in text, f"a canary leaked into {place}"
