"""Signals (DESIGN §11) over HTTP on both backends: partners file and follow them up, the owner
or the network's coordinator curates them, every change is audited, and free text that
identifies a person is refused with its span marked and never logged."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from broker.context import BrokerContext
from broker.services.redaction import redact_entry
from broker.settings import Settings
from broker.store.audit_events import decode
from tests.backends import on_backends
from tests.factories import (
    VALID_INSZ,
    auth,
    declare_relation,
    issuer_token,
    make_entry,
    partner_auth,
)

CAW = "caw-oost-vlaanderen"
NETWORK = "gbo-gent"


def coordinator_auth(settings: Settings, network: str = NETWORK,
                     rights: list[str] | None = None) -> dict[str, str]:
    return auth(issuer_token(settings, role="auditor", scope=f"network:{network}",
                             rights=["signals"] if rights is None else rights))


def make_signal(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "theme": "huisvesting",
        "title": "Wachtlijst sociale huisvesting",
        "description": "Alleenstaanden met een leefloon vinden geen betaalbare woning: de "
                       "wachttijd loopt op tot zes jaar.",
    }
    body.update(overrides)
    return body


def _file(api: TestClient, settings: Settings, partner: str = "ocmw-gent",
          **overrides: Any) -> dict[str, Any]:
    response = api.post("/v1/signals", json=make_signal(**overrides),
                        headers=partner_auth(settings, partner))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _entries(ctx: BrokerContext, kind: str) -> list[dict[str, Any]]:
    return [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix=kind)
            if decode(x)["kind"] == kind]


def test_partner_files_signal_owns_it_and_it_is_audited(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    signal = _file(api, settings, partners=[CAW])
    assert (signal["owner"], signal["status"], signal["partners"]) == ("ocmw-gent", "open", [CAW])
    listed = api.get("/v1/signals", headers=partner_auth(settings, CAW)).json()["signals"]
    assert [s["id"] for s in listed] == [signal["id"]]
    [entry] = _entries(ctx, "signal.created")
    assert entry["partner"] == "ocmw-gent"
    assert entry["facts"] == {"signal_id": signal["id"], "theme": "huisvesting",
                              "status": "open", "owner": "ocmw-gent"}
    assert "Wachtlijst" not in str(entry)  # free text never reaches the log


def test_follow_ups_build_the_history_and_only_owner_or_coordinator_curate(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    signal = _file(api, settings)
    url = f"/v1/signals/{signal['id']}/follow-ups"
    note = api.post(url, json={"note": "Ook bij ons gezien, vooral jongeren."},
                    headers=partner_auth(settings, CAW))
    assert note.status_code == 201 and note.json()["history"][0]["actor"] == CAW
    refused = api.post(url, json={"note": "Ik neem het over.", "owner": CAW},
                       headers=partner_auth(settings, CAW))
    assert (refused.status_code, refused.json()["code"]) == (403, "not_signal_owner")
    handed = api.post(url, json={"note": "CAW trekt dit verder.", "owner": CAW},
                      headers=partner_auth(settings, "ocmw-gent"))
    assert handed.status_code == 201 and handed.json()["owner"] == CAW
    curated = api.post(url, json={"note": "Opgenomen in de bundel.", "status": "gesignaleerd"},
                       headers=coordinator_auth(settings))
    body = curated.json()
    assert curated.status_code == 201 and body["status"] == "gesignaleerd"
    assert [h["actor"] for h in body["history"]] == [CAW, "ocmw-gent", "coordinator"]
    facts = [e["facts"] for e in _entries(ctx, "signal.followed_up")]
    assert facts[-1]["status"] == "gesignaleerd" and facts[-1]["role"] == "coordinator"
    assert facts[1]["owner"] == CAW


def test_auditor_without_the_signals_right_reads_but_does_not_curate(
    api: TestClient, settings: Settings
) -> None:
    signal = _file(api, settings)
    reader = coordinator_auth(settings, rights=[])
    assert api.get(f"/v1/signals/{signal['id']}", headers=reader).status_code == 200
    refused = api.post(f"/v1/signals/{signal['id']}/follow-ups",
                       json={"note": "Afgesloten.", "status": "afgesloten"}, headers=reader)
    assert (refused.status_code, refused.json()["code"]) == (403, "coordinator_required")
    filing = api.post("/v1/signals", json=make_signal(), headers=coordinator_auth(settings))
    assert (filing.status_code, filing.json()["code"]) == (403, "forbidden")
    supervisor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
    assert api.get("/v1/signals", headers=supervisor).json()["code"] == "coordinator_required"


def test_a_rights_claim_outside_the_closed_set_refuses_the_token(
    api: TestClient, settings: Settings
) -> None:
    bad = coordinator_auth(settings, rights=["signals", "alles"])
    assert api.get("/v1/signals", headers=bad).status_code == 401


BAD_FORMS = {
    "unknown-theme": (make_signal(theme="weer"), 422, "invalid_request"),
    "short-description": (make_signal(description="kort"), 422, "invalid_request"),
    "control-character": (make_signal(title="Wacht\x00lijst"), 422, "invalid_request"),
    "unknown-field": ({**make_signal(), "urgent": True}, 422, "invalid_request"),
    "foreign-partner": (make_signal(partners=["ocmw-nergens"]), 422, "unknown_partner"),
}


@on_backends("body, status, code", BAD_FORMS, both=["foreign-partner"])
def test_signal_bad_forms_are_refused(api: TestClient, settings: Settings,
                                      body: dict[str, Any], status: int, code: str) -> None:
    response = api.post("/v1/signals", json=body, headers=partner_auth(settings))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert api.get("/v1/signals", headers=partner_auth(settings)).json()["signals"] == []


def test_unknown_signal_is_404_and_malformed_id_422(api: TestClient, settings: Settings) -> None:
    missing = api.get("/v1/signals/sg-" + "0" * 32, headers=partner_auth(settings))
    assert (missing.status_code, missing.json()["code"]) == (404, "signal_not_found")
    assert api.get("/v1/signals/nope", headers=partner_auth(settings)).status_code == 422


# --- screening ------------------------------------------------------------------------------

IDENTIFIERS = {
    "insz": ("85.07.30-033.28", "insz"),
    "insz-plain": ("85073003328", "insz"),
    "iban": ("BE68 5390 0754 7034", "iban"),
    "email": ("an.peeters@example.org", "email"),
    "phone-mobile": ("0470 12 34 56", "telefoon"),
    "phone-international": ("+32 9 266 11 11", "telefoon"),
}


@on_backends("identifier, kind", IDENTIFIERS, both=["insz"])
def test_screening_refuses_each_identifier_kind_and_never_logs_it(
    api: TestClient, settings: Settings, ctx: BrokerContext, caplog: pytest.LogCaptureFixture,
    identifier: str, kind: str,
) -> None:
    prefix = "Een cliënt van ons ("
    description = f"{prefix}{identifier}) wacht al twee jaar op een woning."
    with caplog.at_level(logging.DEBUG):
        response = api.post("/v1/signals", json=make_signal(description=description),
                            headers=partner_auth(settings))
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "identifying_text"
    assert problem["spans"] == [{"field": "description", "start": len(prefix),
                                 "end": len(prefix) + len(identifier), "kind": kind}]
    assert identifier not in response.text
    assert identifier not in caplog.text
    assert identifier not in api.get("/metrics").text
    assert api.get("/v1/signals", headers=partner_auth(settings)).json()["signals"] == []
    assert _entries(ctx, "signal.created") == []


def test_screening_refuses_a_client_name_of_the_network_in_either_order(
    api: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    declare_relation(api, settings, "ocmw-gent")
    stored = api.post("/v1/entries", json=make_entry(
        section="identiteit", content={"naam": "Élise Van den Broeck"}),
        headers=partner_auth(settings))
    assert stored.status_code == 201
    for text, start, end in (("Wij zagen elise van den broeck twee keer.", 10, 30),
                             ("Mevrouw Van den Broeck Élise belde.", 8, 28)):
        with caplog.at_level(logging.DEBUG):
            response = api.post("/v1/signals", json=make_signal(description=text),
                                headers=partner_auth(settings, CAW))
        assert response.status_code == 422, text
        assert {"field": "description", "start": start, "end": end, "kind": "naam"} \
            in response.json()["spans"]
        assert "Broeck" not in response.text and "Broeck" not in caplog.text
    # A surname alone, or a name nobody in the network has, passes.
    _file(api, settings, description="De familie Van den Broeck is niet de enige met dit probleem.")
    _file(api, settings, description="Jan Janssens is een verzonnen naam in dit voorbeeld.")


def test_name_digests_go_with_the_entry_on_redaction(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    declare_relation(api, settings, "ocmw-gent")
    entry = api.post("/v1/entries", json=make_entry(
        section="identiteit", content={"voornaam": "Noor", "achternaam": "Maes"}),
        headers=partner_auth(settings)).json()
    text = "Noor Maes kreeg geen antwoord van de huisvestingsmaatschappij."
    assert api.post("/v1/signals", json=make_signal(description=text),
                    headers=partner_auth(settings)).status_code == 422
    with Session(ctx.engine) as session:
        redact_entry(session=session, audit=ctx.audit, entry_id=entry["id"],
                     reason="mistaken", now=datetime.now(UTC))
    assert api.post("/v1/signals", json=make_signal(description=text),
                    headers=partner_auth(settings)).status_code == 201


def test_screening_lets_ordinary_numbers_through(api: TestClient, settings: Settings) -> None:
    text = ("In 2026 kregen 1263 gezinnen in postcode 9000 een leefloon van 1263,45 euro; "
            "12345678901 is geen geldig rijksregisternummer.")
    assert VALID_INSZ not in text
    _file(api, settings, description=text)


def test_follow_up_note_is_screened_too(api: TestClient, settings: Settings) -> None:
    signal = _file(api, settings)
    response = api.post(f"/v1/signals/{signal['id']}/follow-ups",
                        json={"note": "Bel haar op 0470/12.34.56."},
                        headers=partner_auth(settings))
    assert response.status_code == 422
    assert response.json()["spans"][0]["field"] == "note"
    history = api.get(f"/v1/signals/{signal['id']}", headers=partner_auth(settings))
    assert history.json()["history"] == []


def test_index_names_indexes_entries_stored_before_the_index_and_erasure_drops_them(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    from sqlmodel import delete
    from typer.testing import CliRunner

    from broker.cli import app
    from broker.services.erasure import erase_client
    from broker.store.signal_tables import ClientNameDigest
    from tests.broker.test_cli import _env

    declare_relation(api, settings, "ocmw-gent")
    api.post("/v1/entries", headers=partner_auth(settings), json=make_entry(
        section="identiteit", content={"naam": "Lotte Wauters"}))
    with Session(ctx.engine) as session:  # as before this revision: no digests yet
        session.exec(delete(ClientNameDigest))
        session.commit()
    text = "Lotte Wauters wacht op een antwoord van de huisvestingsmaatschappij."
    assert api.post("/v1/signals", json=make_signal(description=text),
                    headers=partner_auth(settings)).status_code == 201
    result = CliRunner().invoke(app, ["signals", "index-names"], env=_env(settings))
    assert result.exit_code == 0 and "indexed the names of 1 entries" in result.output
    assert "Lotte" not in result.output
    assert api.post("/v1/signals", json=make_signal(description=text),
                    headers=partner_auth(settings)).status_code == 422
    with Session(ctx.engine) as session:
        erase_client(session=session, audit=ctx.audit, network=NETWORK,
                     ref=ctx.keyring.client_ref(NETWORK, VALID_INSZ), now=datetime.now(UTC))
    assert api.post("/v1/signals", json=make_signal(description=text),
                    headers=partner_auth(settings)).status_code == 201


def test_cli_mints_a_coordinator_token_with_the_signals_right(
    api: TestClient, settings: Settings
) -> None:
    from typer.testing import CliRunner

    from broker.cli import app
    from tests.broker.test_cli import _env

    runner = CliRunner()
    minted = runner.invoke(app, ["token", "auditor", "--scope", "network:gbo-gent",
                                 "--right", "signals"], env=_env(settings))
    assert minted.exit_code == 0, minted.output
    signal = _file(api, settings)
    curated = api.post(f"/v1/signals/{signal['id']}/follow-ups",
                       json={"note": "Afgesloten.", "status": "afgesloten"},
                       headers=auth(minted.output.strip()))
    assert curated.status_code == 201
    bad = runner.invoke(app, ["token", "auditor", "--scope", "network:gbo-gent",
                              "--right", "alles"], env=_env(settings))
    assert bad.exit_code != 0
