"""Request side of /v1/messages: what each upstream dialect receives, for both engines.

Every test runs against the real proxy for openai / gemini / anthropic upstreams and the native and
litellm engines (the `proxy` fixture), with the official SDK as client.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from proxy.core import catalogue
from proxy.core.lazy_litellm import get_litellm
from proxy.routing.model_map import Target
from proxy.server.runner import ProxyServer
from proxy.state.events import REQUEST_STARTED, ProxyEvent
from proxy.translate.to_openai import to_openai
from tests.conftest import DIALECT_MODELS, ProxyFactory
from tests.support.fake_upstream import FakeUpstream
from tests.support.messages_support import (
    PDF_B64,
    PNG_B64,
    SDK,
    all_text,
    check_openai_tool_order,
    images,
    max_tokens,
    parallel_disabled,
    reasoning,
    response_schema,
    sampling,
    system_text,
    tool_calls,
    tool_choice,
    tool_names,
    tool_results,
    tool_schemas,
    turns,
)

BILLING = "x-anthropic-billing-header: cc_version=2.1.197.a1b; cc_entrypoint=sdk-cli;"
BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
        "additionalProperties": False,
    },
}
READ = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}


def body(**extra: Any) -> dict[str, Any]:
    """A small streaming request; keyword arguments replace or add fields."""
    base: dict[str, Any] = {
        "model": "claude-opus-4-8",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": "hello"}],
    }
    base.update(extra)
    return base


def pass_through(dialect: str, engine: str) -> bool:
    """True where the proxy relays the Anthropic body itself (native engine, Anthropic upstream)."""
    return dialect == "anthropic" and engine == "native"


def capture_notes(proxy: ProxyServer) -> list[list[str]]:
    """The translation notes of every request the proxy serves from now on (filled as they run)."""
    collected: list[list[str]] = []

    def listen(event: ProxyEvent) -> None:
        notes = event.data.get("notes")
        if event.kind == REQUEST_STARTED and isinstance(notes, list):
            collected.append(notes)

    proxy.service.bus.subscribe(listen)
    return collected


def noted(collected: list[list[str]], text: str) -> bool:
    """True when some note contains `text`."""
    return any(text in note for notes in collected for note in notes)


@pytest.fixture
async def image_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A loopback server with one PNG; LiteLLM (which inlines image links for Gemini) may fetch it."""
    app = web.Application()
    png = base64.b64decode(PNG_B64)

    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    app.router.add_get("/cat.png", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    litellm = await get_litellm()
    # LiteLLM refuses loopback links (SSRF guard) unless the host is allowed.
    monkeypatch.setattr(litellm, "user_url_allowed_hosts", [f"127.0.0.1:{port}"])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# ----------------------------------------------------------------------------- system prompt


@pytest.mark.parametrize("shape", ["string", "blocks"])
async def test_system_string_or_blocks(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str, shape: str
) -> None:
    if shape == "string":
        system: Any = "You are a careful assistant."
    else:
        system = [
            {"type": "text", "text": BILLING},
            {
                "type": "text",
                "text": "You are a careful assistant.",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "text", "text": "Second block.", "cache_control": {"type": "ephemeral"}},
        ]
    async with SDK(proxy) as sdk:
        await sdk.stream(body(system=system))
    rec = upstream.requests[-1]
    sent = system_text(rec)
    assert "You are a careful assistant." in sent
    if shape == "blocks":
        assert "Second block." in sent
        if pass_through(dialect, engine):
            assert rec.body["system"] == system  # verbatim, cache_control included
        else:
            # The billing header changes every request: it would defeat prefix caching.
            assert "x-anthropic-billing-header" not in all_text(rec)


async def test_mid_conversation_system_message(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "first question"}]},
        {"role": "system", "content": "MIDSYS: available agent types are Explore and Plan"},
        {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    async with SDK(proxy) as sdk:
        message = await sdk.stream(body(system="TOPSYS", messages=messages))
    assert message["content"][0]["type"] == "text"
    rec = upstream.requests[-1]
    if pass_through(dialect, engine):
        assert rec.body["messages"] == messages
        return
    assert "TOPSYS" in system_text(rec) and "MIDSYS" in system_text(rec)
    if dialect == "openai":
        roles = [m["role"] for m in rec.body["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
    texts = all_text(rec)
    assert "first question" in texts and "second question" in texts and "first answer" in texts


# ----------------------------------------------------------------------------- content blocks


async def test_images_base64(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    content = [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
    ]
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=[{"role": "user", "content": content}]))
    rec = upstream.requests[-1]
    assert images(rec) == ["data:image/png"]
    assert "what is in this picture?" in all_text(rec)


async def test_image_url(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str, image_server: str
) -> None:
    url = image_server + "/cat.png"
    content = [
        {"type": "text", "text": "describe"},
        {"type": "image", "source": {"type": "url", "url": url}},
    ]
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=[{"role": "user", "content": content}]))
    sent = images(upstream.requests[-1])
    if dialect == "openai" or pass_through(dialect, engine):
        assert sent == [url]
    else:
        # LiteLLM fetches links for Gemini (no remote links there) and Anthropic and inlines them.
        assert sent == ["data:image/png"]


