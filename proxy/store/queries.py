"""Read-only questions to the store: totals, usage, recent requests, history pages, search.

Every function takes a connection (a reader from `db.open_reader` or the writer's own) and reads
through an index: totals and usage from the quarter-hour `usage_buckets` rollup plus the raw rows
of at most one partial bucket; history by keyset on `turns(at)`; search through FTS5.
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from datetime import time as day_time
from typing import Any, Literal

import orjson

from proxy.store.records import REQUEST_COLUMNS
from proxy.store.schema import BUCKET, SUM_COLUMNS
from proxy.store.session_query import USAGE_FIELDS

GroupBy = Literal["day", "model", "session", "preset", "provider"]
GROUPS: tuple[GroupBy, ...] = ("day", "model", "session", "preset", "provider")

# The same sums over raw `requests` rows, in SUM_COLUMNS order.
_RAW_SUMS = (
    "1",
    "(error_type IS NOT NULL OR coalesce(status, 200) >= 400)",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "coalesce(duration, 0)",
    "coalesce(ttft, 0)",
    "ttft IS NOT NULL",
)
# Group keys as (bucket expression, raw-row expression); buckets store '' for NULL.
_KEYS: dict[str, tuple[str, str]] = {
    "day": ("date(bucket, 'unixepoch', 'localtime')", "date(started_at, 'unixepoch', 'localtime')"),
    "model": ("model", "coalesce(model, '')"),
    "preset": ("preset", "coalesce(preset, '')"),
    "provider": ("provider", "coalesce(provider, '')"),
    "total": ("''", "''"),
}
_ORDER = {"day": "key", "total": "key"}

REQUEST_FIELDS = REQUEST_COLUMNS
"""A request row's columns, in the order the writer stores them."""
_TURN_FIELDS = "seq, at, role, content, model, request_id, session_id"


def today_start(now: float | None = None) -> float:
    """Unix time of the last local midnight (before `now`, a unix time, when given)."""
    return day_start(date.fromtimestamp(time.time() if now is None else now))


def day_start(day: date) -> float:
    """Unix time of local midnight at the start of `day` (for `--since DATE`)."""
    return datetime.combine(day, day_time()).timestamp()


def _sums(values: tuple[Any, ...]) -> dict[str, Any]:
    """Named sums plus averages from one row of SUM_COLUMNS values."""
    row = dict(zip(SUM_COLUMNS, (v or 0 for v in values), strict=True))
    requests, timed = row["requests"], row["ttft_count"]
    return {
        "requests": requests,
        "errors": row["errors"],
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "cache_read_tokens": row["cache_read_tokens"],
        "cache_write_tokens": row["cache_write_tokens"],
        "cost": round(row["cost"], 6),
        "avg_duration": row["duration_sum"] / requests if requests else None,
        "avg_ttft": row["ttft_sum"] / timed if timed else None,
    }


def _grouped(
    conn: sqlite3.Connection, group: str, since: float | None, endpoint: str
) -> list[tuple[Any, ...]]:
    since = since or 0.0
    # Whole buckets from `first` on come from the rollup; the rows before it, one by one.
    first = math.ceil(since / BUCKET) * BUCKET
    if group == "session" and not since and endpoint == "messages":
        columns = ", ".join(SUM_COLUMNS)
        return conn.execute(
            f"SELECT session_id, {columns} FROM session_usage WHERE requests > 0 ORDER BY cost DESC"
        ).fetchall()
    if group == "session":
        # Walk the time range, not the whole session index (the planner's pick without stats).
        sums = ", ".join(f"sum({expr})" for expr in _RAW_SUMS)
        sql = (
            f"SELECT session_id AS key, {sums} FROM requests INDEXED BY requests_started "
            "WHERE started_at >= ? AND endpoint = ? AND session_id IS NOT NULL "
            "GROUP BY session_id ORDER BY 8 DESC"
        )
        return conn.execute(sql, (since, endpoint)).fetchall()
    bucket_key, raw_key = _KEYS[group]
    columns = ", ".join(SUM_COLUMNS)
    raw = ", ".join(f"{expr} AS {name}" for expr, name in zip(_RAW_SUMS, SUM_COLUMNS, strict=True))
    sums = ", ".join(f"sum({name})" for name in SUM_COLUMNS)
    sql = (
        f"SELECT key, {sums} FROM ("
        f"SELECT {bucket_key} AS key, {columns} FROM usage_buckets "
        "WHERE bucket >= :first AND endpoint = :endpoint "
        f"UNION ALL SELECT {raw_key} AS key, {raw} FROM requests "
        "WHERE started_at >= :since AND started_at < :first AND endpoint = :endpoint"
        f") GROUP BY key ORDER BY {_ORDER.get(group, '8 DESC')}"
    )
    return conn.execute(sql, {"first": first, "since": since, "endpoint": endpoint}).fetchall()


