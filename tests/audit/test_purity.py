"""The audit core is a pure library: stdlib, cryptography and rfc8785 only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import audit

ALLOWED = set(sys.stdlib_module_names) | {"audit", "cryptography", "rfc8785"}
AUDIT_DIR = Path(audit.__file__).parent
FORBIDDEN = ("broker", "consent", "fastapi", "sqlalchemy", "sqlmodel", "psycopg", "alembic")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_audit_modules_import_only_stdlib_cryptography_and_rfc8785() -> None:
    files = sorted(AUDIT_DIR.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        assert _imported_roots(path) <= ALLOWED, path.name


def test_importing_audit_loads_no_service_or_database_module() -> None:
    stems = sorted(p.stem for p in AUDIT_DIR.glob("*.py") if p.stem != "__init__")
    modules = ", ".join(f"audit.{stem}" for stem in stems)
    code = f"import sys, {modules}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    loaded = {name.split(".")[0] for name in out}
    assert not loaded & set(FORBIDDEN)
