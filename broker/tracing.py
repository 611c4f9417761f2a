"""OpenTelemetry traces (docs/operations.md "Logs, traces and metrics"): the maintained FastAPI and
SQLAlchemy instrumentations, W3C ``traceparent`` propagation, and an exporter chosen by
``GBO_TRACES_EXPORTER`` (``none``, the default: nothing is instrumented; ``console``; ``otlp``,
configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables).

Secrecy (DESIGN §3, §9) holds in traces as in logs:
- span attributes pass an allow-list (:data:`ALLOWED`): the method, the route *template*, the
  status, the database system and statement (bound parameters are never recorded; any run of 9+
  digits in a statement or a span name is redacted); never the raw path, query, URL, host,
  user agent or client address, and never a body;
- exception events keep only the exception's type, and a status keeps no description (an error
  message can quote data);
- a caller's ``traceparent`` is continued only when its trace id holds no run of 9+ decimal
  digits (else the request starts a trace of its own), since the trace id is written into
  every log line of the request; ``tracestate`` and baggage are not taken from callers.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.propagate import set_global_textmap
from opentelemetry.propagators.textmap import CarrierT, Getter, default_getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Status
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy.engine import Engine

from broker.errors import ConfigurationError
from broker.log_guard import REDACTED
from broker.store.audit_vocabulary import DIGIT_RUN

# Span attributes that are recorded; everything else is dropped before export.
ALLOWED = frozenset({
    "http.method", "http.request.method", "http.route", "http.status_code",
    "http.response.status_code", "http.scheme", "url.scheme", "http.flavor",
    "network.protocol.version", "error.type",
    "db.system", "db.system.name", "db.name", "db.namespace", "db.operation",
    "db.operation.name", "db.statement", "db.query.text",
})
_DIGITS_IN_HEX = re.compile(r"[0-9]{9,}")
# Operations endpoints are not traced (scrapes and probes would drown the requests).
EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return DIGIT_RUN.sub(REDACTED, value)
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return tuple(_clean(v) for v in value)
    return value


def scrub(span: ReadableSpan) -> ReadableSpan:
    """A copy of ``span`` holding only what may leave the broker (see the module's notes)."""
    attributes = {k: _clean(v) for k, v in (span.attributes or {}).items() if k in ALLOWED}
    events = [Event(e.name, {k: v for k, v in (e.attributes or {}).items()
                             if k == "exception.type"}, e.timestamp)
              for e in span.events]
    return ReadableSpan(
        name=_clean(span.name), context=span.context, parent=span.parent,
        resource=span.resource, attributes=attributes, events=events, links=span.links,
        kind=span.kind, status=Status(span.status.status_code),
        start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingExporter(SpanExporter):
    """Exports through ``inner`` what :func:`scrub` leaves of each span."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([scrub(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class GuardedTraceContext(TraceContextTextMapPropagator):
    """W3C Trace Context, continuing only a caller's trace id without a run of 9+ digits, and
    never taking the caller's ``tracestate``."""

    def extract(self, carrier: CarrierT, context: Context | None = None,
                getter: Getter[CarrierT] = default_getter) -> Context:
        extracted = super().extract(carrier, context, getter)
        found = trace.get_current_span(extracted).get_span_context()
        if not found.is_valid:
            return extracted
        if _DIGITS_IN_HEX.search(trace.format_trace_id(found.trace_id)):
            return context if context is not None else Context()
        plain = trace.SpanContext(found.trace_id, found.span_id, is_remote=True,
                                  trace_flags=found.trace_flags)
        return trace.set_span_in_context(trace.NonRecordingSpan(plain), context)


def exporter_from(name: str) -> SpanExporter | None:
    """The exporter ``GBO_TRACES_EXPORTER`` names. Raises ``ConfigurationError``."""
    if name == "none":
        return None
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:  # an optional dependency (the extra ``otlp``)
            otlp = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError as exc:
            raise ConfigurationError(
                "GBO_TRACES_EXPORTER=otlp needs the package "
                "opentelemetry-exporter-otlp-proto-http (pip install 'gbo-broker[otlp]')"
            ) from exc
        exporter: SpanExporter = otlp.OTLPSpanExporter()
        return exporter
    raise ConfigurationError(f"GBO_TRACES_EXPORTER={name!r}: use none, console or otlp")


@dataclass
class Tracing:
    """The traces of one app; :meth:`close` flushes and stops them."""

    provider: TracerProvider
    app: FastAPI

    def close(self) -> None:
        FastAPIInstrumentor.uninstrument_app(self.app)
        SQLAlchemyInstrumentor().uninstrument()
        self.provider.shutdown()


def install_tracing(app: FastAPI, engine: Engine, exporter: SpanExporter,
                    resource: Mapping[str, str] | None = None) -> Tracing:
    """Trace ``app``'s requests and ``engine``'s statements into ``exporter`` (scrubbed)."""
    provider = TracerProvider(resource=Resource.create(
        {"service.name": "gbo-broker", **(resource or {})}))
    provider.add_span_processor(BatchSpanProcessor(ScrubbingExporter(exporter)))
    set_global_textmap(GuardedTraceContext())  # no baggage: callers' free text stays out
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider,
                                       excluded_urls=EXCLUDED_URLS,
                                       exclude_spans=["receive", "send"])
    # The instrumentation's metadata stops at SQLAlchemy < 2.1 while 2.1 is installed; it only
    # registers engine events (before/after_cursor_execute, connect, checkout), which 2.1 keeps,
    # and the tests check that its spans arrive.
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider,
                                        skip_dep_check=True)
    return Tracing(provider=provider, app=app)