def totals(
    conn: sqlite3.Connection, since: float | None = None, endpoint: str = "messages"
) -> dict[str, Any]:
    """Requests, errors, tokens, cost and averages since a unix time (all time when None)."""
    rows = _grouped(conn, "total", since, endpoint)
    return _sums(tuple(rows[0][1:]) if rows else (0,) * len(SUM_COLUMNS))


def overview(conn: sqlite3.Connection, started_at: float) -> dict[str, Any]:
    """Totals since the proxy started, since local midnight and for all time (for /stats)."""
    return {
        "since_start": totals(conn, started_at),
        "today": totals(conn, today_start()),
        "all_time": totals(conn),
    }


def usage(
    conn: sqlite3.Connection,
    by: GroupBy,
    since: float | None = None,
    endpoint: str = "messages",
) -> list[dict[str, Any]]:
    """Usage grouped by day (local), model, session, preset or provider since a unix time.

    Days come oldest first, the other groups by cost, highest first. A missing model, preset or
    provider is None; requests without a session are left out of `by="session"`. All time (no
    `since`) includes rows retention has removed.
    """
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}")
    result = []
    for row in _grouped(conn, by, since, endpoint):
        key = row[0] if row[0] != "" else None
        result.append({by: key, **_sums(tuple(row[1:]))})
    return result


_ADDITIVE = USAGE_FIELDS


def report(conn: sqlite3.Connection, by: GroupBy, since: date | None = None) -> dict[str, Any]:
    """Usage rows grouped `by`, from local midnight of `since` (all time when None), and totals.

    The one source of `/usage` and `claude-proxy usage`; the rows always add up to the totals
    (by session, requests without a session id are one row whose `session` is None).
    """
    start = day_start(since) if since is not None else None
    rows = usage(conn, by, start)
    total = totals(conn, start)
    if by == "session":
        rest = {key: total[key] - sum(row[key] for row in rows) for key in _ADDITIVE}
        if rest["requests"] > 0:
            rest["cost"] = round(rest["cost"], 6)
            rows.append({"session": None, **rest, "avg_duration": None, "avg_ttft": None})
    return {
        "by": by,
        "since": since.isoformat() if since is not None else None,
        "rows": rows,
        "totals": total,
    }


def usage_by_target(conn: sqlite3.Connection, endpoint: str = "messages") -> list[dict[str, Any]]:
    """All-time usage by (provider, model), from the rollup only (for /metrics)."""
    sums = ", ".join(f"sum({name})" for name in SUM_COLUMNS)
    rows = conn.execute(
        f"SELECT provider, model, {sums} FROM usage_buckets WHERE endpoint = ? "
        "GROUP BY provider, model ORDER BY provider, model",
        (endpoint,),
    )
    return [{"provider": row[0], "model": row[1], **_sums(tuple(row[2:]))} for row in rows]


