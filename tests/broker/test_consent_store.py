"""``consent.store`` on both databases: rows round-trip to records, versions are never
overwritten, the access path is indexed, and migration 0003 goes down and up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from broker.store.db import current_revision, upgrade
from consent import store
from consent.errors import ConsentNotActive, RelationNotValid
from consent.models import Evidence, Grantor, OnBehalfOf
from tests.consent.factories import make_consent, make_relation

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s


def _relation(session: Session) -> None:
    store.add_relation(
        session=session, relation=make_relation(start=NOW, end=NOW + timedelta(days=30)),
        network="gbo-gent", declared_by="w-1", now=NOW,
    )


def test_consent_version_round_trips(session: Session) -> None:
    _relation(session)
    session.commit()
    record = make_consent(
        created_at=NOW, valid_from=NOW, valid_until=NOW + timedelta(days=90),
        grantor=Grantor(name="A. Janssens", role="bewindvoerder"), help_relation_id="r-1",
        evidence=Evidence(method="signed_paper", reference="P-1", recorded_by="w-2"),
    )
    store.add_consent_version(
        session=session, version=record, change="created", recorded_by_partner="ocmw-gent"
    )
    session.commit()
    [stored] = store.consent_versions(session=session, consent_id=record.id)
    assert stored == store.StoredConsent(record, "created", "ocmw-gent")


def test_the_access_path_reads_what_was_stored(session: Session) -> None:
    """``relations_of_client`` and ``open_consents`` (plain rows, no ORM objects) give back the
    records as stored, every field, and so does the padded read of the access flow."""
    _relation(session)
    session.commit()
    record = make_consent(
        created_at=NOW, valid_from=NOW, valid_until=NOW + timedelta(days=90),
        grantor=Grantor(name="A. Janssens", role="bewindvoerder"), help_relation_id="r-1",
        evidence=Evidence(method="signed_paper", reference="P-1", recorded_by="w-2"),
        on_behalf_of=OnBehalfOf(mandate_id="m-1", mandatary="p-2"), proof="eid",
    )
    store.add_consent_version(session=session, version=record, change="created",
                              recorded_by_partner="ocmw-gent")
    session.commit()
    assert store.open_consents(session=session, network="gbo-gent",
                               client_ref=record.client_ref) == [record]
    relation = make_relation(start=NOW, end=NOW + timedelta(days=30))
    assert store.relations_of_client(session=session, network="gbo-gent",
                                     client_ref=record.client_ref) == [relation]
    padded = store.padded_records(session=session, network="gbo-gent",
                                  client_ref=record.client_ref, relation_bucket=4,
                                  consent_bucket=2)
    assert padded.relations == [relation] and padded.consents == [record]


@pytest.mark.parametrize(("relations", "expected"), [(0, 4), (1, 3), (4, 0), (5, 3)],
                         ids=["never-seen", "one", "a-bucket", "past-a-bucket"])
def test_padding_read_with_the_records_fills_the_bucket(
    session: Session, relations: int, expected: int
) -> None:
    """DESIGN §4 no existence leak: the database returns the client's records and padding up to
    the next multiple of the bucket (at least one) in the same statement; the padding is about
    no client, names nobody and covers nothing."""
    for n in range(relations):
        store.add_relation(
            session=session, relation=make_relation(
                id=f"r-{n}", start=NOW + timedelta(seconds=n), end=NOW + timedelta(days=30)),
            network="gbo-gent", declared_by="w-1", now=NOW)
    session.commit()
    client_ref = make_relation().client_ref
    padded = store.padded_records(session=session, network="gbo-gent", client_ref=client_ref,
                                  relation_bucket=4, consent_bucket=4)
    assert [r.id for r in padded.relations] == [f"r-{n}" for n in range(relations)]
    assert len(padded.padding_relations) == expected
    assert padded.consents == [] and len(padded.padding_consents) == 4
    for pad in padded.padding_relations:
        assert pad.client_ref == pad.partner == store.NOBODY and pad.end <= pad.start
    for consent in padded.padding_consents:
        assert consent.client_ref == store.NOBODY and consent.revoked_at is None
        assert consent.valid_from <= NOW < consent.valid_until  # in force, as most are
        assert [(r.kind, r.id) for r in consent.recipients] == [("partner", store.NOBODY)]


def test_a_version_is_closed_once_and_never_rewritten(session: Session) -> None:
    record = make_consent(created_at=NOW)
    store.add_consent_version(session=session, version=record, change="created",
                              recorded_by_partner=None)
    session.commit()
    store.close_consent_version(session=session, closed=replace(record, revoked_at=NOW))
    session.commit()
    with pytest.raises(ConsentNotActive):
        store.close_consent_version(
            session=session, closed=replace(record, revoked_at=NOW + timedelta(days=1))
        )
    session.rollback()
    [stored] = store.consent_versions(session=session, consent_id=record.id)
    assert stored.record.revoked_at == NOW


def test_two_versions_with_the_same_number_cannot_both_exist(session: Session) -> None:
    record = make_consent(created_at=NOW)
    store.add_consent_version(session=session, version=record, change="created",
                              recorded_by_partner=None)
    session.commit()
    store.add_consent_version(session=session, version=replace(record, purposes=("x",)),
                              change="narrowed", recorded_by_partner=None)
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


def test_only_open_versions_may_cover_access(session: Session) -> None:
    first = make_consent(created_at=NOW, revoked_at=NOW)
    second = replace(first, version=2, previous_version_id=first.id, revoked_at=None)
    for version, change in ((first, "created"), (second, "narrowed")):
        store.add_consent_version(session=session, version=version, change=change,  # type: ignore[arg-type]
                                  recorded_by_partner=None)
    session.commit()
    assert store.open_consents(session=session, network="gbo-gent",
                               client_ref=first.client_ref) == [second]


def test_a_relation_ends_once(session: Session) -> None:
    _relation(session)
    session.commit()
    rel, network = store.get_relation(session=session, relation_id="r-1") or (None, None)
    assert rel is not None and network == "gbo-gent"
    store.stamp_relation_ended(session=session, ended=replace(rel, ended_at=NOW))
    session.commit()
    with pytest.raises(RelationNotValid):
        store.stamp_relation_ended(session=session, ended=replace(rel, ended_at=NOW))
    session.rollback()
    assert not store.has_valid_relation(session=session, network="gbo-gent",
                                        client_ref=rel.client_ref, partner=rel.partner,
                                        now=NOW + timedelta(seconds=1))


def test_access_path_is_indexed(engine: Engine) -> None:
    inspector = inspect(engine)
    indexes = {
        table: {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        for table in ("help_relation", "consent_version", "consent_notification")
    }
    assert ("network", "client_ref") in indexes["help_relation"]
    assert ("partner",) in indexes["help_relation"]
    assert ("network", "client_ref") in indexes["consent_version"]
    assert ("partner", "id") in indexes["consent_notification"]


def test_migration_0003_downgrades_and_upgrades(engine: Engine) -> None:
    from alembic import command

    from broker.store.db import alembic_config, head_revision

    command.downgrade(alembic_config(engine), "0002")
    assert current_revision(engine) == "0002"
    assert "consent_version" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert "consent_version" in inspect(engine).get_table_names()


def test_migration_0005_gives_existing_records_their_proof(engine: Engine) -> None:
    """DESIGN §9: rows from before proof levels: a desk consent and every relation rested on the
    worker's word (``attested``); a consent the client gave in the portal is ``client``. Every
    version inherits its consent's first recording time."""
    from alembic import command

    from broker.store.db import alembic_config

    command.downgrade(alembic_config(engine), "0004")
    first, later = "2026-01-02 03:04:05", "2026-02-03 04:05:06"
    row = ("INSERT INTO consent_version (consent_id, version, change, network, client_ref, "
           "recorded_by_partner, recipients, purposes, sections, valid_from, valid_until, "
           "evidence, created_at) VALUES (:id, :v, 'created', 'gbo-gent', 'p-1', :by, '[]', "
           "'[]', '[]', :at, '2027-01-01 00:00:00', '{\"method\": \"portal\"}', :at)")
    with engine.begin() as conn:
        for params in ({"id": "desk", "v": 1, "by": "ocmw-gent", "at": first},
                       {"id": "desk", "v": 2, "by": None, "at": later},
                       {"id": "portal", "v": 1, "by": None, "at": first}):
            conn.execute(text(row), params)
        conn.execute(text(
            "INSERT INTO help_relation (id, network, client_ref, partner, declared_by, "
            "starts_at, ends_at, created_at) VALUES ('r-1', 'gbo-gent', 'p-1', 'ocmw-gent', "
            "'w-1', :at, '2027-01-01 00:00:00', :at)"), {"at": first})
    upgrade(engine)
    with Session(engine) as session:
        versions = {(v.record.id, v.record.version): v.record
                    for v in store.consents_of_client(session=session,
                                                              network="gbo-gent",
                                                              client_ref="p-1")}
        [relation] = store.relations_of_client(session=session, network="gbo-gent",
                                                       client_ref="p-1")
    assert {k: v.proof for k, v in versions.items()} == {
        ("desk", 1): "attested", ("desk", 2): "attested", ("portal", 1): "client"}
    assert {v.recorded_at for v in versions.values()} == {versions[("desk", 1)].created_at}
    assert relation.proof == "attested"
