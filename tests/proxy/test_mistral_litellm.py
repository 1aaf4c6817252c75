"""Mistral through the LiteLLM engine: a Mistral target goes through LiteLLM's `mistral/`
provider (its `openai/` one refuses or drops the thinking parts), and the thinking it answers
with is signed by the proxy, never with LiteLLM's placeholder `"mistral"` (which an Anthropic
upstream would refuse after a live switch). Replays Mistral's own recorded answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from proxy.core.settings import load_settings
from proxy.routing.model_map import Target
from proxy.server.runner import ProxyServer
from proxy.translate.carrier import is_proxy_signature
from proxy.upstreams.anthropic import strip_foreign_thinking
from proxy.upstreams.litellm import is_mistral
from tests.conftest import FAKE_KEYS
from tests.support.corpus import ReplayUpstream, load_cases
from tests.support.messages_support import SDK

CASES = {c.id: c for c in load_cases()}
MAGISTRAL = ["mistral-magistral-thinking-parts-stream", "mistral-magistral-thinking-parts-json"]


def _target(model: str, base: str | None) -> Target:
    return Target("claude-sonnet-4-5", f"openai/{model}", "openai", model, "litellm", base, None)


def test_a_mistral_target_is_known_by_its_host_or_a_magistral_model() -> None:
    assert is_mistral(_target("mistral-large-latest", "https://api.mistral.ai/v1"), None) is False
    assert is_mistral(
        _target("mistral-large-latest", None), "https://api.mistral.ai/v1"
    )  # the base LiteLLM is handed
    assert is_mistral(_target("magistral-medium-latest", "http://127.0.0.1:1/v1"), None)
    assert not is_mistral(_target("gpt-4.1", "http://127.0.0.1:1/v1"), "http://127.0.0.1:1/v1")
    assert not is_mistral(_target("mistral-7b-instruct", None), "http://localhost:8000/v1")


@pytest.fixture
async def upstream() -> AsyncIterator[ReplayUpstream]:
    async with ReplayUpstream() as up:
        yield up


@pytest.fixture
async def proxy(upstream: ReplayUpstream) -> AsyncIterator[ProxyServer]:
    env = {
        **FAKE_KEYS,
        "OPENAI_API_BASE": upstream.url + "/v1",
        "BIG_MODEL": "openai/magistral-medium-latest",
        "SMALL_MODEL": "openai/magistral-small-latest",
        "UPSTREAM_ENGINE": "litellm",
        "MAX_RETRIES": "0",
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    server = ProxyServer(load_settings(environ=env))
    await server.start()
    yield server
    await server.stop()


def _ask(history: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": history,
    }


@pytest.mark.parametrize("case_id", MAGISTRAL)
async def test_magistral_thinking_is_signed_by_the_proxy_and_goes_back(
    proxy: ProxyServer, upstream: ReplayUpstream, case_id: str
) -> None:
    case = CASES[case_id]
    upstream.case = case
    history: list[dict[str, Any]] = [{"role": "user", "content": "What is 2 + 2?"}]
    async with SDK(proxy) as sdk:
        answer = await sdk.ask(_ask(history), stream=case.stream)
        thinking = [b for b in answer["content"] if b["type"] == "thinking"]
        assert thinking and thinking[0]["thinking"].strip()
        assert all(is_proxy_signature(b["signature"]) for b in thinking), thinking
        # A live switch to Anthropic drops it; the next Mistral turn is accepted.
        echoed = {"role": "assistant", "content": answer["content"]}
        assert strip_foreign_thinking([echoed])[0]["content"] == [
            b for b in answer["content"] if b["type"] != "thinking"
        ]
        history += [echoed, {"role": "user", "content": "And 3 + 3?"}]
        again = await sdk.ask(_ask(history), stream=case.stream)
    assert again["stop_reason"] == "end_turn"
    sent = upstream.requests[-1].body
    assert upstream.requests[-1].path == "/v1/chat/completions"
    # (LiteLLM puts magistral's reasoning system prompt first)
    assert [m["role"] for m in sent["messages"]][-3:] == ["user", "assistant", "user"]
