"""Streaming accumulator and RFC 9162 verifier edge cases (vectors README "edge cases")."""

from __future__ import annotations

import random

import pytest

from audit import reference
from audit.errors import AuditIntegrityError, ProofError
from audit.merkle import (
    EMPTY_ROOT,
    MAX_TREE_SIZE,
    CompactRange,
    fold,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
    verify_root,
)
from audit.plan import consistency_plan, frontier_keys, inclusion_plan, materialize

H = leaf_hash(b"x")  # any well-formed 32-byte hash


def _tree(n: int) -> tuple[list[bytes], dict[tuple[int, int], bytes], CompactRange]:
    leaves = [i.to_bytes(4, "big") for i in range(n)]
    acc = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        nodes.update(acc.append(leaf_hash(leaf)))
    return leaves, nodes, acc


def test_accumulator_root_equals_reference_root_for_sizes_0_to_300() -> None:
    leaves = [random.Random(7).randbytes(9) + bytes([i % 256]) for i in range(300)]
    acc = CompactRange()
    assert acc.root() == EMPTY_ROOT
    for n, leaf in enumerate(leaves, start=1):
        acc.append(leaf_hash(leaf))
        assert acc.size == n
        assert acc.root() == reference.mth(leaves[:n]), n


def test_accumulator_keeps_one_hash_per_set_bit_of_size() -> None:
    _, _, acc = _tree(1000)
    assert len(acc.frontier) == bin(1000).count("1") == 6


def test_accumulator_resumed_from_stored_frontier_continues_identically() -> None:
    leaves, nodes, full = _tree(777)
    resumed = CompactRange.from_frontier(500, [nodes[k] for k in frontier_keys(500)])
    for leaf in leaves[500:]:
        resumed.append(leaf_hash(leaf))
    assert resumed.root() == full.root()
    assert resumed.frontier == full.frontier


def test_accumulator_rejected_when_resumed_with_wrong_frontier_length() -> None:
    with pytest.raises(ValueError, match="frontier"):
        CompactRange.from_frontier(5, [H])
    with pytest.raises(ValueError, match="32-byte"):
        CompactRange.from_frontier(1, [H[:31]])


def test_accumulator_rejected_when_leaf_hash_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange().append(b"raw leaf data, not a hash")


def test_push_gives_the_same_tree_as_append_for_sizes_0_to_300() -> None:
    """``push`` (verification's fast path) keeps the same frontier and root as ``append``."""
    pushed, appended = CompactRange(), CompactRange()
    for i in range(300):
        h = leaf_hash(i.to_bytes(2, "big"))
        pushed.push(h)
        appended.append(h)
        assert pushed.size == appended.size == i + 1
        assert pushed.frontier == appended.frontier, i
        assert pushed.root() == appended.root()


@pytest.mark.parametrize("bad", [b"raw leaf data, not a hash", H[:31], H.hex()[:32]])
def test_push_rejected_when_leaf_hash_not_32_bytes(bad: object) -> None:
    acc = CompactRange()
    with pytest.raises(ValueError, match="32 bytes"):
        acc.push(bad)  # type: ignore[arg-type]
    assert acc.size == 0 and acc.root() == EMPTY_ROOT


class _HashBytes(bytes):
    """A bytes subclass, as a driver or a caller's wrapper type may hand over."""


def test_push_counts_a_bytes_subclass_leaf_once_and_gives_the_plain_bytes_root() -> None:
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(7)]
    plain, wrapped = CompactRange(), CompactRange()
    for i, h in enumerate(hashes, start=1):
        plain.push(h)
        wrapped.push(_HashBytes(h))
        assert wrapped.size == plain.size == i
        assert wrapped.frontier == plain.frontier
        assert wrapped.root() == plain.root() == reference.mth(
            [j.to_bytes(2, "big") for j in range(i)])


def test_push_rejects_a_bytes_subclass_of_the_wrong_length() -> None:
    acc = CompactRange()
    acc.push(H)
    with pytest.raises(ValueError, match="32 bytes"):
        acc.push(_HashBytes(H[:31]))
    assert acc.size == 1 and acc.root() == H


