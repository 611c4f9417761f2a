"""``POST /v1/entries``: a partner writes one entry to a client's dossier (DESIGN §5)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status

from broker.api.problem_docs import AUDITED, HELPING
from broker.api.routing import StrictJSONRoute
from broker.deps import ContextDep, CurrentPartner, SessionDep
from broker.errors import ClientErased
from broker.problems import problem_responses
from broker.schemas.dossier import EntryCreate, EntryCreated
from broker.services import dossier
from consent.errors import UnknownSection

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1", tags=["partners"])


@router.post("/entries", status_code=status.HTTP_201_CREATED, response_model=EntryCreated,
             responses=problem_responses(UnknownSection, *HELPING, ClientErased, *AUDITED))
def create_entry(
    body: EntryCreate, principal: CurrentPartner, ctx: ContextDep, session: SessionDep
) -> EntryCreated:
    """Store an entry, encrypted with the client's data key. The section must be in the
    catalogue; ``werkaantekeningen`` may be written but is never shared."""
    entry = dossier.add_entry(
        session=session,
        keyring=ctx.keyring,
        catalogue=ctx.catalogue,
        network=principal.partner.network,
        author=principal.partner.id,
        worker=principal.worker,
        entry_in=dossier.NewEntry(
            insz=body.insz, section=body.section, content=body.content, restricted=body.restricted
        ),
        now=datetime.now(UTC),
    )
    return EntryCreated(id=entry.id)
