"""The closed vocabulary's guard on log lines (DESIGN §9): no field of a JSON log line holds a run
of 9 or more digits (an INSZ has 11), and the request id is the broker's own UUID.

The guard sits in the formatter, after every field (message, extras, exception text) is
assembled, so a future log call with a careless argument cannot reopen the hole: each offending
run is replaced by ``[redacted]`` and counted (``gbo_log_values_redacted``).
"""

from __future__ import annotations

import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from broker.store.audit_vocabulary import COUNTS, DIGIT_RUN

REDACTED = "[redacted]"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


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


class GuardedJsonFormatter(JsonFormatter):
    """``JsonFormatter`` whose every value passes the digit-run guard; a ``request_id`` that is
    not a broker-made UUID is dropped."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        request_id = log_data.pop("request_id", None)
        guarded: dict[str, Any] = {_guard(str(k)): _guard(v) for k, v in log_data.items()}
        # The broker's own request id is a random UUID: checked by its format, not by the digit
        # rule (its hex holds a run of 9+ decimal digits in ~3% of ids, which would lose it).
        if request_id is not None and not (isinstance(request_id, str)
                                           and _UUID.fullmatch(request_id)):
            COUNTS.redact()
            request_id = None
        guarded["request_id"] = request_id
        return guarded
