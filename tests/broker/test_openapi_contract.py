"""The OpenAPI document tells the truth (DESIGN §5): it is a valid OpenAPI 3.1 document, and
every answer the running broker gives to what the document allows a caller to send conforms to
it — status codes, content types, headers and bodies, problem+json errors included.

The broker runs for real: uvicorn on a loopback port over the demo network (seeded), on SQLite
and on PostgreSQL. Schemathesis generates requests from the served ``/openapi.json`` (valid and
invalid ones) and runs every check it has on each answer; each request carries a freshly minted
token of the kind its operation's security scheme names (partner tokens are single use,
DESIGN §6).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from broker.context import BrokerContext
from broker.demo import setup_demo
from broker.problems import PROBLEM_JSON
from broker.settings import Settings
from consent.insz import is_valid_insz
from tests.factories import OTHER_INSZ, VALID_INSZ, auth, issuer_token, partner_auth, partner_token
from tests.live_server import served

READY_TIMEOUT_S = 30
EXAMPLES = 12  # per operation, mode and backend: ~1000 requests, well under a minute each


class _Broker:
    """The broker under test: its base URL and the settings its tokens are minted with."""

    settings: Settings | None = None


BROKER = _Broker()


@pytest.fixture
def live_broker(settings: Settings, ctx: BrokerContext) -> Iterator[str]:
    """The seeded demo broker served by uvicorn on a free loopback port, in a thread."""
    setup_demo(settings)
    with served(ctx, READY_TIMEOUT_S) as base:
        BROKER.settings = settings
        try:
            yield base
        finally:
            BROKER.settings = None


@pytest.fixture
def openapi_document(api: TestClient) -> dict[str, Any]:
    response = api.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _insz(base: int, born_2000s: bool) -> str:
    """An INSZ with its DESIGN §3 mod-97 check (``format: insz`` in the document)."""
    check = 97 - ((2_000_000_000 if born_2000s else 0) + base) % 97
    return f"{base:09d}{check:02d}"


# The document names the INSZ's check ``format: insz``: valid examples are generated for it,
# often the demo clients' (An has help relations with ocmw-gent), so writes and grants succeed.
schemathesis.openapi.format("insz", st.one_of(
    st.sampled_from([VALID_INSZ, OTHER_INSZ]),
    st.builds(_insz, st.integers(0, 999_999_999), st.booleans())))


def _token_for(case: Case) -> str | None:
    settings = BROKER.settings
    assert settings is not None
    for requirement in case.operation.definition.raw.get("security", []):
        for scheme in requirement:
            if scheme == "PartnerToken":
                return partner_token(settings, "ocmw-gent")
            if scheme == "ClientToken":
                return issuer_token(settings, role="client", insz=VALID_INSZ)
            if scheme == "AuditorToken":
                return issuer_token(settings, role="auditor", scope="supervisor")
    return None


@dataclass
class Tally:
    """What the run did: cases sent per status, and every distinct failure."""

    cases: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)


class FreshToken:
    """A new token for every request: partner tokens are single use (``jti``, DESIGN §6)."""

    def get(self, case: Case, context: Any) -> str | None:
        return _token_for(case)

    def set(self, case: Case, data: str | None, context: Any) -> None:
        if data is not None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _documented_problem_codes(case: Case, status: int) -> list[str] | None:
    response = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    codes: list[str] | None = response.get("x-problem-codes")
    return codes


def problem_code_is_documented(ctx: Any, response: Any, case: Case) -> bool | None:
    """Every problem's stable ``code`` is one the document lists for its status and operation:
    the codes a client may branch on are all in the document."""
    if not response.headers.get("content-type", [""])[0].startswith(PROBLEM_JSON):
        return None
    code = response.json().get("code")
    documented = _documented_problem_codes(case, response.status_code)
    assert documented is not None and code in documented, (
        f"problem code {code!r} is not documented for {response.status_code} "
        f"(documented: {documented})")
    return True


def schema_and_validation_agree(ctx: Any, response: Any, case: Case) -> bool | None:
    """A request the document allows is never refused for its form (``invalid_request``).
    It may still be refused by a rule no JSON Schema can state (a date in the past, an index
    beyond the log): that is a documented 422 code of its own. This replaces the generic
    ``positive_data_acceptance``, which cannot tell the two apart."""
    assert case.meta is not None
    if not case.meta.generation.mode.is_positive or response.status_code != 422:
        return None
    problem = response.json()
    # The window for moments (1900..2200, DESIGN §8) is stated in the fields' descriptions:
    # JSON Schema has no bounds for a date-time string.
    beyond_schema = {"moment_out_of_range"}
    if problem.get("code") == "invalid_request" and {
            e.get("type") for e in problem.get("errors", [])} <= beyond_schema:
        return True
    assert problem.get("code") != "invalid_request", \
        f"a schema-valid request was refused: {response.text}"
    return True


def _exercise(schema: Any, operation: Any, mode: GenerationMode, tally: Tally) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, auth_storage=schema.auth))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Case) -> None:
        tally.cases += 1
        try:
            response = case.call_and_validate(
                timeout=30, excluded_checks=[positive_data_acceptance],
                additional_checks=[problem_code_is_documented, schema_and_validation_agree])
            tally.statuses[(mode.value, response.status_code)] += 1
        except (Failure, FailureGroup) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
            for failure in failures:
                key = f"{operation.label} [{mode.value}] {type(failure).__name__}"
                tally.failures.setdefault(key, f"{failure.title}: {failure.message}\n"
                                               f"{case.as_curl_command()}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body


def test_the_document_is_valid_openapi(openapi_document: dict[str, Any]) -> None:
    validate(openapi_document)


def test_every_error_is_documented_as_problem_json(openapi_document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in str(openapi_document)
    for method, path, operation in _operations(openapi_document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)
                assert response["content"][PROBLEM_JSON]["schema"] == {
                    "$ref": "#/components/schemas/Problem"}
                assert response["x-problem-codes"], (method, path, status)
        if operation.get("security"):
            assert "401" in operation["responses"], (method, path)
        if operation.get("requestBody"):
            assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)
        if path not in ("/healthz", "/readyz", "/metrics"):  # admission control refuses
            assert "overloaded" in operation["responses"]["503"]["x-problem-codes"], (method, path)


def test_rate_limited_operations_document_429_with_retry_after(
    openapi_document: dict[str, Any],
) -> None:
    """Partners and clients have a rate limit (DESIGN §6): their operations say so."""
    limited = [(m, p, o) for m, p, o in _operations(openapi_document)
               if {"PartnerToken", "ClientToken"} & {n for r in o.get("security", []) for n in r}]
    assert limited
    for method, path, operation in limited:
        response = operation["responses"].get("429")
        assert response is not None, (method, path)
        assert "rate_limited" in response["x-problem-codes"]
        assert "Retry-After" in response["headers"]


@pytest.mark.parametrize(("path", "media_type"), [
    ("/metrics", "text/plain"), ("/.well-known/jwks.json", "application/jwk-set+json"),
    ("/v1/audit/checkpoint", "text/plain"), ("/v1/audit/key", "text/plain"),
    ("/v1/audit/keys", "text/plain"),
    ("/v1/audit/tile/{path}", "application/octet-stream"),
    ("/v1/me/consents/{consent_id}/fhir", "application/fhir+json"),
], ids=["metrics", "jwks", "checkpoint", "key", "keys", "tile", "fhir"])
def test_non_json_answers_are_documented_with_their_media_type(
    openapi_document: dict[str, Any], api: TestClient, path: str, media_type: str
) -> None:
    [documented] = openapi_document["paths"][path]["get"]["responses"]["200"]["content"]
    assert documented.split(";")[0] == media_type
    if "{" not in path:
        sent = api.get(path).headers["content-type"]
        assert sent.split(";")[0] == media_type
        assert sent.startswith(documented)


@pytest.mark.parametrize("insz", ["85073003328", "85.07.30-033.28", "85073003329", "8507300332",
                                  "850730033280", "\uff18\uff15\uff10\uff17\uff13\uff10"
                                  "\uff10\uff13\uff13\uff12\uff18"],
                         ids=["valid", "separators", "bad-check", "short", "long", "fullwidth"])
def test_the_insz_pattern_and_the_validation_agree(
    openapi_document: dict[str, Any], api: TestClient, settings: Settings, insz: str
) -> None:
    """DESIGN §3: what the document's pattern refuses, the broker refuses as well; what it
    lets through fails only on the mod-97 check that ``format: insz`` names."""
    field = openapi_document["components"]["schemas"]["ChallengeIn"]["properties"]["insz"]
    assert field["format"] == "insz"
    by_pattern = re.fullmatch(field["pattern"].strip("^$"), insz, flags=re.ASCII) is not None
    response = api.post("/v1/presence/challenges", json={"insz": insz},
                        headers=partner_auth(settings))
    assert (response.status_code != 422) == (by_pattern and is_valid_insz(insz)), response.text
    if response.status_code == 422:
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["code"] == "invalid_request"
        assert insz not in response.text  # never echoed


@pytest.mark.parametrize("query", ["start=18446744073709551616", "start=9223372036854775808"],
                         ids=["2^64", "2^63"])
def test_an_index_beyond_64_bits_is_refused_not_a_server_error(
    api: TestClient, settings: Settings, query: str
) -> None:
    """Found by the contract test below: SQLite cannot bind it, so it was a 500."""
    token = issuer_token(settings, role="auditor", scope="supervisor")
    response = api.get(f"/v1/audit/leaves?{query}", headers=auth(token))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


@pytest.mark.slow
def test_every_answer_conforms_to_the_document(live_broker: str) -> None:
    schema = schemathesis.openapi.from_url(f"{live_broker}/openapi.json")
    schema.auth(refresh_interval=None)(FreshToken)
    tally = Tally()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(schema, operation, mode, tally)
    elapsed = time.monotonic() - started
    print(f"\n{tally.cases} cases in {elapsed:.1f} s; statuses {sorted(tally.statuses.items())}")
    assert not tally.failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(tally.failures.items()))
