"""The domain errors routes declare in the OpenAPI document (``problem_responses``), grouped
the way the services raise them. The errors of the request's own form (401, 413, 422
``invalid_request``) and ``database_unavailable`` are added for every route by
``broker.openapi``."""

from __future__ import annotations

from broker.errors import AuditBusy, AuditUnavailable, MandateNotFound, NoValidHelpRelation
from broker.problems import ProblemSource
from consent import errors as c

# A service that appends an audit entry before it commits (DESIGN §6: audit before release).
AUDITED: tuple[ProblemSource, ...] = (AuditUnavailable, AuditBusy)
# A client-side route under ``X-On-Behalf-Of`` (DESIGN §9): a mandate not held now is 404.
ACTING: tuple[ProblemSource, ...] = (MandateNotFound,)
# The terms of a consent or consent request (``consent.rules.validate_consent_create``).
TERMS: tuple[ProblemSource, ...] = (
    c.EmptyRecipients, c.EmptyPurposes, c.EmptySections, c.UnknownPurpose,
    c.PurposeNotByConsent, c.UnknownSection, c.SectionNotShareable, c.UnknownPartner,
    c.RecipientNotBoundBySecrecy, c.UnknownPartnerType, c.UnknownNetwork,
    c.InvalidRecipientKind, c.ValidFromInPast, c.ValidUntilInPast, c.ValidUntilTooFar,
    c.ValidFromAfterValidUntil,
)
# A partner that writes or records for a client must help it now (DESIGN §5).
HELPING: tuple[ProblemSource, ...] = (NoValidHelpRelation,)
