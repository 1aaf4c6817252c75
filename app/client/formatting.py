"""Small, pure formatters shared by the screens (numbers, money, durations, model names)."""

from __future__ import annotations

import re
import time
from typing import Any

from proxy.translate.tool_input import call_text

_DATE_SUFFIX = re.compile(r"-\d{8}$|-latest$")


def tokens(n: int | None) -> str:
    """1234 -> '1.2k', 1234567 -> '1.2M'."""
    if n is None:
        return "-"
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def tokens_short(n: int | None) -> str:
    """At most 4 cells: 87, 1.2k, 15k, 152k, 1.2M, 15M (a narrow log column)."""
    if n is None:
        return "-"
    if n < 1000:
        return str(n)
    if n < 9950:
        return f"{n / 1000:.1f}k"
    if n < 999_500:
        return f"{n / 1000:.0f}k"
    if n < 9_950_000:
        return f"{n / 1_000_000:.1f}M"
    return f"{n / 1_000_000:.0f}M"


def context(n: int | None) -> str:
    """A context window in at most 4 cells: 8192 -> '8k', 200000 -> '200k', 1048576 -> '1M'."""
    if n is None:
        return "-"
    if n < 1000:
        return str(n)
    if n < 999_500:
        return f"{n / 1000:.0f}k"
    millions = f"{n / 1_000_000:.1f}".removesuffix(".0")
    return f"{millions}M"


def cost(usd: float | None, precise: bool = False) -> str:
    """Dollars with enough digits for cheap requests (`precise`: six decimals, for comparing)."""
    if usd is None:
        return "-"
    if precise:
        return f"${usd:.6f}"
    if usd == 0:
        return "$0"
    if usd < 0.0001:
        return "<$0.0001"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def seconds(value: float | None) -> str:
    """Latency: '850ms', '2.3s', '1m05s'."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes}m{secs:02d}s"


def clock(timestamp: float) -> str:
    """Local wall-clock time of an event, HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def short_model(requested: str) -> str:
    """Claude Code's long ids shortened for a narrow column: 'claude-sonnet-4-5-20250929' -> 'sonnet-4-5'."""
    name = requested.removeprefix("claude-")
    return _DATE_SUFFIX.sub("", name)


def bare_model(model: str | None) -> str:
    """'openai/gpt-4.1' -> 'gpt-4.1' (the provider is shown apart)."""
    if not model:
        return "pass-through"
    return model.split("/", 1)[1] if "/" in model else model


def provider(model: str | None) -> str:
    """'openai/gpt-4.1' -> 'openai'; no model means Anthropic pass-through."""
    if not model:
        return "anthropic"
    return model.split("/", 1)[0] if "/" in model else "?"


def model_with_provider(model: str | None) -> str:
    """'openai/gpt-4.1' -> 'gpt-4.1 (openai)'."""
    return f"{bare_model(model)} ({provider(model)})"


def short_session(session_id: str | None) -> str:
    """First characters of a session id, or '-' when requests carry none."""
    return session_id[:8] if session_id else "-"


def per_mtok(price_per_mtok: float | None) -> str:
    """Price per million tokens, compact."""
    if price_per_mtok is None:
        return "-"
    if price_per_mtok == 0:
        return "0"
    return f"{price_per_mtok:.2f}".rstrip("0").rstrip(".")


def content_text(content: Any) -> str:
    """Readable text of Anthropic content (a string or blocks; tool calls summarised)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "thinking":
            parts.append(f"(thinking) {block.get('thinking', '')}")
        elif kind == "tool_use":
            parts.append(f"→ {tool_call(block)}")
        elif kind == "tool_result":
            parts.append(f"← tool result: {content_text(block.get('content'))[:200]}")
        elif kind == "image":
            parts.append("[image]")
    return "\n".join(p for p in parts if p)


def tool_call(block: dict[str, Any], limit: int = 120) -> str:
    """A tool_use block as one line: `Bash(command="ls -la")`, cut at `limit`."""
    return call_text(str(block.get("name") or "?"), block.get("input"), limit)


def tool_calls(content: Any, limit: int = 120) -> list[str]:
    """Every tool call of an answer's content, one line each."""
    if not isinstance(content, list):
        return []
    return [
        tool_call(block, limit)
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
