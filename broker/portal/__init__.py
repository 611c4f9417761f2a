"""The web portals (DESIGN §2): the client portal ``/mijn`` and the auditor portal ``/audit``,
server-rendered with Jinja2, working without JavaScript, on the same services as the v1 API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
PREFIXES = ("/mijn", "/audit")
STATIC_PREFIXES = ("/mijn/static/", "/audit/static/")


def is_portal_path(path: str) -> bool:
    """Whether ``path`` is the portals': their pages, static files and (HTML) error pages."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PREFIXES)


def is_static_path(path: str) -> bool:
    """Whether ``path`` is one of the portals' static files (public, the same for everyone)."""
    return path.startswith(STATIC_PREFIXES)


def install(app: FastAPI) -> None:
    """Add the portals' routes, their static files and their HTML error pages to ``app``."""
    from broker.portal import (
        audit_consultations,
        audit_limits,
        audit_referrals,
        audit_review,
        audit_signals,
        auditor,
        client,
        client_consents,
        client_exclusions,
        client_mandates,
        client_opt_out,
        client_requests,
        pages,
    )

    pages.install_error_pages(app)
    app.include_router(client.router)
    app.include_router(client_consents.router)
    app.include_router(client_requests.router)
    app.include_router(client_exclusions.router)
    app.include_router(client_mandates.router)
    app.include_router(client_opt_out.router)
    app.include_router(auditor.router)
    app.include_router(audit_review.router)
    app.include_router(audit_limits.router)
    app.include_router(audit_referrals.router)  # DESIGN §10
    app.include_router(audit_consultations.router)  # DESIGN §10
    app.include_router(audit_signals.router)
    app.mount("/mijn/static", StaticFiles(directory=STATIC_DIR), name="portal-static")
    app.mount("/audit/static", StaticFiles(directory=STATIC_DIR), name="audit-static")
