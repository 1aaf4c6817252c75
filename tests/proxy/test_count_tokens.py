"""POST /v1/messages/count_tokens (forwarded to Anthropic, counted locally otherwise) and /health."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.server.runner import ProxyServer
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream
from tests.support.messages_support import PNG_B64, SDK, raw_post

COUNT_BETAS = [
    "claude-code-20250219",
    "interleaved-thinking-2025-05-14",
    "context-management-2025-06-27",
    "token-counting-2024-11-01",
]
MINIMAL: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "messages": [{"role": "user", "content": "foo"}],
    "tools": [],
}
TOOLS = [
    {
        "name": f"Tool{i}",
        "description": "A tool with a fairly long description " * 5,
        "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Where to look"}},
            "required": ["path"],
            "additionalProperties": False,
        },
    }
    for i in range(5)
]
RICH_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "look at this", "cache_control": {"type": "ephemeral"}},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
            },
        ],
    },
    {"role": "system", "content": "Agent types: Explore, Plan"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "tool_use", "id": "toolu_1", "name": "Tool0", "input": {"path": "/"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a\nb\nc"},
            {"type": "text", "text": "<system-reminder>hook</system-reminder>"},
        ],
    },
]


async def test_local_count_includes_system_and_tools(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str
) -> None:
    async with SDK(proxy) as sdk:
        if dialect == "anthropic":
            upstream.count_tokens_value = 1234
            assert await sdk.count(MINIMAL, betas=COUNT_BETAS) == 1234
            return
        bare = await sdk.count(MINIMAL, betas=COUNT_BETAS)
        with_system = await sdk.count({**MINIMAL, "system": "You are helpful. " * 50})
        with_tools = await sdk.count({**MINIMAL, "tools": TOOLS})
        with_more_tools = await sdk.count({**MINIMAL, "tools": TOOLS * 2})
    assert bare > 0
    assert with_system > bare + 100
    assert with_tools > bare + 100
    assert with_more_tools > with_tools, "the count must grow with the tools offered"
    assert not upstream.requests, "local counting never calls the upstream"


async def test_anthropic_count_is_forwarded(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    proxy = await make_proxy(
        BIG_MODEL="anthropic/claude-sonnet-4-5",
        SMALL_MODEL="anthropic/claude-haiku-4-5",
        UPSTREAM_ENGINE=engine,
    )
    upstream.count_tokens_value = 4321
    async with SDK(proxy) as sdk:
        count = await sdk.count({**MINIMAL, "model": "claude-haiku-4-5-20251001"}, COUNT_BETAS)
    assert count == 4321
    rec = upstream.requests[-1]
    assert rec.path == "/v1/messages/count_tokens"
    assert rec.body["model"] == "claude-haiku-4-5"
    assert rec.query.get("beta") == "true"
    # (the Python SDK appends token-counting once more itself)
    assert set(rec.headers["anthropic-beta"].split(",")) == set(COUNT_BETAS)
    assert rec.api_key != "dummy"


async def test_rich_conversation_counts(proxy: ProxyServer, dialect: str) -> None:
    """Images, thinking, tool calls, mid-conversation system: counted, never a 400."""
    body = {
        **MINIMAL,
        "messages": RICH_MESSAGES,
        "tools": TOOLS,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "context_management": {"edits": []},
    }
    async with SDK(proxy) as sdk:
        count = await sdk.count(body, COUNT_BETAS)
    assert count > 0


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gemini/gemini-2.5-flash", "my-local-model"])
async def test_direct_model_ids_count(make_proxy: ProxyFactory, model: str) -> None:
    proxy = await make_proxy()
    async with SDK(proxy) as sdk:
        assert await sdk.count({**MINIMAL, "model": model}) > 0


async def test_health(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    async with SDK(proxy) as sdk:
        response = await sdk.http.get(proxy.url + "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_count_tokens_with_invalid_json_is_an_anthropic_400(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    response = await raw_post(proxy, b"{", path="/v1/messages/count_tokens")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
