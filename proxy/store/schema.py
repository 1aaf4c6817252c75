"""The store's schema as ordered migrations; `PRAGMA user_version` says how many have run."""

from __future__ import annotations

import sqlite3

# One tuple of statements per version; version N is MIGRATIONS[N - 1]. Never edit a shipped
# entry: append a new one. Statements are separate strings (not one script) so a migration runs
# inside our own transaction: `executescript` would commit first.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # v1: requests, their optional bodies, conversation turns, a key/value meta table.
    (
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID""",
        "INSERT INTO meta (key, value) VALUES ('created_at', strftime('%s', 'now'))",
        # `seq` (the rowid) orders rows by insertion; `id` is the proxy's request id.
        """CREATE TABLE requests (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            started_at REAL NOT NULL,
            session_id TEXT,
            client TEXT,
            requested_model TEXT,
            model TEXT,
            provider TEXT,
            preset TEXT,
            reason TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            status INTEGER,
            error_type TEXT,
            error_message TEXT,
            ttft REAL,
            duration REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            stop_reason TEXT,
            tool_calls TEXT,
            origin TEXT NOT NULL DEFAULT 'client'
        )""",
        "CREATE INDEX requests_started ON requests(started_at)",
        "CREATE INDEX requests_session ON requests(session_id, started_at)",
        # Bodies are large and rarely read: kept out of `requests` so its scans stay small.
        """CREATE TABLE request_bodies (
            request_id TEXT PRIMARY KEY REFERENCES requests(id) ON DELETE CASCADE,
            request BLOB,
            response BLOB
        ) WITHOUT ROWID""",
        """CREATE TABLE turns (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            session_id TEXT,
            request_id TEXT,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            model TEXT,
            key TEXT
        )""",
        # Index entries end with the rowid, so (at) also orders by (at, seq) for keyset paging.
        "CREATE INDEX turns_at ON turns(at)",
        "CREATE INDEX turns_session ON turns(session_id, at)",
        # The history's dedupe key (a retried request must not record a turn twice) survives
        # restarts this way; imported turns have none.
        "CREATE UNIQUE INDEX turns_key ON turns(key) WHERE key IS NOT NULL",
    ),
    # v2: full-text search over turn text; the endpoint of each request (count_tokens or messages).
    (
        """CREATE VIRTUAL TABLE turns_fts USING fts5(
            content, content='turns', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
            INSERT INTO turns_fts(rowid, content) VALUES (new.seq, new.content);
        END""",
        """CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
            INSERT INTO turns_fts(turns_fts, rowid, content) VALUES ('delete', old.seq, old.content);
        END""",
        """CREATE TRIGGER turns_fts_update AFTER UPDATE OF content ON turns BEGIN
            INSERT INTO turns_fts(turns_fts, rowid, content) VALUES ('delete', old.seq, old.content);
            INSERT INTO turns_fts(rowid, content) VALUES (new.seq, new.content);
        END""",
        "INSERT INTO turns_fts(turns_fts) VALUES ('rebuild')",
        "ALTER TABLE requests ADD COLUMN endpoint TEXT NOT NULL DEFAULT 'messages'",
    ),
)

VERSION = len(MIGRATIONS)
"""The schema version this code reads and writes."""


class SchemaTooNew(Exception):
    """The file was written by a newer claude-proxy; this one must not touch it."""

    def __init__(self, found: int) -> None:
        super().__init__(f"schema version {found}, this claude-proxy knows up to {VERSION}")
        self.found = found


def version(conn: sqlite3.Connection) -> int:
    """The file's schema version (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = VERSION) -> list[int]:
    """Run the migrations the file lacks, one transaction each; returns the versions applied.

    Safe when two processes start at once: each step re-reads the version under the write lock.
    `conn` must be in autocommit mode (`isolation_level=None`).
    """
    found = version(conn)
    if found > VERSION:
        raise SchemaTooNew(found)
    applied: list[int] = []
    for number in range(found + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version(conn) >= number:
                conn.execute("COMMIT")
                continue
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            # user_version is part of the database header, so it commits with the step.
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
