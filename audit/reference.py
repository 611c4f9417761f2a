"""Reference RFC 6962 2.1 algorithms over an in-memory list of leaves.

Written to mirror the RFC's recursive definitions line by line, not for speed (O(n) hashing per
call): the oracle that tests hold :mod:`audit.merkle` and :mod:`audit.plan` against.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit.merkle import EMPTY_ROOT, leaf_hash, node_hash

__all__ = ["mth", "path", "proof", "subproof"]


def _k(n: int) -> int:
    """RFC 6962 2.1: the largest power of two smaller than ``n`` (``n > 1``)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 2.1 Merkle Tree Hash ``MTH(D[n])`` of leaf data."""
    n = len(leaves)
    if n == 0:
        # MTH({}) = SHA-256().
        return EMPTY_ROOT
    if n == 1:
        # MTH({d(0)}) = SHA-256(0x00 || d(0)).
        return leaf_hash(leaves[0])
    k = _k(n)
    # MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])).
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 2.1.1 audit path ``PATH(m, D[n])`` for ``0 <= m < n``, leaf to root."""
    n = len(leaves)
    if not 0 <= m < n:
        raise ValueError(f"need 0 <= m < n, got m={m}, n={n}")
    if n == 1:
        # PATH(0, {d(0)}) = {}.
        return []
    k = _k(n)
    if m < k:
        # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k.
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k.
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 6962 2.1.2 ``SUBPROOF(m, D[n], b)``."""
    n = len(leaves)
    if m == n:
        # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
        return [] if b else [mth(leaves)]
    k = _k(n)
    if m <= k:
        # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) for m <= k.
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) for m > k.
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 2.1.2 consistency proof ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``, 0 < m <= n."""
    if not 0 < m <= len(leaves):
        raise ValueError(f"need 0 < m <= n, got m={m}, n={len(leaves)}")
    return subproof(m, leaves, True)
