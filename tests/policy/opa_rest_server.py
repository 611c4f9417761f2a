"""A minimal OPA REST-compatible server backed by the real OPA engine (opa-golib-python-bindings).

Run as a script in a fresh interpreter: ``python tests/policy/opa_rest_server.py --port 0``. It
binds 127.0.0.1 only, prints the bound port on stdout and serves until killed (or, with
``--exit-on-eof``, until its stdin closes: a test runner that dies takes the server with it). It
runs in its own process because the bindings' Go runtime hangs in any child forked after it was
loaded: the pytest process never loads it.

Only what opa-python-client uses in ``broker.policy.opa_server`` is implemented, with OPA's
status codes and bodies (OPA v1 server, ``server.go``):

- ``GET  /health``                200 ``{}``
- ``GET  /v1/policies``           200 ``{"result": [{"id": ..., "raw": ...}]}``
- ``PUT  /v1/policies/{id}``      text/plain Rego; 200 ``{}``; a module that does not parse or
                                  compile: 400 ``{"code": "invalid_parameter", "message": ...,
                                  "errors": [...]}``, and nothing changes
- ``DELETE /v1/policies/{id}``    200 ``{}``; 404 ``resource_not_found``
- ``PUT  /v1/data/{path}``        JSON; 204; creates missing parents
- ``GET  /v1/data/{path}``        200 ``{"result": ...}``, or ``{}`` when undefined
- ``POST /v1/data/{path}``        ``{"input": ...}``; 200 ``{"result": ...}``, or ``{}`` when
                                  undefined; an evaluation error is 500 ``internal_error``
                                  (whose message, as OPA's, may quote the input)

The engine is rebuilt from the stored policies and data on every change: simple and correct.

One known difference from ``opa run --server``: the bindings evaluate with strict builtin errors,
OPA's server without. So a builtin error (here only a well-shaped impossible date such as Feb 30,
see broker/policies/access.rego) is a 500 here, as it is an error in Regorus, where a real OPA
server makes the expression undefined and answers a decision (that consent is simply not valid).
Both deny; the reasons differ.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from opa_bindings import (  # type: ignore[import-untyped]
    OpaEngine,
    OpaError,
    OpaUndefinedError,
)

COMPILE_ERROR = "error(s) occurred while compiling module(s)"


class BadRequest(Exception):
    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class OpaStore:
    """Policies by id, the data document, and an engine built from both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._policies: dict[str, str] = {}
        self._data: dict[str, Any] = {}
        self._engine = self._build(self._policies, self._data)

    @staticmethod
    def _build(policies: dict[str, str], data: dict[str, Any]) -> OpaEngine:
        engine = OpaEngine()
        try:
            for policy_id, text in sorted(policies.items()):
                engine.add_policy(policy_id, text)
            if data:
                engine.add_data(data)
        except OpaError as exc:
            engine.close()
            raise BadRequest(COMPILE_ERROR, [{"code": exc.code, "message": exc.message}]) from exc
        return engine

    def _replace(self, policies: dict[str, str], data: dict[str, Any]) -> None:
        """Commit a new state only if it builds (callers hold the lock)."""
        self._engine = self._build(policies, data)  # the old engine is closed when unreferenced
        self._policies, self._data = policies, data

    def list_policies(self) -> list[dict[str, str]]:
        with self._lock:
            return [{"id": i, "raw": text} for i, text in sorted(self._policies.items())]

    def put_policy(self, policy_id: str, text: str) -> None:
        with self._lock:
            self._replace({**self._policies, policy_id: text}, self._data)

    def delete_policy(self, policy_id: str) -> bool:
        with self._lock:
            if policy_id not in self._policies:
                return False
            policies = dict(self._policies)
            del policies[policy_id]
            self._replace(policies, self._data)
            return True

    def put_data(self, path: list[str], value: Any) -> None:
        with self._lock:
            if not path:
                if not isinstance(value, dict):
                    raise BadRequest("the root document must be an object")
                self._replace(self._policies, value)
                return
            data = json.loads(json.dumps(self._data))  # a private copy to change
            node = data
            for key in path[:-1]:
                node = node.setdefault(key, {})
                if not isinstance(node, dict):
                    raise BadRequest(f"cannot write below a non-object at {key!r}")
            node[path[-1]] = value
            self._replace(self._policies, data)

    def evaluate(self, path: list[str], input_doc: Any) -> tuple[bool, Any]:
        """(defined, value) of ``data.<path>``. Raises OpaError on an evaluation error."""
        with self._lock:
            engine = self._engine
        # data["a"]["b"]: any segment, not only identifiers, as OPA's REST paths allow.
        ref = "data" + "".join(f"[{json.dumps(key)}]" for key in path)
        bindings = engine.eval_query(f"x := {ref}", input_doc)
        if not bindings:
            return False, None
        return True, bindings[0]["x"]


