"""DESIGN §9, "A closed vocabulary in the log": nothing a caller chose lands in a leaf or a log line
in clear.

Canaries — an INSZ-shaped number and a unicode string — go in through every input that can reach a
leaf or a log line: the X-Request-ID header, the purpose, section names, the worker id (the
token's ``sub``), the justification, the auditors' search filters and unknown JSON fields. None of
them may appear in any stored leaf, log line, metric, or any response other than the client's own
access log (where the justification is the client's to read).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit.entry import decode_leaf
from broker.context import BrokerContext
from broker.errors import AuditVocabularyRefused
from broker.observability import json_formatter
from broker.settings import Settings
from broker.store.audit_events import AuditEvent
from broker.store.audit_vocabulary import COUNTS, DIGIT_RUN, MAX_LEAF_BYTES, UNKNOWN
from consent.insz import is_valid_insz
from tests.backends import on_backends
from tests.broker.test_portal_audit import login
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    auth,
    client_auth,
    declare_relation,
    in_days,
    issuer_token,
    make_desk_consent,
    make_entry,
    partner_auth,
    record_consent,
)


def _canary_insz() -> str:
    while True:
        body = f"{secrets.randbelow(10**9):09d}"
        candidate = body + f"{97 - int(body) % 97:02d}"
        if is_valid_insz(candidate):
            return candidate


@pytest.fixture
def canaries() -> dict[str, str]:
    tag = secrets.token_hex(4)
    return {
        "insz": _canary_insz(),
        "digits": f"{secrets.randbelow(10**12):012d}",
        "unicode": f"Kanärie-ŝekreto-{tag}-日本",
        "plain": f"canary{tag}zz",  # a sub the token check accepts: only its pseudonym may show
    }


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def _all_leaves(ctx: BrokerContext) -> list[bytes]:
    return [item.leaf for item in ctx.audit.log.store.iter_leaves()]


CALLER_LOGGERS = ("httpx", "httpx2", "httpcore")  # the test's own HTTP client, not the broker


def _log_lines(captured: pytest.LogCaptureFixture) -> list[str]:
    formatter = json_formatter()
    return [formatter.format(record) for record in captured.records
            if not record.name.startswith(CALLER_LOGGERS)]


def test_canaries_through_every_input_reach_no_leaf_log_line_metric_or_foreign_response(
    api: TestClient, settings: Settings, ctx: BrokerContext, canaries: dict[str, str],
    captured: pytest.LogCaptureFixture,
) -> None:
    insz = _canary_insz()
    client_insz = insz
    declare_relation(api, settings, partner="caw-oost-vlaanderen", insz=client_insz)
    created = api.post("/v1/entries", json=make_entry(insz=client_insz),
                       headers=partner_auth(settings, "caw-oost-vlaanderen"))
    assert created.status_code == 201
    responses: list[Any] = []
    for canary in canaries.values():
        header = [(b"X-Request-ID", canary.encode())]
        token = partner_auth(settings, "caw-oost-vlaanderen", sub=canaries["plain"])
        # purpose, section names, justification, X-Request-ID and the worker id at once
        responses.append(api.post(
            "/v1/access-requests",
            json={"insz": client_insz, "purpose": canary, "sections": [canary, "identiteit"],
                  "justification": f"nood: {canary} " + "x" * 30},
            headers={**token, "X-Request-ID": canary.encode().decode("latin-1")}
            if canary.isascii() else token,
        ))
        responses.append(api.post(
            "/v1/access-requests",
            json={"insz": client_insz, "purpose": "noodsituatie",
                  "justification": f"nood: {canary} " + "x" * 30},
            headers=partner_auth(settings, "caw-oost-vlaanderen", sub=canaries["plain"]),
        ))
        responses.append(api.get("/healthz", headers=header))
        # an unknown JSON field, as a key and as a value
        responses.append(api.post("/v1/access-requests",
                                  json={"insz": client_insz, "purpose": "rechtenverkenning",
                                        canary: canary},
                                  headers=partner_auth(settings, "caw-oost-vlaanderen")))
        # the auditors' search filters, API and portal
        supervisor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
        for query in ({"kind": canary}, {"partner": canary}, {"from": canary},
                      {"cursor": canary}):
            responses.append(api.get("/v1/audit/entries", params=query, headers=supervisor))
        responses.append(api.get("/audit", params={"partner": canary, "doel": canary,
                                                  "soort": canary, "van": canary}))
    login(api)  # the auditor portal's search, logged in
    for canary in canaries.values():
        responses.append(api.get("/audit", params={"partner": canary, "doel": canary,
                                                  "soort": canary, "van": canary}))
    metrics = api.get("/metrics").text
    own = api.get("/v1/me/access-log", headers=client_auth(settings, client_insz))
    assert own.status_code == 200
    # The client's own access log holds the justification, decrypted with the client's key.
    assert any(canaries["unicode"] in json.dumps(item.get("detail"), ensure_ascii=False)
               for item in own.json()["entries"])

    leaves = _all_leaves(ctx)
    assert leaves
    lines = _log_lines(captured)
    # A plain caller's X-Request-ID is echoed back to that caller as X-Correlation-ID, by design.
    foreign = [r.text + repr({k: v for k, v in r.headers.items() if k != "x-correlation-id"})
               for r in responses]
    for name, canary in canaries.items():
        for leaf in leaves:
            assert canary.encode() not in leaf, name
            assert canary not in leaf.decode("utf-8"), name
        for line in lines:
            assert canary not in line, (name, line)
        assert canary not in metrics, name
        for text in foreign:
            assert canary not in text, (name, text[:300])
    assert client_insz not in "".join(lines) + metrics + "".join(foreign)
    for leaf in leaves:
        assert client_insz.encode() not in leaf
    # What the leaves hold instead: the catalogue's codes or "unknown", the worker's pseudonym.
    decisions = [decode_leaf(leaf) for leaf in leaves]
    decisions = [d for d in decisions if d["kind"] == "access.decision"]
    assert {d["purpose"] for d in decisions} >= {UNKNOWN, "noodsituatie"}
    assert any(UNKNOWN in d["sections"] for d in decisions)
    worker = ctx.keyring.worker_ref("gbo-gent", "caw-oost-vlaanderen", canaries["plain"])
    assert {d["worker"] for d in decisions} == {worker}


def test_canaries_through_consent_and_client_control_inputs_reach_no_leaf_log_line_or_metric(
    api: TestClient, settings: Settings, ctx: BrokerContext, canaries: dict[str, str],
    captured: pytest.LogCaptureFixture,
) -> None:
    """The other writes that make a leaf: a desk consent's evidence and grantor, a consent
    request's message and terms, a mandate's names, an exclusion's partner, a relation's end.
    Each canary is accepted by at least one of them (so it could have leaked) and reaches no
    leaf, log line, metric or error answer."""
    partner = "caw-oost-vlaanderen"
    declare_relation(api, settings, partner=partner)
    errors: list[Any] = []
    accepted: dict[str, int] = {}
    for name, canary in canaries.items():
        writes = [
            api.post("/v1/consents", json=make_desk_consent(
                evidence={"method": "signed_paper", "reference": canary, "recorded_by": canary},
                grantor={"name": canary, "role": "bewindvoerder"},
                sections=["identiteit"], valid_until=in_days(20)),
                headers=partner_auth(settings, partner)),
            api.post("/v1/consents", json=make_desk_consent(purposes=[canary],
                                                            sections=[canary]),
                     headers=partner_auth(settings, partner)),
            api.post("/v1/consent-requests", json={
                "insz": VALID_INSZ, "recipients": [{"kind": "partner", "id": partner}],
                "purposes": ["rechtenverkenning"], "sections": ["inkomen"],
                "valid_until": in_days(30), "message": f"Mag het? {canary}"},
                headers=partner_auth(settings, partner)),
            api.post("/v1/consent-requests", json={
                "insz": VALID_INSZ, "recipients": [{"kind": "partner", "id": canary}],
                "purposes": [canary], "sections": [canary], "valid_until": in_days(30)},
                headers=partner_auth(settings, partner)),
            api.post("/v1/me/mandates", json={
                "insz": OTHER_INSZ, "valid_until": in_days(30),
                "trusted_person_name": canary[:100], "my_name": canary[:100]},
                headers=client_auth(settings)),
            api.post("/v1/me/exclusions", json={"partner": canary},
                     headers=client_auth(settings)),
            api.post("/v1/relations", json={"insz": VALID_INSZ, "end": canary},
                     headers=partner_auth(settings, partner)),
        ]
        for response in writes:
            assert response.status_code < 500, response.text
            if response.status_code < 300:
                accepted[name] = accepted.get(name, 0) + 1
            else:
                errors.append(response.text + repr(dict(response.headers)))
    assert set(accepted) == set(canaries), accepted  # each canary got into the store somewhere
    metrics = api.get("/metrics").text
    leaves = _all_leaves(ctx)
    lines = _log_lines(captured)
    for name, canary in canaries.items():
        for leaf in leaves:
            assert canary not in leaf.decode("utf-8"), name
        for line in lines:
            assert canary not in line, (name, line)
        assert canary not in metrics, name
        for text in errors:
            assert canary not in text, (name, text[:300])


def test_leaf_request_id_is_the_brokers_own_and_the_callers_goes_only_into_the_detail(
    api: TestClient, settings: Settings, ctx: BrokerContext,
) -> None:
    declare_relation(api, settings, partner="caw-oost-vlaanderen")
    api.post("/v1/entries", json=make_entry(section="inkomen"),
             headers=partner_auth(settings, "caw-oost-vlaanderen"))
    record_consent(api, settings, "caw-oost-vlaanderen")
    response = api.post("/v1/access-requests",
                        json={"insz": make_entry()["insz"], "purpose": "rechtenverkenning"},
                        headers={**partner_auth(settings, "caw-oost-vlaanderen"),
                                 "X-Request-ID": "partner-corr-77"})
    assert response.status_code == 200
    body = response.json()
    assert response.headers["x-request-id"] == body["request_id"]
    assert response.headers["x-correlation-id"] == "partner-corr-77"
    leaf = ctx.audit.log.store.leaf(body["audit"]["index"])
    assert leaf is not None and b"partner-corr-77" not in leaf.leaf
    assert decode_leaf(leaf.leaf)["request_id"] == body["request_id"]
    own = api.get("/v1/me/access-log", headers=client_auth(settings)).json()["entries"]
    [mine] = [e for e in own if e["index"] == body["audit"]["index"]]
    assert mine["detail"]["correlation_id"] == "partner-corr-77"


def test_section_names_are_bounded_so_no_huge_leaf_is_made(
    api: TestClient, settings: Settings, ctx: BrokerContext,
) -> None:
    """The finding: 32 section names of 30,000 characters made one 964 KB permanent leaf."""
    declare_relation(api, settings, partner="caw-oost-vlaanderen")
    before = ctx.audit.log.store.size()
    response = api.post("/v1/access-requests",
                        json={"insz": make_entry()["insz"], "purpose": "rechtenverkenning",
                              "sections": ["s" * 30_000] * 32},
                        headers=partner_auth(settings, "caw-oost-vlaanderen"))
    assert response.status_code == 422
    assert ctx.audit.log.store.size() == before
    assert all(len(item.leaf) <= MAX_LEAF_BYTES for item in ctx.audit.log.store.iter_leaves())


def _event(**overrides: Any) -> AuditEvent:
    fields: dict[str, Any] = {
        "kind": "access.decision", "network": "gbo-gent", "client": "0f" * 16,
        "partner": "ocmw-gent", "worker": "w-1", "purpose": "rechtenverkenning",
        "sections": {"inkomen": {"verdict": "denied", "reasons": ["no_consent_for_section"]}},
        "policy_version": "ab" * 32, "request_id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
    }
    fields.update(overrides)
    return AuditEvent(**fields)


REFUSED = {
    "unknown_kind": ({"kind": "access.whatever"}, "kind"),
    "partner_outside_registry": ({"partner": "ocmw-elders"}, "partner"),
    "network_outside_registry": ({"network": "gbo-elders"}, "network"),
    "insz_as_client": ({"client": "85073003328"}, "client"),
    "insz_as_request_id": ({"request_id": "85073003328"}, "request_id"),
    "free_text_policy_version": ({"policy_version": "v1 by 85073003328"}, "policy_version"),
    "digits_in_reason": ({"sections": {"inkomen": {"verdict": "denied",
                                                   "reasons": ["x85073003328"]}}}, "sections"),
    "verdict_outside_set": ({"sections": {"inkomen": {"verdict": "maybe", "reasons": []}}},
                            "sections"),
    "unknown_fact": ({"facts": {"note": "hello"}}, "facts"),
    "insz_in_a_known_fact": ({"facts": {"disclosed": 85073003328}}, "facts"),
    "digits_in_consent_id": ({"consent_ids": ["cs-850730033"]}, "consent_ids"),
    "rotated_key_outside_set": ({"kind": "key.rotated", "facts": {"key": "pseudonym"}},
                                "facts"),
    "insz_as_rotated_key_id": ({"kind": "key.rotated", "facts": {"key_id": "85073003328"}},
                               "facts"),
}


# The guard refuses before the writer touches the database; two rows on both backends.
@on_backends(("overrides", "field"), REFUSED, both={"insz_as_client", "unknown_fact"})
def test_guard_refuses_and_counts_a_clear_field_outside_its_closed_set(
    ctx: BrokerContext, api: TestClient, overrides: dict[str, Any], field: str
) -> None:
    before, size = COUNTS.refused.get(field, 0), ctx.audit.log.store.size()
    with pytest.raises(AuditVocabularyRefused) as refused:
        ctx.audit.append(_event(**overrides))
    assert refused.value.field.startswith(field)
    assert "85073003328" not in str(refused.value) + refused.value.field + refused.value.why
    assert COUNTS.refused[field] == before + 1
    assert ctx.audit.log.store.size() == size  # nothing was logged
    assert f'gbo_audit_vocabulary_refused_total{{field="{field}"}}' in api.get("/metrics").text


def test_guard_accepts_what_the_broker_makes(ctx: BrokerContext) -> None:
    appended = ctx.audit.append(_event(purpose="hobby", sections={
        "hobby": {"verdict": "denied", "reasons": ["unknown_section"]},
        "inkomen": {"verdict": "granted", "reasons": []}}))
    entry = decode_leaf(ctx.audit.log.store.leaf(appended.index).leaf)  # type: ignore[union-attr]
    assert entry["purpose"] == UNKNOWN
    assert entry["sections"] == {UNKNOWN: {"verdict": "denied", "reasons": ["unknown_section"]},
                                 "inkomen": {"verdict": "granted", "reasons": []}}
    assert entry["worker"] == ctx.keyring.worker_ref("gbo-gent", "ocmw-gent", "w-1")


def test_guard_refuses_an_entry_too_long_for_a_tile_bundle(ctx: BrokerContext) -> None:
    with pytest.raises(AuditVocabularyRefused) as refused:
        ctx.audit.append(_event(consent_ids=["cs-" + f"{n:032x}" for n in range(2000)]))
    assert refused.value.field in ("consent_ids", "size")


@pytest.mark.parametrize("value", ["85073003328", "client 850730033281 asked", "x" * 3 + "1" * 9],
                         ids=["insz", "in_text", "nine_digits"])
def test_log_formatter_redacts_every_run_of_nine_digits_and_counts_it(value: str) -> None:
    before = COUNTS.redacted
    record = logging.LogRecord("gbo.test", logging.INFO, __file__, 1, "saw %s", (value,), None)
    record.cause = value
    record.request_id = value
    line = json.loads(json_formatter().format(record))
    for text in (line["message"], line["event.reason"]):
        assert value not in text
        assert DIGIT_RUN.search(text) is None
        assert "[redacted]" in text
    assert "http.request.id" not in line  # not a broker-made UUID
    assert COUNTS.redacted >= before + 3
