"""Routing rules beyond haiku/sonnet: per-preset rules, the subagent marker, session pins.

Rules live in a preset (`[[presets.NAME.rules]]` in presets.toml), are evaluated in their file
order, and the first match wins. A session pin or a `<proxy-model>` marker is an explicit choice
and beats every rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from proxy.core.tokens import estimate_input_tokens

RuleKind = Literal["background", "long_context", "think", "web_search"]
RULE_KINDS: tuple[RuleKind, ...] = ("background", "long_context", "think", "web_search")
DEFAULT_LONG_CONTEXT = 60_000
MARKER = re.compile(r"^\s*<proxy-model>\s*([^<\s]+)\s*</proxy-model>\s*")
BILLING_PREFIX = "x-anthropic-billing-header:"


@dataclass(frozen=True, slots=True)
class Rule:
    """When a request matches `when`, it goes to `model`."""

    when: RuleKind
    model: str
    threshold: int | None = None
    """Estimated input tokens above which `long_context` matches."""

    def as_dict(self) -> dict[str, Any]:
        """The rule as it is written in presets.toml and shown by the API."""
        out: dict[str, Any] = {"when": self.when, "model": self.model}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out


def parse_rule(raw: Any) -> Rule:
    """One rule from its TOML/JSON form; ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("a rule must be a table with `when` and `model`")
    unknown = set(raw) - {"when", "model", "threshold"}
    if unknown:
        raise ValueError(f"unknown rule key(s) {', '.join(sorted(unknown))}")
    when = raw.get("when")
    if when not in RULE_KINDS:
        raise ValueError(f"`when` must be one of {', '.join(RULE_KINDS)}, got {when!r}")
    model = raw.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValueError("`model` must be a non-empty model string")
    threshold = raw.get("threshold")
    if threshold is not None and (not isinstance(threshold, int) or threshold <= 0):
        raise ValueError("`threshold` must be a positive whole number of tokens")
    if when == "long_context" and threshold is None:
        threshold = DEFAULT_LONG_CONTEXT
    return Rule(when, model.strip(), threshold)


def thinking_requested(body: dict[str, Any]) -> bool:
    """True when the request asks for extended thinking."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def offers_web_search(body: dict[str, Any]) -> bool:
    """True when the request offers a web search server tool."""
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search"):
            return True
    return False


def match(
    rules: tuple[Rule, ...],
    body: dict[str, Any],
    tier: str,
    estimate: Callable[[], int] | None = None,
) -> Rule | None:
    """The first rule that matches this request (None: use the normal big/small mapping).

    `estimate` gives the body's input-token estimate; it is called only by a long_context rule.
    """
    for rule in rules:
        if rule.when == "background" and tier == "small":
            return rule
        if rule.when == "think" and thinking_requested(body):
            return rule
        if rule.when == "web_search" and offers_web_search(body):
            return rule
        if rule.when == "long_context":
            tokens = estimate() if estimate is not None else estimate_input_tokens(body)
            if tokens > (rule.threshold or DEFAULT_LONG_CONTEXT):
                return rule
    return None


def take_marker(body: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """Find `<proxy-model>provider/model</proxy-model>` at the start of the system prompt.

    Returns the model and the body with the marker stripped (a shallow copy), or (None, body).
    """
    system = body.get("system")
    if isinstance(system, str):
        found = MARKER.match(system)
        if found:
            return found.group(1), {**body, "system": system[found.end() :]}
        return None, body
    if not isinstance(system, list):
        return None, body
    for position, block in enumerate(system):
        if not isinstance(block, dict) or not isinstance(block.get("text"), str):
            continue
        if block["text"].startswith(BILLING_PREFIX):
            continue  # Claude Code's billing line comes before the real prompt
        found = MARKER.match(block["text"])
        if not found:
            return None, body
        blocks = list(system)
        blocks[position] = {**block, "text": block["text"][found.end() :]}
        return found.group(1), {**body, "system": blocks}
    return None, body
