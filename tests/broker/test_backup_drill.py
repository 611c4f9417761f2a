"""The recovery drill (operations): a broker under load is backed up, the backup is restored into
a fresh data directory (and database), and the restored broker's log verifies against the last
checkpoint served before the backup, its clients read their dossiers, and a crypto-shredded
client stays unreadable. On SQLite with ``gbo-broker backup`` / ``restore``; on PostgreSQL with
``pg_dump`` / ``pg_restore`` for the database and the same commands for the key files."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from broker.app import create_app
from broker.cli import app
from broker.context import BrokerContext, load_context
from broker.services.erasure import erase_client
from broker.settings import Settings
from broker.store.db import make_engine, session_scope, upgrade
from tests.broker.load import Load
from tests.conftest import GENEROUS_RATE_LIMITS, POSTGRES_URL
from tests.factories import OTHER_INSZ, VALID_INSZ, client_auth, declare_relation, partner_auth
from tests.live_server import served

THIRD_INSZ = "90010100123"
runner = CliRunner()


def _env(settings: Settings) -> dict[str, str]:
    return {"GBO_DATA_DIR": str(settings.data_dir), "GBO_DEMO": "1",
            "GBO_DATABASE_URL": settings.resolved_database_url}


def _write(api: httpx.Client, settings: Settings, insz: str, marker: str) -> None:
    response = api.post("/v1/entries", json={"insz": insz, "section": "hulpvraag",
                                             "content": {"vraag": marker}},
                        headers=partner_auth(settings))
    assert response.status_code == 201, response.text


def _seed(ctx: BrokerContext, base: str, settings: Settings) -> None:
    with httpx.Client(base_url=base, timeout=30) as api:
        for insz in (VALID_INSZ, OTHER_INSZ, THIRD_INSZ):
            declare_relation(api, settings, "ocmw-gent", insz)  # type: ignore[arg-type]
            _write(api, settings, insz, f"marker-{insz[-4:]}")
        declare_relation(api, settings, "caw-oost-vlaanderen", VALID_INSZ)  # type: ignore[arg-type]
    with session_scope(ctx.engine) as session:
        erase_client(session=session, audit=ctx.audit, network="gbo-gent",
                     ref=ctx.keyring.client_ref("gbo-gent", OTHER_INSZ), now=datetime.now(UTC))


def _drill(ctx: BrokerContext, settings: Settings, restored: Settings, tmp_path: Path,
           copy_database: Callable[[], None] | None,
           restore_database: Callable[[], None] | None) -> None:
    """Back ``ctx``'s broker up under load, restore it as ``restored``, and check it."""
    dest = tmp_path / "backup"
    with served(ctx) as base:
        _seed(ctx, base, settings)
        with Load(base, settings) as load:
            load.wait_for(6)
            ctx.audit.log.checkpoint_now()
            before = httpx.get(f"{base}/v1/audit/checkpoint").text  # the last one served
            if copy_database is not None:
                copy_database()  # pg_dump, while the load goes on
            result = runner.invoke(app, ["backup", str(dest)], env=_env(settings))
            assert result.exit_code == 0, result.output
            served_so_far = load.done
            load.wait_for(served_so_far + 6)  # the broker kept serving through the backup
        assert load.failures == []
    if restore_database is not None:
        restore_database()
    result = runner.invoke(app, ["restore", str(dest)], env=_env(restored))
    assert result.exit_code == 0, result.output
    state = tmp_path / "served-before-backup.txt"
    state.write_text(before)
    size = int(before.splitlines()[1])
    result = runner.invoke(app, ["audit", "verify", "--state", str(state)], env=_env(restored))
    assert result.exit_code == 0, result.output
    assert int(result.output.split("OK: ")[1].split()[0]) >= size > 0
    again = load_context(restored)
    try:
        with TestClient(create_app(context=again), raise_server_exceptions=False) as api:
            for insz in (VALID_INSZ, THIRD_INSZ):
                response = api.get("/v1/me/dossier", headers=client_auth(restored, insz))
                assert response.status_code == 200 and f"marker-{insz[-4:]}" in response.text
            response = api.get("/v1/me/dossier", headers=client_auth(restored, OTHER_INSZ))
            assert response.status_code == 410
            assert f"marker-{OTHER_INSZ[-4:]}" not in response.text
    finally:
        again.close()
    # A restore never overwrites: the restored data directory refuses a second one.
    refused = runner.invoke(app, ["restore", str(dest)], env=_env(restored))
    assert refused.exit_code == 2 and "fresh data directory" in refused.output


