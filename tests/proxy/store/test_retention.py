"""Retention: rows past the age limit or over the size cap go, oldest first, in small batches."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from proxy.store import db, queries, records
from proxy.store.retention import DAY, RetentionPolicy, prune_step, used_bytes
from proxy.store.writer import StoreWriter
from tests.proxy.store.support import request, turn

NOW = 1_800_000_000.0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = db.open_store(tmp_path / "claude-proxy.db")
    yield connection
    connection.close()


def fill(conn: sqlite3.Connection, start: int, stop: int, when: float, pad: int = 0) -> None:
    body = {"pad": "x" * pad} if pad else None
    conn.execute("BEGIN")
    for n in range(start, stop):
        record = request(n, when + n, request_body=body)
        conn.execute(records.INSERT_REQUEST, records.request_row(record))
        bodies = records.bodies_row(record)
        if bodies is not None:
            conn.execute(records.INSERT_BODIES, bodies)
        conn.execute(records.INSERT_TURN, records.turn_row(turn(n, when + n)))
    conn.execute("COMMIT")


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def prune_all(conn: sqlite3.Connection, policy: RetentionPolicy) -> list[int]:
    steps = []
    while deleted := prune_step(conn, policy, now=NOW):
        steps.append(deleted)
    return steps


def test_rows_older_than_the_limit_go_in_batches(conn: sqlite3.Connection) -> None:
    fill(conn, 0, 1_200, NOW - 100 * DAY, pad=100)
    fill(conn, 1_200, 1_300, NOW - 10 * DAY, pad=100)
    steps = prune_all(conn, RetentionPolicy(days=90, batch=500))
    # 1,200 old requests and 1,200 old turns, at most 500 of each per transaction.
    assert sum(steps) == 2_400 and max(steps) <= 1_000 and len(steps) == 3
    assert count(conn, "requests") == 100 and count(conn, "turns") == 100
    # Bodies follow their request; the rollups keep all time.
    assert count(conn, "request_bodies") == 100
    assert queries.totals(conn)["requests"] == 1_300
    assert queries.sessions(conn)[0]["requests"] + queries.sessions(conn)[1]["requests"] > 100


def test_the_size_cap_removes_the_oldest_until_under_it(conn: sqlite3.Connection) -> None:
    fill(conn, 0, 2_000, NOW - DAY, pad=2_000)
    before = used_bytes(conn)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    cap = before // 4
    steps = prune_all(conn, RetentionPolicy(days=None, max_bytes=cap, batch=200))
    assert steps and used_bytes(conn) <= cap
    left = [row[0] for row in conn.execute("SELECT id FROM requests ORDER BY started_at")]
    # The newest survive, in one unbroken run.
    assert left == [f"req_{n:08d}" for n in range(2_000 - len(left), 2_000)]
    # Incremental vacuum hands freed pages back: the file shrinks, not just its free list.
    assert conn.execute("PRAGMA page_count").fetchone()[0] < pages // 2


def test_nothing_to_prune_is_one_cheap_step(conn: sqlite3.Connection) -> None:
    fill(conn, 0, 10, NOW - DAY)
    assert prune_step(conn, RetentionPolicy(days=90, max_bytes=10**9), now=NOW) == 0
    assert count(conn, "requests") == 10


def test_the_writer_prunes_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    setup = db.open_store(path)
    fill(setup, 0, 1_000, time.time() - 200 * DAY)
    setup.close()
    writer = StoreWriter(path, policy=RetentionPolicy(days=90, batch=100, interval=3_600))
    for n in range(1_000, 1_010):
        writer.submit_request(request(n, time.time()))
    deadline = time.monotonic() + 30
    while writer.status()["pruned"] < 2_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.flush(30)
    assert writer.status()["pruned"] == 2_000
    assert writer.close()
    reader = db.open_reader(path)
    assert count(reader, "requests") == 10 and count(reader, "turns") == 0
    reader.close()