def _request_dict(row: sqlite3.Row | tuple[Any, ...], fields: tuple[str, ...]) -> dict[str, Any]:
    item = dict(zip(fields, row, strict=True))
    item["stream"] = bool(item.get("stream"))
    calls = item.get("tool_calls")
    item["tool_calls"] = orjson.loads(calls) if calls else []
    return item


def recent_requests(
    conn: sqlite3.Connection,
    limit: int = 200,
    before: float | None = None,
    endpoint: str | None = None,
) -> list[dict[str, Any]]:
    """The newest `limit` requests (started before `before`, of one `endpoint`, when given),
    newest first."""
    columns = ", ".join(REQUEST_FIELDS)
    where: list[str] = []
    params: list[Any] = []
    if before is not None:
        where.append("started_at < ?")
        params.append(before)
    if endpoint is not None:
        where.append("endpoint = ?")
        params.append(endpoint)
    clause = f"WHERE {' AND '.join(where)} " if where else ""
    rows = conn.execute(
        f"SELECT {columns} FROM requests INDEXED BY requests_started {clause}"
        "ORDER BY started_at DESC LIMIT ?",
        (*params, limit),
    )
    return [_request_dict(row, REQUEST_FIELDS) for row in rows]


def request(conn: sqlite3.Connection, request_id: str) -> dict[str, Any] | None:
    """One request by id, with its bodies (`request_body`, `response_body`) when recorded."""
    columns = ", ".join(f"r.{name}" for name in REQUEST_FIELDS)
    row = conn.execute(
        f"SELECT {columns}, b.request, b.response FROM requests r "
        "LEFT JOIN request_bodies b ON b.request_id = r.id WHERE r.id = ?",
        (request_id,),
    ).fetchone()
    if row is None:
        return None
    item = _request_dict(row[: len(REQUEST_FIELDS)], REQUEST_FIELDS)
    body, answer = row[len(REQUEST_FIELDS) :]
    item["request_body"] = orjson.loads(body) if body is not None else None
    item["response_body"] = orjson.loads(answer) if answer is not None else None
    return item


def _timestamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")


def _turn_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A turn in the history API's shape (plus `seq` and unix `at`)."""
    seq, at, role, content, model, request_id, session_id = row[:7]
    return {
        "seq": seq,
        "at": at,
        "timestamp": _timestamp(at),
        "role": role,
        "content": content,
        "model_used": model,
        "request_id": request_id,
        "session_id": session_id,
    }


def encode_cursor(turn: dict[str, Any]) -> str:
    """The cursor that continues a history page after `turn`."""
    return f"{turn['at']!r}:{turn['seq']}"


def decode_cursor(cursor: str) -> tuple[float, int]:
    """(at, seq) of a cursor (ValueError when it is not one)."""
    at, _, seq = cursor.rpartition(":")
    return float(at), int(seq)


