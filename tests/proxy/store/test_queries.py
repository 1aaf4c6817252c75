"""Readers on a known data set, and query plans that stay on indexes at 100,000 turns."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from proxy.store import db, queries, records
from tests.proxy.store.support import request, turn


def local(day: date, hour: int, minute: int = 0) -> float:
    """Unix time of a local wall-clock time (days group by local date whatever the zone)."""
    return datetime(day.year, day.month, day.day, hour, minute).timestamp()


DAY1, DAY2 = date(2026, 3, 2), date(2026, 3, 3)
BASE = {"ttft": None, "duration": 1.0, "output_tokens": 0, "session_id": None, "preset": None}
GPT, GEMINI = "openai/gpt-4.1", "gemini/gemini-2.5-pro"
DATA = [
    request(1, local(DAY1, 10), **{**BASE, "model": GPT, "preset": "A", "session_id": "s1",
            "input_tokens": 100, "output_tokens": 10, "cost": 0.10, "ttft": 0.5, "duration": 2.0}),
    request(2, local(DAY1, 10, 5), **{**BASE, "model": GPT, "preset": "A", "session_id": "s1",
            "input_tokens": 200, "output_tokens": 20, "cost": 0.20, "ttft": 1.5, "duration": 4.0}),
    request(3, local(DAY1, 23, 50), **{**BASE, "model": GEMINI, "preset": "B", "session_id": "s2",
            "input_tokens": 50, "cost": 0.05, "status": 502, "error_type": "api_error"}),
    request(4, local(DAY2, 0, 10), **{**BASE, "model": GEMINI, "preset": "B", "session_id": "s2",
            "input_tokens": 300, "output_tokens": 30, "cost": 0.30,
            "cache_read_tokens": 1000, "cache_write_tokens": 5}),
    request(5, local(DAY2, 12), **{**BASE, "model": GPT, "input_tokens": 10, "cost": 0.01}),
    # count_tokens calls are recorded but are not usage.
    request(6, local(DAY2, 12), **{**BASE, "model": GPT, "endpoint": "count_tokens", "cost": 0.0}),
]  # fmt: skip


def insert(conn: sqlite3.Connection, rows: list[records.RequestRecord]) -> None:
    conn.execute("BEGIN")
    conn.executemany(records.INSERT_REQUEST, [records.request_row(r) for r in rows])
    conn.execute("COMMIT")


def insert_turns(conn: sqlite3.Connection, turns: list[records.TurnRecord]) -> None:
    conn.execute("BEGIN")
    conn.executemany(records.INSERT_TURN, [records.turn_row(t) for t in turns])
    conn.execute("COMMIT")


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = db.open_store(tmp_path / "claude-proxy.db")
    insert(connection, DATA)
    yield connection
    connection.close()


def brief(rows: list[dict[str, Any]], key: str) -> list[tuple[Any, ...]]:
    return [(r[key], r["requests"], r["errors"], r["input_tokens"], r["cost"]) for r in rows]


def test_usage_by_day_model_preset_session(conn: sqlite3.Connection) -> None:
    assert brief(queries.usage(conn, "day"), "day") == [
        ("2026-03-02", 3, 1, 350, 0.35),
        ("2026-03-03", 2, 0, 310, 0.31),
    ]
    assert brief(queries.usage(conn, "model"), "model") == [
        (GEMINI, 2, 1, 350, 0.35),
        (GPT, 3, 0, 310, 0.31),
    ]
    assert brief(queries.usage(conn, "preset"), "preset") == [
        ("B", 2, 1, 350, 0.35),
        ("A", 2, 0, 300, 0.30),
        (None, 1, 0, 10, 0.01),
    ]
    assert brief(queries.usage(conn, "session"), "session") == [
        ("s2", 2, 1, 350, 0.35),
        ("s1", 2, 0, 300, 0.30),
    ]
    day2 = queries.usage(conn, "day")[1]
    assert (day2["cache_read_tokens"], day2["cache_write_tokens"]) == (1000, 5)
    with pytest.raises(ValueError):
        queries.usage(conn, "week")  # type: ignore[arg-type]


def test_since_cuts_inside_a_quarter_hour(conn: sqlite3.Connection) -> None:
    # 10:05 is inside the 10:00 bucket: that bucket's rows are read one by one.
    since = local(DAY1, 10, 5)
    assert brief(queries.usage(conn, "day", since), "day") == [
        ("2026-03-02", 2, 1, 250, 0.25),
        ("2026-03-03", 2, 0, 310, 0.31),
    ]
    assert brief(queries.usage(conn, "session", since), "session") == [
        ("s2", 2, 1, 350, 0.35),
        ("s1", 1, 0, 200, 0.20),
    ]
    assert queries.totals(conn, local(DAY1, 23, 55))["requests"] == 2
    assert queries.totals(conn, queries.day_start(DAY2))["cost"] == 0.31
    assert queries.totals(conn, local(DAY2, 12, 0) + 1)["requests"] == 0


def test_totals_and_averages(conn: sqlite3.Connection) -> None:
    assert queries.totals(conn) == {
        "requests": 5,
        "errors": 1,
        "input_tokens": 660,
        "output_tokens": 60,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 5,
        "cost": 0.66,
        "avg_duration": (2.0 + 4.0 + 1.0 + 1.0 + 1.0) / 5,
        "avg_ttft": (0.5 + 1.5) / 2,
    }
    assert queries.totals(conn, endpoint="count_tokens")["requests"] == 1


def test_overview_since_start_today_all_time(conn: sqlite3.Connection) -> None:
    now = time.time()
    insert(conn, [request(7, now, cost=1.0), request(8, now - 3 * 86_400, cost=2.0)])
    view = queries.overview(conn, started_at=now - 1)
    assert view["since_start"]["requests"] == 1 and view["since_start"]["cost"] == 1.0
    assert view["today"]["requests"] == 1
    assert view["all_time"]["requests"] == 7 and view["all_time"]["cost"] == 3.66


def test_recent_requests_and_one_request(conn: sqlite3.Connection) -> None:
    newest = queries.recent_requests(conn, limit=3)
    assert [r["id"] for r in newest][:1] in (["req_00000005"], ["req_00000006"])
    assert len(newest) == 3 and newest[-1]["id"] == "req_00000004"
    older = queries.recent_requests(conn, limit=10, before=newest[-1]["started_at"])
    assert [r["id"] for r in older] == ["req_00000003", "req_00000002", "req_00000001"]
    one = queries.request(conn, "req_00000003")
    assert one is not None
    assert (one["status"], one["error_type"], one["stream"]) == (502, "api_error", True)
    assert one["request_body"] is None and queries.request(conn, "nope") is None


def test_history_pages_walk_every_turn_once_newest_first(tmp_path: Path) -> None:
    conn = db.open_store(tmp_path / "claude-proxy.db")
    # Ties on `at` (a burst in the same millisecond) must still page exactly.
    turns = [turn(n, 1_000.0 + n // 4) for n in range(1_000)]
    insert_turns(conn, turns)
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page, cursor = queries.history_page(conn, limit=64, before=cursor)
        seen += [int(t["request_id"][4:]) for t in page]
        if cursor is None:
            break
    expected = sorted(range(1_000), key=lambda n: (1_000.0 + n // 4, n), reverse=True)
    assert seen == expected

    page, cursor = queries.history_page(conn, limit=500, session="sess-1")
    assert len(page) == 333 and cursor is None
    assert all(t["session_id"] == "sess-1" for t in page)
    first = page[0]
    assert set(first) >= {"timestamp", "role", "content", "model_used", "request_id", "session_id"}
    assert first["timestamp"].endswith("+00:00")
    conn.close()


def test_export_reads_every_turn_oldest_first_and_import_adds_nothing_twice(
    tmp_path: Path,
) -> None:
    conn = db.open_store(tmp_path / "claude-proxy.db")
    insert_turns(conn, [turn(n, 1_000.0 + n // 3) for n in range(2_500)])
    exported = list(queries.iter_turns(conn, chunk=100))
    assert [t["request_id"] for t in exported] == [f"req_{n:08d}" for n in range(2_500)]
    assert len(list(queries.iter_turns(conn, session="sess-2", chunk=64))) == 833

    # The JSON export shape comes back as the same turns; a second import is a no-op.
    again = db.open_store(tmp_path / "other.db")
    messages = [{k: t[k] for k in ("timestamp", "role", "content", "model_used",
                                   "request_id", "session_id")} for t in exported]  # fmt: skip
    for _ in range(2):
        insert_turns(again, [records.turn_from_export(m, 0.0) for m in messages])
    assert queries.turn_count(again) == 2_500
    assert [t["content"] for t in queries.iter_turns(again)] == [t["content"] for t in exported]
    again.close()
    conn.close()


def test_search_finds_words_prefixes_and_survives_odd_input(tmp_path: Path) -> None:
    conn = db.open_store(tmp_path / "claude-proxy.db")
    texts = [
        "Refactor the parser",
        'the "quoted" parser AND more',
        "café au lait",
        "tool_use Read: {path}",
        "unrelated",
    ]
    insert_turns(conn, [turn(n, 1_000.0 + n, content=text) for n, text in enumerate(texts)])
    words = lambda q: [t["content"] for t in queries.search_turns(conn, q)[0]]  # noqa: E731
    assert words("parser") == ['the "quoted" parser AND more', "Refactor the parser"]
    assert words("pars*") == words("parser")
    assert words("cafe") == ["café au lait"]
    assert words('"quoted') == ['the "quoted" parser AND more']
    assert words("AND NOT -x (") == []
    assert words("   ") == []
    found, _ = queries.search_turns(conn, "parser")
    assert found[0]["snippet"] == 'the "quoted" [parser] AND more'
    page, before = queries.search_turns(conn, "the", limit=1)
    assert before is not None
    rest, _ = queries.search_turns(conn, "the", limit=5, before=before)
    assert [t["content"] for t in page + rest] == words("the")
    conn.close()


def test_sessions_list_with_cost_and_turns(conn: sqlite3.Connection) -> None:
    insert_turns(conn, [turn(0, local(DAY2, 13), session_id="s1"), turn(1, 5.0, session_id="s9")])
    listed = queries.sessions(conn)
    assert [(s["session_id"], s["requests"], s["turns"], s["cost"]) for s in listed] == [
        ("s1", 2, 1, 0.30),
        ("s2", 2, 0, 0.35),
        ("s9", 0, 1, 0.0),
    ]
    assert [s["session_id"] for s in queries.sessions(conn, before=listed[0]["last_at"])] == [
        "s2",
        "s9",
    ]
    assert queries.turn_count(conn) == 2 and queries.turn_count(conn, "s9") == 1


# -- 100,000 turns: plans and step counts, not wall time ---------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path = tmp_path_factory.mktemp("big") / "claude-proxy.db"
    conn = db.open_store(path)
    # Setup speed only: a big page cache while 100,000 rows go in.
    conn.execute("PRAGMA cache_size = -100000")
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
    ]
    base = 1_700_000_000.0
    insert_turns(
        conn,
        [
            turn(n, base + n * 7, content=f"{words[n % 12]} {words[n * 7 % 12]} item{n}")
            for n in range(100_000)
        ],
    )
    insert(conn, [request(n, base + n * 35) for n in range(20_000)])
    conn.close()
    reader = db.open_reader(path)
    yield reader
    reader.close()


def run_counted(conn: sqlite3.Connection, call: Callable[[], Any]) -> tuple[int, list[str]]:
    """(virtual machine steps, statements) of one query function call."""
    steps = [0]
    statements: list[str] = []

    def tick() -> int:
        steps[0] += 1
        return 0

    def on_sql(sql: str) -> None:
        # FTS5 runs statements of its own (on 'main'.'turns_fts_...'): not ours to plan.
        if sql.startswith("SELECT") and "'main'." not in sql:
            statements.append(sql)

    conn.set_progress_handler(tick, 1)
    conn.set_trace_callback(on_sql)
    try:
        call()
    finally:
        conn.set_progress_handler(None, 1)
        conn.set_trace_callback(None)
    return steps[0], statements


def plan(conn: sqlite3.Connection, statements: list[str]) -> str:
    return "\n".join(
        row[3] for sql in statements for row in conn.execute("EXPLAIN QUERY PLAN " + sql)
    )


def test_the_first_history_page_is_an_index_walk(big: sqlite3.Connection) -> None:
    steps, sql = run_counted(big, lambda: queries.history_page(big, limit=50))
    text = plan(big, sql)
    assert "turns_at" in text and "TEMP B-TREE" not in text
    # A scan of 100,000 rows would take millions of steps; a page takes a few thousand.
    assert steps < 20_000

    _, cursor = queries.history_page(big, limit=50)
    steps, sql = run_counted(big, lambda: queries.history_page(big, limit=50, before=cursor))
    assert "turns_at (at<?)" in plan(big, sql) and steps < 20_000

    steps, sql = run_counted(big, lambda: queries.history_page(big, limit=50, session="sess-2"))
    assert "turns_session" in plan(big, sql) and steps < 20_000


def test_a_search_is_an_fts_lookup(big: sqlite3.Connection) -> None:
    steps, sql = run_counted(big, lambda: queries.search_turns(big, "item99999"))
    text = plan(big, sql)
    assert "VIRTUAL TABLE INDEX" in text and "TEMP B-TREE" not in text
    assert steps < 5_000
    # A common pair of words: the first page still stops after 50 hits.
    found: list[Any] = []
    steps, _ = run_counted(big, lambda: found.extend(queries.search_turns(big, "beta theta")[0]))
    assert len(found) == 50 and steps < 100_000


def test_totals_and_recent_requests_use_the_rollup_and_indexes(big: sqlite3.Connection) -> None:
    steps, sql = run_counted(big, lambda: queries.recent_requests(big, limit=200))
    assert "requests_started" in plan(big, sql) and steps < 50_000
    steps, sql = run_counted(big, lambda: queries.totals(big, since=1_700_000_000.0 + 3_600.5))
    text = plan(big, sql)
    assert "usage_buckets" in text and "requests_started" in text
    # 20,000 requests roll up into about 780 quarter hours.
    assert steps < 200_000
    steps, sql = run_counted(big, lambda: queries.sessions(big))
    assert "session_usage_last" in plan(big, sql) and steps < 5_000
