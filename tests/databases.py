"""Fresh test databases without running every migration for every test.

A test asks for one of three starting points: ``empty``, ``migrated`` (every Alembic migration, as
``gbo-broker db upgrade`` leaves it) or ``log`` (only the audit log's tables, ``audit.schema``).
Each is built once per test session by the real code (``upgrade``, ``create_log_tables``), then:

- SQLite: each test gets a byte copy of the built file (``shutil.copyfile``), so it is the same
  database: tables, triggers, ``alembic_version``, ``sqlite_sequence``.
- PostgreSQL: each session keeps its own schemas (names carry the process id, so concurrent
  sessions on one server never meet). After a test its schema is emptied (every table but
  ``alembic_version``, sequences restarted), given back the rows the build wrote (the stored
  padding of migration 0012, copied once into a seed schema of the kind) and its catalogue
  compared with the one the build left: same tables, columns, indexes, constraints, triggers
  (and whether they are enabled), functions, types, sequences and ``alembic_version``. A schema
  that differs, or that cannot be emptied (a lock held by a connection the test left open), is
  dropped and the next test gets a newly built one. Creating a database from a template was
  measured slower here: a ``DROP DATABASE`` forces a checkpoint and costs more than running the
  migrations.

Tests of the migrations themselves downgrade and upgrade their copy for real.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, MetaData, create_engine, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from audit.schema import create_log_tables
from broker.store.db import make_engine, upgrade

Kind = Literal["empty", "migrated", "log"]
KINDS: tuple[Kind, ...] = ("empty", "migrated", "log")


def _build_migrated(url: str) -> None:
    engine = make_engine(url)  # the broker's own engine: on SQLite the file is in WAL mode
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _build_log(url: str) -> None:
    engine = create_engine(url)  # a plain engine, as a library user of ``audit`` has
    try:
        with engine.begin() as conn:
            create_log_tables(conn)
    finally:
        engine.dispose()


BUILDERS: dict[Kind, Callable[[str], None]] = {
    "empty": lambda url: None, "migrated": _build_migrated, "log": _build_log}


class SqliteFiles:
    """One built file per kind and session; each test gets a copy."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._built: dict[Kind, Path] = {}

    def fresh(self, kind: Kind, path: Path) -> str:
        """A database of ``kind`` at ``path`` (which must not exist yet); its URL."""
        assert not path.exists(), path
        if kind != "empty":
            shutil.copyfile(self._template(kind), path)
        return f"sqlite:///{path}"

    def _template(self, kind: Kind) -> Path:
        if kind not in self._built:
            path = self._dir / f"{kind}.sqlite3"
            BUILDERS[kind](f"sqlite:///{path}")
            # Every connection is closed, so the WAL is folded into the file: the file is whole.
            assert not path.with_name(path.name + "-wal").exists()
            self._built[kind] = path
        return self._built[kind]


# The catalogue of one schema, names of the schema itself left out (so two schemas compare).
_CATALOGUE = """
SELECT 'rel ' || c.relname || ' ' || c.relkind::text FROM pg_class c WHERE c.relnamespace = :ns
UNION ALL SELECT 'col ' || c.relname || '.' || a.attname || ' ' || a.attnum || ' '
    || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
    || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE c.relnamespace = :ns AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = :ns
UNION ALL SELECT 'con ' || o.conname || ' ' || pg_get_constraintdef(o.oid)
  FROM pg_constraint o WHERE o.connamespace = :ns
UNION ALL SELECT CASE WHEN t.tgisinternal  -- a foreign key's: named after its oid
    THEN 'fk-trg ' || c.relname || ' ' || t.tgenabled::text || ' ' || t.tgfoid::regproc::text
    ELSE 'trg ' || t.tgname || ' ' || t.tgenabled::text || ' ' || pg_get_triggerdef(t.oid) END
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = :ns
UNION ALL SELECT 'fun ' || pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = :ns
UNION ALL SELECT 'typ ' || t.typname || ' ' || t.typtype::text
  FROM pg_type t WHERE t.typnamespace = :ns
UNION ALL SELECT 'enum ' || t.typname || ' ' || e.enumlabel
  FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = :ns
UNION ALL SELECT 'seq ' || s.sequencename || ' ' || s.start_value || ' '
    || coalesce(s.last_value::text, 'unused')
  FROM pg_sequences s WHERE s.schemaname = :name
"""


