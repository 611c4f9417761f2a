"""Errors raised by the audit log core.

Every error carries a stable snake_case ``code`` (a class attribute) that callers may render in an
RFC 9457 problem document; messages are for operators and may change.

Hierarchy::

    AuditError                       audit_error
    ├── AuditIntegrityError          audit_integrity              something failed to verify
    │   ├── ProofError               audit_proof_invalid          proof rejected
    │   ├── NoteError                audit_note_invalid           malformed note, bad signature
    │   │   └── UnverifiedNoteError  audit_note_unverified        no signature by a known key
    │   └── CheckpointError          audit_checkpoint_invalid     malformed body, wrong origin
    ├── ProofRequestError            audit_proof_request_invalid  no proof for these sizes
    ├── MissingNodeError             audit_node_missing           planned node not supplied
    ├── KeyFormatError               audit_key_invalid            malformed key string / name
    ├── EntryEncodingError           audit_entry_invalid          entry is not RFC 8785 JSON
    ├── AuditPushback                audit_pushback               writer full: refused, not queued
    ├── AuditTimeout                 audit_timeout                not durable within the wait
    └── AuditWriterClosed            audit_writer_closed          writer stopped: refused

(``audit.store.AuditStoreError``, ``audit_store_unavailable``, wraps a database failure.)
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "AuditIntegrityError",
    "AuditPushback",
    "AuditTimeout",
    "AuditWriterClosed",
    "CheckpointError",
    "EntryEncodingError",
    "KeyFormatError",
    "MissingNodeError",
    "NoteError",
    "ProofError",
    "ProofRequestError",
    "UnverifiedNoteError",
]


class AuditError(Exception):
    """Base class of every error raised by the ``audit`` package."""

    code: str = "audit_error"


class AuditIntegrityError(AuditError):
    """Verification of log data failed: the data is not what the log committed to.

    ``index`` is the first leaf index known to be bad, when the failing check can tell.
    """

    code = "audit_integrity"

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ProofError(AuditIntegrityError):
    """Raised by ``verify_inclusion`` / ``verify_consistency`` when a proof is rejected."""

    code = "audit_proof_invalid"


class NoteError(AuditIntegrityError):
    """Raised by ``open_note`` for a malformed signed note or a failing signature by a known key."""

    code = "audit_note_invalid"


class UnverifiedNoteError(NoteError):
    """Raised by ``open_note`` when no signature by a known key is present (C2SP signed-note)."""

    code = "audit_note_unverified"


class CheckpointError(AuditIntegrityError):
    """Raised by ``parse_checkpoint`` / ``open_checkpoint``: malformed or foreign checkpoint."""

    code = "audit_checkpoint_invalid"


class ProofRequestError(AuditError, ValueError):
    """Raised by the proof planners when the requested index or sizes are out of range."""

    code = "audit_proof_request_invalid"


class MissingNodeError(AuditError, LookupError):
    """Raised by ``materialize`` when the store did not supply a planned subtree hash."""

    code = "audit_node_missing"

    def __init__(self, message: str, *, key: tuple[int, int]) -> None:
        super().__init__(message)
        self.key = key


class KeyFormatError(AuditError, ValueError):
    """Raised when a signer / verifier key string or key name is malformed or inconsistent."""

    code = "audit_key_invalid"


class EntryEncodingError(AuditError, ValueError):
    """Raised by ``encode_leaf`` / ``decode_leaf`` for values that are not canonical JSON."""

    code = "audit_entry_invalid"


class AuditPushback(AuditError):
    """Raised by ``GroupCommitWriter.submit`` / ``append`` when ``max_pending`` entries are
    already waiting to be made durable: the entry is refused at once and not queued, so the
    caller can tell its own caller to come back later instead of waiting behind a backlog
    (Tessera's ``ErrPushback``)."""

    code = "audit_pushback"


class AuditTimeout(AuditError, TimeoutError):
    """Raised by ``GroupCommitWriter.append`` when the entry was not durable within the wait.

    ``withdrawn`` tells what becomes of it. True: the writer had not taken it yet, it was
    cancelled and will never be written. False: the writer had already taken it into a batch,
    which commits or fails as a whole, so the entry is written unless that batch fails.
    """

    code = "audit_timeout"

    def __init__(self, message: str, *, withdrawn: bool) -> None:
        super().__init__(message)
        self.withdrawn = withdrawn


class AuditWriterClosed(AuditError):
    """Raised by ``GroupCommitWriter.submit`` / ``append`` after ``close``: nothing queued."""

    code = "audit_writer_closed"
