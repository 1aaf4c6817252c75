"""Fallbacks: after retries ran out, the next model of FALLBACK_MODELS gets the request."""

from __future__ import annotations

from proxy.core.errors import ProxyError
from proxy.core.settings import Settings
from proxy.routing.model_map import Target, parse_model_string, target_for

FALLBACK_STATUS = frozenset({401, 403, 404, 429, 500, 502, 503, 504, 529})
"""Errors another model might not have: worth a fallback after retries ran out."""


def fallback_chain(target: Target, settings: Settings, notes: list[str]) -> list[Target]:
    """The target, then each FALLBACK_MODELS entry that can be resolved (keys present)."""
    chain = [target]
    for model in settings.fallback_models:
        provider, name = parse_model_string(model, settings.preferred_provider)
        try:
            chain.append(target_for(target.requested, provider, name, settings))
        except ProxyError as exc:
            notes.append(f"fallback {model} skipped: {exc.message}")
    return chain


def worth_fallback(error: ProxyError) -> bool:
    """True when another model might answer where this one failed."""
    return error.status in FALLBACK_STATUS
