"""``audit/`` is a library: its pure core uses stdlib, cryptography, rfc8785 and msgspec (a JSON
decoder: no I/O; ``audit.entry.leaf_columns``) only; its storage
modules add SQLAlchemy; nothing in it imports the broker, consent, FastAPI or SQLModel."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import audit

ALLOWED = set(sys.stdlib_module_names) | {"audit", "cryptography", "rfc8785", "msgspec"}
STORAGE_MODULES = {"schema", "store", "writer", "log"}  # the log in a SQL database
AUDIT_DIR = Path(audit.__file__).parent
FORBIDDEN = ("broker", "consent", "fastapi", "sqlmodel", "starlette")
DATABASE = ("sqlalchemy", "psycopg", "alembic")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_pure_core_imports_only_stdlib_cryptography_rfc8785_and_msgspec() -> None:
    files = sorted(p for p in AUDIT_DIR.glob("*.py") if p.stem not in STORAGE_MODULES)
    assert len(files) >= 8
    for path in files:
        assert _imported_roots(path) <= ALLOWED, path.name


def test_storage_modules_add_only_sqlalchemy() -> None:
    for stem in STORAGE_MODULES:
        assert _imported_roots(AUDIT_DIR / f"{stem}.py") <= ALLOWED | {"sqlalchemy"}, stem


def _loaded_by(modules: str) -> set[str]:
    code = f"import sys, {modules}; print(' '.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return {name.split(".")[0] for name in out}


def test_importing_the_whole_package_loads_no_service_module() -> None:
    stems = sorted(p.stem for p in AUDIT_DIR.glob("*.py") if p.stem != "__init__")
    assert not _loaded_by(", ".join(f"audit.{s}" for s in stems)) & set(FORBIDDEN)


def test_importing_the_pure_core_loads_no_database_module() -> None:
    stems = sorted(
        p.stem for p in AUDIT_DIR.glob("*.py") if p.stem not in STORAGE_MODULES | {"__init__"}
    )
    assert not _loaded_by(", ".join(f"audit.{s}" for s in stems)) & set(FORBIDDEN + DATABASE)