async def test_documents_pdf_and_text(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str
) -> None:
    content = [
        {
            "type": "document",
            "title": "spec.pdf",
            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
        },
        {
            "type": "document",
            "title": "notes",
            "source": {"type": "text", "media_type": "text/plain", "data": "DOCTEXT plain notes"},
        },
        {"type": "text", "text": "summarise both"},
    ]
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=[{"role": "user", "content": content}]))
    rec = upstream.requests[-1]
    raw = rec.raw.decode()
    assert "DOCTEXT plain notes" in raw
    assert "summarise both" in all_text(rec)
    assert PDF_B64 in raw, "the PDF bytes must reach the upstream"
    if dialect == "openai":
        parts = rec.body["messages"][-1]["content"]
        assert any(p.get("type") == "file" for p in parts)
    elif dialect == "gemini":
        assert "application/pdf" in raw


TOOL_TURNS: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "list files and show the logo"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Running both."},
            {"type": "tool_use", "id": "toolu_01A", "name": "Bash", "input": {"command": "ls"}},
            {
                "type": "tool_use",
                "id": "toolu_01B",
                "name": "Read",
                "input": {"file_path": "/l.png"},
            },
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A",
                "content": "ls: permission denied",
                "is_error": True,
                "cache_control": {"type": "ephemeral"},
            },
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01B",
                "content": [
                    {"type": "text", "text": "LOGO-CAPTION"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
                    },
                ],
            },
            {"type": "text", "text": "<system-reminder>HOOK-CONTEXT</system-reminder>"},
        ],
    },
]


async def test_tool_use_and_tool_results(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=TOOL_TURNS, tools=[BASH, READ]))
    rec = upstream.requests[-1]
    calls = tool_calls(rec)
    assert [(c["name"], c["input"]) for c in calls] == [
        ("Bash", {"command": "ls"}),
        ("Read", {"file_path": "/l.png"}),
    ]
    results = tool_results(rec)
    assert len(results) == 2
    assert "permission denied" in results[0]["text"]
    if dialect == "gemini":
        assert [r["id"] for r in results] == ["Bash", "Read"]
    else:
        assert [c["id"] for c in calls] == ["toolu_01A", "toolu_01B"]
        assert [r["id"] for r in results] == ["toolu_01A", "toolu_01B"]
    if pass_through(dialect, engine):
        assert results[0]["is_error"] is True
    else:
        # No is_error flag in OpenAI-style tool messages: the text says it.
        assert results[0]["text"].startswith("Error")
    assert "LOGO-CAPTION" in all_text(rec)
    assert images(rec) == ["data:image/png"], "the image inside the tool_result must reach it"
    assert "HOOK-CONTEXT" in all_text(rec), "text after a tool_result must not be lost"
    if dialect == "openai":
        check_openai_tool_order(rec.body["messages"])


