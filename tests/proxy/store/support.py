"""Records for store tests, and a child process that writes to a store (for multi-process tests)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from proxy.store.records import RequestRecord, TurnRecord

ROOT = Path(__file__).resolve().parents[3]


def request(n: int, started_at: float, **fields: Any) -> RequestRecord:
    """A finished request record with small, predictable numbers."""
    record: dict[str, Any] = {
        "id": f"req_{n:08d}",
        "started_at": started_at,
        "session_id": f"sess-{n % 3}",
        "client": "claude-cli/2.1.197",
        "requested_model": "claude-sonnet-4-5",
        "model": "openai/gpt-4.1",
        "provider": "openai",
        "preset": "openai_premium",
        "reason": "big/small mapping",
        "stream": True,
        "status": 200,
        "ttft": 0.5,
        "duration": 2.0,
        "input_tokens": 100,
        "output_tokens": 10,
        "cost": 0.01,
        "stop_reason": "end_turn",
    }
    record.update(fields)
    return record  # type: ignore[return-value]


def turn(n: int, at: float, **fields: Any) -> TurnRecord:
    """A user or assistant turn (alternating by `n`)."""
    record: dict[str, Any] = {
        "at": at,
        "session_id": f"sess-{n % 3}",
        "request_id": f"req_{n:08d}",
        "role": "user" if n % 2 == 0 else "assistant",
        "content": f"turn number {n}",
        "model": "openai/gpt-4.1",
    }
    record.update(fields)
    return record  # type: ignore[return-value]


def child_env() -> dict[str, str]:
    """Environment for `python -m tests.proxy.store.child` run from the repository root."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def child_command(*args: str) -> list[str]:
    """The command line of the store child process."""
    return [sys.executable, "-m", "tests.proxy.store.child", *args]
