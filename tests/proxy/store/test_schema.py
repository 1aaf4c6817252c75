"""Migrations from an empty file and from v1, file modes, and errors that name the file."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from proxy.store import db, queries, schema


def tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_new_file_gets_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "data" / "claude-proxy.db"
    conn = db.open_store(path)
    assert schema.version(conn) == schema.VERSION == len(schema.MIGRATIONS) >= 2
    assert {"meta", "requests", "request_bodies", "turns", "turns_fts", "usage_buckets"} <= tables(
        conn
    )
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # 1 = NORMAL: no fsync per commit; WAL keeps committed data through a process crash.
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == int(db.BUSY_TIMEOUT * 1000)
    assert conn.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone()[0].isdigit()
    conn.close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reopening_a_current_file_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    db.open_store(path).close()
    conn = db.open_store(path)
    assert schema.migrate(conn) == []
    conn.close()


def test_migrating_from_v1_keeps_and_indexes_the_data(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    old = sqlite3.connect(path, isolation_level=None)
    assert schema.migrate(old, target=1) == [1]
    old.executemany(
        "INSERT INTO requests (id, started_at, session_id, model, status, input_tokens, cost,"
        " ttft, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("r1", 1_000.0, "s1", "openai/gpt-4.1", 200, 100, 0.25, 0.5, 2.0),
            ("r2", 1_100.0, "s1", "openai/gpt-4.1", 502, 0, 0.0, None, 1.0),
            ("r3", 5_000.0, None, "gemini/gemini-2.5-pro", 200, 40, 0.5, 0.25, 4.0),
        ],
    )
    old.executemany(
        "INSERT INTO turns (at, session_id, request_id, role, content) VALUES (?, ?, ?, ?, ?)",
        [
            (1_000.0, "s1", "r1", "user", "refactor the parser module"),
            (1_001.0, "s1", "r1", "assistant", "the parser now streams"),
        ],
    )
    old.close()

    conn = db.open_store(path)
    assert schema.version(conn) == schema.VERSION
    assert conn.execute("SELECT count(*) FROM requests").fetchone()[0] == 3
    # New column, default filled in for old rows.
    assert {row[0] for row in conn.execute("SELECT endpoint FROM requests")} == {"messages"}
    # The FTS index covers turns written before it existed.
    found, _ = queries.search_turns(conn, "parser")
    assert [t["content"] for t in found] == ["the parser now streams", "refactor the parser module"]
    # The rollups were backfilled from the old rows.
    assert queries.totals(conn) | {"avg_duration": None, "avg_ttft": None} == {
        "requests": 3,
        "errors": 1,
        "input_tokens": 140,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost": 0.75,
        "avg_duration": None,
        "avg_ttft": None,
    }
    assert [
        (s["session_id"], s["requests"], s["turns"], s["cost"]) for s in queries.sessions(conn)
    ] == [("s1", 2, 2, 0.25)]
    # And new rows keep them current.
    conn.execute(
        "INSERT INTO requests (id, started_at, session_id, cost) VALUES ('r4', 6000, 's1', 1)"
    )
    assert queries.totals(conn)["requests"] == 4
    assert queries.sessions(conn)[0]["requests"] == 3
    conn.close()


def test_a_file_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    db.open_store(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
    raw.close()
    with pytest.raises(db.StoreError) as caught:
        db.open_store(path)
    assert caught.value.kind == "too_new"
    assert str(path) in str(caught.value) and "newer claude-proxy" in str(caught.value)


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    path.write_bytes(b"this is not SQLite " * 400)
    with pytest.raises(db.StoreError) as caught:
        db.open_store(path)
    assert caught.value.kind == "corrupt"
    message = str(caught.value)
    assert str(path) in message and "Move it aside" in message


def test_the_reader_is_read_only_and_wants_a_current_file(tmp_path: Path) -> None:
    path = tmp_path / "claude-proxy.db"
    with pytest.raises(db.StoreError) as caught:
        db.open_reader(path)
    assert caught.value.kind == "missing"

    old = sqlite3.connect(path, isolation_level=None)
    schema.migrate(old, target=1)
    old.close()
    with pytest.raises(db.StoreError) as caught:
        db.open_reader(path)
    assert caught.value.kind == "old" and "start the proxy once" in str(caught.value)

    db.open_store(path).close()
    reader = db.open_reader(path)
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("DELETE FROM requests")
    reader.close()


def test_data_dir_follows_the_environment(tmp_path: Path) -> None:
    assert db.data_dir({"DATA_DIR": str(tmp_path)}) == tmp_path
    assert db.data_dir({"DATA_DIR": "elsewhere"}, str(tmp_path)) == tmp_path
    assert db.data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "claude-proxy"
    assert db.default_path({"XDG_DATA_HOME": str(tmp_path)}).name == db.DB_NAME
    assert db.data_dir({}).parts[-3:] == (".local", "share", "claude-proxy")
