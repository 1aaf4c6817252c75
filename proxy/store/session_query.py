"""One session's numbers and its main model, for `GET /sessions/{id}/status` (the statusline).

Two indexed lookups (the session's rollup row, its newest request), cheap enough to run on every
prompt of every Claude Code window.
"""

from __future__ import annotations

import sqlite3
from typing import Any

USAGE_FIELDS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost",
)
BACKGROUND_REASON = "small model"
"""Claude Code's haiku-class background calls: not the model the session works with."""


def session_status(conn: sqlite3.Connection, session_id: str) -> dict[str, Any]:
    """The session's totals (None before its first request ended) and its newest main request."""
    columns = ", ".join(USAGE_FIELDS)
    row = conn.execute(
        f"SELECT {columns} FROM session_usage WHERE session_id = ?", (session_id,)
    ).fetchone()
    usage = dict(zip(USAGE_FIELDS, row, strict=True)) if row is not None else None
    if usage is not None:
        usage["cost"] = round(usage["cost"], 6)
    last = conn.execute(
        "SELECT model, requested_model, reason, preset FROM requests "
        "WHERE session_id = ? AND endpoint = 'messages' AND coalesce(reason, '') != ? "
        "ORDER BY started_at DESC LIMIT 1",
        (session_id, BACKGROUND_REASON),
    ).fetchone()
    latest = (
        dict(zip(("model", "requested", "reason", "preset"), last, strict=True))
        if last is not None
        else None
    )
    return {"usage": usage, "latest": latest}
