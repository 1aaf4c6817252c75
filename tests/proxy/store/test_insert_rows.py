"""Many rows per INSERT statement leave the store exactly as one statement a row did."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from proxy.store import commit, db, records

TABLES = ("requests", "request_bodies", "turns", "usage_buckets", "session_usage", "turns_fts")


def dump(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows, in a fixed order (rollups and the full-text index included)."""
    return {table: sorted(conn.execute(f"SELECT * FROM {table}"), key=repr) for table in TABLES}


def batches(seed: int) -> list[tuple[list[commit.Row], list[commit.Row], list[commit.Row]]]:
    """Batches of 0-80 requests, bodies and turns, with keys taken before and within a batch."""
    rng = random.Random(seed)
    out = []
    for _ in range(6):
        n = rng.choice([0, 1, 2, 3, 31, 32, 33, 45, 64, 80])
        # A small id space: some ids repeat within the batch, some across batches.
        ids = [f"req_{rng.randrange(60):04d}" for _ in range(n)]
        requests = [
            records.request_row(
                {
                    "id": value,
                    "started_at": 1_800_000_000.0 + rng.randrange(7200),
                    "session_id": rng.choice([None, "s1", "s2"]),
                    "model": rng.choice(["a/x", "b/y"]),
                    "status": rng.choice([200, 200, 502]),
                    "input_tokens": rng.randrange(1000),
                    "cost": rng.random(),
                    "ttft": rng.choice([None, 0.5]),
                }
            )
            for value in ids
        ]
        bodies = [(value, b'{"n": 1}', None) for value in ids[: n // 3]]
        turns = [
            records.turn_row(
                {
                    "at": 1_800_000_000.0 + i,
                    "session_id": "s1",
                    "request_id": value,
                    "role": rng.choice(records.ROLES),
                    "content": f"turn {rng.randrange(40)} words here",
                    "key": rng.choice([None, f"k{rng.randrange(30)}"]),
                }
            )
            for i, value in enumerate(ids)
        ]
        out.append((requests, bodies, turns))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_many_rows_a_statement_store_what_one_a_row_stored(tmp_path: Path, seed: int) -> None:
    grouped = db.open_store(tmp_path / "grouped.db")
    single = db.open_store(tmp_path / "single.db")
    for requests, bodies, turns in batches(seed):
        commit.write_rows(grouped, requests, bodies, turns)
        with commit.transaction(single):
            single.executemany(records.INSERT_REQUEST, requests)
            single.executemany(records.INSERT_BODIES, bodies)
            single.executemany(records.INSERT_TURN, turns)
    try:
        assert dump(grouped) == dump(single)
        assert dump(grouped)["requests"]  # the data set is not empty
    finally:
        grouped.close()
        single.close()


def test_a_bad_row_anywhere_in_a_statement_fails_the_batch(tmp_path: Path) -> None:
    conn = db.open_store(tmp_path / "claude-proxy.db")
    good = [records.request_row({"id": f"req_{i}", "started_at": 1.0}) for i in range(40)]
    bad = list(good[35])
    bad[1] = None  # started_at is NOT NULL
    rows = [*good[:35], tuple(bad), *good[36:]]
    with pytest.raises(sqlite3.IntegrityError):
        commit.write_rows(conn, rows, [], [])
    # Nothing of the batch stays: the writer then writes it one row at a time.
    assert conn.execute("SELECT count(*) FROM requests").fetchone() == (0,)
    conn.close()
