"""The log in a SQL database: sequencing, durable appends, proofs and checkpoints.

One global order without gaps or duplicates, also with several processes (DESIGN §7): every
append batch runs in one write transaction that first takes the log's write lock — ``BEGIN
IMMEDIATE`` on SQLite, a transaction-level advisory lock on PostgreSQL — then reads the current
size, so two writers can never assign the same index. ``append_batch`` returns only after COMMIT,
which is durable (SQLite ``synchronous=FULL``; PostgreSQL's default ``synchronous_commit=on``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    Integer,
    and_,
    create_engine,
    event,
    false,
    func,
    insert,
    or_,
    select,
    text,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from audit.entry import INDEXED_FIELDS, StoredLeaf, encode_leaf, index_columns, stored_flag
from audit.errors import AuditError, MissingNodeError, ProofRequestError
from audit.merkle import CompactRange, NodeKey, fold, leaf_hash
from audit.plan import consistency_plan, frontier_keys, inclusion_plan, materialize, plan_keys
from audit.schema import audit_checkpoint, audit_cosignature, audit_leaf, audit_node

# Any constant works; it only has to be the same in every process writing this log.
PG_ADVISORY_LOCK_KEY = 0x6762_6F61  # "gboa"


class AuditStoreError(AuditError):
    """The database refused or failed an operation on the log (wraps the driver's error)."""

    code = "audit_store_unavailable"


@dataclass(frozen=True)
class Appended:
    """Where an entry landed: its index and RFC 6962 leaf hash, durable when returned."""

    index: int
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    signed_at: str


@dataclass(frozen=True)
class StoredCosignature:
    """A witness's cosignature of the checkpoint of ``size`` (C2SP tlog-cosignature):
    ``witness`` is its public key (base64), ``line`` the signature line to append to the note."""

    size: int
    root: bytes
    witness: str
    name: str
    timestamp: int
    line: str
    received_at: str


def writer_engine(url: str) -> Engine:
    """A dedicated engine for the log writer, with the locking and durability appends need."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Take the write lock before reading the size: no other writer can slip in between.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)


class AuditStore:
    """Reads and writes of one log. ``append_batch`` needs the engine from :func:`writer_engine`
    (or any engine whose transactions start with the write lock); reads use any engine."""

    def __init__(self, engine: Engine, *, writer: Engine | None = None) -> None:
        self._engine = engine
        self._writer = writer
        self._range: CompactRange | None = None  # cached frontier; reloaded when stale

    # --- writing ---------------------------------------------------------------------------

    def append_batch(self, entries: Sequence[Mapping[str, Any]]) -> list[Appended]:
        """Append ``entries`` in order in one durable transaction; each leaf gets its ``index``.

        Raises ``AuditStoreError`` (nothing appended) if the database fails.
        """
        if self._writer is None:
            raise AuditStoreError("this store was opened read-only")
        dbapi_error = self._writer.dialect.loaded_dbapi.Error
        try:
            with self._writer.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_ADVISORY_LOCK_KEY}
                    )
                # The size and the inserts go straight to the driver, in the transaction
                # begun above: every request waits for its batch, and SQLAlchemy's statement
                # handling was most of a batch's CPU outside the commit (bench/audit_append.py).
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    sql = _WRITE_SQL[conn.dialect.paramstyle]
                    cursor.execute(sql.size)
                    last = cursor.fetchone()[0]
                    size = 0 if last is None else int(last) + 1
                    cr = self._range if self._range and self._range.size == size else None
                    cr = cr or _load_range(conn, size)
                    self._range = None  # until committed, the cache is not trusted
                    leaves: list[tuple[Any, ...]] = []
                    nodes: list[tuple[int, int, bytes]] = []
                    results = []
                    for offset, entry in enumerate(entries):
                        index = size + offset
                        leaf = encode_leaf({**entry, "index": index})
                        lh = leaf_hash(leaf)
                        leaves.append((index, leaf, *index_columns(entry)))
                        nodes += [(lv, ix, h) for (lv, ix), h in cr.append(lh)]
                        results.append(Appended(index=index, leaf_hash=lh))
                    cursor.executemany(sql.leaves, leaves)
                    cursor.executemany(sql.nodes, nodes)
                finally:
                    cursor.close()
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"append failed: {type(exc).__name__}") from exc
        except Exception as exc:
            if isinstance(exc, dbapi_error):
                raise AuditStoreError(f"append failed: {type(exc).__name__}") from exc
            raise
        self._range = cr
        return results

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> bool:
        """Store a signed checkpoint; False if one for that size exists already."""
        try:
            with self._engine.begin() as conn:
                exists = conn.execute(
                    select(audit_checkpoint.c.size).where(
                        audit_checkpoint.c.size == checkpoint.size
                    )
                ).first()
                if exists:
                    return False
                conn.execute(insert(audit_checkpoint).values(**vars(checkpoint)))
        except IntegrityError:
            return False  # another process stored this size between our check and insert
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"storing a checkpoint failed: {type(exc).__name__}") from exc
        return True

    def add_cosignature(self, cosignature: StoredCosignature) -> bool:
        """Store a verified cosignature; False if this one is stored already."""
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(audit_cosignature).values(**vars(cosignature)))
        except IntegrityError:
            return False
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"storing a cosignature failed: {type(exc).__name__}") from exc
        return True

    # --- reading ---------------------------------------------------------------------------

    def cosignatures(self, size: int | None = None) -> list[StoredCosignature]:
        """Stored cosignatures (of the checkpoint of ``size``, or all), oldest first."""
        c = audit_cosignature.c
        query = select(audit_cosignature).order_by(c.size, c.timestamp)
        if size is not None:
            query = query.where(c.size == size)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [StoredCosignature(size=r.size, root=bytes(r.root), witness=r.witness,
                                  name=r.name, timestamp=r.timestamp, line=r.line,
                                  received_at=r.received_at) for r in rows]

    def witnessed_size(self, witness: str) -> int | None:
        """The largest size ``witness`` (public key, base64) cosigned, per the stored lines."""
        c = audit_cosignature.c
        with self._engine.connect() as conn:
            found = conn.execute(select(func.max(c.size)).where(c.witness == witness)).scalar()
        return None if found is None else int(found)

    def newest_cosigned(self, witnesses: Sequence[str], quorum: int) -> int | None:
        """The largest checkpoint size cosigned by at least ``quorum`` of ``witnesses``
        (public keys, base64), per the stored cosignatures."""
        if not witnesses or quorum < 1:
            return None
        c = audit_cosignature.c
        query = (select(c.size).where(c.witness.in_(list(witnesses))).group_by(c.size)
                 .having(func.count(func.distinct(c.witness)) >= quorum)
                 .order_by(c.size.desc()).limit(1))
        with self._engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else int(found)

    def node_range(self, level: int, start: int, end: int) -> list[bytes]:
        """The stored hashes of nodes ``(level, start)`` .. ``(level, end - 1)`` in order (a
        C2SP tile). Raises ``MissingNodeError`` if one is missing."""
        node = audit_node.c
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(node.idx, node.hash)
                .where(node.level == level, node.idx >= start, node.idx < end)
                .order_by(node.idx)
            ).all()
        if [row[0] for row in rows] != list(range(start, end)):
            raise MissingNodeError(f"stored tree lacks nodes at level {level} in [{start}, {end})",
                                   key=(level, start))
        return [bytes(row[1]) for row in rows]

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(audit_checkpoint).where(audit_checkpoint.c.size == size)
            ).first()
        return _checkpoint(row) if row else None

    def size(self) -> int:
        with self._engine.connect() as conn:
            return _size(conn)

    def root(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` leaves, from O(log n) stored nodes."""
        with self._engine.connect() as conn:
            return fold(_node_hashes_in_order(conn, frontier_keys(size)))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 audit path of leaf ``index`` in the tree of ``size`` (``size`` <= log size)."""
        return self._proof(inclusion_plan(index, size), size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._proof(consistency_plan(old_size, new_size), new_size)

    def _proof(self, plan: tuple[tuple[NodeKey, ...], ...], size: int) -> list[bytes]:
        with self._engine.connect() as conn:
            current = _size(conn)
            if size > current:
                raise ProofRequestError(f"the log has {current} entries, fewer than {size}")
            return materialize(plan, _node_hashes(conn, plan_keys(plan)))

    def leaf(self, index: int) -> StoredLeaf | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(*_LEAF_COLUMNS).where(audit_leaf.c.idx == index)
            ).first()
        return _stored(row) if row else None

    def iter_leaves(self, start: int = 0, *, batch: int = 5000,
                    columns: bool = False) -> Iterator[StoredLeaf]:
        """Every leaf from ``start`` in index order, ``batch`` rows per query (constant memory);
        with ``columns``, each with its stored query columns."""
        position = start
        selected = _LEAF_COLUMNS if columns else (audit_leaf.c.idx, audit_leaf.c.leaf)
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(*selected)
                    .where(audit_leaf.c.idx >= position)
                    .order_by(audit_leaf.c.idx)
                    .limit(batch)
                ).all()
            for row in rows:
                if columns:
                    yield _stored(row)
                else:
                    yield StoredLeaf(index=row[0], leaf=bytes(row[1]))
            if len(rows) < batch:
                return
            position = rows[-1].idx + 1

    def iter_leaf_hashes(self, start: int = 0, *, batch: int = 5000) -> Iterator[tuple[int, bytes]]:
        """The stored level-0 node hashes from ``start``, in index order."""
        return self.iter_level_hashes(0, start, batch=batch)

    def iter_level_hashes(self, level: int, start: int = 0, *,
                          batch: int = 5000) -> Iterator[tuple[int, bytes]]:
        """The stored subtree hashes ``(idx, hash)`` of ``level`` from index ``start``, in index
        order, read in pages of ``batch`` along the primary key. Ends at the last row stored
        when its page is read (a growing log's newer nodes may be left out)."""
        # A plain statement: no result processing per row, which is most of the time here.
        query = text("SELECT idx, hash FROM audit_node WHERE level = :level AND idx >= :start "
                     "ORDER BY idx LIMIT :batch")
        position = start
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(query, {"level": level, "start": position,
                                            "batch": batch}).all()
            for idx, node in rows:  # plain unpacking: attribute access per row is slow here
                yield idx, bytes(node)
            if len(rows) < batch:
                return
            position = rows[-1][0] + 1

    def iter_leaf_rows(self, start: int = 0, *, batch: int = 10_000,
                       columns: bool = False) -> Iterator[list[tuple[Any, ...]]]:
        """Every leaf from ``start`` in index order, as pages of ``batch`` plain tuples
        ``(idx, leaf)``, with ``columns`` followed by the stored query columns in
        ``INDEXED_FIELDS`` order, the flag as stored (``audit.verify.LeafRow``). Read straight
        from the driver: whole-log verification is bound by what is done per row."""
        names = ", ".join(("idx", "leaf", *INDEXED_FIELDS)) if columns else "idx, leaf"
        query = f"SELECT {names} FROM audit_leaf WHERE idx >= %s ORDER BY idx LIMIT %s"  # noqa: S608
        position = start
        while True:
            rows = self._plain(query, (position, batch))
            if rows:
                yield rows
            if len(rows) < batch:
                return
            position = rows[-1][0] + 1

    def node_rows(self, level: int, start: int, end: int) -> list[tuple[int, bytes]]:
        """The stored subtree hashes ``(idx, hash)`` of ``level`` with ``start <= idx < end``, in
        index order (one range of the primary key; missing nodes are simply absent)."""
        return self._plain("SELECT idx, hash FROM audit_node WHERE level = %s AND idx >= %s "
                           "AND idx < %s ORDER BY idx", (level, start, end))

    def _plain(self, query: str, params: tuple[int, ...]) -> list[tuple[Any, ...]]:
        """Rows of ``query`` (``%s`` placeholders) as the driver's plain tuples: no result
        processing per row (bytes for BLOB/bytea from sqlite3 and psycopg alike)."""
        try:
            with self._engine.connect() as conn:
                if conn.dialect.paramstyle == "qmark":
                    query = query.replace("%s", "?")
                driver: Any = conn.connection.driver_connection
                cursor = driver.cursor()
                try:
                    cursor.execute(query, params)
                    rows: list[tuple[Any, ...]] = cursor.fetchall()
                finally:
                    cursor.close()
        except SQLAlchemyError as exc:
            raise AuditStoreError(f"reading the log failed: {type(exc).__name__}") from exc
        except Exception as exc:
            if isinstance(exc, self._engine.dialect.loaded_dbapi.Error):
                raise AuditStoreError(f"reading the log failed: {type(exc).__name__}") from exc
            raise
        return rows

    def find_leaves(
        self,
        *,
        network: str | None = None,
        partner: str | None = None,
        clients: Sequence[tuple[str, str]] | None = None,
        kind_prefix: str | None = None,
        time_from: str | None = None,
        time_to: str | None = None,
        after: int | None = None,
        break_glass: bool | None = None,
        limit: int = 100,
    ) -> list[StoredLeaf]:
        """Leaves matching every given filter, in index order after index ``after``.

        ``clients`` is a list of (network, pseudonym); ``time_from``/``time_to`` are RFC 3339 UTC
        strings in the log's fixed format (inclusive / exclusive).
        """
        c = audit_leaf.c
        query = select(*_LEAF_COLUMNS).order_by(c.idx).limit(limit)
        # DESIGN §7 (O(k) for a client's log): SQLite, without statistics, prefers the
        # (network, idx) index, which also gives the order, to the far more selective
        # (client, idx) one: with 10^6 leaves a client's access log took seconds. With clients
        # given, the network is compared as ``network || ''``, which no index serves.
        net = c.network.concat("") if clients else c.network
        if network is not None:
            query = query.where(net == network)
        if partner is not None:
            query = query.where(c.partner == partner)
        if clients is not None:
            # One equality pair per client, OR-ed (as in _node_hashes): SQLite then uses the
            # client index; the row-value IN form made it walk and sort the whole network.
            query = query.where(
                or_(*(and_(net == n, c.client == r) for n, r in clients)) if clients
                else false()
            )
        if kind_prefix is not None:
            # whole dotted segments: "consent" is consent.* (and consent), not consent_request.*
            query = query.where(
                c.kind.startswith(kind_prefix, autoescape=True) if kind_prefix.endswith(".")
                else or_(c.kind == kind_prefix,
                         c.kind.startswith(kind_prefix + ".", autoescape=True)))
        if time_from is not None:
            query = query.where(c.time >= time_from)
        if time_to is not None:
            query = query.where(c.time < time_to)
        if after is not None:
            query = query.where(c.idx > after)
        if break_glass is not None:
            query = query.where(c.break_glass == break_glass)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_stored(row) for row in rows]

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(audit_checkpoint).order_by(audit_checkpoint.c.size.desc()).limit(1)
            ).first()
        return _checkpoint(row) if row else None

    def checkpoints(self) -> list[StoredCheckpoint]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(audit_checkpoint).order_by(audit_checkpoint.c.size)).all()
        return [_checkpoint(row) for row in rows]


