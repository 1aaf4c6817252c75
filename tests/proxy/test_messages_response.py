"""Response side of /v1/messages for every upstream dialect and both engines, streamed and not.

Streams are read with the SDK's `messages.stream` and their raw bytes go through the strict
validator (event lines, order, indexes, one open block); whole answers through the message
validator.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from proxy.server.runner import ProxyServer
from proxy.translate.sse import frames
from proxy.translate.stream_translator import SIGNATURE_PREFIX, StreamTranslator
from tests.conftest import ProxyFactory
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.messages_support import SDK, thought_signatures, tool_calls, tool_results
from tests.support.stream_validator import parse_sse, validate_anthropic_stream

BASH = {
    "name": "Bash",
    "description": "Run a shell command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
        "required": ["command"],
    },
}
READ = {
    "name": "Read",
    "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
}
REQUEST: dict[str, Any] = {
    "model": "claude-opus-4-8",
    "max_tokens": 2000,
    "messages": [{"role": "user", "content": "hello"}],
    "tools": [BASH, READ],
}


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    """Non-streaming and streaming in turn."""
    return bool(request.param)


def blocks(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The content blocks of one type."""
    return [b for b in message["content"] if b["type"] == kind]


async def test_text_answer(proxy: ProxyServer, upstream: FakeUpstream, stream: bool) -> None:
    text = "Hello! Here is a longer answer with unicode: naïve café, 日本語, emoji 🚀.\nLine two."
    upstream.script.append(Reply(text=text, chunk_size=3))
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert [b["type"] for b in message["content"]] == ["text"]
    assert message["content"][0]["text"] == text
    assert message["stop_reason"] == "end_turn"
    assert message["role"] == "assistant" and message["id"].startswith("msg_")


