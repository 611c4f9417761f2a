"""The audit log over HTTP (DESIGN §5, §7).

Public: the signed checkpoint, the verifier key, inclusion and consistency proofs (they reveal
hashes only). Auditors (scoped ``partner:<id>``, ``network:<id>`` or ``supervisor``): leaves and
entries, pseudonymised, detail still encrypted. A leaf outside an auditor's scope answers 404,
exactly like a leaf that does not exist (``broker.services.audit_scope``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from sqlmodel import Session

from audit.entry import format_time
from audit.errors import ProofRequestError
from broker.api.routing import StrictJSONRoute
from broker.bounds import INT64_MAX, FilterMoment
from broker.context import BrokerContext
from broker.deps import ContextDep, CurrentAuditor, SessionDep
from broker.errors import ForbiddenError, InvalidCursor, InvalidProofRequest, LeafNotFound
from broker.problems import problem_responses
from broker.schemas.audit import EntryPage, LeafPage, LeafPublic, ProofPublic
from broker.services import case_consultations
from broker.services.audit_scope import find_in_scope, in_scope
from broker.store import consultations as consultation_store
from broker.store.audit_events import decode
from broker.witnessing import served_checkpoint

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/audit", tags=["audit"])
MAX_PAGE = 1000
# DESIGN §8: indices and sizes within the 64-bit range the database columns hold.
Index = Annotated[int, Query(ge=0, le=INT64_MAX)]
Size = Annotated[int, Query(ge=1, le=INT64_MAX)]


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(ctx: ContextDep) -> PlainTextResponse:
    """The newest checkpoint as a C2SP signed note (``text/plain``) with its witnesses'
    cosignature lines appended (C2SP tlog-cosignature): with witnesses configured, the newest
    one cosigned by ``GBO_WITNESS_QUORUM`` of them (DESIGN §9)."""
    served = served_checkpoint(ctx.audit.log.store, ctx.witnesses, ctx.settings.witness_quorum)
    note = served.note if served is not None else ctx.audit.log.latest_checkpoint().note
    # C2SP tlog-tiles: the checkpoint is mutable; no caching beyond a few seconds.
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


@router.get("/key", response_class=PlainTextResponse)
def key(ctx: ContextDep) -> PlainTextResponse:
    """The log's verifier key, ``name+hash+base64``; ``name`` is the checkpoints' origin."""
    return PlainTextResponse(ctx.audit.log.verifier_key + "\n")


@router.get("/keys", response_class=PlainTextResponse)
def keys(ctx: ContextDep) -> PlainTextResponse:
    """Every verifier key of the log, one per line, ``name+hash+base64``: the current one first
    (the same as ``/v1/audit/key``), then the ones a key rotation retired, newest first. A
    checkpoint signed before a rotation verifies with a retired key."""
    return PlainTextResponse("".join(v.key_string() + "\n" for v in ctx.log_verifiers()))


@router.get("/proof/inclusion", response_model=ProofPublic,
            responses=problem_responses(InvalidProofRequest))
def inclusion_proof(
    ctx: ContextDep, index: Index, size: Size
) -> ProofPublic:
    """RFC 6962 / RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    try:
        hashes = ctx.audit.log.store.inclusion_proof(index, size)
    except ProofRequestError as exc:
        raise InvalidProofRequest() from exc
    return ProofPublic.of(hashes)


@router.get("/proof/consistency", response_model=ProofPublic,
            responses=problem_responses(InvalidProofRequest))
def consistency_proof(
    ctx: ContextDep, old: Size, new: Size
) -> ProofPublic:
    """RFC 6962 / RFC 9162 consistency proof between the trees of ``old`` and ``new`` leaves."""
    try:
        hashes = ctx.audit.log.store.consistency_proof(old, new)
    except ProofRequestError as exc:
        raise InvalidProofRequest() from exc
    return ProofPublic.of(hashes)


@router.get("/leaves/{index}", response_model=LeafPublic,
            responses=problem_responses(LeafNotFound))
def leaf(ctx: ContextDep, auditor: CurrentAuditor,
         index: Annotated[int, Path(le=INT64_MAX)]) -> LeafPublic:
    """One stored leaf's exact bytes, for independent hashing (auditors, within scope)."""
    stored = ctx.audit.log.store.leaf(index) if index >= 0 else None
    if stored is None or not in_scope(decode(stored), auditor.scope):
        raise LeafNotFound()
    return LeafPublic.of(stored.index, stored.leaf)