async def test_interrupted_tool_call_gets_a_placeholder_result(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    """A tool_use with no tool_result (the user pressed Esc) must not break OpenAI-style upstreams."""
    messages = [
        TOOL_TURNS[0],
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_X", "name": "Bash", "input": {}}],
        },
        {"role": "user", "content": [{"type": "text", "text": "never mind, do something else"}]},
    ]
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=messages, tools=[BASH]))
    rec = upstream.requests[-1]
    if dialect == "openai":
        check_openai_tool_order(rec.body["messages"])
    if not pass_through(dialect, engine):
        assert len(tool_results(rec)) == 1


THINKING_TURNS: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "run ls"}]},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "SECRET-REASONING about ls", "signature": "EqABsig=="},
            {"type": "redacted_thinking", "data": "REDACTED-BLOB"},
            {"type": "tool_use", "id": "toolu_T1", "name": "Bash", "input": {"command": "ls"}},
        ],
    },
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_T1", "content": "a.txt"}],
    },
]


async def test_thinking_blocks_echo(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    request = body(
        messages=THINKING_TURNS,
        tools=[BASH],
        thinking={"type": "enabled", "budget_tokens": 2048},
        max_tokens=4096,
    )
    async with SDK(proxy) as sdk:
        await sdk.stream(request)
    rec = upstream.requests[-1]
    if dialect == "anthropic":
        # Anthropic needs its signed thinking back on tool-use turns, in order, untouched.
        assistant = next(m for m in rec.body["messages"] if m["role"] == "assistant")
        kinds = [b["type"] for b in assistant["content"]]
        assert kinds[:2] == ["thinking", "redacted_thinking"], kinds
        assert assistant["content"][0]["signature"] == "EqABsig=="
        assert assistant["content"][1]["data"] == "REDACTED-BLOB"
        assert rec.body.get("thinking", {}).get("type") == "enabled"
    else:
        # Other providers cannot verify Anthropic signatures; the text must not leak as content.
        assert "SECRET-REASONING" not in all_text(rec)
        assert "REDACTED-BLOB" not in rec.raw.decode()


async def test_proxy_made_thinking_signatures_stay_away_from_anthropic(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    """Thinking an OpenAI model produced earlier carries our signature; Anthropic would reject it."""
    big, small = DIALECT_MODELS["anthropic"]
    proxy = await make_proxy(BIG_MODEL=big, SMALL_MODEL=small, UPSTREAM_ENGINE=engine)
    turns_ = [dict(t) for t in THINKING_TURNS]
    turns_[1] = {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "from gpt", "signature": "claude-proxy.abc123"},
            {"type": "tool_use", "id": "toolu_T1", "name": "Bash", "input": {"command": "ls"}},
        ],
    }
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=turns_, tools=[BASH]))
    raw = upstream.requests[-1].raw.decode()
    assert "claude-proxy.abc123" not in raw and "from gpt" not in raw


@pytest.mark.parametrize("engine_", ["native", "litellm"])
async def test_reasoning_returned_to_deepseek(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine_: str
) -> None:
    """DeepSeek-style reasoners want their earlier reasoning back as reasoning_content."""
    proxy = await make_proxy(BIG_MODEL="openai/deepseek-reasoner", UPSTREAM_ENGINE=engine_)
    async with SDK(proxy) as sdk:
        await sdk.stream(body(messages=THINKING_TURNS, tools=[BASH]))
    assistant = next(m for m in turns(upstream.requests[-1]) if m["role"] == "assistant")
    assert assistant.get("reasoning_content") == "SECRET-REASONING about ls"


# ----------------------------------------------------------------------------- tools