def _restored_settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    data_dir = tmp_path / "restored"
    return Settings(data_dir=data_dir, demo=True, policy_timeout_ms=5000,
                    database_url=database_url or f"sqlite:///{data_dir / 'gbo.sqlite3'}",
                    **GENEROUS_RATE_LIMITS)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backup_under_load_restores_to_a_broker_whose_log_verifies_and_dossiers_read(
    settings: Settings, ctx: BrokerContext, tmp_path: Path
) -> None:
    _drill(ctx, settings, _restored_settings(tmp_path), tmp_path, None, None)


@pytest.fixture
def own_databases(postgres_admin: Engine) -> Iterator[Callable[[str], str]]:
    """Databases of this test's own (``gbo_drill_<random>_<name>``), dropped at the end."""
    made: list[str] = []

    def make(name: str) -> str:
        database = f"gbo_drill_{uuid.uuid4().hex[:12]}_{name}"
        with postgres_admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        made.append(database)
        return make_url(POSTGRES_URL).set(database=database).render_as_string(
            hide_password=False)

    yield make
    with postgres_admin.connect() as conn:
        for database in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.skipif(shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
                    reason="pg_dump and pg_restore are not installed")
def test_pg_dump_under_load_restores_to_a_broker_whose_log_verifies_and_dossiers_read(
    own_databases: Callable[[str], str], demo_data_dir: Path, tmp_path: Path
) -> None:
    live_url, restored_url = own_databases("live"), own_databases("restored")
    settings = Settings(data_dir=tmp_path / "data", database_url=live_url, demo=True,
                        policy_timeout_ms=5000, **GENEROUS_RATE_LIMITS)
    shutil.copytree(demo_data_dir, settings.data_dir)
    engine = make_engine(live_url)
    upgrade(engine)
    dump = tmp_path / "gbo.dump"
    ctx = load_context(settings, engine=engine)
    try:
        _drill(
            ctx, settings, _restored_settings(tmp_path, restored_url), tmp_path,
            lambda: subprocess.run(["pg_dump", "--format=custom", f"--file={dump}",
                                    _libpq(live_url)], check=True, timeout=300),
            lambda: subprocess.run(["pg_restore", "--exit-on-error", "--no-owner",
                                    f"--dbname={_libpq(restored_url)}", str(dump)],
                                   check=True, timeout=300),
        )
    finally:
        ctx.close()
        engine.dispose()
        create_engine(restored_url).dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backup_refuses_a_directory_that_is_not_empty(settings: Settings, engine: Engine,
                                                      tmp_path: Path) -> None:
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "something").write_text("x")
    result = runner.invoke(app, ["backup", str(dest)], env=_env(settings))
    assert result.exit_code == 2 and "not an empty directory" in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_restore_refuses_a_directory_that_holds_no_backup(settings: Settings, engine: Engine,
                                                          tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    result = runner.invoke(app, ["restore", str(tmp_path / "nothing")],
                           env=_env(_restored_settings(tmp_path)))
    assert result.exit_code == 2 and "not a gbo-broker backup" in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_restore_refuses_a_sqlite_backup_into_postgresql(settings: Settings, engine: Engine,
                                                         tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(dest)], env=_env(settings)).exit_code == 0
    target = _restored_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:5432/none")
    result = runner.invoke(app, ["restore", str(dest)], env=_env(target))
    assert result.exit_code == 2 and "names PostgreSQL" in result.output
    assert not target.resolved_kek_file.exists()  # nothing was restored


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_backup_files_are_private(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    assert runner.invoke(app, ["backup", str(dest)], env=_env(settings)).exit_code == 0
    assert dest.stat().st_mode & 0o077 == 0
    for name in ("kek.json", "audit_log.json", "gbo.sqlite3"):
        assert (dest / name).stat().st_mode & 0o077 == 0