@router.get("/leaves", response_model=LeafPage, responses=problem_responses(ForbiddenError))
def leaves(
    ctx: ContextDep,
    auditor: CurrentAuditor,
    start: Index = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
) -> LeafPage:
    """Every leaf from ``start``, in order: what ``gbo-broker audit verify --url`` streams.
    Only the ``supervisor`` scope sees the whole log."""
    if auditor.scope != "supervisor":
        raise ForbiddenError("Reading the whole log needs the supervisor scope.")
    page = []
    for stored in ctx.audit.log.store.iter_leaves(start, batch=limit, columns=True):
        page.append(LeafPublic.of(stored.index, stored.leaf, stored.columns))
        if len(page) == limit:
            break
    return LeafPage(leaves=page, next=page[-1].index + 1 if len(page) == limit else None)


@router.get("/entries", response_model=EntryPage)
def entries(
    ctx: ContextDep,
    auditor: CurrentAuditor,
    session: SessionDep,
    kind: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z_.]+$")] = None,
    partner: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9-]+$")] = None,
    time_from: Annotated[FilterMoment | None, Query(alias="from")] = None,
    time_to: Annotated[FilterMoment | None, Query(alias="to")] = None,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,19}$")] = None,
    break_glass: bool | None = None,
    consultation: Annotated[str | None, Query(pattern=r"^cc-[0-9a-f]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> EntryPage:
    """Entries in the auditor's scope, pseudonymised, oldest first; ``kind`` matches whole
    dotted segments (``access`` or ``access.decision``; ``consent`` is not ``consent_request``);
    ``break_glass=true`` lists the emergency accesses the partners' data protection officers
    review (obligation ``notify_dpo``); ``consultation``
    lists the entries of one case consultation (DESIGN §10: its opening and closing, and the
    access decisions that relied on it; an unknown one, or one outside the scope, lists
    nothing). Pass the returned ``cursor`` for the next page. Times outside 1900..2200 mean
    its edge (``broker.bounds``)."""
    if cursor is not None and int(cursor) > INT64_MAX:
        raise InvalidCursor()
    if consultation is not None:
        return _consultation_page(ctx, session, auditor.scope, consultation, partner=partner,
                                  kind_prefix=kind,
                                  time_from=format_time(time_from) if time_from else None,
                                  time_to=format_time(time_to) if time_to else None,
                                  after=int(cursor) if cursor else None,
                                  break_glass=break_glass, limit=limit)
    found = find_in_scope(
        ctx.audit.log.store,
        auditor.scope,
        partner=partner,
        kind_prefix=kind,
        time_from=format_time(time_from) if time_from else None,
        time_to=format_time(time_to) if time_to else None,
        after=int(cursor) if cursor else None,
        break_glass=break_glass,
        limit=limit,
    )
    page = [{**decode(s), "leaf_hash": LeafPublic.of(s.index, s.leaf).leaf_hash} for s in found]
    return EntryPage(entries=page, cursor=str(found[-1].index) if len(found) == limit else None)


def _consultation_page(ctx: BrokerContext, session: Session, scope: str, consultation_id: str,
                       *, limit: int, after: int | None, **filters: Any) -> EntryPage:
    """The entries of one case consultation in ``scope``: the client's entries (one indexed
    query per page), kept when they name the consultation (DESIGN §10)."""
    found_consultation = consultation_store.get(session, consultation_id)
    if found_consultation is None or not case_consultations.in_scope(found_consultation, scope):
        return EntryPage(entries=[], cursor=None)
    client = (found_consultation.network, found_consultation.client_ref)
    page: list[dict[str, Any]] = []
    while len(page) < limit:
        batch = find_in_scope(ctx.audit.log.store, scope, clients=[client], after=after,
                              limit=MAX_PAGE, **filters)
        for stored in batch:
            after = stored.index
            entry = decode(stored)
            if consultation_id in case_consultations.relied_on(entry):
                page.append({**entry,
                             "leaf_hash": LeafPublic.of(stored.index, stored.leaf).leaf_hash})
                if len(page) == limit:
                    break
        if len(batch) < MAX_PAGE:
            break
    return EntryPage(entries=page, cursor=str(after) if len(page) == limit else None)
