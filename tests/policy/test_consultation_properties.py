"""Properties of purpose casusoverleg (DESIGN §10) on the embedded engine, over random consents,
consultations, relations and moments (hypothesis). The oracle is written from DESIGN §10, not
from the Rego:

- a section is granted for casusoverleg only inside a consultation about this client that is
  open now (started, not past its end date, not closed) and names the requester, whatever the
  consents say; the decision names exactly those consultations;
- without such a consultation nothing is granted and only the requester's own entries come back;
- for every other purpose the consultations change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.policy.bundle import DECISION_RULE, load_bundle
from broker.policy.rego_tests import new_engine
from broker.settings import DEFAULT_POLICY_DIR
from tests.policy.factories import (
    CATALOGUE,
    CAW,
    NOW,
    PARTNERS,
    entry,
    make_consent,
    make_input,
    recipient,
    relation,
)
from tests.policy.test_decisions import _instant, _valid

ENGINE = new_engine(load_bundle(DEFAULT_POLICY_DIR))
MOMENTS = ["2025-06-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-11-28T09:59:59Z", NOW,
           "2026-11-28T10:00:01Z", "2027-02-01T00:00:00Z", None]
SECTIONS = sorted(CATALOGUE["sections"])
OTHER_PURPOSES = sorted(p for p in CATALOGUE["purposes"] if p != "casusoverleg")


def decide(inp: dict[str, Any]) -> dict[str, Any]:
    ENGINE.set_input(inp)
    result: dict[str, Any] = ENGINE.eval_rule(DECISION_RULE)
    return result


@st.composite
def consultations(draw: st.DrawFn) -> list[dict[str, Any]]:
    items = []
    for n in range(draw(st.integers(0, 3))):
        start = draw(st.sampled_from(MOMENTS[:-1]))
        until = draw(st.sampled_from(MOMENTS[:-1]))
        items.append({
            "id": f"cc-{n}", "client": draw(st.sampled_from(["p-1", "p-1", "p-2"])),
            "participants": sorted(draw(st.sets(st.sampled_from(sorted(PARTNERS)),
                                                min_size=1, max_size=3))),
            "start": start, "until": until, "closed_at": draw(st.sampled_from(MOMENTS))})
    return items


@st.composite
def consents(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Consents as generous as can be: any purpose (casusoverleg among them), any sections."""
    return [make_consent(
        id=f"c-{n}", recipients=[recipient("network", "gbo-gent"), recipient("partner", CAW)],
        purposes=draw(st.lists(st.sampled_from(sorted(CATALOGUE["purposes"])), min_size=1)),
        sections=draw(st.lists(st.sampled_from([*SECTIONS, "*"]), min_size=1)))
        for n in range(draw(st.integers(0, 2)))]


@st.composite
def requests(draw: st.DrawFn, purpose: str | None = None) -> dict[str, Any]:
    return make_input(
        purpose=purpose or draw(st.sampled_from(OTHER_PURPOSES)),
        sections=draw(st.lists(st.sampled_from(SECTIONS), min_size=1, max_size=4, unique=True)),
        consents=draw(consents()), consultations=draw(consultations()),
        client={"ref": "p-1", "network": "gbo-gent", "exclusions": [],
                "help_relations": [relation(CAW, proof=draw(st.sampled_from(
                    ["eid", "attested", "client"])))]},
        entries=[entry("e-1", draw(st.sampled_from(SECTIONS))),
                 entry("e-2", draw(st.sampled_from(SECTIONS)), author=CAW, restricted=True)],
    )


def open_for_requester(inp: dict[str, Any]) -> list[str]:
    now = _instant(inp["now"])
    return sorted(c["id"] for c in inp["consultations"]
                  if c["client"] == inp["client"]["ref"]
                  and inp["requester"]["partner"] in c["participants"]
                  and _valid(now, c["start"], c["until"])
                  and (c["closed_at"] is None or now < _instant(c["closed_at"])))


@settings(max_examples=300, deadline=None)
@given(inp=requests(purpose="casusoverleg"))
def test_casusoverleg_granted_only_inside_an_open_consultation(inp: dict[str, Any]) -> None:
    decision = decide(inp)
    granted = [s for s, r in decision["sections"].items() if r["verdict"] == "granted"]
    opened = open_for_requester(inp)
    if not opened:
        assert granted == []
        assert set(decision["release"]) <= {"e-2"}  # own entries only
        assert decision["consultations"] == [] and decision["obligations"] == []
    else:
        needed = set(CATALOGUE["purposes"]["casusoverleg"]["sections"])
        assert set(granted) == set(inp["sections"]) & needed
        assert decision["consultations"] == (opened if granted else [])
        assert decision["obligations"] == (["no_onward_disclosure"] if granted else [])
    for name in granted:
        assert decision["sections"][name] == {"verdict": "granted", "reasons": ["legal_basis"],
                                              "consents": []}


@settings(max_examples=200, deadline=None)
@given(inp=requests())
def test_consultations_change_nothing_for_other_purposes(inp: dict[str, Any]) -> None:
    assert decide(inp) == decide({**inp, "consultations": []})


@pytest.mark.parametrize("purpose", OTHER_PURPOSES)
def test_an_open_consultation_alone_opens_no_other_purpose(purpose: str) -> None:
    inp = make_input(purpose=purpose, consents=[], sections=sorted(SECTIONS),
                     consultations=[{"id": "cc-1", "client": "p-1", "participants": [CAW],
                                     "start": "2026-11-01T00:00:00Z",
                                     "until": "2027-02-01T00:00:00Z", "closed_at": None}],
                     justification=None)
    decision = decide(inp)
    assert all(r["verdict"] == "denied" for r in decision["sections"].values())
    assert decision["consultations"] == []


