"""RFC 6962 / RFC 9162 Merkle tree hashing, a streaming root accumulator, and proof verification.

Pure code: no I/O. Node keys ``(level, index)`` name complete subtrees: node ``(k, i)`` is the
Merkle Tree Hash of leaves ``[i * 2**k, (i + 1) * 2**k)``; level 0 holds leaf hashes. Proof
*planning* for a store of such nodes lives in :mod:`audit.plan`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from audit.errors import AuditIntegrityError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_PROOF_LENGTH",
    "MAX_TREE_SIZE",
    "CompactRange",
    "NodeKey",
    "fold",
    "leaf_hash",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
    "verify_root",
]

HASH_SIZE = 32
"""Bytes in a SHA-256 hash; every leaf, node, root and proof hash has this length."""

MAX_TREE_SIZE = 1 << 64
"""Exclusive upper bound on sizes and indexes (RFC 9162 uses uint64 tree sizes)."""

MAX_PROOF_LENGTH = 128
"""Longest proof looked at: twice the height of any tree below 2**64 leaves."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""RFC 9162 2.1.1: the hash of an empty list is the hash of an empty string."""

NodeKey = tuple[int, int]
"""``(level, index)``: the complete subtree over leaves [index * 2**level, (index+1) * 2**level)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 2.1.1: ``MTH({d(0)}) = SHA-256(0x00 || d(0))``."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 2.1.1: ``SHA-256(0x01 || MTH(left) || MTH(right))``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def fold(hashes: Sequence[bytes]) -> bytes:
    """Fold complete-subtree hashes of adjacent, left-to-right ranges into one subtree hash.

    The ranges must form an RFC 6962 subtree (sizes are decreasing powers of two), so the tree
    nests to the right: ``fold([a, b, c]) == node_hash(a, node_hash(b, c))``. The fold of no
    hashes is :data:`EMPTY_ROOT`, the hash of the empty tree.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_TREE_SIZE


