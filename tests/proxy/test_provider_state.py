"""State an upstream hands out goes back to it on the next turn, through a client that echoes
history as Claude Code does (issue 13, items 1 and 2).

Gemini's thought signatures leave the tool ids (short valid ids), ride in a thinking block's
signature or the proxy's memory, and reach Gemini again on the call they belong to; an Anthropic
upstream after a live switch never sees what the proxy made. Reasoning in other shapes (OpenRouter
reasoning_details, Mistral thinking parts) is replayed from real recordings and goes back in the
shape it came in.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from proxy.server.runner import ProxyServer
from proxy.translate.carrier import is_proxy_signature, unpack
from tests.conftest import ProxyFactory
from tests.proxy.test_messages_response import BASH, READ
from tests.support.corpus import ReplayUpstream, load_cases
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.messages_support import SDK, thought_signatures, tool_calls, tool_results
from tests.support.mgmt import call

ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Shaped like a real one: base64 with + / =, a kilobyte long.
SIGNATURE = "CvAEAb4+9vtx/" + "Qm9vaw+Pa/ge" * 90 + "=="
PLACEHOLDER = base64.b64encode(b"skip_thought_signature_validator").decode()
REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 2000,
    "messages": [{"role": "user", "content": "Where am I, and what is in a?"}],
    "tools": [BASH, READ],
}


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Non-streaming and streaming in turn."""
    return bool(request.param)


def parallel_calls(reasoning: str | None = None) -> Reply:
    """Two parallel calls; Gemini signs only the first."""
    calls = [ToolCall("Bash", {"command": "pwd"}), ToolCall("Read", {"file_path": "a"})]
    return Reply(text="", reasoning=reasoning, tool_calls=calls, thought_signature=SIGNATURE)


def echo(first: dict[str, Any], *, keep_thinking: bool = True) -> dict[str, Any]:
    """The next request as Claude Code builds it: the answer verbatim (thinking included), then
    the tool results in one user message, in another order than the calls."""
    content = [b for b in first["content"] if keep_thinking or b["type"] not in ("thinking",)]
    uses = [b for b in first["content"] if b["type"] == "tool_use"]
    results = [
        {"type": "tool_result", "tool_use_id": u["id"], "content": f"result of {u['name']}"}
        for u in reversed(uses)
    ]
    return {
        **REQUEST,
        "messages": [
            *REQUEST["messages"],
            {"role": "assistant", "content": content},
            {"role": "user", "content": results},
        ],
    }


async def gemini_proxy(make_proxy: ProxyFactory, engine: str, model: str) -> ProxyServer:
    return await make_proxy(BIG_MODEL=model, SMALL_MODEL=model, UPSTREAM_ENGINE=engine)


@pytest.mark.parametrize("reasoning", [None, "Look around first."], ids=["calls", "thoughts"])
async def test_gemini_signature_round_trip_parallel(
    make_proxy: ProxyFactory,
    upstream: FakeUpstream,
    engine: str,
    stream: bool,
    reasoning: str | None,
) -> None:
    """The signature rides in the thinking block before the calls: an empty one of its own, or
    the block of Gemini's thought summary when there is one."""
    proxy = await gemini_proxy(make_proxy, engine, "gemini/gemini-2.5-pro")
    upstream.script += [parallel_calls(reasoning), Reply(text="You are in /home; a holds text.")]
    async with SDK(proxy) as sdk:
        first = await sdk.ask(REQUEST, stream)
        second = await sdk.ask(echo(first), stream)
    kinds = [b["type"] for b in first["content"]]
    assert kinds == ["thinking", "tool_use", "tool_use"]
    uses = [b for b in first["content"] if b["type"] == "tool_use"]
    assert all(ANTHROPIC_ID.match(u["id"]) for u in uses), [u["id"] for u in uses]
    assert len({u["id"] for u in uses}) == 2
    carrier = first["content"][0]
    assert carrier["thinking"] == (reasoning or "") and is_proxy_signature(carrier["signature"])
    assert unpack(carrier["signature"])["tool"] == {uses[0]["id"]: SIGNATURE}  # type: ignore[index]
    assert second["content"][0]["text"] == "You are in /home; a holds text."
    rec = upstream.requests[-1]
    # The signature is back on the first call only, as Gemini signed it.
    assert thought_signatures(rec) == [SIGNATURE]
    assert [c["name"] for c in tool_calls(rec)] == ["Bash", "Read"]
    assert {r["text"] for r in tool_results(rec)} == {"result of Bash", "result of Read"}


