"""Proof plans materialised from stored complete-subtree hashes agree with RFC 6962 2.1."""

from __future__ import annotations

import random
from functools import cache

import pytest

from audit import reference
from audit.errors import AuditIntegrityError, MissingNodeError, ProofRequestError
from audit.merkle import (
    MAX_TREE_SIZE,
    CompactRange,
    NodeKey,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from audit.plan import (
    completed_by_append,
    consistency_plan,
    frontier_keys,
    inclusion_plan,
    materialize,
    plan_keys,
    subtree_keys,
)

MAX_SIZE = 3000


@cache
def _log() -> tuple[list[bytes], dict[NodeKey, bytes], list[bytes]]:
    """Leaves, every complete-subtree node as a store would write it, and the root per size."""
    rng = random.Random(6962)
    leaves = [rng.randbytes(rng.randrange(0, 40)) for _ in range(MAX_SIZE)]
    acc = CompactRange()
    nodes: dict[NodeKey, bytes] = {}
    roots = [acc.root()]
    for leaf in leaves:
        nodes.update(acc.append(leaf_hash(leaf)))
        roots.append(acc.root())
    return leaves, nodes, roots


def _fetch(plan: tuple[tuple[NodeKey, ...], ...]) -> dict[NodeKey, bytes]:
    """One batch read of exactly the planned keys, as a store would do it."""
    _, nodes, _ = _log()
    return {key: nodes[key] for key in plan_keys(plan)}


def _within(plan: tuple[tuple[NodeKey, ...], ...], size: int) -> bool:
    return all(0 < (i + 1) << level <= size for element in plan for level, i in element)


def test_stored_nodes_equal_reference_subtree_hashes() -> None:
    leaves, nodes, _ = _log()
    for (level, i), h in random.Random(1).sample(sorted(nodes.items()), 300):
        assert h == reference.mth(leaves[i << level : (i + 1) << level])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 2047, 2048, 2049])
def test_root_of_frontier_equals_reference_root(size: int) -> None:
    leaves, nodes, roots = _log()
    assert roots[size] == reference.mth(leaves[:size])
    frontier = [nodes[k] for k in frontier_keys(size)]
    assert CompactRange.from_frontier(size, frontier).root() == roots[size]


def test_inclusion_plans_match_reference_for_every_index_of_small_trees() -> None:
    leaves, _, roots = _log()
    for size in range(1, 65):
        for index in range(size):
            plan = inclusion_plan(index, size)
            proof = materialize(plan, _fetch(plan))
            assert proof == reference.path(index, leaves[:size]), (index, size)
            verify_inclusion(leaf_hash(leaves[index]), index, size, proof, roots[size])


def test_consistency_plans_match_reference_for_every_pair_of_small_trees() -> None:
    leaves, _, roots = _log()
    for new in range(1, 65):
        for old in range(1, new + 1):
            plan = consistency_plan(old, new)
            proof = materialize(plan, _fetch(plan))
            assert proof == reference.proof(old, leaves[:new]), (old, new)
            verify_consistency(old, new, roots[old], roots[new], proof)


def test_inclusion_plans_match_reference_for_random_sizes_up_to_3000() -> None:
    leaves, _, roots = _log()
    rng = random.Random(2)
    for _ in range(400):
        size = rng.randrange(1, MAX_SIZE + 1)
        index = rng.randrange(size)
        plan = inclusion_plan(index, size)
        assert _within(plan, size)
        assert len(plan_keys(plan)) <= 2 * size.bit_length()
        proof = materialize(plan, _fetch(plan))
        assert proof == reference.path(index, leaves[:size]), (index, size)
        verify_inclusion(leaf_hash(leaves[index]), index, size, proof, roots[size])


