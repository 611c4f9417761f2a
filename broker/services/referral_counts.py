"""Referral outcomes per partner (DESIGN §10, §11): how many referrals each partner sent and
received, by status. Counts only, never a client; the auditor portal's referral page reads them
within the auditor's scope."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from broker.store.casework import ReferralRow


@dataclass
class PartnerOutcomes:
    partner: str
    sent: dict[str, int] = field(default_factory=dict)  # status -> count
    received: dict[str, int] = field(default_factory=dict)

    @property
    def sent_total(self) -> int:
        return sum(self.sent.values())

    @property
    def received_total(self) -> int:
        return sum(self.received.values())


def outcomes(*, session: Session, partners: Sequence[str]) -> list[PartnerOutcomes]:
    """For each of ``partners`` (in order), its referrals sent and received by status."""
    found = {p: PartnerOutcomes(partner=p) for p in partners}
    for column, side in ((ReferralRow.from_partner, "sent"), (ReferralRow.to_partner,
                                                               "received")):
        rows = session.exec(
            select(column, ReferralRow.status, func.count())
            .where(col(column).in_(list(partners)))
            .group_by(column, ReferralRow.status)).all()
        for partner, status, count in rows:
            getattr(found[partner], side)[status] = int(count)
    return list(found.values())
