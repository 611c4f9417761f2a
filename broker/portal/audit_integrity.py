"""The auditor portal's integrity panel (issue 6): the latest signed checkpoint, the verifier key,
and "verify now", which runs exactly what ``gbo-broker audit verify`` runs on the database
(``broker.audit_verify.database_source`` + ``verify``, with the same state file, so a log cut back
below a checkpoint verified before still fails).

This slice runs the verification synchronously inside the request and shows the result page;
progress is counted (leaves verified) but not streamed to the browser yet.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

from audit.errors import AuditError, AuditIntegrityError
from broker import audit_verify
from broker.context import BrokerContext

STATE_FILE = "audit-verified-checkpoint.txt"  # the CLI's default (broker.cli audit_verify)


@dataclass(frozen=True)
class Outcome:
    """``ok``: every leaf verified against every trusted checkpoint. Otherwise ``bad_index``
    is the first bad leaf (None when the failure names none, e.g. no checkpoint yet)."""

    ok: bool
    leaves: int
    message: str
    seconds: float
    size: int | None = None
    root: str | None = None
    checkpoints_checked: int = 0
    unsigned_tail: int = 0
    bad_index: int | None = None


def verify_now(ctx: BrokerContext) -> Outcome:
    """Verify the whole log now. Never raises for a bad log: the outcome says what failed."""
    started = time.monotonic()
    counted = [0]

    def progress(n: int) -> None:
        counted[0] += n

    log = ctx.audit.log
    try:
        report = audit_verify.verify(
            audit_verify.database_source(log.store), log.signer.verifier,
            state=ctx.settings.data_dir / STATE_FILE, progress=progress,
        )
    except AuditIntegrityError as exc:
        return Outcome(ok=False, leaves=counted[0], message=str(exc), bad_index=exc.index,
                       seconds=time.monotonic() - started)
    except (AuditError, OSError) as exc:
        return Outcome(ok=False, leaves=counted[0], seconds=time.monotonic() - started,
                       message=f"de controle kon niet lopen: {type(exc).__name__}")
    cp = report.checkpoint
    return Outcome(ok=True, leaves=report.leaves, message="OK", size=cp.size,
                   root=base64.b64encode(cp.root_hash).decode(),
                   checkpoints_checked=report.checkpoints_checked,
                   unsigned_tail=report.unsigned_tail, seconds=time.monotonic() - started)
