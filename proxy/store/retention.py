"""Retention: the oldest rows go when they pass the age limit or the file passes its size cap."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from proxy.store.commit import transaction

DAY = 86_400.0
# Pages handed back to the file system per step: small steps keep the write lock short.
VACUUM_PAGES = 2_000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long and how much the store keeps."""

    days: float | None = 90.0
    """Rows older than this many days are deleted (RETENTION_DAYS); None keeps them."""
    max_bytes: int | None = None
    """Size cap of the live data; the oldest rows go first when it is passed. None: no cap."""
    interval: float = 600.0
    """Seconds between checks once nothing is left to prune."""
    batch: int = 500
    """Most rows of each table deleted in one transaction."""


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of live pages (the file may be larger until free pages are handed back)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def _delete_before(conn: sqlite3.Connection, cutoff: float, limit: int) -> int:
    # The subqueries walk the time indexes from the oldest end: no table scan.
    deleted = conn.execute(
        "DELETE FROM requests WHERE seq IN "
        "(SELECT seq FROM requests WHERE started_at < ? ORDER BY started_at LIMIT ?)",
        (cutoff, limit),
    ).rowcount
    deleted += conn.execute(
        "DELETE FROM turns WHERE seq IN (SELECT seq FROM turns WHERE at < ? ORDER BY at LIMIT ?)",
        (cutoff, limit),
    ).rowcount
    return deleted


def _size_cutoff(conn: sqlite3.Connection, batch: int) -> float | None:
    """A time before which about `batch` of the oldest rows lie (None when both tables are empty)."""
    for sql in (
        "SELECT started_at FROM requests ORDER BY started_at LIMIT 1 OFFSET ?",
        "SELECT at FROM turns ORDER BY at LIMIT 1 OFFSET ?",
    ):
        row = conn.execute(sql, (batch - 1,)).fetchone()
        if row is not None:
            return float(row[0]) + 1e-6
    for sql in ("SELECT max(started_at) FROM requests", "SELECT max(at) FROM turns"):
        row = conn.execute(sql).fetchone()
        if row[0] is not None:
            return float(row[0]) + 1e-6
    return None


def prune_step(conn: sqlite3.Connection, policy: RetentionPolicy, now: float | None = None) -> int:
    """Delete one batch of rows past the age limit, else over the size cap; returns how many.

    Call again while it returns more than 0. Runs on the writer's connection (autocommit mode).
    """
    now = time.time() if now is None else now
    deleted = 0
    with transaction(conn):
        if policy.days is not None:
            deleted = _delete_before(conn, now - policy.days * DAY, policy.batch)
        if not deleted and policy.max_bytes is not None and used_bytes(conn) > policy.max_bytes:
            cutoff = _size_cutoff(conn, policy.batch)
            if cutoff is not None:
                deleted = _delete_before(conn, cutoff, policy.batch)
    if deleted:
        # Only has an effect with auto_vacuum=INCREMENTAL (set when the file was created).
        # `execute` would step it once (one page); sqlite3_exec runs it to the end.
        conn.executescript(f"PRAGMA incremental_vacuum({VACUUM_PAGES});")
    return deleted