async def test_tools_schema_cleaned_and_server_tools_dropped(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    notes = capture_notes(proxy)
    no_params = {
        "name": "TaskList",
        "description": "List tasks",
        "input_schema": {"type": "object"},
    }
    async with SDK(proxy) as sdk:
        await sdk.stream(body(tools=[BASH, WEB_SEARCH, no_params]))
    rec = upstream.requests[-1]
    if pass_through(dialect, engine):
        assert tool_names(rec) == ["Bash", "web_search", "TaskList"]
        return
    assert tool_names(rec) == ["Bash", "TaskList"]
    assert noted(notes, "dropped server tool 'web_search'")
    schema = tool_schemas(rec)["Bash"]
    assert "$schema" not in schema
    assert schema["properties"] == {"command": {"type": "string"}}
    assert schema["required"] == ["command"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, ("auto", None)),
        ({"type": "any"}, ("any", None)),
        ({"type": "tool", "name": "Read"}, ("tool", "Read")),
        ({"type": "none"}, ("none", None)),
    ],
    ids=["auto", "any", "tool", "none"],
)
async def test_tool_choice(
    proxy: ProxyServer,
    upstream: FakeUpstream,
    dialect: str,
    choice: dict[str, Any],
    expected: tuple[str, str | None],
) -> None:
    async with SDK(proxy) as sdk:
        await sdk.stream(body(tools=[BASH, READ], tool_choice=choice))
    rec = upstream.requests[-1]
    got = tool_choice(rec)
    if dialect == "gemini" and expected[0] == "auto":
        assert got in (("auto", None), (None, None))  # AUTO is Gemini's default
    else:
        assert got == expected


@pytest.mark.parametrize("kind", ["auto", "any"])
async def test_disable_parallel_tool_use(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, kind: str
) -> None:
    choice = {"type": kind, "disable_parallel_tool_use": True}
    async with SDK(proxy) as sdk:
        await sdk.stream(body(tools=[BASH, READ], tool_choice=choice))
    rec = upstream.requests[-1]
    if dialect == "gemini":
        # Gemini has no switch for it; the request must still go through.
        assert tool_names(rec) == ["Bash", "Read"]
    else:
        assert parallel_disabled(rec)


# ----------------------------------------------------------------------------- parameters


async def test_stop_sequences_and_sampling(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str
) -> None:
    request = body(stop_sequences=["STOP1", "\n\nHuman:"], temperature=0.3, top_p=0.8, top_k=20)
    async with SDK(proxy) as sdk:
        await sdk.stream(request)
    sent = sampling(upstream.requests[-1])
    assert sent["stop"] == ["STOP1", "\n\nHuman:"]
    assert sent["temperature"] == pytest.approx(0.3)
    assert sent["top_p"] == pytest.approx(0.8)
    if dialect == "openai":
        assert "top_k" not in sent, "OpenAI rejects top_k"
    else:
        assert sent["top_k"] == 20


