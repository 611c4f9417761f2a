"""Structured JSON logs and Prometheus metrics. Neither ever carries an INSZ or content.

Log lines are ECS-shaped JSON (Elastic Common Schema field names, ``broker.log_guard``):
``@timestamp`` in ISO 8601 UTC with milliseconds and ``Z``, ``log.level``, ``message``,
``process.pid``, the request's ``http.request.id`` and, inside a traced request, ``trace.id``.

Metric labels are bounded: the route *template* (``/v1/entries``), method and status; never a raw
path, query or body value.

Several worker processes (``gbo-broker serve --workers N``) share one view of the metrics through
prometheus_client's multi-process mode: with ``PROMETHEUS_MULTIPROC_DIR`` set when the process
starts, every value lives in memory-mapped files of that directory, one set per process, and
``/metrics`` merges all of them (``MultiProcessCollector``), whichever worker answers.
prometheus_client chooses where values live once, when it is first imported, so the variable must
be in the environment before the process starts; ``serve`` sets it for its workers
(:func:`multiprocess_metrics`).
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.json import JsonFormatter

from broker.errors import ConfigurationError

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


class BrokerLogFilter(logging.Filter):
    """Adds the request id and, inside a traced request, the trace and span ids (ECS
    ``trace.id``, ``span.id``) to each record, and drops uvicorn's ``color_message`` (the
    message again, with ANSI colour codes: noise in a JSON line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        span = trace.get_current_span().get_span_context()
        if span.is_valid and "trace.id" not in record.__dict__:
            record.__dict__["trace.id"] = trace.format_trace_id(span.trace_id)
            record.__dict__["span.id"] = trace.format_span_id(span.span_id)
        record.__dict__.pop("color_message", None)
        return True


def json_formatter() -> JsonFormatter:
    from broker.log_guard import EcsJsonFormatter  # DESIGN §9: the closed vocabulary's guard

    return EcsJsonFormatter()


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """One JSON line per record on stderr, for the broker and the server it runs in, as a
    ``logging.config.dictConfig`` dictionary: uvicorn applies it in every worker process it
    starts (``log_config``), ``configure_logging`` in this one."""
    quiet = {"handlers": [], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"broker": {"()": f"{__name__}.BrokerLogFilter"}},
        "formatters": {"json": {"()": f"{__name__}.json_formatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "json", "filters": ["broker"]}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own access log prints raw request lines; ours (gbo.access) replaces it.
            "uvicorn.access": {**quiet, "level": "CRITICAL"},
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "alembic": {"level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    """One JSON line per record on stderr, for the broker and the server it runs in."""
    logging.config.dictConfig(logging_config(level))


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multi-process mode when this process stores its
    values there (chosen when prometheus_client was imported), else None."""
    if values.ValueClass is values.MutexValue:  # in-process values: single-process mode
        return None
    return os.environ.get(MULTIPROC_DIR_ENV)


@contextmanager
def multiprocess_metrics(workers: int) -> Iterator[str | None]:
    """Set up the multi-process mode for ``workers`` worker processes started inside the block.

    One worker: nothing changes (values in the process), unless the operator set
    ``PROMETHEUS_MULTIPROC_DIR``, which is honoured. Several: the operator's directory, or else a
    fresh private one for this server start, in the environment the workers inherit and removed
    afterwards (counters start from zero at each start, as Prometheus expects of a restart).
    Yields the directory, or None. Raises ``ConfigurationError`` if the operator's is not a
    directory.
    """
    given = os.environ.get(MULTIPROC_DIR_ENV)
    if given:
        if not os.path.isdir(given):
            raise ConfigurationError(f"{MULTIPROC_DIR_ENV}={given} is not a directory")
        yield given
        return
    if workers <= 1:
        yield None
        return
    made = tempfile.mkdtemp(prefix="gbo-broker-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = made
    try:
        yield made
    finally:
        del os.environ[MULTIPROC_DIR_ENV]
        shutil.rmtree(made, ignore_errors=True)


class Metrics:
    """The broker's metrics, registered in ``registry`` (the policy evaluator adds its own).

    In multi-process mode (:func:`multiprocess_dir`) values are stored per process in files, not
    per ``Metrics``: a process then holds one ``Metrics`` (two would count into the same files),
    and :meth:`exposition` reads every process's files instead of ``registry``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess_dir = multiprocess_dir()
        self.requests = Counter(
            "gbo_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "gbo_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gbo_auth_failures", "Rejected credentials", ["kind"], registry=self.registry
        )
        # kind: partner | client_session | auditor_session | client_api (closed; never an id)
        self.rate_limited = Counter(
            "gbo_rate_limited", "Requests refused for going over a rate limit", ["kind"],
            registry=self.registry,
        )

        # outcome: delivered | retry | dead (closed, broker.webhooks.delivery.OUTCOMES)
        self.webhook_deliveries = Counter(
            "gbo_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"],
            registry=self.registry,
        )
        # Gauges read at scrape time from shared state (the database, the log), the same
        # whichever worker answers: exposed in both modes, beside the per-process values.
        self.live = CollectorRegistry(auto_describe=True)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric: this process's, or in multi-process mode
        the sum over every worker that ran since the server started (a worker that exited keeps
        counting, so no counter goes backwards)."""
        live = generate_latest(self.live)
        if self.multiprocess_dir is None:
            return generate_latest(self.registry) + live
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(merged) + live