async def test_gemini_signature_from_memory_when_thinking_is_dropped(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    """A client that drops thinking blocks: the proxy's memory still has the signature."""
    proxy = await gemini_proxy(make_proxy, engine, "gemini/gemini-2.5-pro")
    upstream.script += [parallel_calls(), Reply(text="ok")]
    async with SDK(proxy) as sdk:
        first = await sdk.ask(REQUEST, True)
        await sdk.ask(echo(first, keep_thinking=False), True)
    assert thought_signatures(upstream.requests[-1]) == [SIGNATURE]


async def test_gemini_3_after_restart_without_thinking_gets_the_placeholder(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    """Memory lost (a restart) and no thinking block: Gemini 3 gets the documented placeholder
    signature on the first call of the turn, not a 400."""
    model = "gemini/gemini-3-pro-preview"
    first_proxy = await gemini_proxy(make_proxy, engine, model)
    upstream.script += [parallel_calls(), Reply(text="ok")]
    async with SDK(first_proxy) as sdk:
        first = await sdk.ask(REQUEST, True)
    restarted = await gemini_proxy(make_proxy, engine, model)
    async with SDK(restarted) as sdk:
        await sdk.ask(echo(first, keep_thinking=False), True)
    assert thought_signatures(upstream.requests[-1]) == [PLACEHOLDER]


async def test_gemini_3_after_restart_with_thinking_keeps_the_signature(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    """The carrier is in the client's history: a restart loses nothing."""
    model = "gemini/gemini-3-pro-preview"
    first_proxy = await gemini_proxy(make_proxy, engine, model)
    upstream.script += [parallel_calls(), Reply(text="ok")]
    async with SDK(first_proxy) as sdk:
        first = await sdk.ask(REQUEST, False)
    restarted = await gemini_proxy(make_proxy, engine, model)
    async with SDK(restarted) as sdk:
        await sdk.ask(echo(first), False)
    assert thought_signatures(upstream.requests[-1]) == [SIGNATURE]


async def test_live_switch_to_anthropic_sends_nothing_the_proxy_made(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine: str
) -> None:
    proxy = await gemini_proxy(make_proxy, engine, "gemini/gemini-2.5-pro")
    upstream.script += [parallel_calls(), Reply(text="ok")]
    async with SDK(proxy) as sdk:
        first = await sdk.ask(REQUEST, True)
        switched = await call(
            proxy.url,
            "POST",
            "/switch_model",
            {
                "big_model": "anthropic/claude-sonnet-4-5",
                "small_model": "anthropic/claude-haiku-4-5",
            },
        )
        assert switched.status == 200, switched.text
        await sdk.ask(echo(first), True)
    rec = upstream.requests[-1]
    assert rec.dialect == "anthropic"
    sent = rec.raw.decode()
    assert "claude-proxy." not in sent and "__thought__" not in sent
    uses = [b["id"] for b in first["content"] if b["type"] == "tool_use"]
    assert [c["id"] for c in tool_calls(rec)] == uses
    assert sorted(r["id"] for r in tool_results(rec)) == sorted(uses)


# ------------------------------------------------------------- recorded reasoning, sent back

CASES = {case.id: case for case in load_cases("openai")}


@pytest.fixture
async def replay() -> AsyncIterator[ReplayUpstream]:
    """The corpus replay server."""
    async with ReplayUpstream() as up:
        yield up


async def replay_twice(
    make_proxy: ProxyFactory, replay: ReplayUpstream, case_id: str, *, big: str = "openai/gpt-4.1"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded answer, then the next turn echoing it: (answer, what the upstream got)."""
    case = CASES[case_id]
    replay.case = case
    proxy = await make_proxy(
        BIG_MODEL=big, OPENAI_API_BASE=replay.url + "/v1", UPSTREAM_ENGINE="native", MAX_RETRIES=0
    )
    request = {**REQUEST, "tools": case.request_tools or [BASH]}
    async with SDK(proxy) as sdk:
        first = await sdk.ask(request, case.stream)
        follow = {
            **request,
            "messages": [
                *request["messages"],
                {"role": "assistant", "content": first["content"]},
                {"role": "user", "content": "And then?"},
            ],
        }
        await sdk.ask(follow, case.stream)
    sent = replay.requests[-1].body
    assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
    return first, assistant


async def test_openrouter_claude_reasoning_goes_back_signed(
    make_proxy: ProxyFactory, replay: ReplayUpstream
) -> None:
    first, assistant = await replay_twice(
        make_proxy, replay, "openrouter-claude-reasoning-signature-json"
    )
    thinking = first["content"][0]
    assert thinking["type"] == "thinking" and thinking["thinking"].startswith("The user is asking")
    [detail] = assistant["reasoning_details"]
    assert detail["type"] == "reasoning.text" and detail["format"] == "anthropic-claude-v1"
    assert detail["text"] == thinking["thinking"]
    assert detail["signature"].startswith("EugCCkgIDRABGAIq")


async def test_openrouter_claude_stream_signature_arrives_last(
    make_proxy: ProxyFactory, replay: ReplayUpstream
) -> None:
    first, assistant = await replay_twice(
        make_proxy, replay, "openrouter-claude-reasoning-details-stream"
    )
    [detail] = assistant["reasoning_details"]
    assert detail["text"] == first["content"][0]["thinking"]
    assert detail["signature"].startswith("Et0BCkgIChACGAIq")


async def test_openrouter_encrypted_reasoning_goes_back(
    make_proxy: ProxyFactory, replay: ReplayUpstream
) -> None:
    first, assistant = await replay_twice(make_proxy, replay, "openrouter-o3-reasoning-stream")
    assert first["content"][0]["type"] == "redacted_thinking"
    [detail] = assistant["reasoning_details"]
    assert detail["type"] == "reasoning.encrypted" and detail["data"].startswith("gAAAAAB")


async def test_openrouter_summary_and_encrypted_go_back_in_order(
    make_proxy: ProxyFactory, replay: ReplayUpstream
) -> None:
    first, assistant = await replay_twice(
        make_proxy, replay, "openrouter-gpt-5-mini-reasoning-summary-json"
    )
    assert [b["type"] for b in first["content"]][:2] == ["thinking", "redacted_thinking"]
    details = assistant["reasoning_details"]
    assert [d["type"] for d in details] == ["reasoning.summary", "reasoning.encrypted"]
    assert details[0]["summary"] == first["content"][0]["thinking"]


async def test_mistral_thinking_goes_back_as_mistral_parts(
    make_proxy: ProxyFactory, replay: ReplayUpstream
) -> None:
    first, assistant = await replay_twice(
        make_proxy, replay, "mistral-magistral-thinking-parts-json"
    )
    thinking, text = first["content"][0]["thinking"], first["content"][1]["text"]
    assert assistant["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": thinking}]},
        {"type": "text", "text": text},
    ]


async def test_reasoning_state_stays_with_its_upstream(
    make_proxy: ProxyFactory, upstream: FakeUpstream, replay: ReplayUpstream
) -> None:
    """History from OpenRouter sent to another OpenAI-compatible server: no reasoning_details
    (it could refuse the field); to Anthropic: Claude's own signature, never the carrier."""
    first, _ = await replay_twice(make_proxy, replay, "openrouter-claude-reasoning-signature-json")
    history = {
        **REQUEST,
        "messages": [
            *REQUEST["messages"],
            {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": "And then?"},
        ],
    }
    other = await make_proxy(BIG_MODEL="openai/gpt-4.1", UPSTREAM_ENGINE="native")
    anthropic = await make_proxy(BIG_MODEL="anthropic/claude-sonnet-4-5", UPSTREAM_ENGINE="native")
    for proxy in (other, anthropic):
        upstream.script.append(Reply(text="ok"))
        async with SDK(proxy) as sdk:
            await sdk.ask(history, False)
    to_openai, to_anthropic = upstream.requests[-2], upstream.requests[-1]
    assert "reasoning_details" not in to_openai.raw.decode()
    assert "claude-proxy." not in to_anthropic.raw.decode()
    assistant = next(m for m in to_anthropic.body["messages"] if m["role"] == "assistant")
    thinking = assistant["content"][0]
    assert thinking["type"] == "thinking" and thinking["signature"].startswith("EugCCkgIDRABGAIq")
