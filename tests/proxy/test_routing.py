"""Model mapping: requested id -> (provider, upstream model, transport), as pure functions."""

from __future__ import annotations

import pytest

from proxy.core.errors import ProxyError
from proxy.core.settings import Settings, load_settings
from proxy.routing.model_map import (
    ModelPair,
    ModelStringError,
    Target,
    choose_model,
    normalise_model_string,
    parse_model_string,
    resolve,
)

KEYS = {
    "OPENAI_API_KEY": "sk-test-openai-000000001",
    "GEMINI_API_KEY": "AIza-test-gemini-00000002",
    "ANTHROPIC_API_KEY": "sk-ant-test-00000003",
}


def settings(**env: str) -> Settings:
    """Settings from a clean environment plus `env` (no developer variables leak in)."""
    return load_settings(environ={**KEYS, **env})


def route(requested: str, **env: str) -> Target:
    """Resolve `requested` with the big/small pair the settings define."""
    s = settings(**env)
    return resolve(requested, ModelPair(s.big_model, s.small_model), s)


HAIKU_IDS = [
    "claude-haiku-4-5-20251001",
    "claude-haiku-4-5",
    "claude-3-5-haiku-20241022",
    "claude-3-haiku-20240307",
    "haiku",
    "claude-haiku-7-20280101",
    "CLAUDE-HAIKU-4-5",
]
BIG_IDS = [
    "claude-opus-4-8",
    "claude-sonnet-5",
    "claude-sonnet-4-5-20250929",
    "claude-3-7-sonnet-latest",
    "claude-opus-4-1-20250805",
    "sonnet",
    "opus",
    "opusplan",
    "default",
    "best",
    "claude-nova-9-20270101",  # a family that does not exist yet
    "claude-2.1",
]


@pytest.mark.parametrize("requested", HAIKU_IDS)
def test_haiku_goes_to_small(requested: str) -> None:
    target = route(requested)
    assert (target.model, target.tier) == ("openai/gpt-4.1-mini", "small")
    assert target.requested == requested


@pytest.mark.parametrize("requested", BIG_IDS)
def test_other_claude_ids_go_to_big(requested: str) -> None:
    target = route(requested)
    assert (target.model, target.tier) == ("openai/gpt-4.1", "big")


@pytest.mark.parametrize(
    ("requested", "tier"),
    [("claude-opus-4-8[1m]", "big"), ("claude-sonnet-4-5[1m]", "big"), ("haiku[1m]", "small")],
)
def test_one_million_context_suffix(requested: str, tier: str) -> None:
    assert route(requested).tier == tier
    passed = route(requested, PREFERRED_PROVIDER="anthropic")
    assert passed.upstream_model == requested.removesuffix("[1m]")


def test_google_defaults() -> None:
    assert route("claude-opus-4-8", PREFERRED_PROVIDER="google").model == "gemini/gemini-2.5-pro"
    assert route("haiku", PREFERRED_PROVIDER="gemini").model == "gemini/gemini-2.5-flash"


def test_custom_big_and_small() -> None:
    env = {"BIG_MODEL": "gemini/gemini-2.5-pro", "SMALL_MODEL": "openai/gpt-4o-mini"}
    assert route("claude-sonnet-5", **env).model == "gemini/gemini-2.5-pro"
    assert route("claude-haiku-4-5", **env).model == "openai/gpt-4o-mini"


@pytest.mark.parametrize(
    ("requested", "model", "transport"),
    [
        ("gpt-4o-mini", "openai/gpt-4o-mini", "openai"),
        ("o3-mini", "openai/o3-mini", "openai"),
        ("gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash", "litellm"),
        ("gemini-2.5-flash", "gemini/gemini-2.5-flash", "litellm"),
        ("anthropic/claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", "anthropic"),
        ("ollama/qwen3:8b", "ollama/qwen3:8b", "litellm"),
        ("openrouter/deepseek/deepseek-r1", "openrouter/deepseek/deepseek-r1", "litellm"),
        ("my-upstream-big", "openai/my-upstream-big", "openai"),
        # An unknown prefix is part of the name on the preferred provider (vLLM's repo ids).
        ("meta-llama/Llama-3.1-8B-Instruct", "openai/meta-llama/Llama-3.1-8B-Instruct", "openai"),
    ],
)
def test_other_ids_pass_through(requested: str, model: str, transport: str) -> None:
    target = route(requested, OPENAI_API_BASE="http://127.0.0.1:9/v1")
    assert (target.model, target.transport, target.tier) == (model, transport, "direct")
    assert target.upstream_model == model.split("/", 1)[1]


