"""``gbo-broker backup DEST`` and ``gbo-broker restore SRC`` (operations): the database and the
key files, taken from a running broker and put back into a fresh data directory.

A backup directory holds ``gbo-backup.json`` (what is in it), the SQLite database (copied with
SQLite's online backup API: one consistent snapshot while the broker keeps writing; in WAL mode
writers are not held up) and the key files, copied *after* the database: a rotation only adds
keys (the old ones stay as retired), so every key that wraps or signs something in the copied
database is in the copied files. In demo mode the demo keys (partners, identity provider, eID
root) come along. Neither the partner registry nor the settings are copied: they are
configuration, kept with the deployment.

On PostgreSQL the database is not copied here: ``pg_dump`` / ``pg_restore`` do it
(``docs/operations.md``); ``backup`` then copies the key files only, ``restore`` puts them back.

Restoring refuses to overwrite anything: a database file or key file already at its place.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from broker.errors import ConfigurationError
from broker.security.keys import receipt_key_file, session_key_file, write_secret_bytes
from broker.settings import Settings

MANIFEST = "gbo-backup.json"
FORMAT = 1
DATABASE_FILE = "gbo.sqlite3"
DEMO_KEYS = "demo-keys"

# The key files of a broker, by role (``broker.security.keys``).
KEY_FILES: dict[str, Callable[[Settings], Path]] = {
    "kek": lambda s: s.resolved_kek_file,
    "audit_log": lambda s: s.audit_key_file,
    "receipt": receipt_key_file,
    "pseudonym_secrets": lambda s: s.pseudonym_secrets_file,
    "portal_session": session_key_file,
}


@dataclass(frozen=True)
class BackupReport:
    database: str  # "sqlite" (copied) or "postgresql" (not copied: pg_dump)
    files: tuple[str, ...]
    log_size: int | None  # leaves in the copied log (SQLite)


def _sqlite_path(settings: Settings) -> Path | None:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise ConfigurationError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _fresh_dir(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ConfigurationError(f"{dest} exists and is not an empty directory")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API: one consistent snapshot of ``source`` at ``target``.
    Raises ``ConfigurationError``."""
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ConfigurationError(f"the database at {source} cannot be opened") from exc
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # all pages in one step: a snapshot, not pages of several moments
            ok = dst.execute("PRAGMA quick_check").fetchone()
            if ok is None or ok[0] != "ok":
                raise ConfigurationError("the copied database does not pass quick_check")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise ConfigurationError(f"copying the database failed: {type(exc).__name__}") from exc
    finally:
        src.close()
    os.chmod(target, 0o600)


def _log_size(database: Path) -> int | None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        try:
            row = conn.execute("SELECT count(*) FROM audit_leaf").fetchone()
        except sqlite3.Error:
            return None
    return int(row[0]) if row else None


def backup(settings: Settings, dest: Path, *, now: datetime | None = None) -> BackupReport:
    """Copy the database (SQLite) and then the key files into the new directory ``dest``.
    Raises ``ConfigurationError`` (``dest`` not empty, a key file missing, the copy failing)."""
    _fresh_dir(dest)
    sqlite_path = _sqlite_path(settings)
    log_size = None
    if sqlite_path is not None:
        if not sqlite_path.exists():
            raise ConfigurationError(f"no database at {sqlite_path}")
        _copy_sqlite(sqlite_path, dest / DATABASE_FILE)
        log_size = _log_size(dest / DATABASE_FILE)
    files: dict[str, str] = {}
    for role, where in KEY_FILES.items():
        path = where(settings)
        try:
            content = path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigurationError(f"the {role} key file is missing at {path}") from exc
        write_secret_bytes(dest / f"{role}.json", content)
        files[role] = f"{role}.json"
    demo = settings.demo and settings.demo_keys_dir.is_dir()
    if demo:
        shutil.copytree(settings.demo_keys_dir, dest / DEMO_KEYS)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created_at": (now or datetime.now(UTC)).isoformat(),
        "database": "sqlite" if sqlite_path is not None else "postgresql",
        "database_file": DATABASE_FILE if sqlite_path is not None else None,
        "key_files": files,
        "demo_keys": DEMO_KEYS if demo else None,
        "log_size": log_size,
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BackupReport(database=manifest["database"], files=tuple(files.values()),
                        log_size=log_size)


def read_manifest(src: Path) -> dict[str, Any]:
    """Raises ``ConfigurationError`` unless ``src`` holds a backup of a known format."""
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"{src} holds no {MANIFEST}: not a gbo-broker backup") from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{src / MANIFEST} is unreadable") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ConfigurationError(f"{src} is a backup of an unknown format")
    return manifest


def restore(settings: Settings, src: Path) -> BackupReport:
    """Put the backup at ``src`` into the data directory and database ``settings`` name, which
    must hold none of it yet. Raises ``ConfigurationError``."""
    manifest = read_manifest(src)
    sqlite_path = _sqlite_path(settings)
    if manifest["database"] == "sqlite" and sqlite_path is None:
        raise ConfigurationError("this backup holds a SQLite database but GBO_DATABASE_URL "
                                 "names PostgreSQL")
    targets = {role: where(settings) for role, where in KEY_FILES.items()}
    taken = [p for p in targets.values() if p.exists()]
    if sqlite_path is not None and manifest["database"] == "sqlite" and sqlite_path.exists():
        taken.append(sqlite_path)
    if taken:
        raise ConfigurationError("restore needs a fresh data directory; already there: "
                                 + ", ".join(str(p) for p in taken))
    if manifest["database"] == "sqlite" and sqlite_path is not None:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _copy_sqlite(src / str(manifest["database_file"]), sqlite_path)
    for role, name in manifest["key_files"].items():
        if role not in targets:
            raise ConfigurationError(f"the backup holds an unknown key file {role!r}")
        write_secret_bytes(targets[role], (src / str(name)).read_bytes())
    if manifest.get("demo_keys") and not settings.demo_keys_dir.exists():
        shutil.copytree(src / str(manifest["demo_keys"]), settings.demo_keys_dir)
    log_size = manifest.get("log_size")
    return BackupReport(database=str(manifest["database"]),
                        files=tuple(manifest["key_files"].values()),
                        log_size=log_size if isinstance(log_size, int) else None)
