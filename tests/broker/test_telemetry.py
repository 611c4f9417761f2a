"""Standard telemetry (docs/operations.md "Logs, traces and metrics"): ECS JSON log lines with ISO
8601 UTC timestamps, OpenTelemetry traces that continue a caller's ``traceparent`` and hold no
INSZ or body, the shared-state gauges, and the example alert rules."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from audit.cosignature import CosignatureSigner
from audit.store import StoredCosignature
from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.errors import ConfigurationError
from broker.observability import BrokerLogFilter, json_formatter
from broker.settings import Settings
from broker.tracing import exporter_from
from tests.factories import VALID_INSZ, declare_relation, make_entry, partner_auth

ALERTS = Path(__file__).parents[2] / "docs" / "alerts.yml"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
CANARY = "canary-telemetry-5d2f"


# --- logs ------------------------------------------------------------------------------------

def _line(record: logging.LogRecord) -> dict[str, Any]:
    BrokerLogFilter().filter(record)
    line: dict[str, Any] = json.loads(json_formatter().format(record))
    return line


def test_log_line_has_an_iso_8601_utc_timestamp_and_ecs_names() -> None:
    record = logging.LogRecord("gbo.test", logging.WARNING, __file__, 1, "hello %s", ("you",),
                               None)
    record.created = 1796131653.934  # 2026-12-01T13:27:33.934Z
    record.color_message = "\x1b[33mhello\x1b[0m"  # uvicorn's
    record.error_type = "OperationalError"
    record.workers = 2
    line = _line(record)
    assert line["@timestamp"] == "2026-12-01T13:27:33.934Z"
    assert (line["log.level"], line["log.logger"], line["message"]) == ("warning", "gbo.test",
                                                                       "hello you")
    assert isinstance(line["process.pid"], int)
    assert line["ecs.version"].startswith("8.")
    assert line["error.type"] == "OperationalError"  # an extra with an ECS name
    assert line["gbo.workers"] == 2  # any other extra under the broker's namespace
    assert not any("color" in key for key in line)
    assert "\x1b" not in json.dumps(line)


@pytest.mark.parametrize(("duration", "kept"), [(250_000_000, True), (12, True),
                                                ("85073003328", False), (-1, False)],
                         ids=["quarter_second_ns", "tiny", "insz_string", "negative"])
def test_event_duration_in_nanoseconds_is_kept_only_as_the_brokers_own_number(
    duration: object, kept: bool
) -> None:
    record = logging.LogRecord("gbo.access", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__["event.duration"] = duration
    line = _line(record)
    assert ("event.duration" in line) is kept
    assert "85073003328" not in json.dumps(line)


def test_exception_goes_into_error_stack_trace_with_digit_runs_redacted() -> None:
    try:
        raise ValueError(f"bad insz {VALID_INSZ}")
    except ValueError:
        import sys

        record = logging.LogRecord("gbo.test", logging.ERROR, __file__, 1, "failed", None,
                                   sys.exc_info())
    line = _line(record)
    assert "ValueError" in line["error.stack_trace"]
    assert VALID_INSZ not in json.dumps(line)


# --- traces ----------------------------------------------------------------------------------

@pytest.fixture
def traced(ctx: BrokerContext) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    with TestClient(create_app(context=ctx, span_exporter=exporter),
                    raise_server_exceptions=False) as client:
        yield client, exporter


def _spans(api: TestClient, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert api.app.state.tracing.provider.force_flush(10_000)  # type: ignore[attr-defined]
    return list(exporter.get_finished_spans())


def _access_lines() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(BrokerLogFilter())
    handler.setFormatter(json_formatter())
    return handler, stream


def test_incoming_traceparent_is_continued_by_the_request_its_queries_and_its_log_line(
    traced: tuple[TestClient, InMemorySpanExporter], settings: Settings
) -> None:
    api, exporter = traced
    declare_relation(api, settings)
    handler, stream = _access_lines()
    access = logging.getLogger("gbo.access")
    access.addHandler(handler)
    previous = access.level
    access.setLevel(logging.INFO)
    try:
        response = api.post("/v1/entries", json=make_entry(), headers={
            **partner_auth(settings), "traceparent": f"00-{TRACE_ID}-{PARENT}-01"})
    finally:
        access.removeHandler(handler)
        access.setLevel(previous)
    assert response.status_code == 201
    spans = [s for s in _spans(api, exporter) if s.context is not None
             and f"{s.context.trace_id:032x}" == TRACE_ID]
    [server] = [s for s in spans if s.parent is not None and f"{s.parent.span_id:016x}" == PARENT]
    assert (server.attributes or {}).get("http.route") == "/v1/entries"
    assert any((s.attributes or {}).get("db.system") for s in spans)  # SQLAlchemy's spans
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["trace.id"] == TRACE_ID
    assert line["http.request.id"] == response.headers["x-request-id"]


def test_a_traceparent_whose_trace_id_holds_an_insz_starts_a_new_trace(
    traced: tuple[TestClient, InMemorySpanExporter],
) -> None:
    api, exporter = traced
    smuggled = f"0000000000000{VALID_INSZ}00000000"
    assert len(smuggled) == 32
    api.get("/v1/audit/checkpoint", headers={"traceparent": f"00-{smuggled}-{PARENT}-01"})
    spans = _spans(api, exporter)
    assert spans
    assert all(f"{s.context.trace_id:032x}" != smuggled for s in spans if s.context)


def test_no_span_holds_an_insz_a_raw_path_or_a_body(
    traced: tuple[TestClient, InMemorySpanExporter], settings: Settings
) -> None:
    api, exporter = traced
    declare_relation(api, settings)
    api.post("/v1/entries", json=make_entry(content={"note": CANARY}),
             headers=partner_auth(settings))
    api.post("/v1/access-requests", json={"insz": VALID_INSZ, "purpose": "rechtenverkenning"},
             headers=partner_auth(settings))
    api.get(f"/v1/no-such-thing/{VALID_INSZ}?insz={VALID_INSZ}&q={CANARY}")
    api.post("/v1/entries", content=f'{{"insz": "{VALID_INSZ}", "x": "{CANARY}"'.encode(),
             headers={**partner_auth(settings), "content-type": "application/json"})
    spans = _spans(api, exporter)
    assert len(spans) > 4
    dumped = json.dumps([{"name": s.name, "attributes": dict(s.attributes or {}),
                          "events": [dict(e.attributes or {}) for e in s.events],
                          "status": s.status.description} for s in spans])
    assert VALID_INSZ not in dumped
    assert CANARY not in dumped
    assert "no-such-thing" not in dumped  # never the raw path


def test_tracing_is_off_unless_configured(api: TestClient) -> None:
    assert api.app.state.tracing is None  # type: ignore[attr-defined]


def test_an_unknown_or_unavailable_traces_exporter_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        exporter_from("zipkin")
    assert exporter_from("none") is None
    try:
        installed = importlib.util.find_spec("opentelemetry.exporter.otlp") is not None
    except ModuleNotFoundError:
        installed = False
    if not installed:
        with pytest.raises(ConfigurationError, match="opentelemetry-exporter-otlp-proto-http"):
            exporter_from("otlp")
    else:
        assert exporter_from("otlp") is not None


# --- metrics ---------------------------------------------------------------------------------

def _gauge(body: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", body, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


def test_metrics_show_log_size_checkpoint_age_and_witness_lag(
    settings: Settings, engine: Any
) -> None:
    witness = CosignatureSigner.generate("witness.test/w1")
    ctx = load_context(settings.model_copy(update={"witnesses": witness.verifier.key_string()}),
                       engine=engine)
    try:
        with TestClient(create_app(context=ctx)) as api:
            declare_relation(api, settings)
            for _ in range(2):
                api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
            cosigned = ctx.audit.log.checkpoint_now()
            ctx.audit.log.store.add_cosignature(StoredCosignature(
                size=cosigned.size, root=cosigned.root, witness=base64.b64encode(
                    witness.verifier.public_key).decode(), name=witness.name, timestamp=1,
                line="— w1 x",
                received_at="2026-12-01T00:00:00.000000Z"))
            declare_relation(api, settings, partner="caw-oost-vlaanderen")
            body = api.get("/metrics").text
            size = ctx.audit.log.store.size()
    finally:
        ctx.close()
    assert _gauge(body, "gbo_audit_log_entries") == size
    assert 0 <= _gauge(body, "gbo_audit_checkpoint_age_seconds") < 24 * 3600
    assert _gauge(body, "gbo_audit_checkpoint_size") <= size
    lag = _gauge(body, 'gbo_audit_witness_lag_entries{witness="witness.test/w1"}')
    assert lag == size - cosigned.size > 0


# --- alert rules -----------------------------------------------------------------------------

def test_alert_rules_example_has_groups_of_rules_on_the_brokers_metrics(
    api: TestClient, ctx: BrokerContext
) -> None:
    ctx.audit.log.checkpoint_now()  # the checkpoint gauges exist once there is a checkpoint
    document = yaml.safe_load(ALERTS.read_text())
    assert list(document) == ["groups"]
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names)) > 0
    exported = {re.sub(r"_total$", "", m) for m in re.findall(
        r"^# TYPE (gbo_[a-z_]+) ", api.get("/metrics").text, re.MULTILINE)}
    alerts = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
            assert rule["labels"]["severity"] in ("page", "ticket")
            assert rule["annotations"]["summary"]
            used = set(re.findall(r"\b(gbo_[a-z_]+)", rule["expr"]))
            assert used or rule["expr"].startswith("up{"), rule["alert"]
            bare = {re.sub(r"_(bucket|count|sum|total)$", "", m) for m in used}
            # (the witness lag exists only with witnesses configured)
            assert bare <= exported | {"gbo_audit_witness_lag_entries"}, rule["alert"]
            alerts.append(rule["alert"])
    assert {"AuditCheckpointStale", "WitnessLagging", "WebhookBacklogGrowing",
            "WebhookDeadLetters"} <= set(alerts)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_alert_rules_example_passes_promtool() -> None:
    checked = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