# The flag is read as stored (SQLite keeps an integer; a forged 2 must not read as True).
_LEAF_COLUMNS = (audit_leaf.c.idx, audit_leaf.c.leaf,
                 *(audit_leaf.c[name] for name in INDEXED_FIELDS[:-1]),
                 type_coerce(audit_leaf.c.break_glass, Integer).label("break_glass"))


def _stored(row: Any) -> StoredLeaf:
    """A leaf row read with ``_LEAF_COLUMNS``: its bytes and its stored query columns."""
    stored = (*row[2:-1], stored_flag(row[-1]))
    return StoredLeaf(index=row[0], leaf=bytes(row[1]), columns=stored)


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        size=row.size, root=bytes(row.root), note=row.note, signed_at=row.signed_at
    )


@dataclass(frozen=True)
class _WriteSQL:
    size: str
    leaves: str
    nodes: str

    def for_driver(self, paramstyle: str) -> _WriteSQL:
        """These statements with the driver's placeholder (``%s``, or ``?`` for sqlite3)."""
        if paramstyle != "qmark":
            return self
        return _WriteSQL(*(sql.replace("%s", "?") for sql in (self.size, self.leaves,
                                                                self.nodes)))


# A leaf row is (idx, leaf, *index_columns(entry)): INDEXED_FIELDS in that order.
_WRITE = _WriteSQL(
    size="SELECT max(idx) FROM audit_leaf",
    leaves="INSERT INTO audit_leaf (idx, leaf, kind, time, network, partner, client, break_glass)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
    nodes="INSERT INTO audit_node (level, idx, hash) VALUES (%s, %s, %s)",
)
_WRITE_SQL = {style: _WRITE.for_driver(style) for style in ("qmark", "format", "pyformat")}


