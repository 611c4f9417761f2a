"""The embedded engine: the Regorus Rego interpreter in-process (DESIGN §4).

Measured facts this design follows: a Regorus engine may only be used on the thread that created
it (another thread gets a ``PanicException``; ``clone()`` from another thread panics too), so each
thread builds its own from the bundle (about 1.4 ms, once per thread). A panic derives from
``BaseException`` and leaves that engine unusable: it is caught, the thread's engine is dropped
and rebuilt on next use, and the caller gets ``PolicyEngineError`` (a deny). An engine must also be
*dropped* on its own thread: engines live in one module-level thread-local store that is never
freed as a whole (a freed ``threading.local`` drops every thread's values on the freeing thread);
each thread frees its own engines when it ends. They are keyed by bundle version, so a thread
holds one engine per bundle it has evaluated.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import regorus  # type: ignore[import-untyped]

from broker.errors import PolicyEngineError
from broker.policy.bundle import PolicyBundle

_THREAD_ENGINES = threading.local()  # .engines: dict[bundle version, regorus.Engine]


def _is_panic(exc: BaseException) -> bool:
    return type(exc).__name__ == "PanicException"


class EmbeddedEngine:
    kind = "embedded"

    def __init__(self, bundle: PolicyBundle) -> None:
        self._bundle = bundle
        self.version = bundle.version
        # Fail at start-up, not on the first request, if the bundle is broken.
        probe = self._build()
        del probe

    def _build(self) -> Any:
        engine = regorus.Engine()
        loaded = False
        try:
            for path, text in self._bundle.policies:
                engine.add_policy(path, text)
            engine.add_data(dict(self._bundle.data))
            loaded = True
        except Exception:  # noqa: S110 - reported below, without the engine's message
            pass
        if loaded:
            return engine
        del engine  # see evaluate(): no traceback may keep an engine alive
        raise PolicyEngineError("the policy bundle does not load")

    def _engines(self) -> dict[str, Any]:
        engines: dict[str, Any] | None = getattr(_THREAD_ENGINES, "engines", None)
        if engines is None:
            engines = _THREAD_ENGINES.engines = {}
        return engines

    def _engine(self) -> Any:
        engines = self._engines()
        engine = engines.get(self.version)
        if engine is None:
            engine = engines[self.version] = self._build()
        return engine

    def evaluate(self, rule: str, input_doc: Mapping[str, Any]) -> Any:
        engine = self._engine()
        try:
            engine.set_input(dict(input_doc))
            # eval_rule gives None for undefined (and for a null value: both deny).
            return engine.eval_rule(rule)
        except Exception:
            failure = "policy evaluation failed"
        except BaseException as exc:
            if not _is_panic(exc):
                raise
            self._engines().pop(self.version, None)  # unusable after a panic: rebuilt on next use
            failure = "the policy engine panicked"
        # Raised outside the handler, unchained and without the engine in this frame: the error
        # crosses to the caller's thread, and a traceback holding a (thread-bound) engine would
        # free it there. The engine's own message is dropped too: it can quote input values.
        del engine
        raise PolicyEngineError(failure)

    def ready(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to do: each thread's engines are freed by that thread when it ends."""