class CompactRange:
    """Constant-memory accumulator of the tree over leaves ``[0, size)``.

    Holds one hash per set bit of ``size``: the complete subtrees that cover ``[0, size)``
    left to right (the *frontier*, see :func:`audit.plan.frontier_keys`). Appending a leaf
    merges equal-sized subtrees, and reports every node that just became complete, so a store
    can persist them without reading the tree.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._frontier: list[bytes] = []

    @classmethod
    def from_frontier(cls, size: int, frontier: Sequence[bytes]) -> CompactRange:
        """Resume at ``size`` from the stored hashes of ``audit.plan.frontier_keys(size)``.

        Raises ``ValueError`` if the number or length of the hashes does not fit ``size``.
        """
        if not _is_count(size):
            raise ValueError(f"size must be an int in [0, 2**64), got {size!r}")
        if len(frontier) != size.bit_count():
            raise ValueError(f"size {size} needs {size.bit_count()} frontier hashes")
        if not all(_is_hash(h) for h in frontier):
            raise ValueError("frontier hashes must be 32-byte bytes")
        cr = cls()
        cr._size = size
        cr._frontier = list(frontier)
        return cr

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """The complete-subtree hashes covering ``[0, size)``, left (largest) to right."""
        return tuple(self._frontier)

    def append(self, leaf_hash: bytes) -> list[tuple[NodeKey, bytes]]:
        """Append the leaf hash of leaf ``size`` and return the nodes this completes.

        The first element is ``((0, index), leaf_hash)``; then, for each level ``k >= 1`` with
        ``(index + 1) % 2**k == 0``, the node ``(k, (index + 1) // 2**k - 1)`` hashed from its
        left child (taken from the frontier) and its right child (just computed).
        Raises ``ValueError`` if ``leaf_hash`` is not 32 bytes or the tree is full.
        """
        if not _is_hash(leaf_hash):
            raise ValueError("leaf_hash must be 32 bytes; hash leaves with leaf_hash() first")
        if self._size + 1 >= MAX_TREE_SIZE:
            raise ValueError("tree is full")
        index = self._size
        h = bytes(leaf_hash)  # a bytes subclass is hashed as its plain value (no own operators)
        done: list[tuple[NodeKey, bytes]] = [((0, index), h)]
        level = 0
        # Each trailing one bit of the old size is a complete left sibling on the frontier.
        while (index >> level) & 1:
            h = node_hash(self._frontier.pop(), h)
            level += 1
            done.append(((level, ((index + 1) >> level) - 1), h))
        self._frontier.append(h)
        self._size = index + 1
        return done

    def push(self, leaf_hash: bytes) -> None:
        """``append`` without reporting the nodes it completes: for verification, which needs
        only roots (no list built per leaf: whole-log verification is bound by this loop)."""
        if type(leaf_hash) is not bytes or len(leaf_hash) != HASH_SIZE \
                or self._size + 1 >= MAX_TREE_SIZE:
            # The unusual cases (a bytes subclass, a wrong length, a full tree) take the checked
            # path: it appends once or raises the same ValueError as append.
            self.append(leaf_hash)
            return
        index = self._size
        frontier = self._frontier
        h = leaf_hash
        while index & 1:  # each trailing one bit of the old size: a complete left sibling
            h = hashlib.sha256(_NODE_PREFIX + frontier.pop() + h).digest()
            index >>= 1
        frontier.append(h)
        self._size += 1

    def root(self) -> bytes:
        """RFC 9162 2.1.1 ``MTH(D[0:size])``; :data:`EMPTY_ROOT` for the empty tree."""
        return fold(self._frontier)


def verify_root(leaves: Iterable[bytes], *, size: int, root: bytes) -> None:
    """Stream leaf *data* (not hashes) through a :class:`CompactRange` and check the root.

    Raises ``AuditIntegrityError`` if the leaf count differs from ``size`` (``index`` = the
    first missing or extra leaf) or the recomputed root differs from ``root``.
    """
    acc = CompactRange()
    for leaf in leaves:
        if acc.size == size:
            raise AuditIntegrityError(f"more than {size} leaves", index=size)
        acc.append(leaf_hash(leaf))
    if acc.size != size:
        raise AuditIntegrityError(f"expected {size} leaves, got {acc.size}", index=acc.size)
    if not hmac.compare_digest(acc.root(), root):
        raise AuditIntegrityError(f"root of {size} leaves does not match")


def _check_hashes(proof: Sequence[bytes], **named: bytes) -> None:
    if len(proof) > MAX_PROOF_LENGTH:
        raise ProofError(f"proof has more than {MAX_PROOF_LENGTH} hashes")
    for what, value in named.items():
        if not _is_hash(value):
            raise ProofError(f"{what} must be {HASH_SIZE} bytes")
    for i, value in enumerate(proof):
        if not _is_hash(value):
            raise ProofError(f"proof[{i}] must be {HASH_SIZE} bytes")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an RFC 9162 2.1.3.2 inclusion proof of ``leaf_hash`` at ``index`` in ``root``.

    ``proof`` is the inclusion path, leaf to root. Raises ``ProofError`` (``index`` set) if a
    hash is not 32 bytes, ``index >= size``, the path has the wrong length, or the computed
    root differs.
    """
    if not (_is_count(index) and _is_count(size)):
        raise ProofError("index and size must be ints in [0, 2**64)")
    _check_hashes(proof, leaf_hash=leaf_hash, root=root)
    # RFC 9162 2.1.3.2 step 1: leaf_index must be < tree_size.
    if index >= size:
        raise ProofError(f"index {index} is not below size {size}", index=index)
    # Step 2: fn = leaf_index, sn = tree_size - 1. Step 3: r = hash.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4: fold in each proof hash.
    for p in proof:
        # Step 4a: a path longer than the tree is tall fails.
        if sn == 0:
            raise ProofError("inclusion path is too long", index=index)
        # Step 4b: p is a left sibling when fn is a right child or on the right border.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Step 4b.ii: skip levels where the right border has no sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        # Step 4c.
        fn >>= 1
        sn >>= 1
    # Step 5: the path must reach the root (sn == 0) and match root_hash.
    if sn != 0:
        raise ProofError("inclusion path is too short", index=index)
    if not hmac.compare_digest(r, root):
        raise ProofError("inclusion proof does not lead to the root", index=index)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Verify that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    Implements RFC 9162 2.1.4.2 for ``0 < old_size < new_size``. Equal sizes need an empty
    proof and equal roots (both :data:`EMPTY_ROOT` at size 0). Consistency *from* the empty
    tree proves nothing and is rejected (RFC 9162 2.1.4.2 presumes ``0 < first``).
    Raises ``ProofError`` on any failure, including hashes that are not 32 bytes.
    """
    if not (_is_count(old_size) and _is_count(new_size)):
        raise ProofError("sizes must be ints in [0, 2**64)")
    _check_hashes(proof, old_root=old_root, new_root=new_root)
    if old_size > new_size:
        raise ProofError(f"old size {old_size} exceeds new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("proof between equal sizes must be empty")
        if not hmac.compare_digest(old_root, new_root):
            raise ProofError("roots differ at equal sizes")
        if old_size == 0 and not hmac.compare_digest(old_root, EMPTY_ROOT):
            raise ProofError("the root of the empty tree is SHA-256 of the empty string")
        return
    if old_size == 0:
        raise ProofError("consistency from the empty tree is not provable")
    # RFC 9162 2.1.4.2 step 1: an empty consistency_path fails.
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    # Step 2: if first is an exact power of 2, prepend first_hash to the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3: fn = first - 1, sn = second - 1.
    fn, sn = old_size - 1, new_size - 1
    # Step 4: if LSB(fn) is set, right-shift fn and sn until it is not.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5: fr and sr start at the first value of the path.
    fr = sr = path[0]
    # Step 6: for each subsequent value c.
    for c in path[1:]:
        # Step 6a: a path longer than the tree is tall fails.
        if sn == 0:
            raise ProofError("consistency path is too long")
        # Step 6b: c is a left sibling of both trees' paths.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # Step 6b.iii: skip levels where the old tree's border has no sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # Otherwise c is only in the new tree, to the right.
            sr = node_hash(sr, c)
        # Step 6c.
        fn >>= 1
        sn >>= 1
    # Step 7: fr == first_hash, sr == second_hash, and sn == 0.
    if sn != 0:
        raise ProofError("consistency path is too short")
    if not hmac.compare_digest(fr, old_root):
        raise ProofError("consistency proof does not lead to the old root")
    if not hmac.compare_digest(sr, new_root):
        raise ProofError("consistency proof does not lead to the new root")
