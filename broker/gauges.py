"""Gauges read at scrape time from the state every worker shares (the database): the audit log's
size, the age of its newest checkpoint, each witness's lag, the webhook outbox's backlog
(docs/operations.md "Logs, traces and metrics", alert rules in docs/alerts.yml).

Labels come from closed sets: the outbox states, and the witnesses' names from the broker's own
configuration (``GBO_WITNESSES``). A failing read leaves its gauges out of that scrape (the
alert on a missing series fires) rather than failing ``/metrics``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from audit.store import AuditStore
from broker.store import webhook_outbox
from broker.witnessing import Witness

log = logging.getLogger("gbo.metrics")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SharedStateCollector:
    """The scrape-time gauges of one broker (``Metrics.live``)."""

    def __init__(self, *, engine: Engine, store: AuditStore, witnesses: Sequence[Witness],
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.engine = engine
        self.store = store
        self.witnesses = tuple(witnesses)
        self.clock = clock

    def describe(self) -> Iterable[Any]:
        return []  # no sample at registration: the database may not be there yet

    def collect(self) -> Iterable[Any]:
        try:
            yield from self._audit()
            yield from self._outbox()
        except SQLAlchemyError:
            log.warning("metrics: the database did not answer", exc_info=True)

    def _audit(self) -> Iterable[Any]:
        size = self.store.size()
        yield GaugeMetricFamily("gbo_audit_log_entries", "Entries in the audit log", value=size)
        checkpoint = self.store.latest_checkpoint()
        if checkpoint is not None:
            signed = datetime.fromisoformat(checkpoint.signed_at.replace("Z", "+00:00"))
            yield GaugeMetricFamily(
                "gbo_audit_checkpoint_age_seconds",
                "Seconds since the newest signed checkpoint", value=max(
                    0.0, (self.clock() - signed).total_seconds()))
            yield GaugeMetricFamily("gbo_audit_checkpoint_size",
                                    "Size of the newest signed checkpoint", value=checkpoint.size)
        if self.witnesses:
            lag = GaugeMetricFamily(
                "gbo_audit_witness_lag_entries",
                "Entries of the log not yet cosigned by the witness (DESIGN §9)",
                labels=["witness"])
            for witness in self.witnesses:
                cosigned = self.store.witnessed_size(witness.public_key) or 0
                lag.add_metric([witness.name], max(0, size - cosigned))
            yield lag

    def _outbox(self) -> Iterable[Any]:
        events = GaugeMetricFamily("gbo_webhook_outbox_events",
                                   "Webhook events by state (pending: the backlog)",
                                   labels=["state"])
        for state, count in webhook_outbox.backlog(engine=self.engine).items():
            events.add_metric([state], count)
        yield events
