"""Domain errors of the broker, each with a stable ``code`` and HTTP status.

One handler (``broker.problems``) renders them as RFC 9457 problem+json; routes never raise
``HTTPException`` for domain failures (STYLE.md, Errors). Messages are safe to show to the caller:
they never contain an INSZ or dossier content.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every broker error. ``code`` is stable API: clients may branch on it."""

    code: str = "broker_error"
    status: int = 500
    title: str = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class ConfigurationError(BrokerError):
    """The broker is misconfigured and must not start (raised at start-up, not per request)."""

    code = "configuration_error"
    title = "The broker is not configured correctly"


class AuthenticationError(BrokerError):
    """Any authentication failure. Deliberately opaque (STYLE.md: one generic 401)."""

    code = "unauthorized"
    status = 401
    title = "Authentication required"

    def __init__(self, reason: str = "invalid token") -> None:
        # The reason is for server-side debugging in tests only; it is never sent to the caller.
        super().__init__(self.title)
        self.reason = reason


class ForbiddenError(BrokerError):
    code = "forbidden"
    status = 403
    title = "This credential may not perform this action"



class UnknownSection(BrokerError):
    code = "unknown_section"
    status = 422
    title = "The section is not in the catalogue"


class ClientErased(BrokerError):
    """The client's data key was destroyed (GDPR art. 17 crypto-shredding)."""

    code = "client_erased"
    status = 410
    title = "This client's data has been erased"


class ClientNotFound(BrokerError):
    code = "client_not_found"
    status = 404
    title = "No such client"


class DecryptionError(BrokerError):
    """A ciphertext did not authenticate: wrong key, wrong record, or tampering."""

    code = "decryption_failed"
    status = 500
    title = "Stored data could not be decrypted"
