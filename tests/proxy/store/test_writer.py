"""The writer: batches, never blocks its callers, pauses on a full disk and resumes."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from proxy.store import db, queries, records
from proxy.store.writer import StoreWriter
from tests.proxy.store.support import request, turn

NOW = 1_800_000_000.0


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Poll until `check()` (a deadline against hangs, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "claude-proxy.db"


@pytest.fixture
def writers() -> Iterator[list[StoreWriter]]:
    """Writers closed at the end of the test, whatever happens."""
    made: list[StoreWriter] = []
    yield made
    for writer in made:
        writer.close(timeout=10)


def count(path: Path, table: str) -> int:
    conn = db.open_reader(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_many_submits_become_few_transactions(path: Path, writers: list[StoreWriter]) -> None:
    commits: list[str] = []

    def trace(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)

    writer = StoreWriter(path, batch_size=5_000, connect_hook=trace)
    writers.append(writer)
    for n in range(1_000):
        writer.submit_request(request(n, NOW + n))
        writer.submit_turn(turn(n, NOW + n))
    assert writer.flush(30)
    assert count(path, "requests") == 1_000 and count(path, "turns") == 1_000
    assert writer.status()["rows_written"] == 2_000
    # The batch window gathers the burst: one transaction, a few on a busy machine.
    assert 1 <= len(commits) <= 4


def test_a_batch_never_exceeds_the_size_limit(path: Path, writers: list[StoreWriter]) -> None:
    db.open_store(path).close()
    reader = db.open_reader(path, check_same_thread=False)
    # A reader sees what was committed before each COMMIT: the running count, batch by batch.
    seen: list[int] = []

    def trace(conn: sqlite3.Connection) -> None:
        def on_sql(sql: str) -> None:
            if sql == "COMMIT":
                seen.append(reader.execute("SELECT count(*) FROM requests").fetchone()[0])

        conn.set_trace_callback(on_sql)

    writer = StoreWriter(path, batch_size=100, connect_hook=trace)
    writers.append(writer)
    for n in range(1_000):
        writer.submit_request(request(n, NOW + n))
    assert writer.flush(30)
    seen.append(reader.execute("SELECT count(*) FROM requests").fetchone()[0])
    reader.close()
    sizes = [b - a for a, b in itertools.pairwise(seen)]
    assert seen[0] == 0 and seen[-1] == 1_000
    assert max(sizes) <= 100 and len(sizes) >= 10


def test_a_record_is_written_without_a_flush(path: Path, writers: list[StoreWriter]) -> None:
    writer = StoreWriter(path, batch_seconds=0.05)
    writers.append(writer)
    writer.submit_request(request(1, NOW))
    assert wait_for(lambda: writer.rows_written == 1)
    assert count(path, "requests") == 1


def test_a_stalled_disk_never_slows_submit(path: Path, writers: list[StoreWriter]) -> None:
    """While the writer is stuck inside a transaction, 10,000 submits all return."""
    entered, gate = threading.Event(), threading.Event()

    def stall(conn: sqlite3.Connection) -> None:
        def progress() -> int:
            entered.set()
            gate.wait()
            return 0

        conn.set_progress_handler(progress, 100)

    writer = StoreWriter(path, batch_seconds=0.0, connect_hook=stall)
    writers.append(writer)
    writer.submit_request(request(0, NOW))
    assert entered.wait(20)
    for n in range(1, 10_001):
        writer.submit_request(request(n, NOW + n))
        writer.submit_turn(turn(n, NOW + n))
    # Every submit returned while the disk was still stalled.
    assert not gate.is_set() and writer.rows_written == 0
    assert writer.status()["backlog"] >= 20_000
    gate.set()
    assert writer.flush(60)
    assert count(path, "requests") == 10_001 and count(path, "turns") == 10_000


def test_a_bad_record_is_refused_and_the_rest_written(
    path: Path, writers: list[StoreWriter]
) -> None:
    writer = StoreWriter(path)
    writers.append(writer)
    writer.submit_request(request(1, NOW))
    writer.submit_request({"started_at": NOW})  # no id
    writer.submit_turn(turn(2, NOW, role="system"))
    writer.submit_request(request(3, NOW, tool_calls=[{"name": "Read", "input": {"x": object()}}]))
    writer.submit_turn(turn(4, NOW))
    assert writer.flush(30)
    status = writer.status()
    assert status["rejected"] == 2 and status["state"] == "recording"
    assert count(path, "requests") == 2 and count(path, "turns") == 1


def test_odd_values_are_coerced_and_a_row_sqlite_refuses_is_the_only_loss(
    path: Path, writers: list[StoreWriter]
) -> None:
    writer = StoreWriter(path)
    writers.append(writer)
    writer.submit_request(request(1, NOW, session_id={"not": "text"}, model=42, status="200"))
    # NaN binds as NULL: the NOT NULL constraint refuses it inside the batch's transaction.
    writer.submit_request(request(2, float("nan")))
    writer.submit_request(request(3, NOW, error_message="e" * 10_000))
    writer.submit_turn(turn(4, NOW, model=7))
    assert writer.flush(30)
    status = writer.status()
    assert (status["rejected"], status["rows_written"], status["state"]) == (1, 3, "recording")
    conn = db.open_reader(path)
    first, third = queries.request(conn, "req_00000001"), queries.request(conn, "req_00000003")
    conn.close()
    assert first is not None and third is not None
    assert (first["session_id"], first["model"], first["status"]) == ("{'not': 'text'}", "42", 200)
    assert len(third["error_message"]) == 1_001


def test_a_turn_key_is_recorded_once(path: Path, writers: list[StoreWriter]) -> None:
    writer = StoreWriter(path)
    writers.append(writer)
    for _ in range(3):
        writer.submit_turn(turn(1, NOW, key="thread:1:abc"))
    writer.submit_turn(turn(2, NOW))
    writer.submit_turn(turn(2, NOW))
    assert writer.flush(30)
    # Keyed turns collapse; unkeyed ones (imports) are kept as they come.
    assert count(path, "turns") == 3


def test_bodies_and_shortened_tool_calls(path: Path, writers: list[StoreWriter]) -> None:
    writer = StoreWriter(path)
    writers.append(writer)
    calls = [{"name": "Write", "input": {"file_path": "a.py", "content": "x" * 5_000}}]
    body = {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}
    writer.submit_request(request(1, NOW, tool_calls=calls, request_body=body, response_body={}))
    writer.submit_request(request(2, NOW))
    assert writer.flush(30)
    conn = db.open_reader(path)
    first, second = queries.request(conn, "req_00000001"), queries.request(conn, "req_00000002")
    conn.close()
    assert first is not None and second is not None
    assert first["request_body"] == body and first["response_body"] == {}
    assert first["tool_calls"][0]["name"] == "Write"
    assert first["tool_calls"][0]["input"]["file_path"] == "a.py"
    assert len(first["tool_calls"][0]["input"]["content"]) <= 201
    assert second["request_body"] is None and second["tool_calls"] == []


def full_disk(pages: dict[str, int | None]) -> Callable[[sqlite3.Connection], None]:
    """A connect hook that caps the file at `pages["max"]` pages (a full disk) while it is set."""

    def hook(conn: sqlite3.Connection) -> None:
        if pages["max"] is not None:
            conn.execute(f"PRAGMA max_page_count = {pages['max']}")

    return hook


def test_a_full_disk_pauses_recording_then_it_resumes(
    path: Path, writers: list[StoreWriter]
) -> None:
    conn = db.open_store(path)
    used = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    pages: dict[str, int | None] = {"max": used + 2}
    writer = StoreWriter(
        path, retry_seconds=0.02, max_retry_seconds=0.05, connect_hook=full_disk(pages)
    )
    writers.append(writer)
    for n in range(200):
        writer.submit_request(request(n, NOW + n, request_body={"pad": "x" * 2_000}))
    assert wait_for(lambda: writer.paused)
    status = writer.status()
    assert status["state"] == "paused: disk full"
    assert str(path) in status["last_error"] and "disk is full" in status["last_error"]
    assert status["rows_written"] == 0 and status["backlog"] == 200
    assert not writer.flush(0.1)
    # Records keep coming while paused: queued, not lost.
    writer.submit_turn(turn(1, NOW))

    pages["max"] = None  # space freed
    assert writer.flush(30)
    assert writer.status()["state"] == "recording"
    assert count(path, "requests") == 200 and count(path, "turns") == 1
    assert count(path, "request_bodies") == 200


def test_the_backlog_is_bounded_while_paused(path: Path, writers: list[StoreWriter]) -> None:
    conn = db.open_store(path)
    used = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    pages: dict[str, int | None] = {"max": used}
    writer = StoreWriter(
        path,
        backlog_limit=50,
        retry_seconds=0.02,
        max_retry_seconds=0.05,
        connect_hook=full_disk(pages),
    )
    writers.append(writer)
    for n in range(200):
        writer.submit_request(request(n, NOW + n, request_body={"pad": "x" * 2_000}))
    assert wait_for(lambda: writer.paused and writer.status()["dropped"] == 150)
    assert writer.status()["backlog"] == 50
    pages["max"] = None
    assert writer.flush(30)
    conn = db.open_reader(path)
    ids = [row[0] for row in conn.execute("SELECT id FROM requests ORDER BY id")]
    conn.close()
    # The oldest went first; the newest 50 were kept.
    assert ids == [f"req_{n:08d}" for n in range(150, 200)]


def test_a_flood_while_recording_drops_nothing(path: Path, writers: list[StoreWriter]) -> None:
    # The backlog limit bounds memory during a pause; a flood while recording waits in the queue.
    writer = StoreWriter(path, backlog_limit=100, batch_size=50)
    writers.append(writer)
    for n in range(2_000):
        writer.submit_request(request(n, NOW + n))
    assert writer.flush(60)
    assert writer.status()["dropped"] == 0 and count(path, "requests") == 2_000


def test_clearing_history_deletes_only_what_came_before(
    path: Path, writers: list[StoreWriter]
) -> None:
    writer = StoreWriter(path)
    writers.append(writer)
    for n in range(5_000):
        writer.submit_turn(turn(n, NOW + n))
    writer.submit_clear_turns(session="sess-1")
    writer.submit_turn(turn(1, NOW, content="after the session clear"))
    assert writer.flush(60)
    conn = db.open_reader(path)
    assert queries.turn_count(conn, "sess-1") == 1 and queries.turn_count(conn) == 3_334
    writer.submit_clear_turns()
    writer.submit_turn(turn(3, NOW, content="after the full clear"))
    assert writer.flush(60)
    page, _ = queries.history_page(conn)
    assert [t["content"] for t in page] == ["after the full clear"]
    assert queries.search_turns(conn, "number")[0] == []
    assert {s["session_id"]: s["turns"] for s in queries.sessions(conn)}["sess-0"] == 1
    conn.close()


def test_close_writes_the_tail(path: Path) -> None:
    writer = StoreWriter(path, batch_seconds=0.5)
    for n in range(300):
        writer.submit_request(request(n, NOW + n))
    assert writer.close(timeout=30)
    assert count(path, "requests") == 300
    assert writer.close() is True  # a second close is harmless
    assert writer.flush() is True  # and a flush after it returns at once


def test_closing_a_paused_writer_does_not_hang(path: Path) -> None:
    conn = db.open_store(path)
    used = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    writer = StoreWriter(path, retry_seconds=60, connect_hook=full_disk({"max": used}))
    writer.submit_request(request(1, NOW, request_body={"pad": "x" * 20_000}))
    assert wait_for(lambda: writer.paused)
    # One last try fails again: close reports the unwritten record instead of hanging.
    assert writer.close(timeout=30) is False


def test_an_import_skips_stored_turns_and_answers_how_many_were_new(
    path: Path, writers: list[StoreWriter]
) -> None:
    writer = StoreWriter(path)
    writers.append(writer)
    # Live turns at millisecond times; their export is what an import reads back.
    for n in range(30):
        writer.submit_turn(turn(n, NOW + n + 0.123, key=f"live-{n}"))
    assert writer.flush(30)
    conn = db.open_reader(path)
    fields = ("timestamp", "role", "content", "model_used", "request_id", "session_id")
    exported = [{k: t[k] for k in fields} for t in queries.iter_turns(conn)]
    fresh = [{**exported[0], "content": f"imported {n}"} for n in range(5)]
    as_turns = [records.turn_from_export(m, 0.0) for m in exported + fresh]
    assert writer.submit_import(as_turns).wait(30) == 5
    assert writer.submit_import(as_turns).wait(30) == 0
    assert queries.turn_count(conn) == 35
    conn.close()


def test_an_import_while_paused_lands_when_the_disk_has_room(
    path: Path, writers: list[StoreWriter]
) -> None:
    conn = db.open_store(path)
    used = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    pages: dict[str, int | None] = {"max": used}
    writer = StoreWriter(
        path, retry_seconds=0.02, max_retry_seconds=0.05, connect_hook=full_disk(pages)
    )
    writers.append(writer)
    writer.submit_request(request(1, NOW, request_body={"pad": "x" * 50_000}))
    assert wait_for(lambda: writer.paused)
    job = writer.submit_import([turn(n, NOW + n) for n in range(3)])
    assert job.wait(0.2) is None
    pages["max"] = None
    assert job.wait(30) == 3
    assert count(path, "turns") == 3
