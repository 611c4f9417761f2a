"""Help relations over HTTP (DESIGN §3, §5; DESIGN §3) and the relation gate on entries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broker.context import BrokerContext
from broker.settings import Settings
from broker.store.audit_events import decode
from consent.rules import add_months
from tests.factories import (
    OTHER_INSZ,
    VALID_INSZ,
    client_auth,
    declare_relation,
    in_days,
    make_entry,
    partner_auth,
    stored_count,
)


def _count(engine: Engine, table: str) -> int:
    return stored_count(engine, table)


def _audit(ctx: BrokerContext, prefix: str) -> list[dict[str, Any]]:
    return [decode(leaf) for leaf in ctx.audit.log.store.find_leaves(kind_prefix=prefix)]


def test_declared_relation_lasts_12_months_by_default(api: TestClient, settings: Settings) -> None:
    relation = declare_relation(api, settings)
    start = datetime.fromisoformat(relation["start"])
    assert relation["partner"] == "ocmw-gent"
    assert relation["valid"] is True and relation["ended_at"] is None
    assert datetime.fromisoformat(relation["end"]) == add_months(start, 12)
    assert relation["id"].startswith("r-")


def test_declared_relation_keeps_a_requested_end(api: TestClient, settings: Settings) -> None:
    end = in_days(30)
    relation = declare_relation(api, settings, end=end)
    assert datetime.fromisoformat(relation["end"]) == datetime.fromisoformat(end)


def test_client_sees_every_partner_relation_and_nobody_elses(
    api: TestClient, settings: Settings
) -> None:
    declare_relation(api, settings, "ocmw-gent")
    declare_relation(api, settings, "caw-oost-vlaanderen")
    declare_relation(api, settings, "dmw-cm", insz=OTHER_INSZ)
    mine = api.get("/v1/me/relations", headers=client_auth(settings)).json()["relations"]
    theirs = api.get("/v1/me/relations", headers=client_auth(settings, OTHER_INSZ)).json()
    assert {r["partner"] for r in mine} == {"ocmw-gent", "caw-oost-vlaanderen"}
    assert [r["partner"] for r in theirs["relations"]] == ["dmw-cm"]


def test_partner_ends_its_own_relation(api: TestClient, settings: Settings) -> None:
    relation = declare_relation(api, settings)
    response = api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings))
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert response.json()["ended_at"] is not None
    [mine] = api.get("/v1/me/relations", headers=client_auth(settings)).json()["relations"]
    assert mine["valid"] is False


def test_partner_cannot_end_another_partners_relation(
    api: TestClient, settings: Settings
) -> None:
    relation = declare_relation(api, settings, "ocmw-gent")
    response = api.post(
        f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings, "dmw-cm")
    )
    unknown = api.post("/v1/relations/r-unknown/end", headers=partner_auth(settings, "dmw-cm"))
    assert response.status_code == 404
    assert response.json() == unknown.json()  # indistinguishable from a nonexistent relation
    assert response.json()["code"] == "relation_not_found"
    [mine] = api.get("/v1/me/relations", headers=client_auth(settings)).json()["relations"]
    assert mine["valid"] is True


def test_ending_an_ended_relation_conflicts(api: TestClient, settings: Settings) -> None:
    relation = declare_relation(api, settings)
    api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings))
    again = api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings))
    assert again.status_code == 409
    assert again.json()["code"] == "relation_not_valid"


def test_relation_changes_are_audited_by_pseudonym(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    relation = declare_relation(api, settings)
    api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings))
    created, ended = _audit(ctx, "relation.")
    assert (created["kind"], ended["kind"]) == ("relation.created", "relation.ended")
    assert created["client"] == ctx.keyring.client_ref("gbo-gent", VALID_INSZ)
    assert created["partner"] == "ocmw-gent"
    assert created["worker"] == ctx.keyring.worker_ref("gbo-gent", "ocmw-gent", "w-1")
    assert created["facts"]["relation_id"] == ended["facts"]["relation_id"] == relation["id"]
    assert ended["facts"]["ended_at"] is not None
    assert VALID_INSZ not in repr(_audit(ctx, ""))


BAD_RELATIONS: dict[str, tuple[dict[str, Any], str, str]] = {
    "end_in_the_past": ({"end": in_days(-1)}, "relation_end_in_past", "/end"),
    "end_over_24_months": ({"end": in_days(24 * 31 + 2)}, "relation_end_too_far", "/end"),
    "missing_insz": ({"insz": None}, "invalid_request", "body.insz"),
    "invalid_insz": ({"insz": "85073003329"}, "invalid_request", "body.insz"),
    "insz_as_number": ({"insz": 85073003328}, "invalid_request", "body.insz"),
    "end_not_a_date": ({"end": "soon"}, "invalid_request", "body.end"),
    "end_without_zone": ({"end": "2031-01-01T00:00:00"}, "invalid_request", "body.end"),
    "unknown_field": ({"partner": "dmw-cm"}, "invalid_request", "body.<field>"),
}


@pytest.mark.parametrize(("change", "code", "where"), BAD_RELATIONS.values(),
                         ids=BAD_RELATIONS.keys())
def test_bad_relation_rejected_and_nothing_stored(
    api: TestClient, settings: Settings, engine: Engine, change: dict[str, Any], code: str,
    where: str,
) -> None:
    body = {k: v for k, v in {"insz": VALID_INSZ, **change}.items() if v is not None}
    response = api.post("/v1/relations", json=body, headers=partner_auth(settings))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"urn:gbo-broker:problem:{code}"
    assert where == problem.get("pointer") or where in {
        ".".join(e["loc"]) for e in problem.get("errors", [])
    }
    assert "8507300332" not in response.text
    assert _count(engine, "help_relation") == 0


@pytest.mark.parametrize("path", ["/v1/relations", "/v1/relations/r-1/end"], ids=["declare", "end"])
def test_relation_endpoints_need_a_partner_token(
    api: TestClient, settings: Settings, path: str
) -> None:
    assert api.post(path, json={"insz": VALID_INSZ}).status_code == 401
    as_client = api.post(path, json={"insz": VALID_INSZ}, headers=client_auth(settings))
    assert as_client.status_code == 401


# --- DESIGN §5: only a partner with a valid relation writes to the dossier --------------------


def test_entry_refused_without_a_help_relation(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    response = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    assert response.status_code == 403
    assert response.json()["code"] == "no_valid_help_relation"
    assert response.json()["type"] == "urn:gbo-broker:problem:no_valid_help_relation"
    assert _count(engine, "entry") == 0
    assert _count(engine, "client") == 0


def test_entry_refused_after_the_relation_ended(api: TestClient, settings: Settings) -> None:
    relation = declare_relation(api, settings)
    api.post(f"/v1/relations/{relation['id']}/end", headers=partner_auth(settings))
    response = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    assert response.status_code == 403


def test_another_partners_relation_does_not_open_the_dossier(
    api: TestClient, settings: Settings
) -> None:
    declare_relation(api, settings, "caw-oost-vlaanderen")
    declare_relation(api, settings, "ocmw-gent", insz=OTHER_INSZ)
    response = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    assert response.status_code == 403


def test_relation_not_yet_over_at_its_end_minus_a_moment(
    api: TestClient, settings: Settings
) -> None:
    end = (datetime.fromisoformat(in_days(0)) + timedelta(minutes=5)).isoformat()
    declare_relation(api, settings, end=end)
    assert api.post(
        "/v1/entries", json=make_entry(), headers=partner_auth(settings)
    ).status_code == 201