class PostgresSchemas:
    """This session's schemas on one PostgreSQL server, reused from test to test (see above)."""

    def __init__(self, admin: Engine, base_url: str) -> None:
        self._admin = admin
        self._base = make_url(base_url)
        self._tag = f"gbo_t{os.getpid()}_{uuid.uuid4().hex[:6]}"  # unique per session
        self._idle: dict[Kind, list[str]] = {kind: [] for kind in KINDS}
        self._catalogue: dict[Kind, str] = {}
        self._seeds: dict[Kind, tuple[str, list[str]]] = {}  # seed schema, its tables
        self._made: list[str] = []
        self._built = 0
        with admin.connect() as conn:
            self._can_empty = bool(conn.execute(text(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar())

    def url(self, schema: str) -> str:
        return self._base.update_query_dict({
            "options": f"-csearch_path={schema}", "application_name": self._tag,
        }).render_as_string(hide_password=False)

    @contextmanager
    def fresh(self, kind: Kind) -> Iterator[str]:
        """A schema of ``kind`` for one test; its URL. Emptied or dropped afterwards."""
        schema = self._idle[kind].pop() if self._idle[kind] else self._build(kind)
        yield self.url(schema)
        if self._is_like_new(kind, schema):
            self._idle[kind].append(schema)
        else:
            self._drop(schema)

    def close(self) -> None:
        """Drop every schema this session made (ending any connection a test left open)."""
        with self._admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = :tag AND pid <> pg_backend_pid()"),
                         {"tag": self._tag})
            for schema in self._made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self._made.clear()

    def _build(self, kind: Kind) -> str:
        self._built += 1
        schema = f"{self._tag}_{self._built}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self._made.append(schema)
        BUILDERS[kind](self.url(schema))
        catalogue = self._read_catalogue(schema)
        # Every build of a kind is the same database; a difference is a bug in the migrations.
        assert self._catalogue.setdefault(kind, catalogue) == catalogue, schema
        if kind not in self._seeds:
            self._keep_seed(kind, schema)
        return schema

    def _keep_seed(self, kind: Kind, schema: str) -> None:
        """Copy the rows the build of ``kind`` wrote into a seed schema, to give back after
        each emptying (the tables are created by the copy, without the build's constraints)."""
        seed = f"{self._tag}_seed_{kind}"
        tables: list[str] = []
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{seed}"'))
            self._made.append(seed)
            for (table,) in conn.execute(text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = :s "
                    "AND tablename <> 'alembic_version' ORDER BY tablename"), {"s": schema}).all():
                if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}")')  # noqa: S608 - catalogue
                                ).scalar():
                    conn.execute(text(f'CREATE TABLE "{seed}"."{table}" AS '  # noqa: S608
                                      f'SELECT * FROM "{schema}"."{table}"'))
                    tables.append(table)
        self._seeds[kind] = (seed, tables)

    def _is_like_new(self, kind: Kind, schema: str) -> bool:
        if not self._can_empty:
            return False  # emptying tables past the append-only triggers needs a superuser
        try:
            with self._transaction() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                # Past the triggers (the log's append-only rules) and foreign keys, for this
                # transaction only: nothing else writes to this schema now.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for (table,) in conn.execute(text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :s "
                        "AND tablename <> 'alembic_version'"), {"s": schema}).all():
                    conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))  # noqa: S608 - catalogue
                seed, seeded = self._seeds.get(kind, ("", []))
                for table in seeded:
                    conn.execute(text(f'INSERT INTO "{schema}"."{table}" '  # noqa: S608
                                      f'SELECT * FROM "{seed}"."{table}"'))
                conn.execute(text(  # as new: the next value is the first one
                    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, "
                    "false) FROM pg_sequences WHERE schemaname = :s"), {"s": schema})
                return self.catalogue_of(conn, schema) == self._catalogue[kind]
        except SQLAlchemyError:
            return False

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One transaction (the admin engine autocommits, where ``SET LOCAL`` does nothing)."""
        committing = self._admin.execution_options(isolation_level="READ COMMITTED")
        with committing.connect() as conn, conn.begin():
            yield conn

    def _read_catalogue(self, schema: str) -> str:
        with self._admin.connect() as conn:
            return self.catalogue_of(conn, schema)

    @staticmethod
    def catalogue_of(conn: Connection, schema: str) -> str:
        ns = conn.execute(text("SELECT oid FROM pg_namespace WHERE nspname = :s"),
                          {"s": schema}).scalar_one()
        rows = [r[0].replace(f'"{schema}".', "").replace(f"{schema}.", "")
                for r in conn.execute(text(_CATALOGUE), {"ns": ns, "name": schema})]
        if conn.execute(text("SELECT 1 FROM pg_tables WHERE schemaname = :s "
                             "AND tablename = 'alembic_version'"), {"s": schema}).first():
            rows += [f"alembic {v}" for (v,) in conn.execute(
                text(f'SELECT version_num FROM "{schema}".alembic_version'))]  # noqa: S608
        return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()

    def _drop(self, schema: str) -> None:
        try:
            with self._transaction() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            self._made.remove(schema)
        except SQLAlchemyError:
            pass  # a connection the test left open holds it: ``close`` ends it and drops it


def copy_rows(source: Engine, target: Engine) -> None:
    """Every row of ``source`` (but ``alembic_version``) into the same tables of ``target``, as
    migrated: to give each test its own copy of data that is costly to make. The rows the
    migrations wrote in ``target`` (the stored padding of migration 0012) are in ``source``
    too: they are replaced."""
    tables = MetaData()
    tables.reflect(source)
    with source.connect() as src, target.begin() as dst:
        for table in reversed(tables.sorted_tables):  # dependants first
            if table.name != "alembic_version" and dst.execute(
                    select(table).limit(1)).first() is not None:
                dst.execute(table.delete())
        for table in tables.sorted_tables:
            if table.name == "alembic_version":
                continue
            rows = [dict(row._mapping) for row in src.execute(table.select())]
            if rows:
                dst.execute(table.insert(), rows)
