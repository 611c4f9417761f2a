"""Operations: health, readiness, metrics, structured access logs (DESIGN §6, item 9)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from broker.observability import json_formatter
from broker.settings import Settings
from tests.factories import declare_relation, make_entry, partner_auth


def test_healthz(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}


def test_readyz_when_ready(api: TestClient) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


def test_readyz_reports_503_when_database_is_not_migrated(api: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alembic_version"))
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "not_ready"
    assert response.json()["checks"]["database"] == "unavailable"


def test_metrics_count_requests_by_route_template(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    api.get("/v1/does-not-exist/85073003328")
    body = api.get("/metrics").text
    assert 'gbo_http_requests_total{method="POST",route="/v1/entries",status="201"} 1.0' in body
    assert "85073003328" not in body
    assert "does-not-exist" not in body


def test_access_log_is_one_json_line_per_request(
    api: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    declare_relation(api, settings)
    with caplog.at_level(logging.INFO, logger="gbo.access"):
        response = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    [record] = [r for r in caplog.records if r.name == "gbo.access"]
    line = json.loads(json_formatter().format(record))
    assert line["http.request.id"] == response.headers["x-request-id"]
    assert line["gbo.partner"] == "ocmw-gent"
    assert line["http.request.method"] == "POST"
    assert line["url.path"] == "/v1/entries"  # the route template, never the raw path
    assert line["http.response.status_code"] == 201
    assert line["event.duration"] > 0  # nanoseconds (ECS)
    assert (line["log.logger"], line["log.level"], line["message"]) == ("gbo.access", "info",
                                                                       "request")


@pytest.mark.parametrize(("request_id", "logged"), [
    # A random UUID's hex can hold a run of 9+ decimal digits (~3% of them): still the id.
    ("0697d50c-9c71-470f-967b-f7646038118f", "0697d50c-9c71-470f-967b-f7646038118f"),
    ("12345678-1234-4123-8123-123456789012", "12345678-1234-4123-8123-123456789012"),
    ("85073003328", None),  # not a broker-made id: dropped, never written
], ids=["digit-run-in-hex", "all-digits-uuid", "insz"])
def test_the_log_keeps_the_brokers_request_id_whatever_digits_it_holds(
    request_id: str, logged: str | None
) -> None:
    record = logging.LogRecord("gbo.access", logging.INFO, __file__, 1, "request", None, None)
    record.request_id = request_id
    line = json.loads(json_formatter().format(record))
    assert line.get("http.request.id") == logged
    assert "85073003328" not in json.dumps(line)


def test_plain_caller_request_id_is_echoed_as_correlation_id_beside_the_brokers_own(
    api: TestClient,
) -> None:
    """DESIGN §9: the broker's request id is its own UUID; the caller's is only echoed."""
    response = api.get("/healthz", headers={"X-Request-ID": "abcd-1234-efgh"})
    assert response.headers["x-correlation-id"] == "abcd-1234-efgh"
    assert uuid.UUID(response.headers["x-request-id"]).version == 4


@pytest.mark.parametrize("given", ["85073003328", "85073003328 <script>", "req-850730033280",
                                   "x" * 65, "ä-unicode-ü", "-leading-dash"],
                         ids=["insz", "insz_and_markup", "digit_run", "too_long", "unicode",
                              "leading_dash"])
def test_caller_request_id_that_is_not_plain_is_ignored(api: TestClient, given: str) -> None:
    response = api.get("/healthz", headers=[(b"X-Request-ID", given.encode())])
    assert "x-correlation-id" not in response.headers
    assert given not in response.headers["x-request-id"]
    assert uuid.UUID(response.headers["x-request-id"]).version == 4


def test_unknown_route_and_wrong_method_are_problems(api: TestClient) -> None:
    assert api.get("/nope").json()["code"] == "not_found"
    wrong = api.get("/v1/entries")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == "application/problem+json"


def test_openapi_docs_served(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    assert "/v1/entries" in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_readyz_names_the_policy_engine_and_bundle_version(api: TestClient) -> None:
    body = api.get("/readyz").json()
    assert body["checks"]["policy_engine"] == "embedded ok"
    assert len(body["policy_version"]) == 64


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from broker.cli import app

    result = CliRunner().invoke(app, ["serve", "--workers", "2"], env={
        "GBO_DATA_DIR": str(tmp_path), "GBO_DEMO": "1",
        "GBO_DATABASE_URL": f"sqlite:///{tmp_path / 'gbo.sqlite3'}"})
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output
