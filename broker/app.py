"""The ASGI application: ``create_app`` wires the context, routes and error handling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI

from broker.api import include_routes
from broker.context import BrokerContext, load_context
from broker.middleware import BrokerMiddleware, SecurityHeadersMiddleware
from broker.openapi import install_openapi
from broker.portal import install as install_portal
from broker.portal import is_portal_path, is_static_path
from broker.problems import install_problem_handlers
from broker.settings import Settings
from broker.store.db import POOL_HEADROOM

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from broker.tracing import Tracing


def create_app(
    settings: Settings | None = None, *, context: BrokerContext | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """Build the broker. Raises ``ConfigurationError`` if it must not start (see ``context``).
    Traces go to ``span_exporter``, else to the one ``GBO_TRACES_EXPORTER`` names, if any."""
    ctx = context or load_context(settings or Settings())
    tracing: Tracing | None = None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Threads for sync endpoints: one per admitted request, plus the operations endpoints'
        # (sized with the database pool, broker.store.db.make_engine).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = ctx.settings.max_in_flight + POOL_HEADROOM
        yield
        if tracing is not None:
            tracing.close()
        ctx.close()

    app = FastAPI(
        lifespan=lifespan,
        title="gbo-broker",
        version="0.1.0",
        summary="Consent- and policy-driven data sharing between GBO partners, with a verifiable "
        "audit log.",
    )
    app.state.context = ctx
    install_problem_handlers(app)
    include_routes(app)
    install_openapi(app)  # DESIGN §5: errors as problem+json, the real status codes and types
    install_portal(app)  # DESIGN §2: the client portal /mijn (routes, static, error pages)
    app.add_middleware(BrokerMiddleware, max_body=ctx.settings.max_body_bytes, metrics=ctx.metrics,
                       max_in_flight=ctx.settings.max_in_flight,
                       max_queued=ctx.settings.max_queued,
                       max_queue_wait=ctx.settings.max_queue_wait)
    # Outermost, so the 413 above gets the headers too. (Starlette's last-resort 500 answer
    # comes from outside every middleware: it is problem+json, never a portal page.)
    app.add_middleware(SecurityHeadersMiddleware, is_html=is_portal_path, is_static=is_static_path,
                       form_action_origin=ctx.oidc.origin if ctx.oidc else None)
    if span_exporter is not None or ctx.settings.traces_exporter != "none":
        # Imported only when traces are on: the SDK and instrumentations cost each worker's
        # start-up otherwise.
        from broker.tracing import exporter_from, install_tracing

        exporter = span_exporter or exporter_from(ctx.settings.traces_exporter)
        if exporter is not None:  # outermost: the trace spans the whole request, logs included
            tracing = install_tracing(app, ctx.engine, exporter)
    app.state.tracing = tracing
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): each worker's broker, its heap
    settled (``broker.serving.settle_heap``)."""
    from broker.serving import settle_heap

    app = create_app(Settings())
    settle_heap()
    return app
