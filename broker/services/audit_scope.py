"""What an auditor may see of the log (DESIGN §2): the scope in the auditor's credential
(``partner:<id>``, ``network:<id>`` or ``supervisor``) limits every search. Shared by the v1 API
(``/v1/audit/...``) and the auditor portal, so both show exactly the same entries."""

from __future__ import annotations

from typing import Any

from audit.entry import StoredLeaf
from audit.store import AuditStore


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
    return store.find_leaves(network=limits.get("network"),
                             partner=limits.get("partner", partner), **filters)
