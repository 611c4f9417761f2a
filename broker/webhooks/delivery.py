"""Delivering the outbox (docs/webhooks.md): a background thread in each broker process claims
due events (a lease per row, ``broker.store.webhook_outbox``), POSTs each signed to the
partner's webhook, and records the outcome.

- A 2xx answer delivers the event. Anything else — another status, a redirect (never followed),
  a timeout, a refused connection — is a failed attempt: the event is due again after an
  exponential back-off with jitter (``backoff``), and after ``max_attempts`` failures it is
  dead (the partner's dead-letter list, ``GET /v1/webhooks/dead-letters``).
- At least once: an event is marked delivered only after its 2xx answer; a process that dies in
  between leaves the event to be sent again once its lease runs out. Receivers deduplicate by
  ``webhook-id``.
- Delivered events are kept ``RETENTION`` (30 days) for the operator's questions, then deleted
  (:meth:`Deliverer.prune`, hourly); pending and dead ones stay until delivered.
- :meth:`Deliverer.run_once` takes ``now``, the clock of due times, leases and back-off, so the
  retries can be driven explicitly; the signature's timestamp is always the wall clock's.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from prometheus_client import Counter
from sqlalchemy.engine import Engine

from broker.security.registry import Registry
from broker.store import webhook_outbox
from broker.webhooks.signing import signed_headers

log = logging.getLogger("gbo.webhooks")

# The closed set of ``last_error`` values (stored, listed to the partner, logged).
ERRORS = ("timeout", "connection", "redirect", "status", "request")
OUTCOMES = ("delivered", "retry", "dead")
RETENTION = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def backoff(attempts: int, *, base: float, cap: float, rand: Callable[[], float]) -> timedelta:
    """The wait after the ``attempts``-th failure: ``base * 2**(attempts-1)``, at most ``cap``,
    then "equal jitter" (a uniform draw between half and all of it), so that receivers coming
    back are not hit by every sender at once."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=delay * (0.5 + rand() / 2))


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: ``error`` is None exactly when it delivered."""

    status: int | None
    error: str | None


class Deliverer:
    """Delivers the outbox of the partners in ``registry`` that have a webhook.

    ``start`` runs :meth:`run_once` every ``interval`` seconds (sooner after :meth:`wake`) in a
    daemon thread until :meth:`close`. Tests call :meth:`run_once` themselves with the ``now``
    they choose.
    """

    def __init__(self, *, engine: Engine, registry: Registry, deliveries: Counter,
                 max_attempts: int = 12, backoff_base: float = 30.0,
                 backoff_max: float = 6 * 3600.0, timeout: float = 10.0,
                 interval: float = 1.0, lease: float = 60.0, batch: int = 20,
                 rand: Callable[[], float] = random.random,
                 wall: Callable[[], datetime] = _utcnow) -> None:
        self.engine = engine
        self.registry = registry
        self.deliveries = deliveries
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.interval = interval
        # A lease outlasts any one attempt (the POST's timeout), so it never runs out while its
        # owner is still sending.
        self.lease = timedelta(seconds=max(lease, 3 * timeout))
        self.batch = batch
        self.rand = rand
        self.wall = wall
        self.owner = uuid.uuid4().hex  # this deliverer's leases
        self.partners = sorted(p.id for p in registry.partners.values() if p.webhook is not None)
        self._http = requests.Session()
        self._http.trust_env = False  # no proxy from the environment: the registry says where
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one round --------------------------------------------------------------------------

    def run_once(self, now: datetime | None = None) -> int:
        """Claim and attempt every due event (up to ``batch``); returns how many were
        attempted."""
        now = now or self.wall()
        claimed = webhook_outbox.claim_due(engine=self.engine, owner=self.owner, now=now,
                                           lease=self.lease, limit=self.batch,
                                           partners=self.partners)
        for row in claimed:
            self._attempt(row, now)
        return len(claimed)

    def _attempt(self, row: webhook_outbox.Claimed, now: datetime) -> None:
        partner = self.registry.partner(row.partner)
        webhook = partner.webhook if partner is not None else None
        if webhook is None:  # not claimable (claim_due filters by partner): a failed attempt
            result = Attempt(None, "request")
        else:
            result = self.post(webhook.url, webhook.secret, row.message_id, row.payload)
        attempts = row.attempts + 1
        delivered = result.error is None
        retry_at = None
        if not delivered and attempts < self.max_attempts:
            retry_at = now + backoff(attempts, base=self.backoff_base, cap=self.backoff_max,
                                     rand=self.rand)
        recorded = webhook_outbox.record_attempt(
            engine=self.engine, owner=self.owner, row_id=row.id, now=now, delivered=delivered,
            status=result.status, error=result.error, retry_at=retry_at)
        outcome = "delivered" if delivered else "retry" if retry_at is not None else "dead"
        if recorded:
            self.deliveries.labels(outcome).inc()
        extra = {"gbo.partner": row.partner, "event.action": row.event_type,
                 "event.id": row.message_id, "event.outcome": outcome,
                 "http.response.status_code": result.status, "error.type": result.error,
                 "gbo.webhook.attempt": attempts}
        if delivered:
            log.info("webhook delivered", extra=extra)
        else:
            log.warning("webhook attempt failed", extra=extra)

    def post(self, url: str, secret: str, message_id: str, body: str) -> Attempt:
        """One signed POST of ``body``; never raises for the receiver's failures."""
        headers = signed_headers(secret=secret, message_id=message_id, timestamp=self.wall(),
                                 body=body)
        try:
            response = self._http.post(url, data=body.encode(), headers=headers,
                                       timeout=self.timeout, allow_redirects=False)
        except requests.Timeout:
            return Attempt(None, "timeout")
        except requests.ConnectionError:
            return Attempt(None, "connection")
        except requests.RequestException:
            return Attempt(None, "request")
        response.close()
        if 200 <= response.status_code < 300:
            return Attempt(response.status_code, None)
        error = "redirect" if 300 <= response.status_code < 400 else "status"
        return Attempt(response.status_code, error)

    def prune(self, now: datetime | None = None) -> int:
        """Delete events delivered more than ``RETENTION`` before ``now``; returns how many."""
        now = now or self.wall()
        return webhook_outbox.prune_delivered(engine=self.engine, before=now - RETENTION)

    # --- the thread -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.partners or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="gbo-webhooks", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Run a round now rather than at the next interval (after queueing an event)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None
        self._http.close()

    def _run(self) -> None:
        pruned_at: datetime | None = None
        while not self._stop.is_set():
            try:
                while self.run_once() == self.batch and not self._stop.is_set():
                    pass  # a full batch: more may be due
                if pruned_at is None or self.wall() - pruned_at >= PRUNE_EVERY:
                    pruned_at = self.wall()
                    self.prune(pruned_at)
            except Exception:  # noqa: BLE001 - the database may be away; try again next round
                log.exception("webhook delivery round failed")
            self._wake.wait(self.interval)
            self._wake.clear()
