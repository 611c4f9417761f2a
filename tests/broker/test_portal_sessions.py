"""Portal sessions hold on the server (DESIGN §2, §6): logging out ends a session for every copy
of its cookie, in both portals and in every worker; the server's own expiry counts even when the
cookie says otherwise; a new login in a browser ends that browser's earlier session; the session
table stays bounded; acting "namens" someone (DESIGN §9) survives all of it. Runs on SQLite and
PostgreSQL (``api``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broker.app import create_app
from broker.context import BrokerContext, load_context
from broker.portal.session import AUDITOR, CLIENT, new_session, seal
from broker.settings import Settings
from broker.store.models import PortalSessionRecord
from broker.store.portal_sessions import MAX_PER_SUBJECT
from tests.broker.test_portal_audit import login as audit_login
from tests.broker.test_portal_client import AN, login
from tests.broker.test_portal_mandates import BANNER, bram_acts_for_an
from tests.factories import VALID_INSZ


def _saved(api: TestClient, cookie: str) -> str:
    value = api.cookies.get(cookie)
    assert value is not None
    return value


def _replay(api: TestClient, cookie: str, value: str, path: str) -> int:
    """The status of ``path`` for a browser that sends only the saved ``value``."""
    api.cookies.clear()
    api.cookies.set(cookie, value, path="/" + path.split("/")[1])
    return api.get(path, follow_redirects=False).status_code


def _rows(ctx: BrokerContext) -> int:
    with Session(ctx.engine) as db:
        return int(db.exec(select(func.count()).select_from(PortalSessionRecord)).one())


def test_saved_client_cookie_is_refused_after_logout(api: TestClient) -> None:
    token = login(api)
    saved = _saved(api, CLIENT.name)
    assert _replay(api, CLIENT.name, saved, "/mijn") == 200
    response = api.post("/mijn/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    # The attacker's copy of the cookie, taken before the logout, is no session.
    assert _replay(api, CLIENT.name, saved, "/mijn") == 303
    assert _replay(api, CLIENT.name, saved, "/mijn/dossier") == 303


def test_saved_auditor_cookie_is_refused_after_logout(api: TestClient) -> None:
    token = audit_login(api, "supervisor")
    saved = _saved(api, AUDITOR.name)
    assert _replay(api, AUDITOR.name, saved, "/audit") == 200
    response = api.post("/audit/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert _replay(api, AUDITOR.name, saved, "/audit") == 303
    assert _replay(api, AUDITOR.name, saved, "/audit/integriteit") == 303


def test_the_server_expiry_holds_whatever_the_cookie_says(api: TestClient,
                                                          ctx: BrokerContext) -> None:
    login(api)
    saved = _saved(api, CLIENT.name)
    # The hour has passed on the server; the cookie still names a later end.
    with Session(ctx.engine) as db:
        db.exec(update(PortalSessionRecord).values(  # type: ignore[call-overload]
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.commit()
    assert _replay(api, CLIENT.name, saved, "/mijn") == 303


def test_a_cookie_without_a_server_session_is_refused(api: TestClient,
                                                      ctx: BrokerContext) -> None:
    """A session sealed before sessions were kept on the server (or sealed by anyone holding the
    key but not the database) is no session."""
    sealed = seal(new_session(datetime.now(UTC), insz=VALID_INSZ, name="An"),
                  ctx.session_key.key)
    assert _replay(api, CLIENT.name, sealed, "/mijn") == 303


def test_a_new_login_in_the_browser_ends_its_earlier_session(api: TestClient) -> None:
    login(api)
    first = _saved(api, CLIENT.name)
    login(api, AN)  # the same browser, the same person, logs in again (no password asked)
    second = _saved(api, CLIENT.name)
    assert _replay(api, CLIENT.name, first, "/mijn") == 303
    assert _replay(api, CLIENT.name, second, "/mijn") == 200


def test_a_login_elsewhere_keeps_other_sessions_up_to_the_cap(api: TestClient,
                                                              ctx: BrokerContext) -> None:
    saved = []
    for _ in range(MAX_PER_SUBJECT):
        api.cookies.clear()  # another device: no earlier session in this browser
        login(api)
        saved.append(_saved(api, CLIENT.name))
    assert [_replay(api, CLIENT.name, s, "/mijn") for s in saved] == [200] * MAX_PER_SUBJECT
    api.cookies.clear()
    login(api)  # one more device: the oldest session ends
    assert _replay(api, CLIENT.name, saved[0], "/mijn") == 303
    assert [_replay(api, CLIENT.name, s, "/mijn") for s in saved[1:]] == [200] * (
        MAX_PER_SUBJECT - 1)
    assert _rows(ctx) == MAX_PER_SUBJECT


def test_expired_sessions_are_purged_at_the_next_login(api: TestClient,
                                                       ctx: BrokerContext) -> None:
    login(api)
    api.cookies.clear()
    audit_login(api)
    with Session(ctx.engine) as db:
        db.exec(update(PortalSessionRecord).values(  # type: ignore[call-overload]
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.commit()
    api.cookies.clear()
    login(api)
    assert _rows(ctx) == 1


def test_one_portals_session_is_no_session_in_the_other(api: TestClient) -> None:
    audit_login(api)
    saved = _saved(api, AUDITOR.name)
    assert _replay(api, CLIENT.name, saved, "/mijn") == 303


def test_acting_for_someone_survives_and_ends_with_the_session(
    api: TestClient, settings: Settings
) -> None:
    token = bram_acts_for_an(api, settings)
    assert BANNER in api.get("/mijn").text
    assert BANNER in api.get("/mijn/toestemmingen").text
    saved = _saved(api, CLIENT.name)
    response = api.post("/mijn/logout", data={"csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert _replay(api, CLIENT.name, saved, "/mijn/toestemmingen") == 303


@pytest.fixture
def other_worker(settings: Settings, ctx: BrokerContext) -> Iterator[TestClient]:
    """A second broker process on the same database: its own context and engine."""
    second = load_context(settings)
    try:
        with TestClient(create_app(context=second), raise_server_exceptions=False) as client:
            yield client
    finally:
        second.close()


def test_a_logout_at_one_worker_ends_the_session_at_another(
    api: TestClient, other_worker: TestClient
) -> None:
    token = login(api)
    saved = _saved(api, CLIENT.name)
    assert _replay(other_worker, CLIENT.name, saved, "/mijn") == 200
    api.post("/mijn/logout", data={"csrf": token}, follow_redirects=False)
    assert _replay(other_worker, CLIENT.name, saved, "/mijn") == 303


def test_migration_0007_downgrades_and_upgrades(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from broker.store.db import alembic_config, current_revision, head_revision, upgrade

    tables = {"portal_session", "rate_bucket", "rate_limit_refusal"}
    command.downgrade(alembic_config(engine), "0006")
    assert current_revision(engine) == "0006"
    assert tables.isdisjoint(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert tables <= set(inspect(engine).get_table_names())
