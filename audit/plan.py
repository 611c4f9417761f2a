"""Proof plans over a store of complete-subtree hashes (pure; no I/O).

A log store keeps, for every complete subtree, its hash under the key ``(level, index)`` (see
:data:`audit.merkle.NodeKey`), writing the nodes :func:`completed_by_append` names as each leaf is
appended. Every RFC 6962 proof element is the hash of an RFC 6962 subtree ``D[start:end)``,
which is either complete or a right-edge subtree that decomposes into O(log n) complete ones.

A *plan* lists, per proof element, the complete-subtree keys whose hashes fold (right to left,
:func:`audit.merkle.fold`) into that element. A store reads ``plan_keys(plan)`` (O(log n) rows) in
one batch and calls :func:`materialize` to get the proof hashes.
"""

from __future__ import annotations

from collections.abc import Mapping

from audit.errors import AuditIntegrityError, MissingNodeError, ProofRequestError
from audit.merkle import HASH_SIZE, MAX_TREE_SIZE, NodeKey, fold

__all__ = [
    "Plan",
    "completed_by_append",
    "consistency_plan",
    "frontier_keys",
    "inclusion_plan",
    "materialize",
    "plan_keys",
    "subtree_keys",
]

Plan = tuple[tuple[NodeKey, ...], ...]
"""Proof elements in proof order; each is the non-empty tuple of node keys that fold into it."""


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TREE_SIZE:
        raise ProofRequestError(f"{name} must be an int in [0, 2**64), got {value!r}")


def _split(n: int) -> int:
    """RFC 6962 2.1: the largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_keys(start: int, end: int) -> tuple[NodeKey, ...]:
    """Complete subtrees covering the RFC 6962 subtree ``D[start:end)``, left to right.

    ``start`` must be a multiple of the smallest power of two ``>= end - start`` (true of every
    subtree the RFC 6962 recursion produces); the subtrees then have strictly decreasing sizes,
    one per set bit of ``end - start``. Raises ``ProofRequestError`` otherwise.
    """
    _check_count("start", start)
    _check_count("end", end)
    length = end - start
    if length <= 0:
        raise ProofRequestError(f"empty range [{start}, {end})")
    if start % (1 << (length - 1).bit_length()):
        raise ProofRequestError(f"[{start}, {end}) is not an RFC 6962 subtree")
    keys: list[NodeKey] = []
    pos = start
    for level in range(length.bit_length() - 1, -1, -1):
        if length >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return tuple(keys)


def frontier_keys(size: int) -> tuple[NodeKey, ...]:
    """Complete subtrees covering ``[0, size)``: the state of a ``CompactRange`` at ``size``.

    Their hashes fold into the root of the tree of that size (none for the empty tree).
    Raises ``ProofRequestError`` for sizes outside ``[0, 2**64)``.
    """
    _check_count("size", size)
    return subtree_keys(0, size) if size else ()


def completed_by_append(index: int) -> tuple[NodeKey, ...]:
    """Nodes that become complete when leaf ``index`` is appended, lowest first.

    ``(0, index)`` and, for each ``k >= 1`` with ``(index + 1) % 2**k == 0``,
    ``(k, (index + 1) // 2**k - 1)``, whose children are ``(k-1, 2j)`` and ``(k-1, 2j+1)``.
    The left children are exactly the frontier of size ``index`` (so a ``CompactRange``
    computes them without reading the tree). Raises ``ProofRequestError`` for a bad index.
    """
    _check_count("index", index)
    keys: list[NodeKey] = [(0, index)]
    level = 1
    while (index + 1) % (1 << level) == 0:
        keys.append((level, ((index + 1) >> level) - 1))
        level += 1
    return tuple(keys)


def inclusion_plan(index: int, size: int) -> Plan:
    """Plan of the RFC 6962 2.1.1 audit path ``PATH(index, D[0:size])``, leaf to root.

    Raises ``ProofRequestError`` unless ``0 <= index < size``.
    """
    _check_count("index", index)
    _check_count("size", size)
    if index >= size:
        raise ProofRequestError(f"index {index} is not below size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        # RFC 6962 2.1.1: k is the largest power of two < n; recurse into the side holding m
        # and emit the MTH of the other side (appended after the recursive part).
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    return tuple(subtree_keys(s, e) for s, e in reversed(ranges))


def consistency_plan(old_size: int, new_size: int) -> Plan:
    """Plan of the RFC 6962 2.1.2 proof ``PROOF(old_size, D[0:new_size])``.

    Equal sizes give the empty plan. Raises ``ProofRequestError`` unless
    ``0 < old_size <= new_size`` (no proof exists from the empty tree).
    """
    _check_count("old_size", old_size)
    _check_count("new_size", new_size)
    if not 0 < old_size <= new_size:
        raise ProofRequestError(f"need 0 < old_size <= new_size, got {old_size}, {new_size}")
    ranges: list[tuple[int, int]] = []
    lo, hi, whole = 0, new_size, True
    while True:
        # RFC 6962 2.1.2: SUBPROOF(m, D[n], b) with m == n is [] if b else [MTH(D[n])].
        if old_size == hi:
            if not whole:
                ranges.append((lo, hi))
            break
        # m < n: k is the largest power of two < n.
        k = _split(hi - lo)
        if old_size - lo <= k:
            # m <= k: SUBPROOF(m, D[0:k], b) : MTH(D[k:n]).
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            # m > k: SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]).
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    return tuple(subtree_keys(s, e) for s, e in reversed(ranges))


def plan_keys(plan: Plan) -> tuple[NodeKey, ...]:
    """Distinct node keys a store must read to materialize ``plan``, sorted."""
    return tuple(sorted({key for element in plan for key in element}))


def materialize(plan: Plan, hashes: Mapping[NodeKey, bytes]) -> list[bytes]:
    """Proof hashes for ``plan`` from the complete-subtree ``hashes`` a store read.

    Raises ``MissingNodeError`` if a planned key is absent, and ``AuditIntegrityError``
    (``index`` = the node's first leaf) if a stored hash is not 32 bytes.
    """
    proof: list[bytes] = []
    for element in plan:
        parts: list[bytes] = []
        for key in element:
            try:
                h = hashes[key]
            except KeyError:
                raise MissingNodeError(f"node {key} was not supplied", key=key) from None
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                level, idx = key
                raise AuditIntegrityError(f"stored node {key} is not a hash", index=idx << level)
            parts.append(h)
        proof.append(fold(parts))
    return proof
