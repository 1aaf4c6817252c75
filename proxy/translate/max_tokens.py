"""max_tokens against the target model's output limit: one rule for every dialect."""

from __future__ import annotations

from typing import Any

from proxy.core import catalogue


def clamp_max_tokens(asked: int, model: str, notes: list[str]) -> int:
    """`asked`, or the model's output limit when the catalogue knows a smaller one (noted)."""
    limit = catalogue.max_output_tokens(model)
    if limit is None or asked <= limit:
        return asked
    notes.append(f"max_tokens {asked} clamped to {limit} for {model}")
    return limit


def clamp_anthropic_body(body: dict[str, Any], model: str, notes: list[str]) -> bool:
    """Clamp an Anthropic body's max_tokens in place, keeping a thinking budget below it;
    True when it changed the body."""
    asked = body.get("max_tokens")
    if not isinstance(asked, int):
        return False
    limit = clamp_max_tokens(asked, model, notes)
    if limit == asked:
        return False
    body["max_tokens"] = limit
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and isinstance(thinking.get("budget_tokens"), int):
        # Anthropic refuses budget_tokens >= max_tokens (Claude Code itself sends max - 1).
        body["thinking"] = {**thinking, "budget_tokens": min(thinking["budget_tokens"], limit - 1)}
    return True
