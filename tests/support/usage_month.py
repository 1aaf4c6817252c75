"""Three weeks of recorded requests for the Usage view: four models, five sessions, a few errors,
every number a fixed function of the request's index (deterministic snapshots)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from proxy.store import db
from proxy.store.queries import day_start
from proxy.store.writer import StoreWriter

LAST_DAY = date(2026, 1, 21)
"""The view's "today" in the tests that use this data."""
DAYS = 21
MODELS = (
    ("openai/gpt-4.1", "openai", 0.0021),
    ("openai/gpt-4.1-mini", "openai", 0.0004),
    ("gemini/gemini-2.5-pro", "gemini", 0.0032),
    ("anthropic/claude-sonnet-4-5", "anthropic", 0.0055),
)
SESSIONS = (
    "5b1c7e2a-9d41-4c1e-8f0a-2f6b3c9d7e11",
    "a04f33c9-1e2d-4b7a-9c55-0d9e8f7a6b21",
    "c7d8e9f0-a1b2-4c3d-8e4f-5a6b7c8d9e03",
    "0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a44",
    None,
)


def requests() -> list[dict[str, Any]]:
    """The records, oldest first: a busier middle week, a quiet first day."""
    first = LAST_DAY - timedelta(days=DAYS - 1)
    records = []
    n = 0
    for day in range(DAYS):
        count = 2 + (day * 5) % 7 + (4 if 7 <= day < 14 else 0)
        for i in range(count):
            model, provider, price = MODELS[(n * 3 + day) % len(MODELS)]
            inp, out = 800 + (n * 379) % 9000, 40 + (n * 53) % 900
            failed = n % 17 == 5
            records.append(
                {
                    "id": f"req_month_{n:04d}",
                    "started_at": day_start(first + timedelta(days=day)) + 3600 * (8 + i * 0.7),
                    "session_id": SESSIONS[(n + day // 4) % len(SESSIONS)],
                    "requested_model": "claude-sonnet-4-5",
                    "model": model,
                    "provider": provider,
                    "preset": None,
                    "stream": True,
                    "status": 429 if failed else 200,
                    "error_type": "rate_limit_error" if failed else None,
                    "input_tokens": 0 if failed else inp,
                    "output_tokens": 0 if failed else out,
                    "cache_read_tokens": 0 if failed else (n * 211) % 4000,
                    "cost": 0.0 if failed else round(price * (inp + 4 * out) / 1000, 6),
                    "duration": 1.5,
                    "ttft": None if failed else 0.4,
                }
            )
            n += 1
    return records


def write_month(folder: Path) -> Path:
    """Record the month in the store of `folder`; returns the store's path."""
    path = folder / db.DB_NAME
    writer = StoreWriter(path)
    try:
        for record in requests():
            writer.submit_request(record)  # type: ignore[arg-type]
        assert writer.flush(30), writer.status()
    finally:
        writer.close()
    return path