def test_fold_nests_to_the_right() -> None:
    a, b, c = leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c")
    assert fold([a, b, c]) == node_hash(a, node_hash(b, c))
    assert fold([]) == EMPTY_ROOT


def test_verify_root_accepts_streamed_leaves_of_the_log() -> None:
    leaves, _, acc = _tree(100)
    verify_root(iter(leaves), size=100, root=acc.root())


def test_verify_root_rejected_when_a_leaf_changed() -> None:
    leaves, _, acc = _tree(100)
    leaves[42] = b"forged"
    with pytest.raises(AuditIntegrityError):
        verify_root(leaves, size=100, root=acc.root())


@pytest.mark.parametrize(("count", "bad_index"), [(99, 99), (101, 100)], ids=["short", "long"])
def test_verify_root_rejected_when_leaf_count_differs(count: int, bad_index: int) -> None:
    leaves, _, _ = _tree(101)
    root_100 = reference.mth(leaves[:100])
    with pytest.raises(AuditIntegrityError) as info:
        verify_root(leaves[:count], size=100, root=root_100)
    assert info.value.index == bad_index


# --- inclusion ----------------------------------------------------------------------------


def _inclusion(index: int, size: int) -> tuple[bytes, list[bytes], bytes]:
    leaves, nodes, _ = _tree(size)
    proof = materialize(inclusion_plan(index, size), nodes)
    return leaf_hash(leaves[index]), proof, reference.mth(leaves)


def test_inclusion_proof_accepted_for_leaf_in_tree() -> None:
    leaf, proof, root = _inclusion(5, 13)
    verify_inclusion(leaf, 5, 13, proof, root)


@pytest.mark.parametrize("where", ["leaf", "root", "proof"])
@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_inclusion_proof_rejected_when_hash_not_32_bytes(where: str, length: int) -> None:
    leaf, proof, root = _inclusion(5, 13)
    bad = (leaf * 3)[:length]
    if where == "leaf":
        leaf = bad
    elif where == "root":
        root = bad
    else:
        proof = [*proof[:1], bad, *proof[2:]]
    with pytest.raises(ProofError, match="32 bytes"):
        verify_inclusion(leaf, 5, 13, proof, root)


@pytest.mark.parametrize(
    ("index", "size"), [(13, 13), (14, 13), (0, 0), (-1, 13), (0, MAX_TREE_SIZE)]
)
def test_inclusion_proof_rejected_when_index_not_below_size(index: int, size: int) -> None:
    leaf, proof, root = _inclusion(5, 13)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


def test_inclusion_proof_rejected_when_sizes_are_not_ints() -> None:
    leaf, proof, root = _inclusion(1, 2)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, True, 2, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 1, 2.0, proof, root)  # type: ignore[arg-type]


def test_inclusion_proof_rejected_when_path_has_extra_or_missing_hash() -> None:
    leaf, proof, root = _inclusion(5, 13)
    with pytest.raises(ProofError, match="too long"):
        verify_inclusion(leaf, 5, 13, [*proof, root], root)
    with pytest.raises(ProofError, match="too short"):
        verify_inclusion(leaf, 5, 13, proof[:-1], root)


def test_inclusion_proof_rejected_when_any_bit_of_any_hash_flips() -> None:
    leaf, proof, root = _inclusion(6, 11)
    for i in range(len(proof)):
        tampered = list(proof)
        tampered[i] = bytes([tampered[i][0] ^ 1]) + tampered[i][1:]
        with pytest.raises(ProofError):
            verify_inclusion(leaf, 6, 11, tampered, root)


def test_proofs_rejected_when_longer_than_any_uint64_tree_needs() -> None:
    leaf, proof, root = _inclusion(5, 13)
    with pytest.raises(ProofError, match="more than"):
        verify_inclusion(leaf, 5, 13, [H] * 129, root)
    with pytest.raises(ProofError, match="more than"):
        verify_consistency(6, 13, root, root, [H] * 129)


