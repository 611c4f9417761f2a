"""``POST /v1/involvement`` (DESIGN §4): which partners help the client, disclosed only as
far as policy allows; an undisclosed involvement is indistinguishable from none."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.context import BrokerContext
from broker.settings import Settings
from tests.broker.access_scenarios import INSZ, C, Case, R, now, write_scenario
from tests.factories import partner_auth

CAW, OCMW, CM = "caw-oost-vlaanderen", "ocmw-gent", "dmw-cm"
TOGETHER = C(recipients=(("network", "gbo-gent"),), purposes=("doorverwijzing",),
             sections=("hulpvraag",))


def _ask(api: TestClient, settings: Settings, purpose: str = "doorverwijzing",
         partner: str = CAW, insz: str = INSZ) -> Any:
    response = api.post("/v1/involvement", json={"insz": insz, "purpose": purpose},
                        headers=partner_auth(settings, partner))
    assert response.status_code == 200, response.text
    return response.json()


CASES = {
    "consent_for_referral_covering_both_discloses": (
        (R(CAW), R(OCMW), R(CM)), (TOGETHER,), "doorverwijzing", [CM, OCMW]),
    "consent_naming_only_some_partners_discloses_only_them": (
        (R(CAW), R(OCMW), R(CM)),
        (C(recipients=(("partner", CAW), ("partner", OCMW)), purposes=("doorverwijzing",),
           sections=("hulpvraag",)),), "doorverwijzing", [OCMW]),
    "purpose_that_does_not_disclose": (
        (R(CAW), R(OCMW)), (C(recipients=(("network", "gbo-gent"),)),), "rechtenverkenning", []),
    "no_consent_discloses_nothing": ((R(CAW), R(OCMW)), (), "doorverwijzing", []),
    "revoked_consent_discloses_nothing": (
        (R(CAW), R(OCMW)), (C(recipients=TOGETHER.recipients, purposes=TOGETHER.purposes,
                              sections=TOGETHER.sections, state="revoked"),),
        "doorverwijzing", []),
    "requester_without_relation_learns_nothing": (
        (R(OCMW), R(CM)), (TOGETHER,), "doorverwijzing", []),
    "ended_relation_of_the_other_partner_is_not_disclosed": (
        (R(CAW), R(OCMW, "ended"), R(CM)), (TOGETHER,), "doorverwijzing", [CM]),
}


@pytest.mark.parametrize(("relations", "consents", "purpose", "expected"), CASES.values(),
                         ids=CASES.keys())
def test_involvement_disclosed_only_as_policy_allows(
    api: TestClient, settings: Settings, ctx: BrokerContext, relations: tuple[R, ...],
    consents: tuple[C, ...], purpose: str, expected: list[str],
) -> None:
    write_scenario(ctx, Case("x", {}, relations=relations, consents=consents, entries=()), now())
    body = _ask(api, settings, purpose)
    assert [p["id"] for p in body["partners"]] == expected


def test_undisclosed_involvement_looks_like_none(api: TestClient, settings: Settings,
                                                 ctx: BrokerContext) -> None:
    write_scenario(ctx, Case("x", {}, relations=(R(CAW), R(OCMW), R(CM)), consents=(),
                             entries=()), now())
    helped = _ask(api, settings)
    stranger = _ask(api, settings, insz="01020312345")
    assert helped["partners"] == stranger["partners"] == []
    assert helped.keys() == stranger.keys()


def test_involvement_question_is_audited_without_the_insz(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    write_scenario(ctx, Case("x", {}, relations=(R(CAW), R(OCMW)), consents=(TOGETHER,),
                             entries=()), now())
    body = _ask(api, settings)
    leaf = ctx.audit.log.store.leaf(body["audit"]["index"])
    assert leaf is not None
    assert b'"kind":"access.involvement"' in leaf.leaf
    assert b'"disclosed":1' in leaf.leaf
    assert INSZ.encode() not in leaf.leaf


@pytest.mark.parametrize(
    "body",
    [{"purpose": "doorverwijzing"}, {"insz": INSZ}, {"insz": "85073003329", "purpose": "x"},
     {"insz": INSZ, "purpose": "doorverwijzing", "sections": ["inkomen"]}],
    ids=["missing_insz", "missing_purpose", "invalid_insz", "unknown_field"],
)
def test_bad_involvement_request_is_a_422_problem(api: TestClient, settings: Settings,
                                                  body: dict[str, Any]) -> None:
    response = api.post("/v1/involvement", json=body, headers=partner_auth(settings, CAW))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
