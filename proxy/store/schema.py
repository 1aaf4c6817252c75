"""The store's schema as ordered migrations; `PRAGMA user_version` says how many have run."""

from __future__ import annotations

import sqlite3

from proxy.store.commit import transaction

BUCKET = 900
"""Seconds per usage bucket (a quarter hour)."""
SUM_COLUMNS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "duration_sum",
    "ttft_sum",
    "ttft_count",
)
"""The additive columns of `usage_buckets`, in table order."""

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
    # v2: full-text search over turn text; the endpoint of each request; usage rolled up per
    # quarter hour and per session, so totals, "all time" and the sessions list never scan
    # the requests table. Retention deletes raw rows only: the rollups keep all time.
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
        # Every time zone is a whole number of quarter hours from UTC, so local days are exact
        # unions of buckets. Retention never deletes buckets: "all time" outlives raw rows.
        """CREATE TABLE usage_buckets (
            bucket INTEGER NOT NULL,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            preset TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            origin TEXT NOT NULL,
            requests INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            cost REAL NOT NULL,
            duration_sum REAL NOT NULL,
            ttft_sum REAL NOT NULL,
            ttft_count INTEGER NOT NULL,
            PRIMARY KEY (bucket, model, provider, preset, endpoint, origin)
        ) WITHOUT ROWID""",
        # A request is an error when it has an error type or a status of 400 or more.
        """CREATE TRIGGER requests_usage AFTER INSERT ON requests BEGIN
            INSERT INTO usage_buckets VALUES (
                CAST(new.started_at / 900 AS INTEGER) * 900,
                coalesce(new.model, ''), coalesce(new.provider, ''), coalesce(new.preset, ''),
                new.endpoint, new.origin,
                1, (new.error_type IS NOT NULL OR coalesce(new.status, 200) >= 400),
                new.input_tokens, new.output_tokens, new.cache_read_tokens, new.cache_write_tokens,
                new.cost, coalesce(new.duration, 0), coalesce(new.ttft, 0), new.ttft IS NOT NULL
            ) ON CONFLICT (bucket, model, provider, preset, endpoint, origin) DO UPDATE SET
                requests = requests + excluded.requests,
                errors = errors + excluded.errors,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                cost = cost + excluded.cost,
                duration_sum = duration_sum + excluded.duration_sum,
                ttft_sum = ttft_sum + excluded.ttft_sum,
                ttft_count = ttft_count + excluded.ttft_count;
        END""",
        """INSERT INTO usage_buckets SELECT
                CAST(started_at / 900 AS INTEGER) * 900,
                coalesce(model, ''), coalesce(provider, ''), coalesce(preset, ''), endpoint, origin,
                count(*), sum(error_type IS NOT NULL OR coalesce(status, 200) >= 400),
                sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                sum(cache_write_tokens), sum(cost), sum(coalesce(duration, 0)),
                sum(coalesce(ttft, 0)), count(ttft)
            FROM requests GROUP BY 1, 2, 3, 4, 5, 6""",
        # Per-session totals (messages requests and turns), for the sessions list.
        """CREATE TABLE session_usage (
            session_id TEXT PRIMARY KEY,
            requests INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            duration_sum REAL NOT NULL DEFAULT 0,
            ttft_sum REAL NOT NULL DEFAULT 0,
            ttft_count INTEGER NOT NULL DEFAULT 0,
            turns INTEGER NOT NULL DEFAULT 0,
            first_at REAL NOT NULL,
            last_at REAL NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX session_usage_last ON session_usage(last_at)",
        """CREATE TRIGGER requests_session_usage AFTER INSERT ON requests
        WHEN new.session_id IS NOT NULL AND new.endpoint = 'messages' BEGIN
            INSERT INTO session_usage (
                session_id, requests, errors, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, cost, duration_sum, ttft_sum, ttft_count, first_at, last_at
            ) VALUES (
                new.session_id, 1, (new.error_type IS NOT NULL OR coalesce(new.status, 200) >= 400),
                new.input_tokens, new.output_tokens, new.cache_read_tokens, new.cache_write_tokens,
                new.cost, coalesce(new.duration, 0), coalesce(new.ttft, 0), new.ttft IS NOT NULL,
                new.started_at, new.started_at
            ) ON CONFLICT (session_id) DO UPDATE SET
                requests = requests + 1,
                errors = errors + excluded.errors,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                cost = cost + excluded.cost,
                duration_sum = duration_sum + excluded.duration_sum,
                ttft_sum = ttft_sum + excluded.ttft_sum,
                ttft_count = ttft_count + excluded.ttft_count,
                first_at = min(first_at, excluded.first_at),
                last_at = max(last_at, excluded.last_at);
        END""",
        """CREATE TRIGGER turns_session_usage AFTER INSERT ON turns
        WHEN new.session_id IS NOT NULL BEGIN
            INSERT INTO session_usage (session_id, turns, first_at, last_at)
            VALUES (new.session_id, 1, new.at, new.at)
            ON CONFLICT (session_id) DO UPDATE SET
                turns = turns + 1,
                first_at = min(first_at, excluded.first_at),
                last_at = max(last_at, excluded.last_at);
        END""",
        """INSERT INTO session_usage (
                session_id, requests, errors, input_tokens, output_tokens, cache_read_tokens,
                cache_write_tokens, cost, first_at, last_at
            ) SELECT session_id, count(*),
                sum(error_type IS NOT NULL OR coalesce(status, 200) >= 400),
                sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
                sum(cache_write_tokens), sum(cost), min(started_at), max(started_at)
            FROM requests WHERE session_id IS NOT NULL GROUP BY session_id""",
        # `WHERE true` keeps the parser from reading ON CONFLICT as a join constraint.
        """INSERT INTO session_usage (session_id, turns, first_at, last_at)
            SELECT session_id, count(*), min(at), max(at)
            FROM turns WHERE true AND session_id IS NOT NULL GROUP BY session_id
            ON CONFLICT (session_id) DO UPDATE SET
                turns = excluded.turns,
                first_at = min(first_at, excluded.first_at),
                last_at = max(last_at, excluded.last_at)""",
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
        with transaction(conn):
            if version(conn) >= number:
                continue
            for statement in MIGRATIONS[number - 1]:
                conn.execute(statement)
            # user_version is part of the database header, so it commits with the step.
            conn.execute(f"PRAGMA user_version = {number}")
        applied.append(number)
    return applied
