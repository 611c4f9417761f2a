"""The auditor portal's integrity panel (DESIGN §2): the latest signed checkpoint, the verifier key,
and "verify now", which runs exactly what ``gbo-broker audit verify`` runs on the database
(``broker.services.audit_verify.database_source`` + ``verify``, with the same state file, so a
log cut back below a checkpoint verified before still fails).

"Verify now" shows its progress while it runs: ``verify_with_progress`` runs ``verify_now`` in a
worker thread and yields ``Progress`` steps (at most one per 1 % of the log and per 0.2 s) and
the ``Outcome`` last; ``stream_page`` sends the integrity page up to its progress bar, then a
piece for each (a newer progress bar; the result and the rest of the page), so the browser needs
no JavaScript. Everything lives in that one request: nothing is kept for a later request,
so it works the same with several worker processes. When the auditor leaves the page, the
verification stops at its next leaf (before it writes the state file).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from markupsafe import Markup

from audit.errors import AuditError, AuditIntegrityError
from broker.context import BrokerContext
from broker.portal.pages import env
from broker.services import audit_verify

STATE_FILE = "audit-verified-checkpoint.txt"  # the CLI's default (broker.cli audit_verify)
STEP_SHARE = 0.01  # a progress step at most once per 1 % of the log ...
STEP_SECONDS = 0.2  # ... and at most once per 0.2 s
HEARTBEAT_SECONDS = 10.0  # no step for this long: repeat the last one (proxies drop idle streams)
THREAD_NAME = "gbo-verify-now"
MAX_RUNS = 2  # verifications at once in one process; each reads the whole log
_runs = threading.BoundedSemaphore(MAX_RUNS)
PARTS = "audit/_verify.html"  # the streamed pieces: macros ``step`` and ``result``
# Where the streamed pieces go in the integrity page. An autoescaped value can never produce
# "<!--", so only the template itself can hold it.
STREAM_MARKER = Markup("<!-- voortgang -->")

logger = logging.getLogger("gbo.portal")


@dataclass(frozen=True)
class Outcome:
    """``ok``: every leaf verified against every trusted checkpoint. Otherwise ``bad_index``
    is the first bad leaf (None when the failure names none, e.g. no checkpoint yet), or
    ``could_not_run`` says the check itself failed (database, state file): no verdict on the log,
    as the CLI, which reports tampering only for an ``AuditIntegrityError``."""

    ok: bool
    leaves: int
    message: str
    seconds: float
    size: int | None = None
    root: str | None = None
    checkpoints_checked: int = 0
    unsigned_tail: int = 0
    bad_index: int | None = None
    could_not_run: bool = False
    busy: bool = False  # not started: ``MAX_RUNS`` verifications were already running


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` leaves verified so far (``total``: the log's size when it started,
    or more when entries were appended meanwhile)."""

    done: int
    total: int


def verify_now(ctx: BrokerContext, *, progress: Callable[[int], None] | None = None) -> Outcome:
    """Verify the whole log now; ``progress(n)`` is called after each ``n`` leaves verified.
    Never raises for a bad log or a failing check: the outcome says what failed. Exceptions
    raised by ``progress`` itself pass through."""
    started = time.monotonic()
    counted = [0]

    def count(n: int) -> None:
        counted[0] += n
        if progress is not None:
            progress(n)

    log = ctx.audit.log
    try:
        verified = audit_verify.verify(
            audit_verify.database_source(log.store), ctx.log_verifiers(),
            state=ctx.settings.data_dir / STATE_FILE, progress=count,
            witnesses=ctx.witnesses,
            quorum=ctx.settings.witness_quorum if ctx.witnesses else 0,
        )
    except AuditIntegrityError as exc:
        return Outcome(ok=False, leaves=counted[0], message=str(exc), bad_index=exc.index,
                       seconds=time.monotonic() - started)
    except (AuditError, OSError) as exc:
        return _could_not_run(exc, leaves=counted[0], started=started)
    report = verified.report
    cp = report.checkpoint
    return Outcome(ok=True, leaves=report.leaves, message="OK", size=cp.size,
                   root=base64.b64encode(cp.root_hash).decode(),
                   checkpoints_checked=report.checkpoints_checked,
                   unsigned_tail=report.unsigned_tail, seconds=time.monotonic() - started)