def _size(conn: Connection) -> int:
    last = conn.execute(select(func.max(audit_leaf.c.idx))).scalar_one()
    return 0 if last is None else int(last) + 1


def _node_hashes(conn: Connection, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
    if not keys:
        return {}
    node = audit_node.c
    # One (level, idx) equality pair per key, OR-ed: SQLite (MULTI-INDEX OR) and PostgreSQL
    # (BitmapOr) look each up in the primary key. The row-value form (level, idx) IN (VALUES ...)
    # made SQLite scan the whole table, so proofs grew O(n) (bench/audit_proofs.py).
    match = or_(*(and_(node.level == level, node.idx == idx) for level, idx in keys))
    rows = conn.execute(select(node.level, node.idx, node.hash).where(match)).all()
    return {(row.level, row.idx): bytes(row.hash) for row in rows}


def _node_hashes_in_order(conn: Connection, keys: Sequence[NodeKey]) -> list[bytes]:
    found = _node_hashes(conn, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        raise MissingNodeError(f"stored tree lacks node {missing[0]}", key=missing[0])
    return [found[k] for k in keys]


def _load_range(conn: Connection, size: int) -> CompactRange:
    """Resume the accumulator at ``size`` from the stored frontier (O(log n) rows)."""
    if size == 0:
        return CompactRange()
    return CompactRange.from_frontier(size, _node_hashes_in_order(conn, frontier_keys(size)))