async def test_text_before_several_tool_calls_with_split_arguments(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    bash_args = {"command": "ls -la && echo 'done' | grep \"d\"", "timeout": 120}
    read_args = {"file_path": "/tmp/ünïcode name.txt"}
    upstream.script.append(
        Reply(
            text="Let me look at both.",
            tool_calls=[ToolCall("Bash", bash_args), ToolCall("Read", read_args)],
            chunk_size=2,  # arguments arrive two characters at a time
        )
    )
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert [b["type"] for b in message["content"]] == ["text", "tool_use", "tool_use"]
    assert message["content"][0]["text"] == "Let me look at both."
    uses = blocks(message, "tool_use")
    assert [(u["name"], u["input"]) for u in uses] == [("Bash", bash_args), ("Read", read_args)]
    assert len({u["id"] for u in uses}) == 2 and all(u["id"] for u in uses)
    assert message["stop_reason"] == "tool_use"


async def test_tool_call_without_text(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script.append(Reply(text="", tool_calls=[ToolCall("Read", {})]))
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert [b["type"] for b in message["content"]] == ["tool_use"]
    assert message["content"][0]["input"] == {}
    assert message["stop_reason"] == "tool_use"


async def test_reasoning_becomes_signed_thinking(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, stream: bool
) -> None:
    upstream.script.append(
        Reply(
            text="The answer is 4.",
            reasoning="2 plus 2 is 4, since counting...",
            reasoning_tokens=9,
            chunk_size=4,
        )
    )
    request = {**REQUEST, "thinking": {"type": "enabled", "budget_tokens": 4000}}
    async with SDK(proxy) as sdk:
        message = await sdk.ask(request, stream)
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    thinking = message["content"][0]
    assert thinking["thinking"] == "2 plus 2 is 4, since counting..."
    assert thinking["signature"], "Claude Code drops thinking blocks without a signature"
    if dialect == "anthropic":
        # Anthropic's own signature survives (it must go back to Anthropic unchanged).
        assert thinking["signature"] == "sig-fake"
    else:
        assert thinking["signature"].startswith(SIGNATURE_PREFIX)
    assert message["content"][1]["text"] == "The answer is 4."


async def test_thinking_then_tool_call(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script.append(
        Reply(
            text="",
            reasoning="I should list files.",
            tool_calls=[ToolCall("Bash", {"command": "ls"})],
        )
    )
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert [b["type"] for b in message["content"]] == ["thinking", "tool_use"]
    assert message["stop_reason"] == "tool_use"


@pytest.mark.parametrize("engine_", ["native", "litellm"])
async def test_think_tags_become_thinking(
    make_proxy: ProxyFactory, upstream: FakeUpstream, engine_: str, stream: bool
) -> None:
    """OpenAI-compatible servers (DeepSeek-R1, Qwen) put reasoning in <think> tags."""
    proxy = await make_proxy(UPSTREAM_ENGINE=engine_)
    upstream.script.append(
        Reply(text="Final answer.", reasoning="Hidden <b>steps</b>", think_tags=True, chunk_size=3)
    )
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    assert message["content"][0]["thinking"] == "Hidden <b>steps</b>"
    assert message["content"][0]["signature"].startswith(SIGNATURE_PREFIX)
    assert message["content"][1]["text"] == "Final answer."


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
async def test_stop_reason_mapping(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool, finish: str, stop_reason: str
) -> None:
    upstream.script.append(Reply(text="partial answer", finish=finish))
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    assert message["stop_reason"] == stop_reason
    assert message["stop_sequence"] is None


async def test_stop_sequence_from_anthropic(
    make_proxy: ProxyFactory, upstream: FakeUpstream, stream: bool
) -> None:
    proxy = await make_proxy(BIG_MODEL="anthropic/claude-sonnet-4-5")
    upstream.script.append(Reply(text="one two", finish="stop_sequence"))
    async with SDK(proxy) as sdk:
        message = await sdk.ask({**REQUEST, "stop_sequences": ["three"]}, stream)
    assert message["stop_reason"] == "stop_sequence"


async def test_usage_with_cache_reads(
    proxy: ProxyServer, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script.append(Reply(prompt_tokens=1000, completion_tokens=42, cached_tokens=600))
    async with SDK(proxy) as sdk:
        message = await sdk.ask(REQUEST, stream)
    usage = message["usage"]
    assert usage["input_tokens"] == 400, "input_tokens excludes cache reads, as Anthropic counts"
    assert usage["cache_read_input_tokens"] == 600
    assert usage["output_tokens"] == 42


async def test_message_start_estimates_input_tokens(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, engine: str
) -> None:
    """message_start goes out before the upstream reports usage: it carries an estimate."""
    request = {**REQUEST, "system": "word " * 2000}
    async with SDK(proxy) as sdk:
        await sdk.stream(request)
        frames = parse_sse(sdk.last_stream_raw)
    start = next(data for event, data in frames if event == "message_start")
    assert [event for event, _ in frames][:2] == ["message_start", "ping"]
    if dialect == "anthropic" and engine == "native":
        assert start["message"]["usage"]["input_tokens"] == 11  # Anthropic's own, relayed
    else:
        assert start["message"]["usage"]["input_tokens"] > 1000


async def test_tool_ids_round_trip(
    proxy: ProxyServer, upstream: FakeUpstream, dialect: str, stream: bool
) -> None:
    """The tool_use id the client got is the one the upstream sees with the result."""
    upstream.script.append(
        Reply(text="", tool_calls=[ToolCall("Bash", {"command": "pwd"})], thought_signature="TSIG")
    )
    upstream.script.append(Reply(text="You are in /home/user."))
    async with SDK(proxy) as sdk:
        first = await sdk.ask(REQUEST, stream)
        use = blocks(first, "tool_use")[0]
        follow_up = {
            **REQUEST,
            "messages": [
                *REQUEST["messages"],
                {"role": "assistant", "content": first["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": use["id"], "content": "/home/user"}
                    ],
                },
            ],
        }
        second = await sdk.ask(follow_up, stream)
    assert second["content"][0]["text"] == "You are in /home/user."
    rec = upstream.requests[-1]
    results = tool_results(rec)
    assert [r["text"] for r in results] == ["/home/user"]
    if dialect == "gemini":
        # Gemini 3 wants each function call's thought signature back; LiteLLM keeps it in the id.
        assert thought_signatures(rec) == ["TSIG"]
        assert tool_calls(rec)[0]["name"] == "Bash"
    else:
        assert [c["id"] for c in tool_calls(rec)] == [use["id"]]
        assert [r["id"] for r in results] == [use["id"]]


async def test_many_small_chunks_with_reasoning_text_and_tools(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    """One character per chunk: block order and arguments must still come out whole."""
    args = {"command": "find . -name '*.py' | xargs wc -l", "timeout": 5}
    upstream.script.append(
        Reply(
            text="Counting lines.",
            reasoning="Use find and wc.",
            tool_calls=[ToolCall("Bash", args), ToolCall("Bash", {"command": "pwd"})],
            chunk_size=1,
        )
    )
    async with SDK(proxy) as sdk:
        message = await sdk.stream(REQUEST)
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use", "tool_use"]
    assert message["content"][2]["input"] == args
    assert message["content"][3]["input"] == {"command": "pwd"}


def test_litellm_thinking_blocks_keep_signatures_and_redactions() -> None:
    """LiteLLM's Anthropic chunks: signatures and redacted blocks arrive in `thinking_blocks`."""

    def delta(**fields: Any) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": fields}]}

    chunks = [
        delta(reasoning_content="first ", thinking_blocks=[{"type": "thinking", "thinking": "x"}]),
        delta(reasoning_content="thought"),
        delta(thinking_blocks=[{"type": "thinking", "thinking": "", "signature": "SIG-1"}]),
        delta(thinking_blocks=[{"type": "redacted_thinking", "data": "OPAQUE"}]),
        delta(reasoning_content="second thought"),
        delta(thinking_blocks=[{"type": "thinking", "thinking": "", "signature": "SIG-2"}]),
        delta(content="answer"),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    translator = StreamTranslator("anthropic/claude-sonnet-4-5", 10)
    events = translator.start()
    for chunk in chunks:
        events += translator.feed(chunk)
    events += translator.finish()
    message = validate_anthropic_stream(frames(events))
    assert message["content"] == [
        {"type": "thinking", "thinking": "first thought", "signature": "SIG-1"},
        {"type": "redacted_thinking", "data": "OPAQUE"},
        {"type": "thinking", "thinking": "second thought", "signature": "SIG-2"},
        {"type": "text", "text": "answer"},
    ]


async def test_concurrent_streams_do_not_mix(proxy: ProxyServer, upstream: FakeUpstream) -> None:
    """Translator state is per request: interleaved streams each come out whole and in order."""
    upstream.default = Reply(
        text="0123456789" * 3,
        tool_calls=[ToolCall("Bash", {"command": "echo parallel"})],
        chunk_size=3,
        delay_between_chunks=0.005,
    )
    async with SDK(proxy) as sdk:
        messages = await asyncio.gather(*(sdk.stream(REQUEST) for _ in range(6)))
    for message in messages:
        assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
        assert message["content"][0]["text"] == "0123456789" * 3
        assert message["content"][1]["input"] == {"command": "echo parallel"}
    assert len({m["id"] for m in messages}) == 6


def test_vllm_stop_reason_names_the_stop_sequence() -> None:
    """vLLM-style servers say which stop string matched: that is Anthropic's stop_sequence."""
    translator = StreamTranslator("openai/local", 3)
    events = translator.start()
    events += translator.feed({"choices": [{"index": 0, "delta": {"content": "one two"}}]})
    events += translator.feed(
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "three"}]}
    )
    message = validate_anthropic_stream(frames(events + translator.finish()))
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "three")