def test_consistency_plans_match_reference_for_random_sizes_up_to_3000() -> None:
    leaves, _, roots = _log()
    rng = random.Random(3)
    for _ in range(400):
        new = rng.randrange(1, MAX_SIZE + 1)
        old = rng.randrange(1, new + 1)
        plan = consistency_plan(old, new)
        assert _within(plan, new)
        assert len(plan_keys(plan)) <= 2 * new.bit_length()
        proof = materialize(plan, _fetch(plan))
        assert proof == reference.proof(old, leaves[:new]), (old, new)
        verify_consistency(old, new, roots[old], roots[new], proof)


def test_plans_for_huge_trees_stay_logarithmic_and_inside_the_tree() -> None:
    size = MAX_TREE_SIZE - 1
    for index in (0, 1, size // 3, size - 2, size - 1):
        plan = inclusion_plan(index, size)
        assert 0 < len(plan) <= 64
        assert _within(plan, size)
        assert len(plan_keys(plan)) <= 128
    for old in (1, 2**40 + 7, size - 1, size):
        assert _within(consistency_plan(old, size), size)


def test_equal_sizes_need_no_consistency_proof() -> None:
    assert consistency_plan(5, 5) == ()


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 0), (5, 5), (6, 5), (-1, 5), (0, MAX_TREE_SIZE), (True, 2)],
    ids=["empty-tree", "index-equals-size", "index-beyond-size", "negative", "too-big", "bool"],
)
def test_inclusion_plan_rejected_when_index_not_in_tree(index: int, size: int) -> None:
    with pytest.raises(ProofRequestError):
        inclusion_plan(index, size)


@pytest.mark.parametrize(
    ("old", "new"),
    [(0, 0), (0, 5), (6, 5), (-1, 5), (1, MAX_TREE_SIZE)],
    ids=["both-empty", "from-empty", "shrinking", "negative", "too-big"],
)
def test_consistency_plan_rejected_when_sizes_not_increasing_from_nonempty(
    old: int, new: int
) -> None:
    with pytest.raises(ProofRequestError):
        consistency_plan(old, new)


def test_subtree_keys_rejected_when_range_is_not_an_rfc6962_subtree() -> None:
    assert subtree_keys(8, 15) == ((2, 2), (1, 6), (0, 14))
    with pytest.raises(ProofRequestError):
        subtree_keys(2, 7)  # 5 leaves starting at 2: not aligned to 8
    with pytest.raises(ProofRequestError):
        subtree_keys(4, 4)


def test_frontier_of_empty_tree_is_empty() -> None:
    assert frontier_keys(0) == ()
    assert frontier_keys(13) == ((3, 0), (2, 2), (0, 12))


def test_materialize_rejected_when_store_misses_a_planned_node() -> None:
    plan = inclusion_plan(3, 10)
    hashes = _fetch(plan)
    missing = plan_keys(plan)[0]
    del hashes[missing]
    with pytest.raises(MissingNodeError) as info:
        materialize(plan, hashes)
    assert info.value.key == missing


def test_materialize_rejected_when_stored_node_is_not_32_bytes() -> None:
    plan = inclusion_plan(3, 10)
    hashes = _fetch(plan)
    hashes[(2, 1)] = hashes[(2, 1)][:31]
    with pytest.raises(AuditIntegrityError) as info:
        materialize(plan, hashes)
    assert info.value.index == 4  # first leaf under node (2, 1)


def test_append_reports_exactly_the_nodes_completed_by_each_leaf() -> None:
    leaves, _, _ = _log()
    acc = CompactRange()
    for i, leaf in enumerate(leaves[:600]):
        done = acc.append(leaf_hash(leaf))
        keys = tuple(key for key, _ in done)
        assert keys == completed_by_append(i)
        for level, j in keys:
            assert (j + 1) << level == i + 1  # every new node ends at the new leaf
        assert len(acc.frontier) == acc.size.bit_count()


def test_completed_by_append_names_levels_where_index_plus_one_divides() -> None:
    assert completed_by_append(0) == ((0, 0),)
    assert completed_by_append(6) == ((0, 6),)
    assert completed_by_append(7) == ((0, 7), (1, 3), (2, 1), (3, 0))
    assert completed_by_append(11) == ((0, 11), (1, 5), (2, 2))
