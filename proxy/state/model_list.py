"""The models a user can pick (GET /models): LiteLLM's catalogue plus preset and config models."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from proxy.core import catalogue
from proxy.core.settings import Settings
from proxy.routing import model_map as routing
from proxy.state.presets import Preset

CATALOGUE_PROVIDERS = ("anthropic", "gemini", "openai")


def _per_mtok(value: Any) -> float | None:
    if not isinstance(value, int | float):
        return None
    return round(float(value) * 1_000_000, 6)


def _positive_int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and value > 0 else None


def describe(model_id: str, info: dict[str, Any] | None, provider: str) -> dict[str, Any]:
    """One model's row (catalogue facts, None where the catalogue does not know the model)."""
    info = info or {}
    return {
        "id": model_id,
        "provider": provider,
        "context_window": _positive_int(info.get("max_input_tokens")),
        "max_output": _positive_int(info.get("max_output_tokens") or info.get("max_tokens")),
        "input_cost_per_mtok": _per_mtok(info.get("input_cost_per_token")),
        "output_cost_per_mtok": _per_mtok(info.get("output_cost_per_token")),
        "tools": bool(info.get("supports_function_calling")) if info else None,
        "images": bool(info.get("supports_vision")) if info else None,
        "reasoning": bool(info.get("supports_reasoning")) if info else None,
        "in_catalogue": bool(info),
    }


@lru_cache(maxsize=1)
def catalogue_models() -> tuple[dict[str, Any], ...]:
    """Chat models of OpenAI, Gemini and Anthropic in the catalogue (built once; rows are copied)."""
    rows: dict[str, dict[str, Any]] = {}
    for key, info in catalogue.catalogue().items():
        provider = catalogue.provider_of(info)
        if provider not in CATALOGUE_PROVIDERS or info.get("mode") != "chat":
            continue
        name = key.split("/", 1)[1] if key.startswith(provider + "/") else key
        # Fine-tune templates and price-only pseudo entries are not pickable models.
        if name.startswith("ft:") or "/" in name or not info.get("max_input_tokens"):
            continue
        model_id = f"{provider}/{name}"
        rows.setdefault(model_id, describe(model_id, info, provider))
    ordered = sorted(
        rows.values(), key=lambda r: (CATALOGUE_PROVIDERS.index(r["provider"]), r["id"])
    )
    return tuple(ordered)


def _provider(model_id: str, settings: Settings) -> tuple[str, str]:
    provider, name = routing.parse_model_string(model_id, settings.preferred_provider)
    return provider, f"{provider}/{name}"


def key_status(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per provider: the key variable, whether it is set, whether requests can go out (a key, or
    none needed), and the upstream base (never the key)."""
    bases = settings.upstream_bases()
    return {
        provider: {
            "key_var": var,
            "key_configured": bool(getattr(settings, attr)),
            "key_usable": routing.key_usable(provider, settings),
            "api_base": bases.get(provider),
        }
        for provider, (var, attr) in routing.KEY_VARS.items()
    }


def build(
    settings: Settings, presets: Iterable[Preset], extra: Iterable[str | None] = ()
) -> dict[str, Any]:
    """The GET /models body: models (catalogue + preset + config), presets and providers."""
    providers = key_status(settings)
    rows = {row["id"]: {**row, "source": "catalogue"} for row in catalogue_models()}
    preset_list = list(presets)
    named = [(p.big, "preset") for p in preset_list] + [(p.small, "preset") for p in preset_list]
    named += [(m, "config") for m in extra if m]
    for model, source in named:
        provider, model_id = _provider(model, settings)
        if model_id not in rows:
            rows[model_id] = {
                **describe(model_id, catalogue.lookup(model_id), provider),
                "source": source,
            }
    models = []
    for row in rows.values():
        status = providers.get(row["provider"])
        models.append(
            {
                **row,
                "key_configured": status["key_configured"] if status else None,
                "key_usable": status["key_usable"] if status else None,
                "key_var": status["key_var"] if status else None,
            }
        )
    return {
        "models": models,
        "presets": [preset_dict(p) for p in preset_list],
        "providers": providers,
        "total_count": len(models),
    }


def preset_dict(preset: Preset) -> dict[str, Any]:
    """A preset as JSON."""
    out = {
        "name": preset.name,
        "big_model": preset.big,
        "small_model": preset.small,
        "description": preset.description,
        "builtin": preset.builtin,
        "rules": [rule.as_dict() for rule in preset.rules],
    }
    if preset.tool_call_recovery is not None:
        out["tool_call_recovery"] = preset.tool_call_recovery
    return out
