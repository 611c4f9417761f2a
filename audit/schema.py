"""The log's tables (SQLAlchemy Core) and the database rules that keep them append-only.

DESIGN §7: append-only is enforced by the database as well as the code. SQLite gets ``BEFORE
UPDATE`` / ``BEFORE DELETE`` triggers that abort; PostgreSQL gets row triggers for UPDATE and
DELETE and a statement trigger for TRUNCATE, all raising an error.

- ``audit_leaf``: one row per entry: ``idx`` (0-based, gap-free), ``leaf`` (the RFC 8785 bytes that
  are hashed) and a few columns copied from the leaf for indexed queries.
- ``audit_node``: every complete subtree hash ``(level, idx)``, level 0 being the leaf hashes,
  written as leaves complete them (``audit.merkle.CompactRange.append``): any proof reads O(log n)
  rows of it.
- ``audit_checkpoint``: every signed checkpoint (C2SP signed note), by tree size.
- ``audit_cosignature``: every witness cosignature (C2SP tlog-cosignature line) received for a
  checkpoint, by size, witness key and timestamp (DESIGN §9). Append-only like the others; its
  own ``MetaData`` because migration 0002 creates whatever ``metadata`` holds.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

audit_leaf = Table(
    "audit_leaf",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf", LargeBinary, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("time", String(40), nullable=False),  # RFC 3339 UTC, fixed width: sorts as it reads
    Column("network", String(64), nullable=True),
    Column("partner", String(64), nullable=True),
    Column("client", String(64), nullable=True),  # the client's pseudonym, never an INSZ
    Column("break_glass", Boolean, nullable=False, default=False),
    Index("ix_audit_leaf_partner_idx", "partner", "idx"),
    Index("ix_audit_leaf_network_idx", "network", "idx"),
    Index("ix_audit_leaf_client_idx", "client", "idx"),
    Index("ix_audit_leaf_kind_idx", "kind", "idx"),
)

audit_node = Table(
    "audit_node",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

audit_checkpoint = Table(
    "audit_checkpoint",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", String(40), nullable=False),
)

LOG_TABLES = ("audit_leaf", "audit_node", "audit_checkpoint")

cosignature_metadata = MetaData()

audit_cosignature = Table(
    "audit_cosignature",
    cosignature_metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(88), primary_key=True),  # the witness's public key, base64
    Column("timestamp", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("name", String(255), nullable=False),  # the witness's key name
    Column("line", Text, nullable=False),  # the signature line, as appended to the note
    Column("received_at", String(40), nullable=False),
)


def cosignature_table_ddl(dialect: str) -> list[str]:
    """Append-only rules for ``audit_cosignature`` (migration 0006), with their own PostgreSQL
    function so that migration 0002's rules stay independent of them."""
    table, keys = "audit_cosignature", ("size", "witness", "timestamp")
    if dialect == "sqlite":
        match = " AND ".join(f"{k} = NEW.{k}" for k in keys)
        return [
            *(f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
              f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
              for op in ("UPDATE", "DELETE")),
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {match}) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            "CREATE FUNCTION gbo_audit_cosignature_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% is append-only (% refused)', "
            "TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege'; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION gbo_audit_cosignature_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gbo_audit_cosignature_append_only()",
        ]
    raise ValueError(f"append-only rules are defined for sqlite and postgresql, not {dialect}")


def drop_cosignature_table_ddl(dialect: str) -> list[str]:
    table = "audit_cosignature"
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {table}_no_{op}"
                for op in ("update", "delete", "replace")]
    return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            "DROP FUNCTION IF EXISTS gbo_audit_cosignature_append_only()"]


def append_only_ddl(dialect: str) -> list[str]:
    """Statements that make every log table refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL).

    Raises ``ValueError`` for a database other than SQLite or PostgreSQL.
    """
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            for table in LOG_TABLES
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        statements = [
            "CREATE FUNCTION gbo_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        ]
        for table in LOG_TABLES:
            statements += [
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION gbo_audit_append_only()",
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION gbo_audit_append_only()",
            ]
        return statements
    raise ValueError(f"append-only rules are defined for sqlite and postgresql, not {dialect}")


_KEYS = {"audit_leaf": ("idx",), "audit_node": ("level", "idx"), "audit_checkpoint": ("size",)}


def no_replace_ddl(dialect: str) -> list[str]:
    """SQLite only: refuse an INSERT whose key exists. ``INSERT OR REPLACE`` deletes the old row
    without firing DELETE triggers (recursive triggers are off), so the append-only triggers alone
    do not stop it. PostgreSQL needs nothing: its upsert is an UPDATE, which the row trigger
    refuses."""
    if dialect != "sqlite":
        return []
    statements = []
    for table, keys in _KEYS.items():
        match = " AND ".join(f"{k} = NEW.{k}" for k in keys)
        statements.append(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608 - constants
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {match}) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )
    return statements


def drop_no_replace_ddl(dialect: str) -> list[str]:
    if dialect != "sqlite":
        return []
    return [f"DROP TRIGGER IF EXISTS {table}_no_replace" for table in _KEYS]


def drop_append_only_ddl(dialect: str) -> list[str]:
    """The inverse of :func:`append_only_ddl` (migrations' downgrade; tamper tests)."""
    if dialect == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {table}_no_{op.lower()}"
            for table in LOG_TABLES
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        statements = []
        for table in LOG_TABLES:
            statements += [
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
                f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            ]
        return [*statements, "DROP FUNCTION IF EXISTS gbo_audit_append_only()"]
    raise ValueError(f"append-only rules are defined for sqlite and postgresql, not {dialect}")


def create_log_tables(conn: Connection) -> None:
    """The log's tables with every database rule the migrations give them (0002, 0004, 0006):
    for benchmarks and tests that use the log without the broker's migrations."""
    metadata.create_all(conn)
    cosignature_metadata.create_all(conn)
    for statement in (append_only_ddl(conn.dialect.name) + no_replace_ddl(conn.dialect.name)
                      + cosignature_table_ddl(conn.dialect.name)):
        conn.execute(text(statement))
