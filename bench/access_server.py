"""The broker as the access benchmark serves it: the real app, plus two baseline routes.

- ``GET /bench/bare``: a bare JSON endpoint.
- ``POST /bench/token``: verifies a partner token exactly as every partner route does (the same
  ``CurrentPartner`` dependency: signature, claims, single-use ``jti``) and returns ``{}``.

Run: ``python bench/access_server.py --port 8099`` with ``GBO_DATA_DIR``/``GBO_DEMO`` set.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from broker.app import create_app
from broker.deps import CurrentPartner
from broker.observability import configure_logging
from broker.serving import settle_heap
from broker.settings import Settings


def bench_app() -> FastAPI:
    app = create_app(Settings())

    @app.get("/bench/bare")
    def bare() -> dict[str, str]:
        return {}

    @app.post("/bench/token")
    def token_only(principal: CurrentPartner) -> dict[str, str]:
        return {}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    configure_logging("WARNING")
    app = bench_app()
    settle_heap()  # as `gbo-broker serve` does
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_config=None)


if __name__ == "__main__":
    main()
