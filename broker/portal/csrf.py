"""CSRF protection for every portal form (DESIGN §2): a per-session token (synchroniser token
pattern) in a hidden field, compared in constant time on every POST. The session cookie is
``SameSite=Lax`` as a second line. A failure is a 403 page and the request does nothing."""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from broker.portal.session import PortalSession

FIELD = "csrf"


class CsrfFailed(Exception):
    """The form's token is missing or does not match the session's."""


def check_csrf(session: PortalSession | None, form: Mapping[str, Sequence[str]]) -> None:
    """Raises ``CsrfFailed`` unless the form carries exactly the session's token."""
    sent = form.get(FIELD, ())
    if session is None or len(sent) != 1:
        raise CsrfFailed()
    if not hmac.compare_digest(sent[0].encode(), session.csrf.encode()):
        raise CsrfFailed()