def test_preferred_anthropic_passes_claude_ids_through_unchanged() -> None:
    for requested in ("claude-opus-4-8", "claude-haiku-4-5-20251001", "claude-nova-9", "sonnet"):
        target = route(requested, PREFERRED_PROVIDER="anthropic")
        assert (target.provider, target.upstream_model) == ("anthropic", requested)
        assert target.transport == "anthropic"
    # Explicit BIG/SMALL still win over pass-through.
    target = route("claude-opus-4-8", PREFERRED_PROVIDER="anthropic", BIG_MODEL="openai/gpt-4.1")
    assert target.model == "openai/gpt-4.1"


@pytest.mark.parametrize(
    ("name", "preferred", "provider"),
    [
        ("gpt-4.1", "google", "openai"),
        ("gpt-5-mini", "anthropic", "openai"),
        ("chatgpt-4o-latest", "google", "openai"),
        ("gemini-2.5-pro", "openai", "gemini"),
        ("gemini-9-ultra", "openai", "gemini"),
        ("claude-sonnet-4-5", "openai", "anthropic"),
        ("totally-unknown-model", "openai", "openai"),
        ("totally-unknown-model", "google", "gemini"),
        ("totally-unknown-model", "anthropic", "anthropic"),
    ],
)
def test_bare_name_provider_inference(name: str, preferred: str, provider: str) -> None:
    assert parse_model_string(name, preferred) == (provider, name)


def test_bare_big_model_is_inferred_too() -> None:
    target = route("claude-opus-4-8", BIG_MODEL="gemini-2.5-pro")
    assert (target.provider, target.transport) == ("gemini", "litellm")


def test_engine_litellm_sends_everything_through_litellm() -> None:
    for requested in ("claude-opus-4-8", "gpt-4o", "anthropic/claude-sonnet-4-5"):
        assert route(requested, UPSTREAM_ENGINE="litellm").transport == "litellm"


def test_targets_carry_base_and_key() -> None:
    target = route("claude-opus-4-8", OPENAI_API_BASE="http://127.0.0.1:9/v1")
    assert target.api_base == "http://127.0.0.1:9/v1"
    assert target.api_key == KEYS["OPENAI_API_KEY"]
    assert target.key_var == "OPENAI_API_KEY"
    assert KEYS["OPENAI_API_KEY"] not in repr(target)


def test_unknown_prefix_is_refused_where_the_user_types_it() -> None:
    with pytest.raises(ModelStringError, match="unknown provider prefix"):
        normalise_model_string("nosuchprovider/model-x", "openai")
    assert normalise_model_string("gpt-4o", "openai") == "openai/gpt-4o"


@pytest.mark.parametrize("requested", ["", "   "])
def test_empty_model_is_a_400(requested: str) -> None:
    with pytest.raises(ProxyError) as caught:
        route(requested)
    assert caught.value.status == 400 and "model" in caught.value.message


def test_missing_key_is_a_401_naming_the_variable() -> None:
    s = load_settings(environ={"PREFERRED_PROVIDER": "google"})
    with pytest.raises(ProxyError) as caught:
        resolve("claude-opus-4-8", ModelPair(s.big_model, s.small_model), s)
    assert caught.value.status == 401 and "GEMINI_API_KEY" in caught.value.message


def test_choose_model_is_pure() -> None:
    pair = ModelPair("openai/big", "openai/small")
    assert choose_model("claude-haiku-4-5", pair) == ("openai/small", "small")
    assert choose_model("claude-opus-4-8[1m]", pair) == ("openai/big", "big")
    assert choose_model("gpt-4o", pair) == ("gpt-4o", "direct")
    assert choose_model("claude-opus-4-8", ModelPair(None, None)) == (
        "anthropic/claude-opus-4-8",
        "big",
    )
