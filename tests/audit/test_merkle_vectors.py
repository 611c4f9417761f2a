"""Known-answer tests: transparency-dev/merkle vectors (tests/assets/vectors, Apache-2.0)."""

from __future__ import annotations

from typing import Any

import pytest

from audit import reference
from audit.errors import ProofError
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from audit.plan import consistency_plan, inclusion_plan, materialize
from tests.audit.vectors import load, reference_leaves, unhex

TREE = load("rfc6962_reference_tree.json")
INCLUSION = load("rfc6962_inclusion_proofs.json")
CONSISTENCY = load("rfc6962_consistency_proofs.json")

# Probes we reject although the vector accepts them, with the reason.
STRICTER_THAN_VECTORS = {
    "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        "its roots are the 12-byte strings 'don't care 2'; every hash must be 32 bytes"
    ),
}


def _all_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    acc = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for leaf in leaves:
        nodes.update(acc.append(leaf_hash(leaf)))
    return nodes


def test_vector_files_name_their_source() -> None:
    assert TREE["source"]["repo"] == "transparency-dev/merkle"
    assert all(s["license"] == "Apache-2.0" for s in INCLUSION["source"])
    assert all(s["license"] == "Apache-2.0" for s in CONSISTENCY["source"])


@pytest.mark.parametrize("size", range(9), ids=lambda n: f"size{n}")
def test_root_matches_vector_for_sizes_0_to_8(size: int) -> None:
    want = bytes.fromhex(TREE["root_hashes_by_size_hex"][str(size)])
    leaves = reference_leaves()[:size]
    acc = CompactRange()
    for leaf in leaves:
        acc.append(leaf_hash(leaf))
    assert acc.root() == want
    assert reference.mth(leaves) == want


def test_node_hashes_match_vector_at_every_level() -> None:
    nodes = _all_nodes(reference_leaves())
    for level, row in enumerate(TREE["node_hashes_by_level_hex"]):
        for index, want in enumerate(row):
            assert nodes[(level, index)] == bytes.fromhex(want), (level, index)
    assert len(nodes) == sum(len(row) for row in TREE["node_hashes_by_level_hex"])


@pytest.mark.parametrize(
    "case", TREE["hasher_cases"]["cases"], ids=lambda c: str(c["desc"]).replace(" ", "-")
)
def test_hasher_case_matches_vector(case: dict[str, Any]) -> None:
    want = bytes.fromhex(case["want"])
    if case["op"] == "empty_root":
        assert want == EMPTY_ROOT
    elif case["op"] == "leaf":
        assert leaf_hash(bytes.fromhex(case["data_hex"])) == want
    else:
        assert node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"])) == want


@pytest.mark.parametrize(
    "case", INCLUSION["reference"], ids=lambda c: f"index{c['index']}-size{c['size']}"
)
def test_inclusion_reference_proof_is_planned_and_verified(case: dict[str, Any]) -> None:
    leaves = reference_leaves()[: case["size"]]
    want = unhex(case["path_hex"])
    root = bytes.fromhex(case["root_hex"])
    assert leaf_hash(bytes.fromhex(case["leaf_hex"])) == bytes.fromhex(case["leaf_hash_hex"])
    assert materialize(inclusion_plan(case["index"], case["size"]), _all_nodes(leaves)) == want
    assert reference.path(case["index"], leaves) == want
    verify_inclusion(bytes.fromhex(case["leaf_hash_hex"]), case["index"], case["size"], want, root)


@pytest.mark.parametrize(
    "case", CONSISTENCY["reference"], ids=lambda c: f"size{c['size1']}-to-{c['size2']}"
)
def test_consistency_reference_proof_is_planned_and_verified(case: dict[str, Any]) -> None:
    leaves = reference_leaves()[: case["size2"]]
    want = unhex(case["path_hex"])
    plan = consistency_plan(case["size1"], case["size2"])
    assert materialize(plan, _all_nodes(leaves)) == want
    assert reference.proof(case["size1"], leaves) == want
    verify_consistency(
        case["size1"],
        case["size2"],
        bytes.fromhex(case["root1_hex"]),
        bytes.fromhex(case["root2_hex"]),
        want,
    )


def _inclusion_probe(p: dict[str, Any]) -> None:
    verify_inclusion(
        bytes.fromhex(p["leafHash_hex"]),
        p["leafIdx"],
        p["treeSize"],
        unhex(p["path_hex"]),
        bytes.fromhex(p["root_hex"]),
    )


def _consistency_probe(p: dict[str, Any]) -> None:
    verify_consistency(
        p["size1"],
        p["size2"],
        bytes.fromhex(p["root1_hex"]),
        bytes.fromhex(p["root2_hex"]),
        unhex(p["path_hex"]),
    )


def _probe_id(p: dict[str, Any]) -> str:
    return str(p["file"]).removeprefix("testdata/").removesuffix(".json")


@pytest.mark.parametrize("probe", INCLUSION["probes"], ids=_probe_id)
def test_inclusion_probe_outcome_matches_vector(probe: dict[str, Any]) -> None:
    if probe["wantErr"]:
        with pytest.raises(ProofError):
            _inclusion_probe(probe)
    else:
        _inclusion_probe(probe)


@pytest.mark.parametrize("probe", CONSISTENCY["probes"], ids=_probe_id)
def test_consistency_probe_outcome_matches_vector(probe: dict[str, Any]) -> None:
    if probe["wantErr"] or probe["file"] in STRICTER_THAN_VECTORS:
        with pytest.raises(ProofError):
            _consistency_probe(probe)
    else:
        _consistency_probe(probe)


def test_every_probe_is_exercised() -> None:
    assert len(INCLUSION["probes"]) == 98
    assert len(CONSISTENCY["probes"]) == 98
    files = {p["file"] for p in CONSISTENCY["probes"]}
    assert set(STRICTER_THAN_VECTORS) <= files


def test_stricter_probe_passes_once_its_roots_are_real_hashes() -> None:
    # The vector's case, sizes equal (one) and an empty proof, with 32-byte equal roots.
    root = leaf_hash(b"one")
    verify_consistency(1, 1, root, root, [])
    with pytest.raises(ProofError, match="32 bytes"):
        verify_consistency(1, 1, b"don't care 2", b"don't care 2", [])
