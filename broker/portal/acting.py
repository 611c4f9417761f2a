"""Who acts for whom, in words (DESIGN §9 mandates): the banner "Je handelt namens …" of a
trusted person, and "door je vertrouwenspersoon …" on what a trusted person did for the client.
The names are the ones given with the mandate (stored encrypted with the client's data key,
``broker.services.mandates.names_of``). Nothing here decides anything: whether a mandate holds
is ``broker.services.client_scope``'s."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session

from broker.context import BrokerContext
from broker.portal.texts import MANDATE_ROLES
from broker.services import mandates
from broker.services.client_scope import ClientScope
from consent import control_store
from consent.controls import MandateRole
from consent.models import OnBehalfOf


@dataclass(frozen=True)
class Acting:
    """A trusted person acts under ``mandate_id`` for the client called ``client_name``."""

    mandate_id: str
    role: MandateRole
    client_name: str | None

    @property
    def label(self) -> str:
        """Whom the banner names: the client's name as given with the mandate."""
        return self.client_name or "iemand die jou als vertrouwenspersoon koos"


def acting_of(ctx: BrokerContext, db: Session, scope: ClientScope) -> Acting | None:
    """The mandate ``scope`` acts under, with the client's name; None for one's own."""
    if scope.on_behalf_of is None:
        return None
    mandate_id = scope.on_behalf_of.mandate_id
    mandate = control_store.get_mandate(session=db, mandate_id=mandate_id)
    if mandate is None:  # scope_for found it a moment ago; still say that this is a mandate
        return Acting(mandate_id=mandate_id, role="trusted_person", client_name=None)
    names = mandates.names_of(ctx, db, mandate)
    return Acting(mandate_id=mandate.id, role=mandate.role, client_name=names.get("client"))


def actor_labels(ctx: BrokerContext, db: Session, viewer: ClientScope,
                 acts: Iterable[OnBehalfOf | None]) -> dict[str, str]:
    """mandate id -> who did it, as the viewer reads it: the client reads "door je
    vertrouwenspersoon <name>"; the trusted person reads "door jou, als vertrouwenspersoon" for
    their own acts and, for another's, no name (the client's other trusted persons are the
    client's business)."""
    labels: dict[str, str] = {}
    for act in acts:
        if act is None or act.mandate_id in labels:
            continue
        mandate = control_store.get_mandate(session=db, mandate_id=act.mandate_id)
        role = MANDATE_ROLES.get(mandate.role if mandate else "", MANDATE_ROLES["trusted_person"])
        if viewer.on_behalf_of is not None:
            mine = viewer.on_behalf_of.mandatary == act.mandatary
            labels[act.mandate_id] = f"door jou, als {role}" if mine else f"door een andere {role}"
            continue
        name = mandates.names_of(ctx, db, mandate).get("mandatary") if mandate else None
        labels[act.mandate_id] = f"door je {role} {name}" if name else f"door je {role}"
    return labels
