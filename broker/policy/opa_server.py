"""The opa-server engine: a remote OPA server through ``opa-python-client`` (DESIGN §4).

Provisioning. With ``push=True`` (the default) the engine provisions the server on construction:

1. it clears the version marker (``PUT /v1/data/gbo_bundle`` with ``{}``), so that a push that
   fails half-way leaves a server no broker accepts;
2. it deletes the modules whose id starts with ``gbo-broker/`` and that this bundle no longer has
   (a module removed from the bundle must stop deciding);
3. it puts every policy module at ``/v1/policies/gbo-broker/<bundle path>``, as Rego v1 and
   without the client's v0-to-v1 rewriting (``rego_compat=False``);
4. it puts every top-level key of the bundle's data at ``/v1/data/<key>``: the bundle's data is
   the *root* document, so ``{"gbo": {"catalogue": ...}}`` becomes ``data.gbo.catalogue``;
5. it writes the version marker last: ``data.gbo_bundle.version`` = the bundle version
   (``PUT /v1/data/gbo_bundle`` with ``{"version": ...}``).

Then, and with ``push=False`` (a server provisioned otherwise, e.g. from an OPA bundle whose data
carries ``gbo_bundle.version``) only this, it reads ``data.gbo_bundle.version`` back and refuses
to start (``PolicyEngineError``) unless it equals the bundle's version. The push is not atomic:
brokers on different bundle versions must not share one server (use OPA's bundle API for that).

Evaluation. ``evaluate("data.gbo.access.decision", input)`` is ``POST /v1/data/gbo/access/decision``
with ``{"input": ...}``; the answer's ``result`` is the value, and its absence means undefined
(``None``), exactly as OPA answers. Any transport, HTTP or JSON failure raises
``PolicyEngineError`` whose message names only the rule and a failure class (``timeout``,
``transport_error``, ``http_error_500``, ...): OPA's own error messages, and the exceptions of
``requests`` that carry the response body, can quote input values, so they are dropped, not
chained (the error has no ``__cause__`` or ``__context__``).

Threads. ``OpaClient`` wraps one ``requests.Session``, which is not documented as thread-safe.
Each evaluation borrows an idle client from a small pool (one client per concurrent caller, so
at most as many as the caller's thread pool) and returns it afterwards. Measured on loopback, 8
threads, a server taking 2 ms per decision: about 1270 decisions/s with the pool against 310/s
with one client behind a lock, which serialises the round trips (with an instant server both
reach ~1250/s: the client's CPU is then the limit).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from opa_client.errors import (  # type: ignore[import-untyped]
    PolicyNotFoundError,
    RegoParseError,
)
from opa_client.opa import OpaClient  # type: ignore[import-untyped]

from broker.errors import PolicyEngineError
from broker.policy.bundle import PolicyBundle

POLICY_ID_PREFIX = "gbo-broker/"
VERSION_DOCUMENT = "gbo_bundle"  # data.gbo_bundle.version holds the bundle version
VERSION_PATH = f"{VERSION_DOCUMENT}/version"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class OpaAddress:
    host: str  # as OpaClient puts it into a URL: an IPv6 literal keeps its brackets
    port: int
    tls: bool


def parse_opa_url(url: str) -> OpaAddress:
    """``http://host:port`` or ``https://host:port`` (``GBO_OPA_URL``), nothing else.

    Raises ValueError naming what is wrong; the URL itself is not echoed (it could carry
    credentials).
    """
    shape = "GBO_OPA_URL must be http://host:port or https://host:port"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{shape}: it does not parse (bad port?)") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{shape}: scheme {parts.scheme!r} is not supported")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{shape}: credentials in the URL are not supported")
    if not parts.hostname:
        raise ValueError(f"{shape}: the host is missing")
    if port is None:
        raise ValueError(f"{shape}: the port is missing")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{shape}: no path, query or fragment (the client adds /v1/...)")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return OpaAddress(host=host, port=port, tls=parts.scheme == "https")


@functools.lru_cache(maxsize=64)
def _split_rule(rule: str) -> tuple[str, str]:
    """``data.gbo.access.decision`` -> (``gbo.access``, ``decision``); the set of rules the
    broker asks is small and fixed, hence the cache. Raises PolicyEngineError."""
    parts = rule.split(".")
    if len(parts) < 3 or parts[0] != "data" or not all(_IDENTIFIER.match(p) for p in parts[1:]):
        raise PolicyEngineError(f"not a rule reference the OPA adapter can query: {rule!r}")
    return ".".join(parts[1:-1]), parts[-1]


def _failure_class(exc: Exception) -> str:
    """A name for what went wrong that quotes nothing from the request or the response."""
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else "unknown"
        return f"http_error_{status}"
    if isinstance(exc, requests.JSONDecodeError):  # before ConnectionError/InvalidJSONError
        return "malformed_response"
    if isinstance(exc, requests.ConnectionError):
        return "transport_error"
    if isinstance(exc, requests.exceptions.InvalidJSONError | TypeError):
        return "input_not_json"
    return f"client_error_{type(exc).__name__}"


class OpaServerEngine:
    """The ``PolicyEngine`` protocol on a remote OPA server (see the module docstring).

    ``timeout`` (seconds) bounds each evaluation request; provisioning, once at start-up, uses
    ``provision_timeout`` per request, since OPA compiles the modules it is sent. Raises
    ValueError for a bad ``url`` or timeout and PolicyEngineError when the server cannot be
    provisioned or does not serve this bundle's version.
    """

    kind = "opa-server"

    def __init__(
        self,
        url: str,
        bundle: PolicyBundle,
        *,
        timeout: float,
        push: bool = True,
        provision_timeout: float = 5.0,
        retries: int = 1,
    ) -> None:
        if not (timeout > 0 and provision_timeout > 0):
            raise ValueError("timeouts must be positive numbers of seconds")
        self._address = parse_opa_url(url)
        self._timeout = timeout
        # urllib3 retries connection failures (for POST too: nothing was sent) and, for
        # idempotent methods, 500/502/504; the first retry is immediate, the next back off.
        self._retries = retries
        self.version = bundle.version
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._closed = False
        provisioner = self._new_client(timeout=provision_timeout)
        try:
            if push:
                self._push(provisioner, bundle)
            self._check_version(provisioner)
        finally:
            provisioner.close_connection()

    # -- clients ---------------------------------------------------------------------------

    def _new_client(self, timeout: float | None = None) -> Any:
        address = self._address
        return OpaClient(
            host=address.host,
            port=address.port,
            ssl=address.tls,
            timeout=self._timeout if timeout is None else timeout,
            retries=self._retries,
        )

    @contextmanager
    def _client(self) -> Iterator[Any]:
        """Borrow an idle client (or make one) for one caller; give it back afterwards."""
        with self._lock:
            closed = self._closed
            client = self._idle.pop() if self._idle else None
        if closed:
            raise PolicyEngineError("the OPA server engine is closed")
        if client is None:
            client = self._new_client()
        try:
            yield client
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(client)
            if not keep:
                client.close_connection()

    # -- provisioning ----------------------------------------------------------------------

    def _push(self, client: Any, bundle: PolicyBundle) -> None:
        """Steps 1-5 of the module docstring. Raises PolicyEngineError."""
        if VERSION_DOCUMENT in bundle.data:
            raise PolicyEngineError(f"the bundle's data may not use {VERSION_DOCUMENT!r}")
        ids = {POLICY_ID_PREFIX + path: text for path, text in bundle.policies}
        step = "clear the version marker"
        try:
            client.update_or_create_data({}, VERSION_DOCUMENT)
            step = "list policy modules"
            for old in client.get_policies_list():
                if isinstance(old, str) and old.startswith(POLICY_ID_PREFIX) and old not in ids:
                    step = f"delete stale policy module {old!r}"
                    client.delete_policy(quote(old))
            for policy_id, text in ids.items():
                step = f"put policy module {policy_id!r}"
                client.update_policy_from_string(text, quote(policy_id), rego_compat=False)
            for key, value in bundle.data.items():
                step = f"put data document {key!r}"
                if not isinstance(value, dict):
                    raise PolicyEngineError(f"cannot {step}: the client only puts objects")
                client.update_or_create_data(value, quote(key, safe=""))
            step = "write the version marker"
            client.update_or_create_data({"version": bundle.version}, VERSION_DOCUMENT)
        except PolicyEngineError:
            raise
        except Exception as exc:
            # About our own policies and data, never an input: OPA's compile errors are kept.
            why = str(exc) if isinstance(exc, RegoParseError) else _failure_class(exc)
            raise PolicyEngineError(f"cannot {step} on the OPA server: {why}") from exc

    def _check_version(self, client: Any) -> None:
        """Refuse a server that does not serve this bundle. Raises PolicyEngineError."""
        served = self._served_version(client)
        if served != self.version:
            raise PolicyEngineError(
                f"the OPA server serves bundle version {served!r}, expected {self.version!r}"
            )

    @staticmethod
    def _served_version(client: Any) -> Any:
        try:
            return client.get_data(VERSION_PATH).get("result")
        except Exception as exc:
            if isinstance(exc, PolicyNotFoundError):  # undefined: not provisioned
                return None
            raise PolicyEngineError(
                f"cannot read data.{VERSION_DOCUMENT}.version from the OPA server "
                f"({_failure_class(exc)})"
            ) from None

    # -- the protocol ----------------------------------------------------------------------

    def evaluate(self, rule: str, input_doc: Mapping[str, Any]) -> Any:
        """The value of ``rule`` for ``input_doc``, ``None`` if undefined.

        Raises PolicyEngineError (closed engine, bad rule reference, transport/HTTP/JSON
        failure); its message never quotes the input or the server's answer.
        """
        package, name = _split_rule(rule)
        failure: str | None = None
        with self._client() as client:
            try:
                response = client.query_rule(dict(input_doc), package, name)
            except Exception as exc:  # dict() of a non-mapping included: input_not_json
                failure = _failure_class(exc)
        # Raised outside the handler on purpose: no __context__ that could quote the input.
        if failure is not None:
            raise PolicyEngineError(f"OPA server: {rule} failed ({failure})")
        if not isinstance(response, dict):
            raise PolicyEngineError(f"OPA server: {rule} failed (malformed_response)")
        # OPA answers an undefined document with no "result" key (HTTP 200 "{}").
        return response.get("result")

    def ready(self) -> bool:
        """True when the server answers and still serves this bundle version (a restarted,
        empty OPA is healthy but would answer every decision with undefined)."""
        try:
            with self._client() as client:
                return bool(self._served_version(client) == self.version)
        except PolicyEngineError:
            return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for client in idle:
            client.close_connection()
