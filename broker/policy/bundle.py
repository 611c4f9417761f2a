"""The policy bundle: Rego modules and JSON data under ``broker/policies/`` (DESIGN §4).

Layout rules:

- ``*.rego`` files are policy modules; ``*_test.rego`` files are Rego unit tests. Tests are kept
  apart and are not loaded into a serving engine.
- ``<dir>/<name>.json`` is mounted at ``data.gbo.<dir parts>.<name>``; so ``catalogue.json``
  becomes ``data.gbo.catalogue``.
- Any other file (README, notes) is not part of the bundle.

Version (recorded with every decision): SHA-256, hex, over the *served* files only (policy modules
and data, not tests, since tests never change a decision), in ascending order of their relative
POSIX path as UTF-8 bytes; per file the hash is fed::

    path (UTF-8) || 0x00 || len(content) as 8-byte big-endian || content (raw bytes)

A path cannot contain NUL and the content is length-prefixed, so distinct bundles give distinct
inputs to the hash. Bytes are hashed as stored: a line-ending conversion changes the version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from broker.errors import PolicyBundleError

DATA_ROOT = ("gbo",)
DECISION_RULE = "data.gbo.access.decision"
INVOLVEMENT_RULE = "data.gbo.access.involvement"
CLIENT_VIEW_RULE = "data.gbo.access.client_view"


@dataclass(frozen=True)
class PolicyBundle:
    """What an engine needs: modules as (path, text), the data document and the version."""

    policies: tuple[tuple[str, str], ...]
    tests: tuple[tuple[str, str], ...]
    data: Mapping[str, Any]
    version: str


def is_test_module(path: str) -> bool:
    return path.endswith("_test.rego")


def bundle_version(files: Mapping[str, bytes]) -> str:
    """The bundle version over ``files`` (relative POSIX path -> bytes), as documented above."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.encode("utf-8")):
        content = files[path]
        digest.update(path.encode("utf-8") + b"\x00")
        digest.update(len(content).to_bytes(8, "big"))
        digest.update(content)
    return digest.hexdigest()


def bundle_from_files(files: Mapping[str, bytes]) -> PolicyBundle:
    """Build a bundle from its files (relative POSIX path -> bytes). Pure.

    Raises PolicyBundleError: ``invalid_path``, ``invalid_encoding``, ``invalid_json``,
    ``data_conflict`` or ``no_policies``.
    """
    policies: list[tuple[str, str]] = []
    tests: list[tuple[str, str]] = []
    mounts: dict[tuple[str, ...], tuple[str, Any]] = {}
    served: dict[str, bytes] = {}
    for path in sorted(files, key=lambda p: p.encode("utf-8")):
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\x00" in path:
            raise PolicyBundleError("invalid_path", f"bad bundle path {path!r}")
        if pure.suffix == ".rego":
            text = _decode(path, files[path])
            (tests if is_test_module(path) else policies).append((path, text))
            if not is_test_module(path):
                served[path] = files[path]
        elif pure.suffix == ".json":
            try:
                value = json.loads(_decode(path, files[path]))
            except json.JSONDecodeError as exc:
                raise PolicyBundleError("invalid_json", f"{path}: {exc}") from exc
            mounts[(*DATA_ROOT, *pure.parent.parts, pure.stem)] = (path, value)
            served[path] = files[path]
    if not policies:
        raise PolicyBundleError("no_policies", "the bundle has no policy modules")
    return PolicyBundle(tuple(policies), tuple(tests), _mount(mounts), bundle_version(served))


def load_bundle(root: Path) -> PolicyBundle:
    """Read the bundle under ``root`` (``*.rego`` and ``*.json``, recursively).

    Raises PolicyBundleError (``unreadable`` when the directory or a file cannot be read).
    """
    try:
        paths = [p for p in root.rglob("*") if p.is_file() and p.suffix in (".rego", ".json")]
        files = {p.relative_to(root).as_posix(): p.read_bytes() for p in paths}
    except OSError as exc:
        raise PolicyBundleError("unreadable", f"cannot read bundle {root}: {exc}") from exc
    return bundle_from_files(files)


def _decode(path: str, content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyBundleError("invalid_encoding", f"{path} is not UTF-8") from exc


def _mount(mounts: Mapping[tuple[str, ...], tuple[str, Any]]) -> dict[str, Any]:
    """Nest each value at its key path; one mount inside another is a conflict."""
    for keys, (path, _) in mounts.items():
        for other in mounts:
            if other != keys and other[: len(keys)] == keys:
                raise PolicyBundleError("data_conflict", f"{path} contains {mounts[other][0]}")
    data: dict[str, Any] = {}
    for keys, (_, value) in mounts.items():
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return data
