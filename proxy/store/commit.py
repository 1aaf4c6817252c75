"""Writing rows: one transaction per batch, a row SQLite refuses set aside, deletes in slices."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from proxy.store import records

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
# Errors that belong to one bad row, not to the disk: that row is refused, the rest written.
DATA_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.DataError,
    sqlite3.ProgrammingError,
)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any error (autocommit connections only).

    IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


ROWS_PER_STATEMENT = 32
"""The most rows one INSERT takes. `executemany` runs one statement a row (bind, step, reset,
the GIL let go and taken back around each step); one statement for 32 rows makes the writer
~1.5x as fast (`python -m bench.store`). 32 rows of `requests` are 768 parameters, under
SQLite's oldest limit of 999."""


def insert_rows(conn: sqlite3.Connection, insert: records.Insert, rows: list[Row]) -> None:
    """Insert `rows` in order, up to ROWS_PER_STATEMENT a statement, with the same outcome as
    one statement a row (a key already taken, even by an earlier row here, does what
    `insert.conflict` says). Statement sizes are powers of two, so SQLite's cache keeps them."""
    done, total = 0, len(rows)
    while done < total:
        size = ROWS_PER_STATEMENT
        while size > total - done:
            size //= 2
        params = [value for row in rows[done : done + size] for value in row]
        conn.execute(_sql(insert, size), params)
        done += size


@lru_cache(maxsize=64)
def _sql(insert: records.Insert, rows: int) -> str:
    return insert.sql(rows)


def write_rows(
    conn: sqlite3.Connection, requests: list[Row], bodies: list[Row], turns: list[Row]
) -> int:
    """Insert a batch in one transaction; returns rows written. A bad row fails the whole batch."""
    with transaction(conn):
        insert_rows(conn, records.REQUESTS, requests)
        insert_rows(conn, records.BODIES, bodies)
        insert_rows(conn, records.TURNS, turns)
    return len(requests) + len(turns)


def write_rows_one_by_one(
    conn: sqlite3.Connection, requests: list[Row], bodies: list[Row], turns: list[Row]
) -> int:
    """Insert each row in its own transaction, refusing the ones SQLite refuses; rows written."""
    written = 0
    for sql, rows, counted in (
        (records.INSERT_REQUEST, requests, True),
        (records.INSERT_BODIES, bodies, False),
        (records.INSERT_TURN, turns, True),
    ):
        for row in rows:
            try:
                with transaction(conn):
                    conn.execute(sql, row)
            except DATA_ERRORS as exc:
                log.warning("store: refused a record: %s", exc)
                continue
            written += counted
    return written


def clear_turns(conn: sqlite3.Connection, session: str | None, batch: int) -> int:
    """Delete the turns stored now (of `session` when given), `batch` per transaction."""
    newest = conn.execute("SELECT max(seq) FROM turns").fetchone()[0] or 0
    where = "seq <= ?" + (" AND session_id = ?" if session is not None else "")
    params: Row = (newest, session) if session is not None else (newest,)
    total = 0
    while True:
        with transaction(conn):
            deleted = conn.execute(
                f"DELETE FROM turns WHERE seq IN (SELECT seq FROM turns WHERE {where} LIMIT ?)",
                (*params, batch),
            ).rowcount
            if deleted < batch:
                # The sessions list counts the turns still stored.
                if session is None:
                    conn.execute("UPDATE session_usage SET turns = 0")
                else:
                    conn.execute(
                        "UPDATE session_usage SET turns = 0 WHERE session_id = ?", (session,)
                    )
        total += deleted
        if deleted < batch:
            return total


# An imported turn is one already stored when role, text, session and request match and its time
# is within this many seconds (an export keeps milliseconds).
SAME_TIME = 0.001
_STORED = (
    "SELECT 1 FROM turns WHERE at BETWEEN ? AND ? AND role = ? AND content = ? "
    "AND session_id IS ? AND request_id IS ? LIMIT 1"
)


def import_turns(conn: sqlite3.Connection, rows: list[Row], batch: int) -> int:
    """Insert the imported turns not stored yet, `batch` per transaction; returns how many.

    A turn exported from this store comes back as the same turn (not a copy), and a file imported
    twice adds nothing the second time (its rows' keys are digests of the file's messages).
    """
    added = 0
    for start in range(0, len(rows), batch):
        with transaction(conn):
            for row in rows[start : start + batch]:
                at, session, request_id, role, content = row[:5]
                if conn.execute(
                    _STORED, (at - SAME_TIME, at + SAME_TIME, role, content, session, request_id)
                ).fetchone():
                    continue
                try:
                    added += conn.execute(records.INSERT_TURN, row).rowcount
                except DATA_ERRORS as exc:
                    log.warning("store: refused an imported turn: %s", exc)
    return added
