"""A running transparency log: durable group-committed appends plus signed checkpoints.

DESIGN §7: while the log grows a new checkpoint is signed at least every
``checkpoint_interval`` seconds (a background thread), and on demand (:meth:`checkpoint_now`).
Several processes may run one each on the same database: checkpoints are keyed by size, so two
processes signing the same size store it once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from audit.checkpoint import Checkpoint, format_checkpoint, sign_checkpoint
from audit.entry import format_time
from audit.errors import AuditError, CheckpointError
from audit.keys import Ed25519Signer
from audit.note import sign_note
from audit.store import Appended, AuditStore, AuditStoreError, StoredCheckpoint, writer_engine
from audit.writer import DEFAULT_MAX_PENDING, GroupCommitWriter, WriterStats


class TransparencyLog:
    def __init__(
        self,
        *,
        engine: Engine,
        signer: Ed25519Signer,
        signer_source: Callable[[], Ed25519Signer] | None = None,
        max_batch: int = 512,
        max_wait: float = 0.0,
        max_pending: int = DEFAULT_MAX_PENDING,
        checkpoint_interval: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._writer_engine = writer_engine(engine.url.render_as_string(hide_password=False))
        self.store = AuditStore(engine, writer=self._writer_engine)
        self._signer = signer
        # DESIGN §7 key rotation: where the current signing key is looked up before each
        # checkpoint (a watched key file), so a rotated key is used without a restart.
        self._signer_source = signer_source
        self._clock = clock
        self._writer = GroupCommitWriter(
            self.store, max_batch=max_batch, max_wait=max_wait, max_pending=max_pending
        )
        self._stop = threading.Event()
        self._sign_lock = threading.Lock()
        self._interval = checkpoint_interval
        self._checkpointer: threading.Thread | None = None
        if checkpoint_interval > 0:
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="audit-checkpointer", daemon=True
            )
            self._checkpointer.start()

    @property
    def signer(self) -> Ed25519Signer:
        """The log's signing key now (after a rotation: the new one)."""
        if self._signer_source is not None:
            self._signer = self._signer_source()
        return self._signer

    @property
    def origin(self) -> str:
        return self.signer.name

    @property
    def verifier_key(self) -> str:
        """The note-verifier key string ``name+hash+base64`` (C2SP signed-note)."""
        return self.signer.verifier.key_string()

    @property
    def writer_stats(self) -> WriterStats:
        return self._writer.stats

    def submit(self, entry: Mapping[str, Any]) -> Future[Appended]:
        """Queue one entry (``GroupCommitWriter.submit``): the future resolves once it is
        durable. Raises ``AuditPushback`` (too many entries waiting) or ``AuditWriterClosed``."""
        return self._writer.submit(entry)

    def append(self, entry: Mapping[str, Any], timeout: float | None = None) -> Appended:
        """Append one entry; returns once it is durable (``GroupCommitWriter.append``). Raises
        ``AuditPushback`` at once when too many entries are waiting, ``AuditTimeout`` (withdrawn
        if not yet taken), ``AuditStoreError`` or ``AuditWriterClosed``."""
        return self._writer.append(entry, timeout)

    def checkpoint_now(self) -> StoredCheckpoint:
        """Sign the current tree unless the newest stored checkpoint already covers it.

        Raises ``AuditStoreError`` when the database fails.
        """
        with self._sign_lock:
            try:
                size = self.store.size()
                latest = self.store.latest_checkpoint()
                if latest is not None and latest.size >= size:
                    return latest
                root = self.store.root(size)
            except SQLAlchemyError as exc:
                raise AuditStoreError(f"reading the tree failed: {type(exc).__name__}") from exc
            signer = self.signer
            note = sign_checkpoint(signer.name, size, root, signer)
            stored = StoredCheckpoint(
                size=size, root=root, note=note, signed_at=format_time(self._clock())
            )
            self.store.add_checkpoint(stored)
            return stored

    def checkpoint_signed_by(self, signers: Sequence[Ed25519Signer]) -> StoredCheckpoint:
        """Sign the current tree with every one of ``signers`` (a key rotation's handover: the
        old key and the new one sign one checkpoint, so a verifier that trusts either can
        follow it) and store it, unless a checkpoint of that size is stored already: then that
        one is returned. The signers must all carry the log's name (the origin).

        Raises ``AuditStoreError`` when the database fails, ``CheckpointError`` for a signer
        of another name.
        """
        with self._sign_lock:
            try:
                size = self.store.size()
                root = self.store.root(size)
            except SQLAlchemyError as exc:
                raise AuditStoreError(f"reading the tree failed: {type(exc).__name__}") from exc
            origin = signers[0].name
            if any(s.name != origin for s in signers):
                raise CheckpointError("every signer of a checkpoint must carry the log's name")
            note = sign_note(format_checkpoint(Checkpoint(origin, size, root)), signers)
            stored = StoredCheckpoint(
                size=size, root=root, note=note, signed_at=format_time(self._clock())
            )
            if self.store.add_checkpoint(stored):
                return stored
            return self.store.checkpoint(size) or stored

    def latest_checkpoint(self) -> StoredCheckpoint:
        """The newest signed checkpoint, signing one first if there is none yet."""
        return self.store.latest_checkpoint() or self.checkpoint_now()

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint_now()
            except AuditError:
                continue  # the database is away; the next round tries again

    def close(self) -> None:
        self._stop.set()
        self._writer.close()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
        self._writer_engine.dispose()
