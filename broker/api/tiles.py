"""The audit log's C2SP tlog-tiles read API (DESIGN §9): ``/v1/audit/tile/<L>/<N>[.p/<W>]`` and
``/v1/audit/tile/entries/<N>[.p/<W>]``, with ``/v1/audit/checkpoint`` as the tiles' checkpoint.

Hash tiles are public, like the proofs: they hold hashes only, served from the stored
complete-subtree nodes. Entry bundles are the stored leaf bytes and need the ``supervisor``
auditor scope, exactly like ``GET /v1/audit/leaves`` (leaves hold pseudonyms, which still link
one client's accesses across partners). Only what the served checkpoint covers is served, so a
tiles client reads exactly the tree the checkpoint commits to. Full tiles and bundles never
change: full hash tiles are cached for a year as immutable, partial ones for an hour (tlog-tiles
lets a log drop a partial once the full tile exists); entry bundles, personal data, never.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from audit.errors import AuditError, ProofRequestError
from audit.tiles import TILE_HEIGHT, TILE_WIDTH, entry_bundle, parse_tile_path
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentAuditor
from broker.errors import ForbiddenError, LeafNotFound
from broker.problems import problem_responses
from broker.witnessing import served_checkpoint

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/audit/tile", tags=["audit"])
FULL = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=3600"
OCTETS = "application/octet-stream"
BINARY = {"description": "The tile's bytes (C2SP tlog-tiles)",
          "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}}


def _served_size(ctx: ContextDep) -> int:
    served = served_checkpoint(ctx.audit.log.store, ctx.witnesses, ctx.settings.witness_quorum)
    return 0 if served is None else served.size


@router.get("/entries/{path:path}", response_class=Response,
            responses={200: BINARY, **problem_responses(ForbiddenError, LeafNotFound)})
def entries(path: str, ctx: ContextDep, auditor: CurrentAuditor) -> Response:
    """An entry bundle: the stored leaves, each prefixed by its uint16 length (supervisor)."""
    if auditor.scope != "supervisor":
        raise ForbiddenError("Entry bundles need the supervisor scope.")
    try:
        tile = parse_tile_path("entries/" + path)
    except ProofRequestError:
        raise LeafNotFound() from None
    if tile.end() > _served_size(ctx):
        raise LeafNotFound()
    start = tile.index * TILE_WIDTH
    leaves = []
    for item in ctx.audit.log.store.iter_leaves(start, batch=tile.count):
        if item.index >= start + tile.count:
            break
        leaves.append(item.leaf)
    try:
        body = entry_bundle(leaves)
    except ProofRequestError:
        raise LeafNotFound() from None
    # Bundles hold client pseudonyms (personal data): never kept by a cache (DESIGN §9).
    return Response(body, media_type=OCTETS, headers={"Cache-Control": "no-store"})


@router.get("/{path:path}", response_class=Response,
            responses={200: BINARY, **problem_responses(LeafNotFound)})
def tile(path: str, ctx: ContextDep) -> Response:
    """A hash tile: up to 256 Merkle Tree Hashes of one level (public)."""
    try:
        found = parse_tile_path(path)
    except ProofRequestError:
        raise LeafNotFound() from None
    if found.level is None or found.end() > _served_size(ctx):
        raise LeafNotFound()
    start = found.index * TILE_WIDTH
    try:
        hashes = ctx.audit.log.store.node_range(found.level * TILE_HEIGHT, start,
                                                start + found.count)
    except AuditError:
        raise LeafNotFound() from None
    return Response(b"".join(hashes), media_type=OCTETS,
                    headers={"Cache-Control": FULL if found.width is None else PARTIAL})