def test_inclusion_proof_error_names_the_leaf_index() -> None:
    leaf, proof, root = _inclusion(5, 13)
    with pytest.raises(ProofError) as info:
        verify_inclusion(leaf, 5, 13, proof, H)
    assert info.value.index == 5
    assert info.value.code == "audit_proof_invalid"


def test_size_one_tree_whose_leaf_hash_is_the_empty_root_is_not_the_empty_tree() -> None:
    # A one-leaf tree's root is its leaf hash (RFC 9162 2.1.1), even if that hash happens to
    # equal SHA-256(""): the root alone never tells size 0 from size 1, the size must.
    acc = CompactRange()
    acc.append(EMPTY_ROOT)
    assert acc.root() == EMPTY_ROOT
    verify_inclusion(EMPTY_ROOT, 0, 1, [], EMPTY_ROOT)
    # ...but nothing is included in the empty tree, and no proof links size 0 to size 1.
    with pytest.raises(ProofError):
        verify_inclusion(EMPTY_ROOT, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError):
        verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


# --- consistency --------------------------------------------------------------------------


def _consistency(old: int, new: int) -> tuple[bytes, bytes, list[bytes]]:
    leaves, nodes, _ = _tree(new)
    proof = materialize(consistency_plan(old, new), nodes)
    return reference.mth(leaves[:old]), reference.mth(leaves), proof


def test_consistency_proof_accepted_for_extended_tree() -> None:
    old_root, new_root, proof = _consistency(6, 13)
    verify_consistency(6, 13, old_root, new_root, proof)


@pytest.mark.parametrize("where", ["old_root", "new_root", "proof"])
def test_consistency_proof_rejected_when_hash_not_32_bytes(where: str) -> None:
    old_root, new_root, proof = _consistency(6, 13)
    if where == "old_root":
        old_root = old_root[:20]
    elif where == "new_root":
        new_root = new_root[:20]
    else:
        proof = [*proof[:-1], proof[-1][:16]]
    with pytest.raises(ProofError, match="32 bytes"):
        verify_consistency(6, 13, old_root, new_root, proof)


def test_consistency_from_size_zero_rejected_with_or_without_proof() -> None:
    _, new_root, proof = _consistency(1, 8)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 8, EMPTY_ROOT, new_root, [])
    with pytest.raises(ProofError):
        verify_consistency(0, 8, EMPTY_ROOT, new_root, proof)


def test_consistency_between_empty_trees_needs_the_empty_root_and_no_proof() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, H, H, [])
    with pytest.raises(ProofError):
        verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])


def test_consistency_between_equal_sizes_rejected_when_roots_differ() -> None:
    old_root, new_root, _ = _consistency(6, 13)
    verify_consistency(13, 13, new_root, new_root, [])
    with pytest.raises(ProofError):
        verify_consistency(13, 13, old_root, new_root, [])


def test_consistency_rejected_when_tree_shrinks() -> None:
    old_root, new_root, proof = _consistency(6, 13)
    with pytest.raises(ProofError):
        verify_consistency(13, 6, new_root, old_root, proof)


def test_consistency_rejected_when_proof_empty_between_different_sizes() -> None:
    old_root, new_root, _ = _consistency(6, 13)
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(6, 13, old_root, new_root, [])


def test_consistency_rejected_when_old_log_was_rewritten() -> None:
    leaves, _, _ = _tree(13)
    _, new_root, proof = _consistency(6, 13)
    forged_old = reference.mth([b"forged", *leaves[1:6]])
    with pytest.raises(ProofError, match="old root"):
        verify_consistency(6, 13, forged_old, new_root, proof)


def test_consistency_rejected_when_path_has_extra_or_missing_hash() -> None:
    old_root, new_root, proof = _consistency(6, 13)
    with pytest.raises(ProofError):
        verify_consistency(6, 13, old_root, new_root, [*proof, H])
    with pytest.raises(ProofError):
        verify_consistency(6, 13, old_root, new_root, proof[:-1])
