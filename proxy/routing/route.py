"""Pick one request's target: session pin, subagent marker, preset rules, then big/small."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from proxy.core import catalogue
from proxy.core.errors import context_too_long
from proxy.core.settings import Settings
from proxy.core.tokens import (
    estimate_input_tokens,
    tokens_bound,
    tokens_from_chars,
    tokens_if_cheap,
)
from proxy.routing import rules
from proxy.routing.model_map import (
    ModelPair,
    Target,
    choose_model,
    parse_model_string,
    resolve,
    target_for,
)
from proxy.routing.rules import Rule


class PresetRules(Protocol):
    """What routing needs of a preset: its name and its rules (a Preset satisfies it)."""

    @property
    def name(self) -> str:
        """The preset's name, for the routing reason."""
        ...

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Its rules, in file order."""
        ...


@dataclass(frozen=True, slots=True)
class Routed:
    """The decision: where the request goes, the body to send (marker stripped), and why."""

    target: Target
    body: dict[str, Any]
    reason: str
    input_estimate: int | None = None
    """Estimated input tokens, when routing needed them (reused for message_start)."""


class _Estimate:
    """The body's token estimate, computed at most once and only when someone asks."""

    def __init__(
        self, body: dict[str, Any], bound: int | None = None, chars: int | None = None
    ) -> None:
        self.body = body
        self.value: int | None = None
        self.bound = bound
        """At least the value, known from the body's size without walking it (or None)."""
        self.chars = chars
        """The characters of the body's system and messages, when validation counted them."""

    def __call__(self) -> int:
        if self.value is None:
            if self.chars is None:
                self.value = estimate_input_tokens(self.body)
            else:
                self.value = tokens_from_chars(self.chars, self.body.get("tools"))
        return self.value

    def known(self) -> int | None:
        """The value when it is known or costs no serialising, else None."""
        if self.value is None:
            self.value = tokens_if_cheap(self.chars, self.body.get("tools"))
        return self.value


def _explicit(requested: str, model: str, settings: Settings) -> Target:
    provider, name = parse_model_string(model, settings.preferred_provider)
    return target_for(requested, provider, name, settings)


def route_request(
    body: dict[str, Any],
    session_id: str | None,
    pair: ModelPair,
    pinned: str | None,
    preset: PresetRules | None,
    settings: Settings,
    body_bytes: int | None = None,
    text_chars: int | None = None,
) -> Routed:
    """Decide the target for a validated Messages body, first match wins.

    `body_bytes`: the size of the JSON the body was parsed from, when it was; a small body then
    passes the context check without a token estimate (`tokens.tokens_bound`). `text_chars`:
    the characters validation counted for the estimate (`validate.validate_messages`).
    """
    requested = body["model"]
    marker, taken = rules.take_marker(body)
    same = taken is body  # a stripped marker changes the body: its size and count are stale
    bound = tokens_bound(body_bytes) if body_bytes is not None and same else None
    body = taken
    estimate = _Estimate(body, bound, text_chars if same else None)
    if pinned:
        target, reason = _explicit(requested, pinned, settings), f"session {session_id} pinned"
    elif marker:
        target, reason = _explicit(requested, marker, settings), "subagent <proxy-model> marker"
    else:
        _, tier = choose_model(requested, pair)
        rule = (
            rules.match(preset.rules, body, tier, estimate) if preset and tier != "direct" else None
        )
        if rule is not None and preset is not None:
            target = _explicit(requested, rule.model, settings)
            reason = f"rule {rule.when} of preset {preset.name}"
        else:
            target, reason = resolve(requested, pair, settings), f"{tier} model"
    check_context(target, estimate)
    return Routed(target, body, reason, estimate.known())


def check_context(target: Target, estimate: _Estimate) -> None:
    """Say `prompt is too long` before calling an upstream whose window is too small."""
    window = catalogue.context_window(target.model)
    if window is None or (estimate.bound is not None and estimate.bound <= window):
        return
    tokens = estimate()
    if tokens > window:
        raise context_too_long(
            f"about {tokens} tokens > {window} maximum for {target.model} (estimated by the proxy)"
        )
