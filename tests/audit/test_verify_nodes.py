"""``audit.verify.verify_log`` against the stored hash index and against a fork (DESIGN §9), on
leaves in memory: every stored subtree hash is compared with the recomputed one, and two
log-signed checkpoints of one size with different roots are reported as a fork."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from audit.checkpoint import Checkpoint
from audit.entry import StoredLeaf
from audit.errors import AuditIntegrityError
from audit.merkle import CompactRange, NodeKey, leaf_hash
from audit.verify import verify_log

SIZE = 37
LEAVES = [StoredLeaf(index=i, leaf=b'{"index":%d}' % i) for i in range(SIZE)]


def _nodes() -> list[tuple[NodeKey, bytes]]:
    """Every subtree hash of the log."""
    cr, out = CompactRange(), list[tuple[NodeKey, bytes]]()
    for item in LEAVES:
        out.extend(cr.append(leaf_hash(item.leaf)))
    return out


def _levels(
    nodes: list[tuple[NodeKey, bytes]],
) -> Callable[[int, int, int], list[tuple[int, bytes]]]:
    """As ``AuditStore.node_rows``: a level's stored ``(idx, hash)`` in a range, in index order."""
    return lambda level, start, end: sorted((idx, h) for (lv, idx), h in nodes
                                            if lv == level and start <= idx < end)


def _root() -> bytes:
    cr = CompactRange()
    for item in LEAVES:
        cr.push(leaf_hash(item.leaf))
    return cr.root()


CHECKPOINT = Checkpoint("log.test/a", SIZE, _root())


def test_the_stored_nodes_of_an_untouched_log_verify() -> None:
    report = verify_log(LEAVES, checkpoints=[CHECKPOINT], stored_nodes=_levels(_nodes()))
    assert report.leaves == SIZE


@pytest.mark.parametrize(("level", "idx"), [(0, 9), (1, 4), (3, 2), (5, 0)])
def test_a_changed_stored_node_is_named_by_its_first_leaf(level: int, idx: int) -> None:
    nodes = [(key, b"\x00" * 32 if key == (level, idx) else h) for key, h in _nodes()]
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(LEAVES, checkpoints=[CHECKPOINT], stored_nodes=_levels(nodes))
    assert info.value.index == idx << level
    assert "changed" in str(info.value)


def test_a_missing_stored_node_is_named_by_its_first_leaf() -> None:
    nodes = [n for n in _nodes() if n[0] != (2, 3)]
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(LEAVES, checkpoints=[CHECKPOINT], stored_nodes=_levels(nodes))
    assert info.value.index == 12
    assert "leaves [12, 16) is missing" in str(info.value)


def test_two_signed_checkpoints_of_one_size_with_different_roots_are_a_fork() -> None:
    other = Checkpoint("log.test/a", SIZE, b"\x07" * 32)
    with pytest.raises(AuditIntegrityError, match="two different trees of size 37"):
        verify_log(LEAVES, checkpoints=[CHECKPOINT, other])


def test_a_stored_node_missing_at_the_tail_is_named() -> None:
    """The newest leaf's node is not taken for one not written yet: the stored nodes of a page
    of leaves are read after the leaves."""
    nodes = [n for n in _nodes() if n[0] != (0, SIZE - 1)]
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(LEAVES, checkpoints=[CHECKPOINT], stored_nodes=_levels(nodes))
    assert info.value.index == SIZE - 1
    assert f"the stored hash of leaf {SIZE - 1} is missing" in str(info.value)


@pytest.mark.parametrize(("changed", "first"), [
    ([(3, 0), (0, 2)], 2),  # leaf 2's node is met before the one leaf 7 completes
    ([(3, 0), (0, 9)], 0),  # leaves [0, 8) are complete at leaf 7, before leaf 9
    ([(1, 5), (0, 11)], 11),  # leaf 11: its own hash first, then the node [10, 12) it completes
])
def test_of_several_changed_stored_nodes_the_one_a_leaf_by_leaf_check_meets_first_is_named(
    changed: list[NodeKey], first: int
) -> None:
    nodes = [(key, b"\x00" * 32 if key in changed else h) for key, h in _nodes()]
    with pytest.raises(AuditIntegrityError) as info:
        verify_log(LEAVES, checkpoints=[CHECKPOINT], stored_nodes=_levels(nodes))
    assert info.value.index == first
