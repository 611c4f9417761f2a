"""``POST /v1/entries`` (DESIGN §5) and the encrypted dossier store behind it."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from broker.context import BrokerContext
from broker.services import dossier
from broker.services.erasure import erase_client
from broker.settings import Settings
from tests.backends import on_backends
from tests.factories import (
    VALID_INSZ,
    client_auth,
    declare_relation,
    make_entry,
    partner_auth,
    stored_count,
)


def test_entry_created_and_readable_by_the_client(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    created = api.post(
        "/v1/entries",
        json=make_entry(content={"vraag": "budgethulp"}),
        headers=partner_auth(settings),
    )
    assert created.status_code == 201
    entry_id = created.json()["id"]
    mine = api.get("/v1/me/dossier", headers=client_auth(settings)).json()["entries"]
    assert [(e["id"], e["section"], e["author"], e["content"]) for e in mine] == [
        (entry_id, "hulpvraag", "ocmw-gent", {"vraag": "budgethulp"})
    ]


def test_content_and_insz_are_stored_only_encrypted(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    marker = "canary-9f2c1d"
    declare_relation(api, settings)
    api.post(
        "/v1/entries", json=make_entry(content={"note": marker}), headers=partner_auth(settings)
    )
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM client"))]
        rows += [tuple(r) for r in conn.execute(text("SELECT * FROM entry"))]
    dump = repr(rows).encode()
    assert rows
    assert marker.encode() not in dump
    assert VALID_INSZ.encode() not in dump


def test_two_partners_write_to_one_client(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    for partner in ("ocmw-gent", "caw-oost-vlaanderen"):
        declare_relation(api, settings, partner)
        assert (
            api.post(
                "/v1/entries", json=make_entry(), headers=partner_auth(settings, partner)
            ).status_code
            == 201
        )
    assert stored_count(ctx.engine, "client") == 1
    authors = {
        e["author"]
        for e in api.get("/v1/me/dossier", headers=client_auth(settings)).json()["entries"]
    }
    assert authors == {"ocmw-gent", "caw-oost-vlaanderen"}


def test_working_notes_may_be_written_but_are_not_in_the_clients_view(
    api: TestClient, settings: Settings
) -> None:
    declare_relation(api, settings)
    response = api.post(
        "/v1/entries", json=make_entry(section="werkaantekeningen"), headers=partner_auth(settings)
    )
    assert response.status_code == 201
    assert api.get("/v1/me/dossier", headers=client_auth(settings)).json()["entries"] == []


def _working_notes_seen_by(api: TestClient, settings: Settings, sub: str) -> list[Any]:
    response = api.post("/v1/access-requests",
                        json={"insz": VALID_INSZ, "purpose": "gezamenlijke_begeleiding",
                              "sections": ["werkaantekeningen"]},
                        headers=partner_auth(settings, sub=sub))
    assert response.status_code == 200, response.text
    section = response.json()["sections"]["werkaantekeningen"]
    assert section["verdict"] == "denied"  # never shared (DESIGN §3)
    return [e["content"] for e in section.get("entries", [])]


def test_working_notes_go_back_to_their_author_and_not_to_a_colleague(
    api: TestClient, settings: Settings
) -> None:
    """DESIGN §1: a worker's personal working notes are never shared, not with a colleague of
    the same partner either."""
    declare_relation(api, settings)
    for sub, note in (("w-1", "eerste indruk van w-1"), ("w-2", "notitie van w-2")):
        written = api.post("/v1/entries", json=make_entry(section="werkaantekeningen",
                                                           content={"notitie": note}),
                           headers=partner_auth(settings, sub=sub))
        assert written.status_code == 201
    assert _working_notes_seen_by(api, settings, "w-1") == [{"notitie": "eerste indruk van w-1"}]
    assert _working_notes_seen_by(api, settings, "w-2") == [{"notitie": "notitie van w-2"}]
    assert _working_notes_seen_by(api, settings, "w-3") == []


def test_restricted_flag_is_stored(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    api.post("/v1/entries", json=make_entry(restricted=True), headers=partner_auth(settings))
    [entry] = api.get("/v1/me/dossier", headers=client_auth(settings)).json()["entries"]
    assert entry["restricted"] is True


def test_client_without_entries_gets_an_empty_dossier(api: TestClient, settings: Settings) -> None:
    response = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert response.status_code == 200
    assert response.json() == {"entries": []}


BAD_BODIES: dict[str, tuple[Any, str]] = {
    "missing_insz": (make_entry(insz=None), "body.insz"),
    "missing_section": (make_entry(section=None), "body.section"),
    "missing_content": (make_entry(content=None), "body.content"),
    "insz_bad_checksum": (make_entry(insz="85073003329"), "body.insz"),
    "insz_as_number": (make_entry(insz=85073003328), "body.insz"),
    "insz_too_short": (make_entry(insz="8507300332"), "body.insz"),
    "section_not_a_string": (make_entry(section=["inkomen"]), "body.section"),
    "empty_section": (make_entry(section=""), "body.section"),
    "content_not_an_object": (make_entry(content="tekst"), "body.content"),
    "restricted_not_a_bool": (make_entry(restricted="yes"), "body.restricted"),
    "unknown_field": ({**make_entry(), "author": "caw-oost-vlaanderen"}, "body.<field>"),
    "body_not_an_object": (["insz"], "body"),
}


# Refused by the request schema before any query.
@on_backends(("body", "loc"), BAD_BODIES, both={"insz_bad_checksum", "unknown_field"})
def test_bad_entry_body_rejected_with_422_naming_the_field(
    api: TestClient, settings: Settings, body: Any, loc: str
) -> None:
    response = api.post("/v1/entries", json=body, headers=partner_auth(settings))
    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "urn:gbo-broker:problem:invalid_request"
    assert loc in {".".join(e["loc"]) for e in problem["errors"]}
    assert "8507300332" not in response.text  # the submitted INSZ is never echoed


def test_unknown_section_rejected(api: TestClient, settings: Settings) -> None:
    response = api.post(
        "/v1/entries", json=make_entry(section="hobby"), headers=partner_auth(settings)
    )
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_section"


def test_malformed_json_rejected(api: TestClient, settings: Settings) -> None:
    response = api.post(
        "/v1/entries",
        content=b'{"insz": "85073003328",',
        headers={**partner_auth(settings), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_body_over_1_mib_rejected_with_413(api: TestClient, settings: Settings) -> None:
    body = make_entry(content={"blob": "x" * (1024 * 1024)})
    response = api.post("/v1/entries", json=body, headers=partner_auth(settings))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_streamed_body_over_1_mib_without_length_rejected_with_413(
    api: TestClient, settings: Settings
) -> None:
    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(20):
            yield b"x" * 65536

    response = api.post(
        "/v1/entries",
        content=chunks(),
        headers={**partner_auth(settings), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_body_just_under_the_limit_accepted(api: TestClient, settings: Settings) -> None:
    declare_relation(api, settings)
    # Strings hold at most 100,000 characters (the strict JSON reader): the body is made of
    # several, just under 1 MiB in all.
    blob = "x" * (1024 * 1024 - 300)
    body = make_entry(content={f"part{i}": blob[i:i + 100_000]
                               for i in range(0, len(blob), 100_000)})
    assert 1024 * 1024 - 300 < len(json.dumps(body)) <= 1024 * 1024
    response = api.post("/v1/entries", json=body, headers=partner_auth(settings))
    assert response.status_code == 201


def test_nothing_stored_after_rejected_input(
    api: TestClient, settings: Settings, engine: Engine
) -> None:
    api.post("/v1/entries", json=make_entry(section="hobby"), headers=partner_auth(settings))
    api.post("/v1/entries", json=make_entry(insz="85073003329"), headers=partner_auth(settings))
    assert stored_count(engine, "entry") == 0


def test_erased_client_reads_and_writes_report_erasure(
    api: TestClient, settings: Settings, ctx: BrokerContext, engine: Engine
) -> None:
    declare_relation(api, settings)
    api.post("/v1/entries", json=make_entry(content={"note": "x"}), headers=partner_auth(settings))
    with dossier.Session(engine) as session:  # type: ignore[attr-defined]
        client = dossier.find_client(
            session, keyring=ctx.keyring, network="gbo-gent", insz=VALID_INSZ
        )
        assert client is not None
        erase_client(session=session, audit=ctx.audit, network="gbo-gent", ref=client.ref,
                     now=client.created_at)
    read = api.get("/v1/me/dossier", headers=client_auth(settings))
    assert read.status_code == 410
    assert read.json()["code"] == "client_erased"
    write = api.post("/v1/entries", json=make_entry(), headers=partner_auth(settings))
    assert write.status_code == 410
    assert stored_count(engine, "entry") == 1  # ciphertext stays; only the key is gone
    with engine.connect() as conn:
        assert conn.execute(text("SELECT data_key_wrapped FROM client WHERE id <> '-'")
                            ).scalar_one() is None