def history_page(
    conn: sqlite3.Connection,
    limit: int = 50,
    before: str | None = None,
    session: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Turns newest first, `limit` at a time; returns (turns, cursor of the next page or None)."""
    at, seq = decode_cursor(before) if before else (math.inf, 0)
    where = "(at, seq) < (?, ?)" if before else "1"
    params: list[Any] = [at, seq] if before else []
    if session is not None:
        where = f"session_id = ? AND {where}"
        params.insert(0, session)
    rows = conn.execute(
        f"SELECT {_TURN_FIELDS} FROM turns WHERE {where} ORDER BY at DESC, seq DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    page = [_turn_dict(row) for row in rows]
    return page, (encode_cursor(page[-1]) if len(page) == limit else None)


def iter_turns(
    conn: sqlite3.Connection, session: str | None = None, chunk: int = 1_000
) -> Iterator[dict[str, Any]]:
    """Every turn oldest first, read `chunk` at a time (for the JSON and Markdown exports)."""
    after: tuple[float, int] = (-math.inf, 0)
    where = "(at, seq) > (?, ?)" + (" AND session_id = ?" if session is not None else "")
    while True:
        params = (*after, session) if session is not None else after
        rows = conn.execute(
            f"SELECT {_TURN_FIELDS} FROM turns WHERE {where} ORDER BY at, seq LIMIT ?",
            (*params, chunk),
        ).fetchall()
        for row in rows:
            yield _turn_dict(row)
        if len(rows) < chunk:
            return
        after = (rows[-1][1], rows[-1][0])


def fts_query(text: str) -> str:
    """User words as an FTS5 query: every word must appear; `word*` matches a prefix."""
    terms = []
    for word in text.split():
        prefix = word.endswith("*") and len(word) > 1
        word = word.rstrip("*") if prefix else word
        terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(terms)


def search_turns(
    conn: sqlite3.Connection, text: str, limit: int = 50, before: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """Turns whose text has every word of `text`, newest recorded first, with a `snippet`.

    Returns (turns, `before` for the next page or None); `before` is a turn's `seq`.
    """
    query = fts_query(text)
    if not query:
        return [], None
    fields = ", ".join(f"t.{name.strip()}" for name in _TURN_FIELDS.split(","))
    where = "turns_fts MATCH ?" + (" AND turns_fts.rowid < ?" if before is not None else "")
    params: tuple[Any, ...] = (query, before) if before is not None else (query,)
    rows = conn.execute(
        f"SELECT {fields}, snippet(turns_fts, 0, '[', ']', '…', 12) FROM turns_fts "
        f"JOIN turns t ON t.seq = turns_fts.rowid WHERE {where} "
        "ORDER BY turns_fts.rowid DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
    found = []
    for row in rows:
        turn = _turn_dict(row)
        turn["snippet"] = row[7]
        found.append(turn)
    return found, (found[-1]["seq"] if len(found) == limit else None)


SESSION_FIELDS = (
    "session_id",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
    "turns",
    "first_at",
    "last_at",
)


def sessions(
    conn: sqlite3.Connection, limit: int = 100, before: float | None = None
) -> list[dict[str, Any]]:
    """Sessions, most recently active first (active before `before` when given), with totals.

    From the all-time rollup: a session keeps its counts after retention removed its rows.
    """
    columns = ", ".join(SESSION_FIELDS)
    where, params = ("WHERE last_at < ?", (before, limit)) if before is not None else ("", (limit,))
    rows = conn.execute(
        f"SELECT {columns} FROM session_usage {where} ORDER BY last_at DESC LIMIT ?", params
    ).fetchall()
    result = []
    for row in rows:
        item = dict(zip(SESSION_FIELDS, row, strict=True))
        item["cost"] = round(item["cost"], 6)
        result.append(item)
    return result


def turn_count(conn: sqlite3.Connection, session: str | None = None) -> int:
    """How many turns are stored (of one session when given)."""
    if session is None:
        return int(conn.execute("SELECT count(*) FROM turns").fetchone()[0])
    return int(
        conn.execute("SELECT count(*) FROM turns WHERE session_id = ?", (session,)).fetchone()[0]
    )


def recent_turns(
    conn: sqlite3.Connection, limit: int, session: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The newest `limit` turns oldest first (of one session when given), and how many exist."""
    page, _ = history_page(conn, limit, session=session) if limit > 0 else ([], None)
    page.reverse()
    return page, turn_count(conn, session)


def session_ids(conn: sqlite3.Connection, limit: int = 1_000) -> list[str]:
    """Ids of the `limit` sessions with turns that were active last, in order of first turn."""
    rows = conn.execute(
        "SELECT session_id, min(at), max(at) FROM turns WHERE session_id IS NOT NULL "
        "GROUP BY session_id ORDER BY 3 DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [row[0] for row in sorted(rows, key=lambda row: row[1])]


def session_count(conn: sqlite3.Connection) -> int:
    """How many sessions have stored turns."""
    return int(
        conn.execute(
            "SELECT count(DISTINCT session_id) FROM turns WHERE session_id IS NOT NULL"
        ).fetchone()[0]
    )
