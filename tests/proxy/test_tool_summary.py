"""Streamed tool calls reach the finished event (log, answer pane, history) with parsed arguments."""

from __future__ import annotations

from typing import Any

import orjson

from proxy.server.runner import ProxyServer
from proxy.state.events import REQUEST_FINISHED, ProxyEvent
from proxy.translate.tool_input import call_text, parsed_input
from proxy.upstreams.anthropic import StreamObserver
from tests.support.fake_upstream import FakeUpstream, Reply, ToolCall
from tests.support.messages_support import SDK
from tests.support.mgmt import call

ARGS = {"command": "ls -la", "description": "List the files"}
TOOLS = [
    {
        "name": "Bash",
        "description": "Run a command",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
            "required": ["command"],
        },
    }
]


def finished_messages(proxy: ProxyServer) -> list[dict[str, Any]]:
    """Collects the `message` of every request_finished the proxy publishes."""
    seen: list[dict[str, Any]] = []

    def on_event(event: ProxyEvent) -> None:
        if event.kind == REQUEST_FINISHED:
            seen.append(event.data["message"])

    proxy.service.bus.subscribe(on_event, deltas=False)
    return seen


async def test_streamed_tool_call_has_parsed_arguments(
    proxy: ProxyServer, upstream: FakeUpstream
) -> None:
    """Every dialect and engine: the summary's input is the object the model sent, not a string."""
    seen = finished_messages(proxy)
    upstream.script.append(
        Reply(text="I'll look.", tool_calls=[ToolCall("Bash", ARGS)], chunk_size=3)
    )
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "list the files"}],
    }
    async with SDK(proxy) as sdk:
        await sdk.stream(body)
    assert len(seen) == 1
    tools = [block for block in seen[0]["content"] if block["type"] == "tool_use"]
    assert [(tool["name"], tool["input"]) for tool in tools] == [("Bash", ARGS)]


async def test_history_shows_the_call_like_the_log(make_proxy: Any, upstream: FakeUpstream) -> None:
    proxy = await make_proxy(BIG_MODEL="openai/gpt-4.1", SMALL_MODEL="openai/gpt-4.1-mini")
    upstream.script.append(Reply(text="", tool_calls=[ToolCall("Bash", ARGS)]))
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 200,
        "tools": TOOLS,
        "messages": [{"role": "user", "content": "list the files"}],
    }
    async with SDK(proxy) as sdk:
        await sdk.stream(body)
    answer = await call(proxy.url, "GET", "/conversation")
    contents = [m["content"] for m in answer.json["messages"]]
    assert contents == [
        "list the files",
        '[tool_use Bash(command="ls -la", description="List the files")]',
    ]


def frame(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def relayed_tool_stream(pieces: list[str]) -> bytes:
    """An Anthropic stream with one text block, a server tool and a client tool in pieces."""
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "server_tool_use", "id": "srv", "name": "web_search"},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"query": "x"}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "tu_1", "name": "Bash", "input": {}},
        },
        *(
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            for piece in pieces
        ),
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {}},
        {"type": "message_stop"},
    ]
    return b"".join(frame(event) for event in events)


def observe(data: bytes, read: int = 7) -> dict[str, Any]:
    """Feed the stream in small network reads, as a slow upstream delivers it."""
    observer = StreamObserver()
    for low in range(0, len(data), read):
        observer.feed(data[low : low + read])
    return observer.summary()


def test_relayed_tool_arguments_are_collected_and_parsed_at_the_end() -> None:
    summary = observe(relayed_tool_stream(['{"comm', 'and": "ls', ' -la"}']))
    assert summary["content"] == [
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "tu_1", "name": "Bash", "input": {"command": "ls -la"}},
    ]


def test_broken_arguments_stay_a_string() -> None:
    summary = observe(relayed_tool_stream(['{"command": "ls', " -la"]))
    assert summary["content"][1]["input"] == '{"command": "ls -la'
    assert parsed_input('{"a": 1') == '{"a": 1'
    assert parsed_input("") == {}
    assert parsed_input(b'{"a": [1, 2]}') == {"a": [1, 2]}


def test_call_text_is_one_short_line() -> None:
    assert call_text("Bash", {"command": "ls -la"}) == 'Bash(command="ls -la")'
    assert call_text("Bash", {}) == "Bash()"
    assert call_text("Edit", {"old": "a\nb", "n": 2}) == 'Edit(old="a\\nb", n=2)'
    assert call_text("Bash", '{"command": "ls') == 'Bash({"command": "ls)'
    long = call_text("Write", {"content": "x" * 500}, limit=40)
    assert len(long) == 40
    assert long.startswith('Write(content="xxx') and long.endswith("…)")
