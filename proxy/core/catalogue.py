"""LiteLLM's local model catalogue, read straight from its JSON file.

Reading the file (about 50 ms) instead of importing LiteLLM (over 7 s) lets the proxy map models,
clamp max_tokens and price requests from its first second.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

CATALOGUE_FILE = "model_prices_and_context_window_backup.json"

# Providers LiteLLM routes by prefix that have no chat model in the catalogue file.
EXTRA_PREFIXES = frozenset(
    {
        "openai",
        "gemini",
        "anthropic",
        "ollama",
        "ollama_chat",
        "openrouter",
        "deepseek",
        "groq",
        "mistral",
        "together_ai",
        "fireworks_ai",
        "xai",
        "lm_studio",
        "hosted_vllm",
        "vllm",
        "azure",
        "azure_ai",
        "bedrock",
        "vertex_ai",
        "cohere",
        "perplexity",
        "cerebras",
        "huggingface",
        "litellm_proxy",
        "custom_openai",
        "text-completion-openai",
        "nvidia_nim",
        "sambanova",
        "dashscope",
        "moonshot",
        "github",
        "github_copilot",
        "zai",
        "volcengine",
        "novita",
        "nebius",
        "replicate",
        "sagemaker",
        "watsonx",
        "databricks",
        "cloudflare",
        "ai21",
        "friendliai",
        "llamafile",
        "oci",
    }
)

_lock = threading.Lock()


def _catalogue_path() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / CATALOGUE_FILE
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _load() -> dict[str, dict[str, Any]]:
    path = _catalogue_path()
    if path is None:
        return {}
    data = orjson.loads(path.read_bytes())
    data.pop("sample_spec", None)
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def catalogue() -> dict[str, dict[str, Any]]:
    """The whole catalogue: model key -> LiteLLM's info dict (loaded once, thread-safe)."""
    with _lock:
        return _load()


def provider_of(info: dict[str, Any]) -> str:
    """The LiteLLM provider named in a catalogue entry."""
    return str(info.get("litellm_provider", ""))


# An entry's provider, read from the file's bytes: the sample entry's is prose (it has spaces).
_PROVIDER = re.compile(rb'"litellm_provider":\s*"([^"\\ ]*)"')


@lru_cache(maxsize=1)
def known_prefixes() -> frozenset[str]:
    """Every provider prefix a model string may start with.

    Found in the file's bytes (~6 ms), not in the parsed catalogue (40-70 ms): presets are checked
    at start-up, and the port need not wait for the whole parse.
    """
    path = _catalogue_path()
    found = _PROVIDER.findall(path.read_bytes()) if path is not None else ()
    providers = {name.decode(errors="replace").split("-")[0] for name in found}
    return frozenset(p for p in providers if p) | EXTRA_PREFIXES


_LOOKUPS: dict[str, dict[str, Any] | None] = {}
"""lookup()'s answers (the catalogue never changes once loaded); model ids come from clients."""
LOOKUPS_LIMIT = 1024


def lookup(model: str) -> dict[str, Any] | None:
    """Catalogue info for `provider/model` or a bare name (tries both spellings)."""
    try:
        return _LOOKUPS[model]
    except KeyError:
        pass
    table = catalogue()
    info = table.get(model)
    if info is None and "/" in model:
        _, bare = model.split("/", 1)
        info = table.get(bare)
    if len(_LOOKUPS) >= LOOKUPS_LIMIT:
        _LOOKUPS.clear()
    _LOOKUPS[model] = info
    return info


def max_output_tokens(model: str) -> int | None:
    """The model's output token limit, when the catalogue knows it."""
    info = lookup(model)
    if not info:
        return None
    value = info.get("max_output_tokens") or info.get("max_tokens")
    return int(value) if isinstance(value, int | float) and value > 0 else None


def context_window(model: str) -> int | None:
    """The model's input token limit, when the catalogue knows it."""
    info = lookup(model)
    if not info:
        return None
    value = info.get("max_input_tokens")
    return int(value) if isinstance(value, int | float) and value > 0 else None


def supports(model: str, capability: str) -> bool | None:
    """`supports_<capability>` from the catalogue (None when the model is unknown)."""
    info = lookup(model)
    if not info:
        return None
    return bool(info.get(f"supports_{capability}", False))


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """Estimated cost in USD from the catalogue's per-token prices (0.0 when unknown).

    Cache writes (Anthropic's `cache_creation_input_tokens`) cost their own price when listed.
    """
    info = lookup(model)
    if not info:
        return 0.0
    price_in = float(info.get("input_cost_per_token") or 0.0)
    price_out = float(info.get("output_cost_per_token") or 0.0)
    price_cached = float(info.get("cache_read_input_token_cost") or price_in)
    price_written = float(info.get("cache_creation_input_token_cost") or price_in)
    return (
        input_tokens * price_in
        + output_tokens * price_out
        + cache_read_tokens * price_cached
        + cache_write_tokens * price_written
    )