async def test_openai_gets_at_most_four_stop_sequences(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    proxy = await make_proxy(UPSTREAM_ENGINE=engine)
    async with SDK(proxy) as sdk:
        await sdk.stream(body(stop_sequences=["a", "b", "c", "d", "e"]))
    assert sampling(upstream.requests[-1])["stop"] == ["a", "b", "c", "d"]


async def test_max_tokens_clamped_to_model_limit(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str
) -> None:
    big = DIALECT_MODELS[dialect][0]
    limit = catalogue.max_output_tokens(big)
    assert limit is not None and limit < 200_000
    async with SDK(proxy) as sdk:
        await sdk.stream(body(max_tokens=200_000))
        assert max_tokens(upstream.requests[-1]) == limit
        await sdk.stream(body(max_tokens=777))
        assert max_tokens(upstream.requests[-1]) == 777


async def test_clamped_max_tokens_keeps_thinking_budget_below_it(
    make_proxy: ProxyFactory, upstream: FakeUpstream
) -> None:
    """Anthropic refuses budget_tokens >= max_tokens; clamping must keep the pair valid."""
    proxy = await make_proxy(BIG_MODEL="anthropic/claude-sonnet-4-5")
    limit = catalogue.max_output_tokens("anthropic/claude-sonnet-4-5")
    assert limit is not None
    request = body(
        max_tokens=limit + 100_000, thinking={"type": "enabled", "budget_tokens": limit + 50_000}
    )
    async with SDK(proxy) as sdk:
        await sdk.stream(request)
    sent = upstream.requests[-1].body
    assert sent["max_tokens"] == limit
    assert 1024 <= sent["thinking"]["budget_tokens"] < limit


REASONING_MODELS = {
    "openai": "openai/o3",
    "gemini": "gemini/gemini-2.5-pro",
    "anthropic": "anthropic/claude-sonnet-4-5",
}


@pytest.mark.parametrize(
    ("thinking", "output_config", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 2000}, None, "low"),
        ({"type": "enabled", "budget_tokens": 8000}, None, "medium"),
        ({"type": "enabled", "budget_tokens": 31999}, None, "high"),
        ({"type": "adaptive"}, {"effort": "low"}, "low"),
        ({"type": "adaptive"}, {"effort": "high"}, "high"),
        ({"type": "disabled"}, None, None),
    ],
    ids=["budget-low", "budget-medium", "budget-high", "adaptive-low", "adaptive-high", "disabled"],
)
async def test_thinking_maps_to_reasoning_effort(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    dialect: str,
    engine: str,
    thinking: dict[str, Any],
    output_config: dict[str, Any] | None,
    effort: str | None,
) -> None:
    proxy = await make_proxy(BIG_MODEL=REASONING_MODELS[dialect], UPSTREAM_ENGINE=engine)
    request = body(thinking=thinking, max_tokens=40000, temperature=1)
    if output_config:
        request["output_config"] = output_config
    async with SDK(proxy) as sdk:
        await sdk.stream(request)
    rec = upstream.requests[-1]
    sent = reasoning(rec)
    if pass_through(dialect, engine):
        assert sent == thinking
    elif dialect == "openai":
        assert sent == effort
        if effort:
            assert "temperature" not in rec.body, "o-series models reject temperature"
    elif effort is None:
        assert not sent or sent.get("type") == "disabled" or sent.get("thinkingBudget") == 0
    elif dialect == "gemini":
        assert sent.get("includeThoughts") is True
    else:
        assert sent["type"] == "enabled" and sent["budget_tokens"] >= 1024


async def test_non_reasoning_openai_model_keeps_temperature(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    """gpt-4.1 does not reason: no reasoning_effort, and temperature/top_p survive thinking."""
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4.1", UPSTREAM_ENGINE=engine)
    request = body(thinking={"type": "adaptive"}, temperature=0.2, top_p=0.5)
    async with SDK(proxy) as sdk:
        await sdk.stream(request)
    sent = upstream.requests[-1].body
    assert "reasoning_effort" not in sent
    assert sent["temperature"] == pytest.approx(0.2) and sent["top_p"] == pytest.approx(0.5)


async def test_output_format_json_schema(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    request = body(
        output_config={"effort": "low", "format": {"type": "json_schema", "schema": schema}},
        thinking={"type": "disabled"},
    )
    async with SDK(proxy) as sdk:
        await sdk.stream(request, betas=["structured-outputs-2025-12-15"])
    sent = response_schema(upstream.requests[-1])
    assert sent is not None
    assert sent["properties"] == schema["properties"] and sent["required"] == ["title"]
    if dialect == "openai":
        assert upstream.requests[-1].body["response_format"]["type"] == "json_schema"


async def test_unknown_fields_are_ignored(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    extra = {
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "speed": "fast",
        "service_tier": "auto",
        "metadata": {"user_id": '{"device_id":"ddd","session_id":"s-1"}'},
        "some_field_from_2027": {"nested": [1, 2, 3]},
    }
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi", "citations": None, "brand_new_key": 1},
                {"type": "future_block_type", "payload": "x"},
            ],
        }
    ]
    async with SDK(proxy) as sdk:
        for stream in (True, False):
            message = await sdk.ask(body(messages=messages, **extra), stream=stream)
            assert message["content"]
    rec = upstream.requests[-1]
    if pass_through(dialect, engine):
        return  # Anthropic knows these fields; the body is relayed
    raw = rec.raw.decode()
    for key in ("context_management", "speed", "some_field_from_2027", "future_block_type"):
        assert key not in raw


