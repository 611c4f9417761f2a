"""What an auditor may see of the log (DESIGN §2): the scope in the auditor's credential
(``partner:<id>``, ``network:<id>`` or ``supervisor``) limits every search. Shared by the v1 API
(``/v1/audit/...``) and the auditor portal, so both show exactly the same entries.

DESIGN §9, "Verification covers everything stored": searches filter on the stored query columns,
so every row a search returns is checked against its own leaf bytes before it is shown
(:func:`verified_rows`); a row whose columns were changed is never shown as if it matched, the
answer fails instead (``AuditIndexMismatch``). A row hidden by a changed column is not returned
by the search at all: that is found by whole-log verification (``gbo-broker audit verify``, the
portal's "verify now", a monitor), which checks the columns of every leaf."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from audit.entry import StoredLeaf
from audit.errors import AuditIntegrityError
from audit.store import AuditStore
from audit.verify import check_columns
from broker.errors import AuditIndexMismatch

log = logging.getLogger("gbo.audit")


def verified_rows(found: Sequence[StoredLeaf]) -> list[StoredLeaf]:
    """``found`` unchanged when every row's stored columns agree with its leaf. Raises
    ``AuditIndexMismatch`` (and logs the index) otherwise."""
    for item in found:
        try:
            check_columns(item)
        except AuditIntegrityError as exc:
            log.error("audit index row differs from its leaf", extra={"index": exc.index})
            raise AuditIndexMismatch() from exc
    return list(found)


def scope_filter(scope: str) -> dict[str, str]:
    """The store filters ``scope`` imposes: ``partner:<id>`` sees that partner's entries,
    ``network:<id>`` its network's, ``supervisor`` everything."""
    kind, _, value = scope.partition(":")
    return {"partner": value} if kind == "partner" else {"network": value} if value else {}


def in_scope(entry: dict[str, Any], scope: str) -> bool:
    return all(entry.get(k) == v for k, v in scope_filter(scope).items())


def find_in_scope(store: AuditStore, scope: str, *, partner: str | None = None,
                  **filters: Any) -> list[StoredLeaf]:
    """``store.find_leaves`` within ``scope``; a ``partner`` outside a partner scope finds
    nothing. ``filters`` are the other keywords of ``find_leaves``."""
    limits = scope_filter(scope)
    if partner is not None and limits.get("partner", partner) != partner:
        return []
    return verified_rows(store.find_leaves(network=limits.get("network"),
                                           partner=limits.get("partner", partner), **filters))
