"""Pick one request's target: session pin, subagent marker, preset rules, then big/small."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxy.core import catalogue
from proxy.core.errors import context_too_long
from proxy.core.tokens import estimate_input_tokens
from proxy.routing import model_map as routing
from proxy.routing import rules
from proxy.routing.model_map import Target

if TYPE_CHECKING:
    from proxy.state.service import ProxyService


@dataclass(frozen=True, slots=True)
class Routed:
    """The decision: where the request goes, the body to send (marker stripped), and why."""

    target: Target
    body: dict[str, Any]
    reason: str


def _explicit(service: ProxyService, requested: str, model: str) -> Target:
    provider, name = routing.parse_model_string(model, service.settings.preferred_provider)
    return routing.target_for(requested, provider, name, service.settings)


def route_request(service: ProxyService, body: dict[str, Any], session_id: str | None) -> Routed:
    """Decide the target for a validated Messages body, first match wins."""
    requested = body["model"]
    pinned = service.session_pins.get(session_id) if session_id else None
    marker, body = rules.take_marker(body)
    if pinned:
        routed = Routed(_explicit(service, requested, pinned), body, f"session {session_id} pinned")
    elif marker:
        routed = Routed(
            _explicit(service, requested, marker), body, "subagent <proxy-model> marker"
        )
    else:
        pair = service.pair
        _, tier = routing.choose_model(requested, pair)
        preset = service.presets.get(pair.preset) if pair.preset else None
        rule = rules.match(preset.rules, body, tier) if preset and tier != "direct" else None
        if rule is not None:
            target = _explicit(service, requested, rule.model)
            routed = Routed(target, body, f"rule {rule.when} of preset {preset.name}")  # type: ignore[union-attr]
        else:
            routed = Routed(service.resolve(requested), body, f"{tier} model")
    check_context(routed.target, body)
    return routed


def check_context(target: Target, body: dict[str, Any]) -> None:
    """Say `prompt is too long` before calling an upstream whose window is too small."""
    window = catalogue.context_window(target.model)
    if window is None:
        return
    estimate = estimate_input_tokens(body)
    if estimate > window:
        raise context_too_long(
            f"about {estimate} tokens > {window} maximum for {target.model} (estimated by the proxy)"
        )