async def test_beta_query_and_headers(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    betas = [
        "claude-code-20250219",
        "context-1m-2025-08-07",
        "interleaved-thinking-2025-05-14",
        "mid-conversation-system-2026-04-07",
        "some-future-beta-2027-01-01",
    ]
    async with SDK(proxy) as sdk:
        message = await sdk.stream(body(), betas=betas)
        assert message["content"][0]["text"]
        message = await sdk.create(body(), betas=betas)
        assert message["content"][0]["text"]
    rec = upstream.requests[-1]
    if pass_through(dialect, engine):
        assert rec.query.get("beta") == "true"
        assert rec.headers["anthropic-beta"] == ",".join(betas)


# ----------------------------------------------------------------------------- model mapping


@pytest.mark.parametrize(
    ("requested", "tier"),
    [
        ("claude-opus-4-8", 0),
        ("claude-opus-4-8[1m]", 0),
        ("claude-sonnet-5", 0),
        ("sonnet", 0),
        ("claude-haiku-4-5-20251001", 1),
        ("claude-3-5-haiku-20241022", 1),
        ("claude-nova-7", 0),
    ],
)
async def test_claude_ids_reach_big_or_small(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, requested: str, tier: int
) -> None:
    expected = DIALECT_MODELS[dialect][tier].split("/", 1)[1]
    async with SDK(proxy) as sdk:
        await sdk.create(body(model=requested))
    assert upstream.requests[-1].model == expected


async def test_cache_control_breakpoints(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    """Anthropic keeps Claude Code's prompt-cache breakpoints (with either engine); others never
    see the field."""
    system = [
        {"type": "text", "text": BILLING},
        {"type": "text", "text": "SYSTEM-A", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "SYSTEM-B", "cache_control": {"type": "ephemeral"}},
    ]
    messages = [*TOOL_TURNS[:2], {**TOOL_TURNS[2]}]
    messages[2] = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_01A",
                "content": "ok",
                "cache_control": {"type": "ephemeral"},
            },
            {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "ok"},
            {"type": "text", "text": "LAST-TEXT", "cache_control": {"type": "ephemeral"}},
        ],
    }
    async with SDK(proxy) as sdk:
        await sdk.stream(body(system=system, messages=messages, tools=[BASH, READ]))
    rec = upstream.requests[-1]
    raw = rec.raw.decode()
    if dialect != "anthropic":
        assert "cache_control" not in raw and "ephemeral" not in raw
        return
    cached_system = [b["text"] for b in rec.body["system"] if b.get("cache_control")]
    assert cached_system == ["SYSTEM-A", "SYSTEM-B"]
    last = rec.body["messages"][-1]["content"]
    cached = [b.get("text") or b.get("tool_use_id") for b in last if b.get("cache_control")]
    assert cached == ["toolu_01A", "LAST-TEXT"]


def test_official_openai_gets_max_completion_tokens() -> None:
    """api.openai.com wants max_completion_tokens (reasoning models refuse max_tokens)."""

    def target(base: str | None) -> Target:
        return Target("claude-opus-4-8", "openai/o3", "openai", "o3", "openai", base, "sk-x")

    request = body(max_tokens=5000, temperature=0.7, thinking={"type": "adaptive"})
    official = to_openai(request, target(None), [])
    assert official["max_completion_tokens"] == 5000 and "max_tokens" not in official
    assert official["reasoning_effort"] == "medium" and "temperature" not in official
    compatible = to_openai(request, target("http://127.0.0.1:9/v1"), [])
    assert compatible["max_tokens"] == 5000