def _could_not_run(exc: Exception, *, leaves: int, started: float) -> Outcome:
    # The cause's type only: a database error's text may quote the statement or its parameters.
    return Outcome(ok=False, could_not_run=True, leaves=leaves, message=type(exc).__name__,
                   seconds=time.monotonic() - started)


class _Stopped(Exception):
    """Raised in the verification (by ``ProgressThrottle``) once nobody waits for it any more."""


class ProgressThrottle:
    """The ``progress`` callback of one run, called in the worker thread once per leaf: reports
    a ``Progress`` once at least ``STEP_SHARE`` of ``total`` more leaves were verified *and*
    ``STEP_SECONDS`` passed since the last report, so a page gets at most ~100 steps and at most
    5 a second. Raises ``_Stopped`` at the first leaf after ``stop()``."""

    def __init__(self, total: int, report: Callable[[Progress], None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self._report = report
        self._clock = clock
        self._every = max(1, math.ceil(total * STEP_SHARE))
        self._next = self._every
        self._last = clock()
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def __call__(self, n: int) -> None:
        if self._stopped:
            raise _Stopped
        self.done += n
        if self.done < self._next:
            return
        now = self._clock()
        if now - self._last < STEP_SECONDS:
            return  # the next leaf asks again
        self._last = now
        self._next = self.done + self._every
        self._report(Progress(done=self.done, total=max(self.total, self.done)))


def _run(ctx: BrokerContext, throttle: ProgressThrottle, post: Callable[[Outcome], None]) -> None:
    """The worker thread: always posts an outcome, unless stopped (then nobody reads it).
    Holds one of the ``MAX_RUNS`` places, taken by ``verify_with_progress``, until it ends."""
    started = time.monotonic()
    try:
        outcome = verify_now(ctx, progress=throttle)
    except _Stopped:
        return
    except Exception as exc:  # the page waits for an outcome: never leave it hanging
        logger.exception("verify now failed: %s", type(exc).__name__)
        outcome = _could_not_run(exc, leaves=throttle.done, started=started)
    finally:
        _runs.release()
    post(outcome)


async def verify_with_progress(ctx: BrokerContext, *,
                               total: int) -> AsyncIterator[Progress | Outcome]:
    """Run ``verify_now`` in a worker thread; yield its ``Progress`` steps as it advances (the
    last one again after ``HEARTBEAT_SECONDS`` without a step) and then its ``Outcome``.
    ``total`` is the log's size (``store.size()``) as the page shows it. Closing the iterator
    early stops the verification at its next leaf."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Progress | Outcome] = asyncio.Queue()

    def post(item: Progress | Outcome) -> None:
        # RuntimeError: the event loop closed (shutdown), so nobody waits any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, item)

    throttle = ProgressThrottle(total, post)
    if not _runs.acquire(blocking=False):
        yield Outcome(ok=False, busy=True, leaves=0, message="busy", seconds=0.0)
        return
    try:
        threading.Thread(target=_run, args=(ctx, throttle, post), name=THREAD_NAME,
                         daemon=True).start()
    except BaseException:
        _runs.release()  # the thread that would release it never ran
        raise
    last = Progress(done=0, total=total)
    try:
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    item = await queue.get()
            except TimeoutError:
                yield last
                continue
            yield item
            if isinstance(item, Outcome):
                return
            last = item
    finally:
        throttle.stop()


def stream_page(ctx: BrokerContext, page: str, *, total: int) -> AsyncIterator[str]:
    """The integrity page ``page`` (rendered with ``verifying`` and ``stream_marker``) in pieces:
    up to the marker at once, then a step per ``Progress`` and the result with the rest of the
    page. Raises ``ValueError`` (before anything is sent) if the page has no marker."""
    head, marker, tail = page.partition(STREAM_MARKER)
    if not marker:
        raise ValueError("the integrity page has no stream marker")
    return _pieces(ctx, head, tail, total)


async def _pieces(ctx: BrokerContext, head: str, tail: str, total: int) -> AsyncIterator[str]:
    yield head  # sent before the verification starts
    async for item in verify_with_progress(ctx, total=total):
        if isinstance(item, Outcome):
            yield _part("result", outcome=item, max_runs=MAX_RUNS) + tail
        else:
            yield _part("step", progress=item)


def _part(name: str, **values: object) -> str:
    macro = getattr(env.get_template(PARTS).module, name)
    return str(macro(**values))
