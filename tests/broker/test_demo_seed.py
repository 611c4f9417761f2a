"""The demo network is realistic (DESIGN §3): relations and consents seeded through the services,
so they are audited, and every seeded entry is written under a valid help relation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from broker.context import BrokerContext
from broker.demo import setup_demo
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.factories import OTHER_INSZ, VALID_INSZ, client_auth

AN, BRAM = VALID_INSZ, OTHER_INSZ  # the demo citizens An Peeters and Bram Claes


def test_demo_seeds_relations_and_consents(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    assert setup_demo(settings) is True
    an = client_auth(settings, AN)
    bram = client_auth(settings, BRAM)
    relations = {
        who: {r["partner"] for r in api.get("/v1/me/relations", headers=h).json()["relations"]}
        for who, h in (("an", an), ("bram", bram))
    }
    assert relations == {"an": {"ocmw-gent", "caw-oost-vlaanderen"},
                         "bram": {"dmw-cm", "ocmw-gent"}}
    an_consents = [c["current"] for c in api.get("/v1/me/consents", headers=an).json()["consents"]]
    terms = {(c["recipients"][0]["id"], c["purposes"][0]): c["sections"] for c in an_consents}
    assert terms[("caw", "rechtenverkenning")] == [
        "inkomen", "huisvesting", "gezinssituatie", "identiteit", "contact"
    ]
    assert len(terms) == 2
    [bram_consent] = api.get("/v1/me/consents", headers=bram).json()["consents"]
    assert "gezondheid" in bram_consent["current"]["sections"]
    assert bram_consent["current"]["purposes"] == ["gezamenlijke_begeleiding"]
    assert bram_consent["current"]["recipients"] == [{"kind": "partner", "id": "ocmw-gent"}]
    # DESIGN §9: An's desk consent was proven with her (demo) eID card; Bram's paper one rests
    # on the worker's word, so Bram is told about it.
    proofs = {(c["recorded_by_partner"], c["proof"]) for c in an_consents}
    assert proofs == {("caw-oost-vlaanderen", "eid"), (None, "client")}
    assert bram_consent["current"]["proof"] == "attested"
    notices = api.get("/v1/me/notices", headers=bram).json()["records"]
    assert {(n["kind"], n["proof"], n["revocable"]) for n in notices if n["kind"] == "consent"} \
        == {("consent", "attested", True)}
    kinds = [decode(x)["kind"] for x in ctx.audit.log.store.find_leaves(limit=1000)]
    assert kinds.count("relation.created") == 4 and kinds.count("consent.created") == 3
    assert len(api.get("/v1/me/dossier", headers=an).json()["entries"]) == 4


def test_demo_seed_runs_once(settings: Settings, ctx: BrokerContext) -> None:
    assert setup_demo(settings) is True
    assert setup_demo(settings) is False


def test_demo_shows_a_pending_request_and_a_desk_notice_in_the_portal(
    api: TestClient, settings: Settings
) -> None:
    """DESIGN §9 in the demo: An has a consent request waiting, with the partner's message; An's
    desk consent was proven with her card; Bram's rests on the worker's word, and he is told."""
    from tests.broker.test_portal_client import AN as AN_CHOICE
    from tests.broker.test_portal_client import BRAM as BRAM_CHOICE
    from tests.broker.test_portal_client import login
    from tests.broker.test_portal_notices import text_of

    assert setup_demo(settings) is True
    [waiting] = api.get("/v1/me/consent-requests",
                        headers=client_auth(settings, AN)).json()["requests"]
    assert waiting["status"] == "pending" and waiting["partner"] == "caw-oost-vlaanderen"
    assert waiting["message"].startswith("Dag An")
    login(api, AN_CHOICE)
    overview = text_of(api.get("/mijn").text)
    assert "CAW Oost-Vlaanderen vraagt op" in overview and "Dag An" in overview
    assert "dat je toestemming gaf, met je identiteitskaart" in overview
    login(api, BRAM_CHOICE)
    overview = text_of(api.get("/mijn").text)
    assert ("Dienst Maatschappelijk Werk CM noteerde op" in overview
            and "dat je toestemming gaf, op het woord van de hulpverlener" in overview)
    assert "Trek deze toestemming in" in overview
