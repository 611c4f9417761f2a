"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep
from broker.problems import problem, problem_responses
from broker.store.db import check_migrated

router = APIRouter(route_class=StrictJSONRoute, tags=["operations"])
# What ``prometheus_client`` sends, less the charset: ``text/plain; version=...``.
METRICS_TYPE = CONTENT_TYPE_LATEST.split("; charset")[0]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up. On the event loop, not a request thread: answers however busy."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses((503, "not_ready")))
def readyz(ctx: ContextDep) -> Response:
    """Ready to serve (DESIGN §5): the database answers and is migrated, keys and registry are
    loaded, the policy engine can evaluate (an OPA server holds this bundle version)."""
    checks = {"keys": "ok", "registry": "ok"}
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        check_migrated(ctx.engine)
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = "unavailable"
    try:
        policy_ready = ctx.policy.engine.ready()
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        policy_ready = False
    checks["policy_engine"] = f"{ctx.policy.engine.kind} ok" if policy_ready else "unavailable"
    if "unavailable" in checks.values():
        return problem(503, "not_ready", "The broker is not ready", checks=checks)
    return JSONResponse({"status": "ready", "checks": checks,
                         "policy_version": ctx.policy.version})


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "The Prometheus text exposition format",
    "content": {METRICS_TYPE: {"schema": {"type": "string"}}}}})
def metrics(ctx: ContextDep) -> Response:
    """Prometheus metrics: with several workers, of all of them (``Metrics.exposition``)."""
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
