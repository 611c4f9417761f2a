"""The broker's JSON log lines: Elastic Common Schema (ECS) field names, and the closed
vocabulary's guard on every value (DESIGN §9).

**ECS.** ``@timestamp`` is ISO 8601 in UTC with milliseconds and ``Z``
(``2026-12-01T13:27:33.934Z``: unambiguous at daylight-saving changes); ``log.level`` (lower
case), ``log.logger``, ``message``, ``process.pid``, ``ecs.version``; the broker's request id as
``http.request.id``; inside a traced request the OpenTelemetry ``trace.id`` and ``span.id``
(added by ``observability.BrokerLogFilter``); an
exception as ``error.stack_trace``. An extra field of a log call is kept when its name is already
dotted (``http.response.status_code``, ``event.duration``, ``gbo.partner``), mapped when it has an
ECS name (:data:`ECS_NAMES`), and otherwise put under the broker's own namespace ``gbo.``.
Keys are flat dotted names, which Elasticsearch and every ECS reader expand.

**Guard.** No value holds a run of 9 or more digits (an INSZ has 11): the guard sits in the
formatter, after every field (message, extras, exception text) is assembled, so a future log call
with a careless argument cannot reopen the hole: each offending run is replaced by
``[redacted]`` and counted (``gbo_log_values_redacted``). The values the broker makes itself
are checked by their form instead, as the request's UUID always was: the trace and span ids
(their hex can hold 9+ decimal digits in a row) and ``event.duration`` (ECS counts it in
nanoseconds, so a request of 100 ms or more has 9 digits); one of another form is dropped.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from broker.store.audit_vocabulary import COUNTS, DIGIT_RUN

REDACTED = "[redacted]"
ECS_VERSION = "8.11.0"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Broker-made values, checked by their form rather than by the digit rule.
_ID_FORMATS = {
    "http.request.id": _UUID,
    "trace.id": re.compile(r"[0-9a-f]{32}"),
    "span.id": re.compile(r"[0-9a-f]{16}"),
}
DURATION = "event.duration"  # nanoseconds, measured by the broker
_LONGEST_NS = 10**13  # about 2.8 hours: no request or job of the broker lasts longer
# The extra fields of the broker's log calls that have an ECS name.
ECS_NAMES = {
    "request_id": "http.request.id",
    "error_type": "error.type",
    "error_code": "error.code",
    "cause": "event.reason",
    "status": "http.response.status_code",
}


def _guard(value: Any) -> Any:
    if isinstance(value, str):
        cleaned = DIGIT_RUN.sub(REDACTED, value)
        if cleaned != value:
            COUNTS.redact()
        return cleaned
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 10**8:
        COUNTS.redact()  # an integer of 9 or more digits
        return REDACTED
    if isinstance(value, dict):
        return {_guard(str(k)): _guard(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_guard(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _guard(str(value))


def iso_utc(created: float) -> str:
    """``2026-12-01T13:27:33.934Z``: a record's time in ISO 8601 UTC, milliseconds."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _ecs_name(key: str) -> str:
    if key in ECS_NAMES:
        return ECS_NAMES[key]
    return key if "." in key or key in ("@timestamp", "message", "tags") else f"gbo.{key}"


class EcsJsonFormatter(JsonFormatter):
    """One ECS JSON line per record, every value through the digit-run guard."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            rename_fields={"asctime": "@timestamp", "levelname": "log.level",
                           "name": "log.logger", "process": "process.pid",
                           "exc_info": "error.stack_trace", "stack_info": "error.stack_trace"},
            static_fields={"ecs.version": ECS_VERSION},
        )

    def formatTime(self, record: logging.LogRecord,  # noqa: N802 - logging's name
                   datefmt: str | None = None) -> str:
        return iso_utc(record.created)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        named = {_ecs_name(k): v for k, v in log_data.items()}
        if isinstance(named.get("log.level"), str):
            named["log.level"] = named["log.level"].lower()
        ids = {field: named.pop(field, None) for field in _ID_FORMATS}
        duration = named.pop(DURATION, None)
        guarded: dict[str, Any] = {_guard(str(k)): _guard(v) for k, v in named.items()}
        for field, pattern in _ID_FORMATS.items():
            value = ids[field]
            if value is None:
                continue
            if isinstance(value, str) and pattern.fullmatch(value):
                guarded[field] = value
            else:
                COUNTS.redact()  # not a broker-made id: dropped, never written
        if duration is not None:
            if (isinstance(duration, int) and not isinstance(duration, bool)
                    and 0 <= duration < _LONGEST_NS):
                guarded[DURATION] = duration
            else:
                COUNTS.redact()
        return guarded
