"""consent/ is a library: it never imports the broker, the audit log or FastAPI (STYLE)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import consent

FORBIDDEN = {"broker", "audit", "fastapi", "starlette"}
MODULES = sorted(Path(consent.__file__).parent.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_consent_module_imports_no_service_code(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN
