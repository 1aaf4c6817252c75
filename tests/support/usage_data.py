"""A known data set of recorded requests, for the usage endpoints and `claude-proxy usage`.

Six requests over two local days (2025-03-01 and 2025-03-02), three models, two sessions, two
presets; one failed. Written with the store's own writer into a data folder.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from proxy.store import db
from proxy.store.queries import day_start
from proxy.store.writer import StoreWriter

DAY_1 = date(2025, 3, 1)
DAY_2 = date(2025, 3, 2)
HOUR = 3600.0


def _at(day: date, hour: float) -> float:
    return day_start(day) + hour * HOUR


def _request(n: int, at: float, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": f"req_known_{n}",
        "started_at": at,
        "session_id": "sess-a",
        "client": "claude-cli/2.1.197 (external, cli)",
        "requested_model": "claude-sonnet-4-5",
        "model": "openai/gpt-4.1",
        "provider": "openai",
        "preset": "openai_premium",
        "reason": "big/small mapping",
        "stream": True,
        "status": 200,
        "ttft": 0.5,
        "duration": 2.0,
        "stop_reason": "end_turn",
    }
    record.update(fields)
    return record


KNOWN: list[dict[str, Any]] = [
    _request(1, _at(DAY_1, 9), input_tokens=1000, output_tokens=200, cost=0.0036),
    _request(
        2,
        _at(DAY_1, 10),
        input_tokens=3000,
        output_tokens=100,
        cache_read_tokens=2000,
        cost=0.0078,
    ),
    _request(
        3,
        _at(DAY_1, 11),
        model="openai/gpt-4.1-mini",
        requested_model="claude-haiku-4-5",
        input_tokens=500,
        output_tokens=50,
        cost=0.00028,
    ),
    _request(
        4,
        _at(DAY_2, 9),
        session_id="sess-b",
        model="anthropic/claude-sonnet-4-5",
        provider="anthropic",
        preset="anthropic_pure",
        input_tokens=100,
        output_tokens=400,
        cache_read_tokens=5000,
        cache_write_tokens=1000,
        cost=0.01305,
    ),
    _request(
        5,
        _at(DAY_2, 10),
        session_id="sess-b",
        model="anthropic/claude-sonnet-4-5",
        provider="anthropic",
        preset="anthropic_pure",
        status=429,
        error_type="rate_limit_error",
        error_message="slow down",
        ttft=None,
        duration=0.25,
        stop_reason=None,
    ),
    _request(6, _at(DAY_2, 11), session_id=None, input_tokens=2000, output_tokens=1000, cost=0.012),
]


def write_known(folder: Path) -> Path:
    """Record the known requests in the store of `folder`; returns the store's path."""
    path = folder / db.DB_NAME
    writer = StoreWriter(path)
    try:
        for record in KNOWN:
            writer.submit_request(record)  # type: ignore[arg-type]
        assert writer.flush(30), writer.status()
    finally:
        writer.close()
    return path
