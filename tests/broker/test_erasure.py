"""Erasure (GDPR art. 17, DESIGN §6): crypto-shredding, audited before it is committed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from broker.context import BrokerContext
from broker.errors import AuditUnavailable, ClientErased, ClientNotFound
from broker.services import dossier
from broker.services.erasure import erase_client
from broker.store.audit_events import decode
from broker.store.db import session_scope
from tests.broker.test_access_flow import REFUSE_INSERTS
from tests.factories import VALID_INSZ


def _client_ref(ctx: BrokerContext, engine: Engine) -> str:
    with session_scope(engine) as session:
        client = dossier.get_or_create_client(session, keyring=ctx.keyring, network="gbo-gent",
                                              insz=VALID_INSZ, now=datetime.now(UTC))
        return client.ref


def test_erasure_appends_its_audit_entry_and_destroys_the_key(
    ctx: BrokerContext, engine: Engine
) -> None:
    ref = _client_ref(ctx, engine)
    size = ctx.audit.log.store.size()
    with session_scope(engine) as session:
        erased = erase_client(session=session, audit=ctx.audit, network="gbo-gent", ref=ref,
                              now=datetime.now(UTC))
    assert erased.data_key_wrapped is None
    entry = decode(ctx.audit.log.store.leaf(size))  # type: ignore[arg-type]
    assert (entry["kind"], entry["client"], entry["network"]) == ("client.erased", ref, "gbo-gent")
    with session_scope(engine) as session, pytest.raises(ClientErased):
        erase_client(session=session, audit=ctx.audit, network="gbo-gent", ref=ref,
                     now=datetime.now(UTC))


def test_erasure_erases_nothing_when_its_audit_entry_cannot_be_stored(
    engine: Engine, ctx: BrokerContext
) -> None:
    ref = _client_ref(ctx, engine)
    with engine.begin() as conn:  # the database refuses to store audit leaves
        for statement in REFUSE_INSERTS[conn.dialect.name]:
            conn.exec_driver_sql(statement)
    with session_scope(engine) as session, pytest.raises(AuditUnavailable):
        erase_client(session=session, audit=ctx.audit, network="gbo-gent", ref=ref,
                     now=datetime.now(UTC))
    with session_scope(engine) as session:
        client = dossier.find_client(session, keyring=ctx.keyring, network="gbo-gent",
                                     insz=VALID_INSZ)
        assert client is not None and client.data_key_wrapped is not None  # still readable


def test_erasing_an_unknown_client_is_refused(ctx: BrokerContext, engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(ClientNotFound):
        erase_client(session=session, audit=ctx.audit, network="gbo-gent", ref="p-unknown",
                     now=datetime.now(UTC))
