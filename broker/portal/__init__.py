"""The web portals (issue 6). This slice: the client portal ``/mijn``, server-rendered with
Jinja2, working without JavaScript, on the same services as the v1 API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Add the client portal's routes, its static files and its HTML error pages to ``app``."""
    from broker.portal import client, client_consents, pages

    pages.install_error_pages(app)
    app.include_router(client.router)
    app.include_router(client_consents.router)
    app.mount("/mijn/static", StaticFiles(directory=STATIC_DIR), name="portal-static")
