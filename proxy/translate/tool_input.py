"""A streamed tool call's arguments, parsed once when the answer ends (never per chunk)."""

from __future__ import annotations

from typing import Any

import orjson


def parsed_input(raw: str | bytes) -> Any:
    """The arguments as a JSON value (an object for a well-formed call); broken JSON stays text.

    Empty arguments are the empty object, as a tool called without arguments sends.
    """
    if not raw or not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def call_text(name: str, value: Any, limit: int = 120) -> str:
    """`Bash(command="ls -la", description="List")`: one line, values as JSON, cut at `limit`.

    Arguments that were not valid JSON show as their raw text.
    """
    if isinstance(value, dict):
        inner = ", ".join(f"{key}={_json(item)}" for key, item in value.items())
    elif isinstance(value, str):
        inner = value.strip()
    else:
        inner = _json(value)
    inner = " ".join(inner.split("\n"))
    budget = max(limit - len(name) - 2, 1)
    if len(inner) > budget:
        inner = inner[: budget - 1] + "…"
    return f"{name}({inner})"


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
