"""Group commit (DESIGN §7): concurrent appends share one durable transaction.

Callers hand an entry to :meth:`GroupCommitWriter.submit` and wait on the returned future. One
writer thread takes everything queued — up to ``max_batch`` entries, waiting at most ``max_wait``
seconds for more once it holds one — and appends the batch in one transaction. The future resolves
with the entry's index and leaf hash only after COMMIT, so a caller that got an answer can rely on
the entry surviving a crash. With ``max_wait=0`` a lone append pays no extra latency: batches form
from whatever arrived while the previous commit was running.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from audit.errors import AuditError
from audit.store import Appended, AuditStore


class AuditWriterClosed(AuditError):
    code = "audit_writer_closed"


@dataclass
class _Pending:
    entry: Mapping[str, Any]
    future: Future[Appended] = field(default_factory=Future)


@dataclass
class WriterStats:
    batches: int = 0
    entries: int = 0
    largest_batch: int = 0


class GroupCommitWriter:
    def __init__(self, store: AuditStore, *, max_batch: int = 512, max_wait: float = 0.0) -> None:
        if max_batch < 1 or max_wait < 0:
            raise ValueError("max_batch must be >= 1 and max_wait >= 0")
        self._store = store
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, entry: Mapping[str, Any]) -> Future[Appended]:
        """Queue ``entry``; the future resolves once it is durably appended, or raises the store's
        error (``AuditStoreError``) if its batch failed: then nothing of that batch was stored."""
        pending = _Pending(entry)
        with self._lock:
            if self._closed:
                raise AuditWriterClosed("the audit writer is closed")
            self._queue.put(pending)
        return pending.future

    def append(self, entry: Mapping[str, Any], timeout: float | None = None) -> Appended:
        """Append and wait until durable. Raises what :meth:`submit`'s future raises, or
        ``TimeoutError``."""
        return self.submit(entry).result(timeout)

    def close(self, timeout: float | None = 10) -> None:
        """Finish what is queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)

    def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        batch, stop = [first], False
        deadline = time.monotonic() + self._max_wait
        while len(batch) < self._max_batch:
            try:
                remaining = deadline - time.monotonic()
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
        return batch, stop

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            live = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self._store.append_batch([p.entry for p in live])
            except BaseException as exc:  # noqa: BLE001 - every waiter must learn of the failure
                for pending in live:
                    pending.future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.entries += len(live)
            self.stats.largest_batch = max(self.stats.largest_batch, len(live))
            for pending, result in zip(live, results, strict=True):
                pending.future.set_result(result)
