"""Model mapping: which upstream model and transport serve a requested Claude model id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from proxy.core import catalogue
from proxy.core.errors import ProxyError
from proxy.core.settings import Settings

Transport = Literal["openai", "anthropic", "litellm"]

# Provider prefix -> (variable holding its key, name of the settings field).
KEY_VARS: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_API_KEY", "openai_api_key"),
    "gemini": ("GEMINI_API_KEY", "gemini_api_key"),
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic_api_key"),
}
PREFERRED_PREFIX = {"openai": "openai", "google": "gemini", "anthropic": "anthropic"}
CLAUDE_ALIASES = frozenset({"sonnet", "opus", "haiku", "best", "opusplan", "default"})


@dataclass(frozen=True, slots=True)
class ModelPair:
    """The big and small targets at one moment; swapped whole so no request sees half a switch."""

    big: str | None
    small: str | None
    preset: str | None = None
    from_env: bool = False
    """BIG_MODEL/SMALL_MODEL as configured (a fresh start, or back to the default)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: provider, upstream model name, transport and credentials."""

    requested: str
    model: str
    """Full model string, `provider/name`."""
    provider: str
    upstream_model: str
    transport: Transport
    api_base: str | None
    api_key: str | None = field(repr=False)
    key_var: str | None = None
    tier: Literal["big", "small", "direct"] = "direct"


class ModelStringError(ValueError):
    """A model string with a provider prefix nobody knows."""


def parse_model_string(model: str, preferred: str, strict: bool = False) -> tuple[str, str]:
    """Split a model string into (provider prefix, name), inferring the provider of bare names."""
    model = model.strip()
    if "/" in model:
        prefix, rest = model.split("/", 1)
        if prefix in catalogue.known_prefixes():
            return prefix, rest
        if strict:
            valid = ", ".join(sorted(catalogue.known_prefixes()))
            raise ModelStringError(
                f"unknown provider prefix {prefix!r} in {model!r}; valid prefixes: {valid}"
            )
        # e.g. "meta-llama/Llama-3-8B" served by an OpenAI-compatible OPENAI_API_BASE.
        return PREFERRED_PREFIX.get(preferred, "openai"), model
    return _infer_provider(model, preferred), model


def _infer_provider(name: str, preferred: str) -> str:
    table = catalogue.catalogue()
    info = table.get(name)
    if info is not None and catalogue.provider_of(info) in ("openai", "anthropic", "gemini"):
        return catalogue.provider_of(info)
    if f"gemini/{name}" in table:
        return "gemini"
    lower = name.lower()
    if lower.startswith("claude"):
        return "anthropic"
    if lower.startswith("gemini"):
        return "gemini"
    if lower.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    return PREFERRED_PREFIX.get(preferred, "openai")


def normalise_model_string(model: str, preferred: str, strict: bool = True) -> str:
    """The canonical `provider/name` spelling of a user-given model string."""
    provider, name = parse_model_string(model, preferred, strict=strict)
    return f"{provider}/{name}"


def is_small(requested: str) -> bool:
    """True when a requested id is haiku-class (Claude Code's small/fast model)."""
    return "haiku" in requested.lower()


def is_claude(requested: str) -> bool:
    """True for `claude-*` ids and Claude Code's aliases, which map to big or small."""
    lower = requested.lower()
    return lower.startswith("claude") or lower in CLAUDE_ALIASES


def choose_model(requested: str, pair: ModelPair) -> tuple[str, Literal["big", "small", "direct"]]:
    """Pick the model string for a requested id: haiku -> small, other Claude -> big, else as is."""
    clean = requested.strip()
    if clean.endswith("[1m]"):
        clean = clean[: -len("[1m]")]
    if is_claude(clean):
        tier: Literal["big", "small"] = "small" if is_small(clean) else "big"
        chosen = pair.small if tier == "small" else pair.big
        return (chosen if chosen is not None else f"anthropic/{clean}"), tier
    return clean, "direct"


_RESOLVED: dict[tuple[str, ModelPair], tuple[Settings, Target]] = {}
"""resolve()'s answers: the same id, pair and (frozen) settings always map to the same Target."""
RESOLVED_LIMIT = 256


def resolve(requested: str, pair: ModelPair, settings: Settings) -> Target:
    """Map a requested model id to a full Target, or raise a ProxyError the client can act on."""
    if not isinstance(requested, str) or not requested.strip():
        raise ProxyError(400, "invalid_request_error", "model: field required (a non-empty string)")
    key = (requested, pair)
    known = _RESOLVED.get(key)
    if known is not None and known[0] is settings:
        return known[1]
    chosen, tier = choose_model(requested, pair)
    provider, name = parse_model_string(chosen, settings.preferred_provider)
    target = target_for(requested, provider, name, settings, tier)
    if len(_RESOLVED) >= RESOLVED_LIMIT:
        _RESOLVED.clear()  # ids come from clients: bounded
    _RESOLVED[key] = (settings, target)
    return target


def key_usable(provider: str, settings: Settings) -> bool:
    """True when requests to `provider` can go out: its key is set, or it needs none (an
    OpenAI-compatible base; Anthropic with the client's own key forwarded). The one place
    that decides; /config and /models report it, the TUI shows it."""
    if provider not in KEY_VARS or getattr(settings, KEY_VARS[provider][1]) is not None:
        return True
    if provider == "openai" and settings.openai_api_base is not None:
        return True
    return provider == "anthropic" and settings.forward_client_key


def target_for(
    requested: str,
    provider: str,
    name: str,
    settings: Settings,
    tier: Literal["big", "small", "direct"] = "direct",
) -> Target:
    """Build the Target (transport, base, key) for an already parsed provider and model name."""
    bases = settings.upstream_bases()
    api_base = bases.get(provider)
    api_key: str | None = None
    key_var: str | None = None
    if provider in KEY_VARS:
        key_var, attr = KEY_VARS[provider]
        api_key = getattr(settings, attr)
        if not key_usable(provider, settings):
            raise ProxyError(
                401,
                "authentication_error",
                f"no API key for provider {provider!r} (model {provider}/{name}): "
                f"set {key_var} in the environment or .env",
            )
    transport: Transport = "litellm"
    if settings.upstream_engine == "native" and provider in ("openai", "anthropic"):
        transport = provider  # type: ignore[assignment]
    return Target(
        requested=requested,
        model=f"{provider}/{name}",
        provider=provider,
        upstream_model=name,
        transport=transport,
        api_base=api_base,
        api_key=api_key,
        key_var=key_var,
        tier=tier,
    )


def needs_litellm(pair: ModelPair, settings: Settings) -> bool:
    """True when serving this pair (or a fallback) goes through LiteLLM, so it is worth importing
    in the background now rather than on the first request."""
    if settings.upstream_engine == "litellm":
        return True
    for model in (pair.big, pair.small, *settings.fallback_models):
        if model is None:
            continue
        provider, _ = parse_model_string(model, settings.preferred_provider)
        if provider not in ("openai", "anthropic"):
            return True
    return False
