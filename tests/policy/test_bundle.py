"""Loading and versioning the policy bundle (broker/policy/bundle.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from broker.errors import PolicyBundleError
from broker.policy.bundle import bundle_from_files, bundle_version, load_bundle
from broker.settings import DEFAULT_POLICY_DIR

POLICY = b"package p\n\nx := 1\n"


def test_default_bundle_mounts_catalogue_and_separates_tests() -> None:
    bundle = load_bundle(DEFAULT_POLICY_DIR)
    catalogue = json.loads((DEFAULT_POLICY_DIR / "catalogue.json").read_text("utf-8"))
    assert bundle.data == {"gbo": {"catalogue": catalogue}}
    assert [path for path, _ in bundle.policies] == [
        "access.rego", "consultation.rego", "coordination.rego", "referral.rego"]
    assert all(path.endswith("_test.rego") for path, _ in bundle.tests)
    assert bundle.tests


def test_version_known_answer() -> None:
    # sha256("a.rego" 00 len=3 "abc" "b.json" 00 len=2 "{}"), files in path order
    files = {"b.json": b"{}", "a.rego": b"abc"}
    expected = hashlib.sha256(
        b"a.rego\x00"
        + (3).to_bytes(8, "big")
        + b"abc"
        + b"b.json\x00"
        + (2).to_bytes(8, "big")
        + b"{}"
    ).hexdigest()
    assert bundle_version(files) == expected


def test_version_ignores_tests_and_other_files(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, root)
    before = load_bundle(root).version
    (root / "README.md").write_text("notes", encoding="utf-8")
    (root / "access_test.rego").write_text("package gbo.access_test\n", encoding="utf-8")
    assert load_bundle(root).version == before


@pytest.mark.parametrize("path", ["access.rego", "catalogue.json"])
def test_version_changes_with_any_served_byte(tmp_path: Path, path: str) -> None:
    root = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, root)
    before = load_bundle(root).version
    with (root / path).open("ab") as f:
        f.write(b"\n")
    assert load_bundle(root).version != before


def test_moving_bytes_between_files_changes_version() -> None:
    assert bundle_version({"a.rego": b"xy", "b.rego": b""}) != bundle_version(
        {"a.rego": b"x", "b.rego": b"y"}
    )


def test_nested_data_mount() -> None:
    bundle = bundle_from_files({"p.rego": POLICY, "extra/partners.json": b"[1]"})
    assert bundle.data == {"gbo": {"extra": {"partners": [1]}}}


@pytest.mark.parametrize(
    ("files", "code"),
    [
        ({"p_test.rego": POLICY}, "no_policies"),
        ({"p.rego": POLICY, "d.json": b"{"}, "invalid_json"),
        ({"p.rego": b"\xff"}, "invalid_encoding"),
        ({"p.rego": POLICY, "../x.rego": POLICY}, "invalid_path"),
        ({"p.rego": POLICY, "a.json": b"{}", "a/b.json": b"{}"}, "data_conflict"),
    ],
    ids=["only_tests", "bad_json", "not_utf8", "escaping_path", "nested_mount"],
)
def test_bad_bundles_rejected(files: dict[str, bytes], code: str) -> None:
    with pytest.raises(PolicyBundleError) as info:
        bundle_from_files(files)
    assert info.value.code == code


def test_missing_directory_rejected(tmp_path: Path) -> None:
    with pytest.raises(PolicyBundleError) as info:
        load_bundle(tmp_path / "nope")
    assert info.value.code == "no_policies"