def make_handler(store: OpaStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as OPA (and requests' pooling) expect
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: a full stderr pipe would stall the server."""

        # -- plumbing ---------------------------------------------------------------------

        def _path(self) -> tuple[str, list[str]]:
            path = urlsplit(self.path).path
            for prefix in ("/v1/policies", "/v1/data"):
                if path == prefix or path.startswith(prefix + "/"):
                    rest = path[len(prefix) :].strip("/")
                    return prefix, [unquote(p) for p in rest.split("/")] if rest else []
            return path, []

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: Any = None) -> None:
            self.send_response(status)
            if status == 204:
                self.end_headers()
                return
            raw = json.dumps(body if body is not None else {}).encode("utf-8")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _error(self, status: int, code: str, message: str, errors: Any = None) -> None:
            body: dict[str, Any] = {"code": code, "message": message}
            if errors:
                body["errors"] = errors
            self._send(status, body)

        def _not_found(self) -> None:
            self._error(404, "resource_not_found", f"{self.command} {self.path} not supported")

        def _json_body(self) -> Any:
            try:
                return json.loads(self._body() or b"null")
            except ValueError as exc:
                raise BadRequest(f"request body is not JSON: {exc}") from exc

        # -- routes -----------------------------------------------------------------------

        def do_GET(self) -> None:  # noqa: N802
            prefix, path = self._path()
            if prefix == "/health":
                self._send(200, {})
            elif prefix == "/v1/policies" and not path:
                self._send(200, {"result": store.list_policies()})
            elif prefix == "/v1/data":
                self._evaluate(path, None)
            else:
                self._not_found()

        def do_PUT(self) -> None:  # noqa: N802
            prefix, path = self._path()
            try:
                if prefix == "/v1/policies" and path:
                    store.put_policy("/".join(path), self._body().decode("utf-8", "replace"))
                    self._send(200, {})
                elif prefix == "/v1/data":
                    store.put_data(path, self._json_body())
                    self._send(204)
                else:
                    self._not_found()
            except BadRequest as exc:
                self._error(400, "invalid_parameter", exc.message, exc.errors)

        def do_DELETE(self) -> None:  # noqa: N802
            prefix, path = self._path()
            if prefix != "/v1/policies" or not path:
                self._not_found()
                return
            policy_id = "/".join(path)
            try:
                deleted = store.delete_policy(policy_id)
            except BadRequest as exc:  # other modules still need it
                self._error(400, "invalid_operation", exc.message, exc.errors)
                return
            if deleted:
                self._send(200, {})
            else:
                self._error(404, "resource_not_found", f"storage_not_found_error: {policy_id}")

        def do_POST(self) -> None:  # noqa: N802
            prefix, path = self._path()
            if prefix != "/v1/data":
                self._not_found()
                return
            try:
                request = self._json_body()
            except BadRequest as exc:
                self._error(400, "invalid_parameter", exc.message)
                return
            if request is not None and not isinstance(request, dict):
                self._error(400, "invalid_parameter", "the request body must be an object")
                return
            # OPA: `{"input": null}` and a missing input both evaluate without input.
            self._evaluate(path, (request or {}).get("input"))

        def _evaluate(self, path: list[str], input_doc: Any) -> None:
            try:
                defined, value = store.evaluate(path, input_doc)
            except OpaUndefinedError:
                defined, value = False, None
            except OpaError as exc:
                self._error(500, "internal_error", exc.message)
                return
            self._send(200, {"result": value} if defined else {})

    return Handler


def serve(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(OpaStore()))
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-eof", action="store_true", help="stop when stdin closes")
    args = parser.parse_args()
    server = serve(args.port)
    if args.exit_on_eof:

        def watch_stdin() -> None:
            sys.stdin.read()
            server.shutdown()

        threading.Thread(target=watch_stdin, daemon=True).start()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
