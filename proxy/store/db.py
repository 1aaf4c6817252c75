"""Opening the store's SQLite file: folder and file modes, pragmas, and errors a user can act on."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from proxy.core.paths import data_dir
from proxy.store import schema

DB_NAME = "claude-proxy.db"
BUSY_TIMEOUT = 5.0
"""Seconds a statement waits for another process's write lock before failing with `locked`."""
# A WAL left big by a long read is cut back to this after the next checkpoint.
JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024

ErrorKind = Literal["readonly", "full", "corrupt", "locked", "too_new", "old", "missing", "io"]

# Primary SQLite result codes (the low byte of an extended code).
_PERM = 3
_BUSY = 5
_LOCKED = 6
_READONLY = 8
_CORRUPT = 11
_FULL = 13
_CANTOPEN = 14
_NOTADB = 26
_READONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class StoreError(Exception):
    """Any failure to open, read or write the store; the message names the file and the fix."""

    def __init__(self, message: str, kind: ErrorKind, path: Path) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.path = path


def default_path(environ: Mapping[str, str] | None = None, override: str | None = None) -> Path:
    """The store file in the data folder (`proxy.core.paths.data_dir`, shared with history)."""
    return data_dir(environ, override) / DB_NAME


def _kind_of(exc: BaseException, path: Path) -> ErrorKind:
    if isinstance(exc, schema.SchemaTooNew):
        return "too_new"
    if isinstance(exc, OSError):
        if exc.errno in _FULL_ERRNOS:
            return "full"
        return "readonly" if exc.errno in _READONLY_ERRNOS else "io"
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == _FULL:
        return "full"
    if primary in (_READONLY, _PERM):
        return "readonly"
    if primary in (_BUSY, _LOCKED):
        return "locked"
    if primary in (_CORRUPT, _NOTADB):
        return "corrupt"
    if primary == _CANTOPEN:
        # SQLite cannot say why; an unwritable folder (no room for -wal / -shm) is the usual one.
        return "io" if os.access(path.parent, os.W_OK) else "readonly"
    return "io"


def explain(exc: BaseException, path: Path, action: str = "use") -> StoreError:
    """`exc` (sqlite3, OS or schema error) as one StoreError whose message says what to do."""
    if isinstance(exc, StoreError):
        return exc
    kind = _kind_of(exc, path)
    detail = str(exc) or type(exc).__name__
    messages: dict[ErrorKind, str] = {
        "readonly": f"cannot write {path}: the folder or file is read-only ({detail}). "
        "Make it writable, or set DATA_DIR to a writable folder.",
        "full": f"cannot write {path}: the disk is full ({detail}). "
        "Free some space, or lower RETENTION_DAYS or the store's size cap.",
        "corrupt": f"{path} is damaged or is not a claude-proxy database ({detail}). "
        "Move it aside and restart to begin a new one; "
        f"`sqlite3 {path} 'PRAGMA integrity_check'` shows the damage.",
        "locked": f"{path} stayed locked by another process for more than {BUSY_TIMEOUT:g} s "
        f"({detail}).",
        "too_new": f"{path} was written by a newer claude-proxy ({detail}). "
        "Upgrade claude-proxy, or set DATA_DIR to another folder.",
        "io": f"cannot {action} {path}: {detail}.",
    }
    return StoreError(messages.get(kind, messages["io"]), kind, path)


def _pragmas(conn: sqlite3.Connection, busy_timeout: float) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")


def open_store(
    path: Path, *, busy_timeout: float = BUSY_TIMEOUT, check_same_thread: bool = True
) -> sqlite3.Connection:
    """Open (creating folder 0700 and file 0600) and migrate the store, in WAL mode.

    The connection is in autocommit mode: callers write with explicit `BEGIN IMMEDIATE`.
    """
    path = Path(path)
    conn: sqlite3.Connection | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # SQLite gives its -wal and -shm files the mode of the database file.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=check_same_thread
        )
        _pragmas(conn, busy_timeout)
        if schema.version(conn) == 0:
            # Only possible before the first table exists; lets retention give pages back.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses no committed data on a process crash, only on power loss.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        schema.migrate(conn)
        return conn
    except (sqlite3.Error, OSError, schema.SchemaTooNew) as exc:
        if conn is not None:
            conn.close()
        raise explain(exc, path, "open") from exc


def open_reader(
    path: Path, *, busy_timeout: float = BUSY_TIMEOUT, check_same_thread: bool = True
) -> sqlite3.Connection:
    """A read-only connection to an existing, current store (StoreError otherwise)."""
    path = Path(path).resolve()
    if not path.exists():
        raise StoreError(f"{path} does not exist yet: nothing has been recorded.", "missing", path)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            f"{path.as_uri()}?mode=ro",
            uri=True,
            timeout=busy_timeout,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
        _pragmas(conn, busy_timeout)
        conn.execute("PRAGMA query_only = ON")
        found = schema.version(conn)
        if found > schema.VERSION:
            raise schema.SchemaTooNew(found)
        if found < schema.VERSION:
            conn.close()
            raise StoreError(
                f"{path} has schema version {found}, older than this claude-proxy's "
                f"{schema.VERSION}: start the proxy once (or open it for writing) to upgrade it.",
                "old",
                path,
            )
        return conn
    except (sqlite3.Error, OSError, schema.SchemaTooNew) as exc:
        if conn is not None:
            conn.close()
        raise explain(exc, path, "read") from exc
