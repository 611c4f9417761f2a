"""Group commit (DESIGN §7): concurrent appends share one durable transaction.

Callers hand an entry to :meth:`GroupCommitWriter.submit` and wait on the returned future. One
writer thread takes everything queued — up to ``max_batch`` entries, waiting at most ``max_wait``
seconds for more once it holds one — and appends the batch in one transaction. The future resolves
with the entry's index and leaf hash only after COMMIT, so a caller that got an answer can rely on
the entry surviving a crash. With ``max_wait=0`` a lone append pays no extra latency: batches form
from whatever arrived while the previous commit was running.

Under pressure (a slow or stalled database):

- **Push-back.** At most ``max_pending`` entries are outstanding: accepted and not yet committed,
  failed or dropped (queued, cancelled but not yet dropped, or in the batch being committed). A
  submit beyond that raises ``AuditPushback`` at once and queues nothing, as Tessera's
  ``WithPushback`` does: the caller refuses its own request quickly (the broker: 503 with
  ``Retry-After``) instead of waiting behind a backlog it cannot outrun, and memory stays bounded
  however long the database is away.
- **Giving up.** :meth:`GroupCommitWriter.append` that times out cancels its entry if the writer has
  not taken it yet: it is dropped, never written, and ``AuditTimeout.withdrawn`` is True. If the
  writer already took it into a batch, it is written with that batch (``withdrawn`` False). That
  is right: the batch is one transaction whose other entries have callers still waiting, and
  taking one entry out would mean failing or rewriting theirs; the extra entry records a decision
  that was made but whose answer never reached its caller. Audit-before-release (DESIGN §6) says
  nothing is released without a durable entry, never that every entry was followed by a release:
  the caller got an error and released nothing, which the log then over-reports, safely.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from audit.errors import AuditPushback, AuditTimeout, AuditWriterClosed
from audit.store import Appended, AuditStore

__all__ = ["DEFAULT_MAX_PENDING", "AuditWriterClosed", "GroupCommitWriter", "WriterStats"]

# Far above what a server's request threads keep waiting for at once (one entry each; 40 per
# process by default), and a backlog a healthy database commits well within a caller's wait
# (measured: 1024 entries in 0.13-0.30 s on SQLite and PostgreSQL, 2-core machine).
DEFAULT_MAX_PENDING = 1024


@dataclass
class _Pending:
    entry: Mapping[str, Any]
    future: Future[Appended] = field(default_factory=Future)


@dataclass
class WriterStats:
    batches: int = 0
    entries: int = 0
    largest_batch: int = 0
    pushed_back: int = 0  # submits refused because max_pending entries were outstanding
    withdrawn: int = 0  # cancelled entries the writer dropped unwritten


class GroupCommitWriter:
    def __init__(
        self,
        store: AuditStore,
        *,
        max_batch: int = 512,
        max_wait: float = 0.0,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        if max_batch < 1 or max_wait < 0 or max_pending < 1:
            raise ValueError("max_batch and max_pending must be >= 1 and max_wait >= 0")
        self._store = store
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._outstanding = 0  # accepted, not yet committed, failed or dropped; under _lock
        self._closed = False
        self._lock = threading.Lock()
        self.stats = WriterStats()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    @property
    def outstanding(self) -> int:
        """Entries accepted and not yet committed, failed or dropped (at most ``max_pending``)."""
        return self._outstanding

    def submit(self, entry: Mapping[str, Any]) -> Future[Appended]:
        """Queue ``entry``; the future resolves once it is durably appended, or raises the store's
        error (``AuditStoreError``) if its batch failed: then nothing of that batch was stored.
        Cancelling the future before the writer takes the entry withdraws it (never written).

        Raises ``AuditPushback`` when ``max_pending`` entries are outstanding and
        ``AuditWriterClosed`` after :meth:`close`; either way nothing was queued.
        """
        pending = _Pending(entry)
        with self._lock:
            if self._closed:
                raise AuditWriterClosed("the audit writer is closed")
            if self._outstanding >= self._max_pending:
                self.stats.pushed_back += 1
                raise AuditPushback(
                    f"{self._outstanding} audit entries are waiting to be written; try again"
                )
            self._outstanding += 1
            self._queue.put(pending)
        return pending.future

    def append(self, entry: Mapping[str, Any], timeout: float | None = None) -> Appended:
        """Append and wait until durable, at most ``timeout`` seconds: :meth:`submit`, then
        :meth:`wait`. Raises what those raise."""
        return self.wait(self.submit(entry), timeout)

    def wait(self, future: Future[Appended], timeout: float | None = None) -> Appended:
        """Wait at most ``timeout`` seconds for an entry :meth:`submit` accepted.

        Raises what the future raises, or ``AuditTimeout``: the entry was withdrawn if the
        writer had not taken it yet (``withdrawn``), else it is still written with its batch.
        """
        try:
            return future.result(timeout)
        except TimeoutError:
            if future.cancel():
                raise AuditTimeout(
                    f"not durable within {timeout} s; withdrawn, it will not be written",
                    withdrawn=True,
                ) from None
            if future.done():  # committed (or failed) between the deadline and the cancel
                return future.result()
            raise AuditTimeout(
                f"not durable within {timeout} s; its batch is being written", withdrawn=False
            ) from None

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

    def _done_with(self, batch: list[_Pending], live: list[_Pending]) -> None:
        """Free the batch's places before its callers wake: one that appends again at once is
        not refused for its own finished entry."""
        with self._lock:
            self._outstanding -= len(batch)
            self.stats.withdrawn += len(batch) - len(live)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            # From here a cancel fails: a taken entry is written with its batch (module doc).
            live = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if not live:
                self._done_with(batch, live)
                continue
            try:
                results = self._store.append_batch([p.entry for p in live])
            except BaseException as exc:  # noqa: BLE001 - every waiter must learn of the failure
                self._done_with(batch, live)
                for pending in live:
                    pending.future.set_exception(exc)
                continue
            self._done_with(batch, live)
            self.stats.batches += 1
            self.stats.entries += len(live)
            self.stats.largest_batch = max(self.stats.largest_batch, len(live))
            for pending, result in zip(live, results, strict=True):
                pending.future.set_result(result)
